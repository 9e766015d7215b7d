"""Logging in to the simulated Telegram: QR login tokens, the 2FA password (SRP), session keys.

Telegram remembers which auth keys are logged in; a simulated world is built afresh by every
process, so it cannot. The stand-in: a session is logged in when it holds the world's *login
key* (:func:`login_key`, a pure function of the seed). A client that starts unauthorized gets a
fresh random key (as from a real key exchange); when a login succeeds the server authorizes the
connection and the client stores the login key in its session (``SimulatedClient._on_login``),
so the next process — a ``tgx chats`` after ``tgx login --qr`` — is logged in, and a
``StringSession`` of any simulated authorized client imports as a logged-in session.

QR login follows https://core.telegram.org/api/qr-login: ``auth.exportLoginToken`` answers
``auth.loginToken(expires, token)``; the simulated phone scans the ``scan_token``-th token
``scan_after`` seconds after it was exported (if it is still the newest and has not expired),
which pushes ``updateLoginToken`` to the connection that exported it; its next
``auth.exportLoginToken`` answers ``auth.loginTokenSuccess`` — or ``SESSION_PASSWORD_NEEDED``
when ``password`` is set, and ``account.getPassword`` / ``auth.checkPassword`` (real SRP, checked
against the password) finish the login. ``auth.importLoginToken`` accepts a scanned token.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telethon.tl import types

from tgx.errors import ConfigError

# Telegram's 2048-bit safe prime for SRP (the one Telethon's password.check_prime_and_good knows).
SRP_PRIME = bytes.fromhex(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F48198A0AA7C14058229493D22530F4DB"
    "FA336F6E0AC925139543AED44CCE7C3720FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4A4A695811051907E162753B56B0F6B41"
    "0DBA74D8A84B2A14B3144E0EF1284754FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F0D8115F635B105EE2E4E15D04B2454BF"
    "6F4FADF034B10403119CD8E3B92FCC5B")
SRP_G = 3

# The [simulated.login] table: key -> (accepted types, description for errors)
LOGIN_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "authorized": ((bool,), "true (already logged in, the default) or false (tgx login needed)"),
    "qr_expires": ((int, float), "seconds a QR login token lives"),
    "qr_scan_after": ((int, float), "seconds after its export that the QR code is scanned"),
    "qr_scan_token": ((int,), "which exported QR token is scanned (1: the first)"),
    "password": ((str,), "the account's two-step verification password"),
    "qr_dc": ((int,), "the DC the account lives on: a QR code scanned on another answers auth.loginTokenMigrateTo"),
}


def validate_login(table: Any, where: str = "[simulated] login") -> dict[str, Any]:
    """The ``login`` table of a scenario, checked (a typo is a ConfigError naming it)."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table of {', '.join(LOGIN_KEYS)}")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in LOGIN_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}", hint=f"known keys: {', '.join(LOGIN_KEYS)}")
        kinds, expected = LOGIN_KEYS[key]
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise ConfigError(f"{where}: {key} must be {expected}")
        if key in ("qr_expires", "qr_scan_after") and value < 0 or key == "qr_scan_token" and value < 1 \
                or key == "qr_dc" and not 1 <= value <= 5:
            raise ConfigError(f"{where}: {key} must be {expected} (not {value})")
        out[key] = value
    return out


def login_key(seed: int) -> bytes:
    """The auth key a logged-in session of the world holds (what its sender always used)."""
    return seed.to_bytes(8, "big", signed=True) * 32


@dataclass(slots=True)
class Token:
    value: bytes
    conn: Any  # the server Connection that exported it
    expires: int  # unix seconds, as sent in auth.loginToken
    number: int  # 1: the first exported in this world
    scanned: bool = False


@dataclass(slots=True)
class _Srp:
    srp_id: int
    b: int
    B: bytes  # noqa: N815 — SRP's own name


