"""Proxy URLs: ``--proxy``, ``TGX_PROXY`` and ``[telegram] proxy`` as Telethon client arguments.

Public, because the client plugins build the ``TelegramClient`` (``tgx_telegram_client``) and
the core checks the same URL when the config is loaded and names it in messages. Forms:

* ``socks5://[user:pass@]host:port``, ``socks4://[user@]host:port``, ``http://[user:pass@]host:port``
  — Telethon's ``proxy=`` argument, carried out by ``python-socks`` (hostnames are resolved by
  the proxy: ``rdns``);
* ``mtproxy://SECRET@host:port`` — Telegram's own MTProxy: Telethon's
  ``ConnectionTcpMTProxyRandomizedIntermediate`` with ``proxy=(host, port, secret)``. SECRET is
  32 hex digits, optionally ``dd``-prefixed, or their base64. Fake-TLS (``ee…``) secrets are
  refused: Telethon cannot speak that protocol and would only time out;
* ``none`` — connect directly, whatever a lower-precedence source says.

Nothing here ever puts a password or an MTProxy secret into a message: :meth:`Proxy.label`
names a proxy by scheme, host and port only, and a malformed URL is reported the same way.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tgx.errors import ConfigError

SCHEMES = ("socks5", "socks4", "http", "mtproxy")
DIRECT = "none"  # the value that means "no proxy" (overrides TGX_PROXY / tgx.toml)
EXAMPLES = "socks5://[user:pass@]host:port, socks4://, http://, mtproxy://SECRET@host:port or none"

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:(?P<userinfo>[^@/?#]*)@)?"
                  r"(?P<host>\[[^\]/?#]*\]|[^:/?#\[\]@]*)(?::(?P<port>[^/?#]*))?(?P<rest>[/?#].*)?$")


@dataclass(frozen=True, slots=True)
class Proxy:
    """One parsed proxy. ``secret`` is MTProxy's (``dd`` + 32 hex digits), ``password`` a SOCKS5/HTTP one."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)

    def label(self) -> str:
        """``socks5://host:1080``: how messages, doctor and logs name it (no credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def secrets(self) -> list[str]:
        """What must be registered with :func:`tgx.console.register_secret`."""
        return [s for s in (self.password, self.secret) if s]

    def client_kwargs(self) -> dict[str, Any]:
        """Exactly the keyword arguments ``TelegramClient`` takes for this proxy."""
        if self.scheme == "mtproxy":
            from telethon.network import ConnectionTcpMTProxyRandomizedIntermediate

            return {"connection": ConnectionTcpMTProxyRandomizedIntermediate,
                    "proxy": (self.host, self.port, self.secret)}
        proxy: dict[str, Any] = {"proxy_type": self.scheme, "addr": self.host, "port": self.port, "rdns": True}
        if self.username is not None:
            proxy["username"] = self.username
        if self.password is not None:
            proxy["password"] = self.password
        return {"proxy": proxy}


def safe_label(url: str) -> str:
    """A proxy URL as it may be shown even when it does not parse: everything up to the last
    ``@`` (a user, a password, an MTProxy secret — even one with a stray ``/`` or ``:``) and
    anything after the host and port are dropped."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return "a value that is not a URL"
    hostport = re.split(r"[/?#]", rest.rpartition("@")[2], maxsplit=1)[0]
    return f"{scheme.lower()}://{hostport}"


def _fail(url: str, problem: str, source: str | None) -> ConfigError:
    where = f" ({source})" if source else ""
    return ConfigError(f"bad proxy {safe_label(url)}{where}: {problem}", hint=f"a proxy is {EXAMPLES}")


def _mtproxy_secret(text: str) -> str | None:
    """The secret as Telethon takes it, or None when malformed. Always ``dd`` + 32 hex digits:
    Telethon strips a leading ``dd``/``ee`` from the text, so a plain secret that happens to
    start with those digits would lose a byte; the 16 bytes on the wire are the same."""
    raw: bytes | None = None
    if re.fullmatch(r"[0-9A-Fa-f]+", text) and len(text) % 2 == 0:
        raw = bytes.fromhex(text)
    else:
        try:
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4),
                                   validate=True)
        except (binascii.Error, ValueError):
            return None
    if len(raw) == 17 and raw[0] == 0xDD:
        raw = raw[1:]
    if len(raw) == 16:
        return "dd" + raw.hex()
    if len(raw) > 17 and raw[0] == 0xEE:
        raise ValueError("fake-TLS secrets (ee...) are not supported by Telethon; ask for a dd or plain secret")
    return None


def parse_proxy(url: str | None, *, source: str | None = None) -> Proxy | None:
    """Parse a proxy URL; ``None``, empty or ``none``: no proxy. A malformed one is a
    :class:`ConfigError` (exit 3) naming the proxy by :func:`safe_label` and ``source``
    (where it came from: ``--proxy``, ``TGX_PROXY``, a config file)."""
    if url is None or not url.strip() or url.strip().lower() == DIRECT:
        return None
    text = url.strip()
    match = _URL.match(text)
    if match is None or (match["userinfo"] is None and "@" in text):
        raise _fail(text, "not a URL (characters such as @ / : in a password must be %-encoded)", source)
    scheme = match["scheme"].lower()
    if scheme not in SCHEMES:
        raise _fail(text, f"unknown scheme {scheme!r} (use {', '.join(SCHEMES)})", source)
    host = match["host"].strip("[]")
    if not host:
        raise _fail(text, "no host", source)
    if match["rest"] not in (None, "", "/"):
        raise _fail(text, "a proxy URL has no path or query", source)
    if match["port"] is None or match["port"] == "":
        raise _fail(text, "no port (e.g. :1080)", source)
    if not match["port"].isdigit() or not 1 <= int(match["port"]) <= 65535:
        raise _fail(text, "the port must be a number from 1 to 65535", source)
    port = int(match["port"])
    userinfo = match["userinfo"]
    if scheme == "mtproxy":
        if not userinfo:
            raise _fail(text, "an MTProxy needs its secret: mtproxy://SECRET@host:port", source)
        try:
            secret = _mtproxy_secret(unquote(userinfo))
        except ValueError as exc:
            raise _fail(text, str(exc), source) from None
        if secret is None:
            raise _fail(text, "the MTProxy secret must be 16 bytes (32 hex digits, optionally dd-prefixed) "
                              "or their base64", source)
        return Proxy(scheme, host, port, secret=secret)
    username = password = None
    if userinfo is not None:
        user, colon, pwd = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pwd) if colon else None
        if scheme == "socks4" and password is not None:
            raise _fail(text, "SOCKS4 has a user id but no password", source)
    return Proxy(scheme, host, port, username=username, password=password)


def proxy_kwargs(url: str | None) -> dict[str, Any]:
    """``TelegramClient`` keyword arguments for ``url`` (``{}``: connect directly)."""
    proxy = parse_proxy(url)
    return proxy.client_kwargs() if proxy is not None else {}


__all__ = ["DIRECT", "SCHEMES", "Proxy", "parse_proxy", "proxy_kwargs", "safe_label"]