def _sha256(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.digest()


def _num(value: int) -> bytes:
    return value.to_bytes(256, "big")


@dataclass
class Login:
    """The login side of one world (``[simulated.login]``)."""

    seed: int
    authorized: bool = True
    qr_expires: float = 30.0
    qr_scan_after: float = 0.5
    qr_scan_token: int = 1
    password: str | None = None
    qr_dc: int | None = None  # the account's DC, when a QR login must move there (loginTokenMigrateTo)
    tokens: list[Token] = field(default_factory=list)
    salt1: bytes = b""
    salt2: bytes = b""
    _srp: dict[int, _Srp] = field(default_factory=dict)  # id(conn) -> the SRP offer it was given
    _password_wanted: set[int] = field(default_factory=set)  # id(conn) that scanned, 2FA pending

    def __post_init__(self) -> None:
        self.salt1 = hashlib.sha256(b"salt1" + _num(self.seed % (1 << 64))).digest()[:8]
        self.salt2 = hashlib.sha256(b"salt2" + _num(self.seed % (1 << 64))).digest()[:16]

    @property
    def key(self) -> bytes:
        return login_key(self.seed)

    def key_is_logged_in(self, key: bytes | None) -> bool:
        return self.authorized or key == self.key

    # -- QR tokens

    def token_bytes(self, number: int) -> bytes:
        """The ``number``-th token this world exports (deterministic: tests can rebuild the URL)."""
        return hashlib.sha256(b"tgx-sim-login-token" + _num(self.seed % (1 << 64)) + _num(number)).digest()[:28]

    def export_token(self, conn: Any, authorize: Callable[[Any], bytes], push: Callable[[Any, bytes], None],
                     fault: Callable[[int, str], Exception]) -> Any:
        """auth.exportLoginToken: the success (or SESSION_PASSWORD_NEEDED) once this connection's
        token was scanned, else a fresh token (and, for the scanned one, a scan scheduled)."""
        mine = [t for t in self.tokens if t.conn is conn]
        if mine and mine[-1].scanned:
            if self.qr_dc is not None and conn.dc_id != self.qr_dc:  # the account lives elsewhere
                return types.auth.LoginTokenMigrateTo(dc_id=self.qr_dc, token=mine[-1].value)
            if self.password is not None:
                self._password_wanted.add(id(conn))
                raise fault(401, "SESSION_PASSWORD_NEEDED")
            return types.auth.LoginTokenSuccess(types.auth.Authorization(user=authorize(conn)))
        number = len(self.tokens) + 1
        token = Token(self.token_bytes(number), conn, math.ceil(time.time() + self.qr_expires), number)
        self.tokens.append(token)
        if number >= self.qr_scan_token:
            asyncio.get_running_loop().call_later(self.qr_scan_after, self._scan, token, push)
        return types.auth.LoginToken(expires=datetime.fromtimestamp(token.expires, UTC), token=token.value)

    def _scan(self, token: Token, push: Callable[[Any, bytes], None]) -> None:
        """The phone scans ``token``: only the newest of its connection, before it expires."""
        newest = [t for t in self.tokens if t.conn is token.conn][-1]
        if newest is not token or time.time() >= token.expires or any(t.scanned for t in self.tokens):
            return
        token.scanned = True
        push(token.conn, bytes(types.UpdateShort(types.UpdateLoginToken(), datetime.now(UTC))))

    def import_token(self, conn: Any, value: bytes, authorize: Callable[[Any], bytes],
                     fault: Callable[[int, str], Exception]) -> Any:
        """auth.importLoginToken: a scanned token logs in the connection that presents it."""
        token = next((t for t in self.tokens if t.value == value), None)
        if token is None:
            raise fault(400, "AUTH_TOKEN_INVALID")
        if time.time() >= token.expires and not token.scanned:
            raise fault(400, "AUTH_TOKEN_EXPIRED")
        if not token.scanned:
            raise fault(400, "AUTH_TOKEN_INVALID")
        if self.qr_dc is not None and conn.dc_id != self.qr_dc:
            raise fault(400, "AUTH_TOKEN_INVALID")  # imported on a DC the account does not live on
        if self.password is not None:
            self._password_wanted.add(id(conn))
            raise fault(401, "SESSION_PASSWORD_NEEDED")
        return types.auth.LoginTokenSuccess(types.auth.Authorization(user=authorize(conn)))

    # -- two-step verification (SRP, as https://core.telegram.org/api/srp describes)

    def _algo(self) -> Any:
        return types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
            salt1=self.salt1, salt2=self.salt2, g=SRP_G, p=SRP_PRIME)

    def _verifier(self) -> int:
        from telethon.password import compute_hash

        x = int.from_bytes(compute_hash(self._algo(), self.password or ""), "big")
        return pow(SRP_G, x, int.from_bytes(SRP_PRIME, "big"))

    def get_password(self, conn: Any) -> Any:
        """account.getPassword: the SRP offer (a fresh B each time)."""
        if self.password is None:
            return types.account.Password(new_algo=types.PasswordKdfAlgoUnknown(),
                                          new_secure_algo=types.SecurePasswordKdfAlgoUnknown(),
                                          secure_random=os.urandom(32))
        p = int.from_bytes(SRP_PRIME, "big")
        k = int.from_bytes(_sha256(SRP_PRIME, _num(SRP_G)), "big")
        b = int.from_bytes(os.urandom(256), "big") % p
        big_b = _num((k * self._verifier() + pow(SRP_G, b, p)) % p)
        srp_id = int.from_bytes(os.urandom(8), "big", signed=True)
        self._srp[id(conn)] = _Srp(srp_id, b, big_b)
        return types.account.Password(
            new_algo=self._algo(), new_secure_algo=types.SecurePasswordKdfAlgoUnknown(),
            secure_random=os.urandom(32), has_password=True, current_algo=self._algo(), srp_B=big_b,
            srp_id=srp_id)

    def check_password(self, conn: Any, check: Any, authorize: Callable[[Any], bytes],
                       fault: Callable[[int, str], Exception]) -> Any:
        """auth.checkPassword: M1 recomputed from the client's A and this connection's offer."""
        offer = self._srp.get(id(conn))
        if self.password is None or id(conn) not in self._password_wanted:
            raise fault(400, "PASSWORD_HASH_INVALID" if self.password is not None else "PASSWORD_MISSING")
        if offer is None or not isinstance(check, types.InputCheckPasswordSRP) or check.srp_id != offer.srp_id:
            raise fault(400, "SRP_ID_INVALID")
        p = int.from_bytes(SRP_PRIME, "big")
        a_bytes = bytes(check.A)
        big_a = int.from_bytes(a_bytes, "big")
        u = int.from_bytes(_sha256(_num(big_a), offer.B), "big")
        s = pow(big_a * pow(self._verifier(), u, p) % p, offer.b, p)
        m1 = _sha256(bytes(x ^ y for x, y in zip(_sha256(SRP_PRIME), _sha256(_num(SRP_G)), strict=True)),
                     _sha256(self.salt1), _sha256(self.salt2), _num(big_a), offer.B, _sha256(_num(s)))
        del self._srp[id(conn)]  # an offer is good for one try, as Telegram's
        if bytes(check.M1) != m1:
            raise fault(400, "PASSWORD_HASH_INVALID")
        self._password_wanted.discard(id(conn))
        return types.auth.Authorization(user=authorize(conn))


def login_of(world: Any) -> Login:
    """The world's login side (built on first use from ``world.login_settings``)."""
    login = getattr(world, "_login", None)
    if login is None:
        login = world._login = Login(world.seed, **getattr(world, "login_settings", {}))
    return login


__all__ = ["LOGIN_KEYS", "Login", "Token", "login_key", "login_of", "validate_login"]
