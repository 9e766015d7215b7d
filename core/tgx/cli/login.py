"""``tgx login``: authorize a session once — phone → code → 2FA password, a QR code scanned
with the Telegram app (``--qr``), a Telethon session string (``--session-string``), or a bot token.

The client comes from the ``tgx_telegram_client`` hook, so the command works the same with the
real Telegram and with the simulated one (logged in from the start unless its scenario says
``[simulated.login] authorized = false``). Secrets — the phone number, the code, the password,
the bot token, the session string, the QR login token — are read with hidden prompts where
possible, registered with :func:`tgx.console.register_secret`, and never printed; the QR code
goes to the terminal (stderr) and the ``tg://login`` URL in it only when stderr is a terminal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pluggy
import typer

from tgx import console
from tgx.cli import AppState, get_state, run_async
from tgx.errors import AuthError, NetworkError, UsageError

MAX_ATTEMPTS = 3
MAX_QR_CODES = 10  # codes shown (each lives ~30 s on Telegram) before `tgx login --qr` gives up
MIN_QR_WAIT = 1.0  # seconds: a clock ahead of Telegram's must not turn the wait into a busy loop


def describe_account(me: Any) -> str:
    """``@name (First Last, id 123)`` — never the phone number."""
    if me is None:
        return "an unknown account"
    name = " ".join(p for p in (getattr(me, "first_name", None), getattr(me, "last_name", None)) if p)
    username = getattr(me, "username", None)
    kind = "bot " if getattr(me, "bot", False) else ""
    head = f"@{username}" if username else (name or "account")
    details = ", ".join(p for p in ((name if username else ""), f"id {me.id}") if p)
    return f"{kind}{head} ({details})"


def _secure_session(state: AppState) -> None:
    path = Path(str(state.config.session_path) + ".session")
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, 0o600)


def _map_login_error(exc: Exception) -> Exception:
    from telethon import errors

    if isinstance(exc, errors.ApiIdInvalidError):
        return AuthError("Telegram rejected the API id/hash",
                         hint="check TGX_API_ID / TGX_API_HASH (from https://my.telegram.org)")
    if isinstance(exc, errors.PhoneNumberInvalidError):
        return UsageError("Telegram says the phone number is invalid",
                          hint="use the international format, e.g. +4915112345678")
    if isinstance(exc, errors.PhoneNumberBannedError):
        return AuthError("Telegram says this phone number is banned")
    if isinstance(exc, errors.PhoneCodeExpiredError):
        return AuthError("the login code expired", hint="run `tgx login` again")
    if isinstance(exc, errors.AccessTokenInvalidError):
        return AuthError("Telegram rejected the bot token", hint="check the token from @BotFather")
    if isinstance(exc, errors.FloodWaitError):
        return NetworkError(f"Telegram asks to wait {exc.seconds} s before the next login attempt")
    if isinstance(exc, errors.RPCError):
        return AuthError(f"login failed: {exc.message}")
    return exc


async def _password(client: Any) -> None:
    from telethon import errors

    for attempt in range(1, MAX_ATTEMPTS + 1):
        password = typer.prompt("two-step verification password", hide_input=True, err=True)
        console.register_secret(password)
        try:
            await client.sign_in(password=password)
            return
        except errors.PasswordHashInvalidError:
            if attempt < MAX_ATTEMPTS:
                console.warn("wrong password, try again")
    raise AuthError(f"wrong password {MAX_ATTEMPTS} times", hint="run `tgx login` again")


async def _phone_login(client: Any, phone: str) -> None:
    from telethon import errors

    sent = await client.send_code_request(phone)
    console.info("a login code was sent to your Telegram app (or by SMS)")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        code = typer.prompt("login code", hide_input=True, err=True).strip()
        console.register_secret(code)
        try:
            await client.sign_in(phone=phone, code=code, phone_code_hash=sent.phone_code_hash)
            return
        except errors.SessionPasswordNeededError:
            await _password(client)
            return
        except errors.PhoneCodeInvalidError:
            if attempt < MAX_ATTEMPTS:
                console.warn("wrong code, try again")
    raise AuthError(f"wrong login code {MAX_ATTEMPTS} times", hint="run `tgx login` again")


def show_qr(url: str, out: Any = None) -> None:
    """The login QR code as text (half blocks: light modules drawn, so it scans on dark and light
    terminals), and the URL itself only when the output is a terminal — never into a log."""
    import segno

    out = out or sys.stderr
    out.write("\nscan this QR code in the Telegram app: Settings > Devices > Link Desktop Device\n")
    segno.make(url, error="l").terminal(out=out, compact=True, border=2)
    if out.isatty():
        out.write(f"or open this link on a logged-in device: {url}\n")
    out.flush()


async def _qr_login(client: Any) -> None:
    """Show a QR code, wait for the scan; a new code when one expires; the 2FA password after."""
    from telethon import errors

    qr = await client.qr_login()
    for shown in range(1, MAX_QR_CODES + 1):
        console.register_secret(qr.url)
        console.register_secret(qr.url.partition("token=")[2])
        show_qr(qr.url)
        remaining = (qr.expires - datetime.now(UTC)).total_seconds()
        try:
            await qr.wait(timeout=max(remaining, MIN_QR_WAIT))
            return
        except TimeoutError:  # asyncio.TimeoutError: the code expired unscanned
            if shown < MAX_QR_CODES:
                console.info("the QR code expired; here is a new one")
                await qr.recreate()
        except errors.SessionPasswordNeededError:
            await _password(client)
            return
    raise AuthError(f"no QR code was scanned ({MAX_QR_CODES} codes shown)", hint="run `tgx login --qr` again")


def read_session_string(value: str) -> Any:
    """A Telethon ``StringSession`` from ``value`` (``-``: stdin, hidden when it is a terminal).
    Malformed, or without a login key: a :class:`UsageError` that never repeats the string."""
    from telethon.sessions import StringSession

    if value == "-":
        if sys.stdin.isatty():
            value = typer.prompt("session string", hide_input=True, err=True)
        else:
            value = sys.stdin.read()
    text = value.strip()
    console.register_secret(text)
    if not text:
        raise UsageError("the session string is empty", hint="pass it with --session-string - on stdin")
    try:
        session = StringSession(text)
    except Exception:  # ValueError, struct.error, binascii.Error: all mean "not one of ours"
        raise UsageError("not a Telethon session string (it does not decode)",
                         hint="copy the whole string that StringSession.save() printed") from None
    if session.auth_key is None or not session.server_address:
        raise UsageError("the session string holds no login (no auth key)",
                         hint="export it from a session that is logged in") from None
    return session


async def _import_session_string(state: AppState, imported: Any) -> Any:
    """Write ``imported``'s data center and auth key into the session file, then ask Telegram
    whose it is. The client reads its session when it is built, so the file is written before
    a new client opens it; a refused string leaves no session file behind."""
    from telethon.sessions import SQLiteSession

    async with state.connected_client(require_login=False) as client:
        session = client.session
        if await client.is_user_authorized():
            raise UsageError(f"already logged in as {describe_account(await client.get_me())}: the session "
                             "string was not imported",
                             hint="use another session name (TGX_SESSION=NAME) or remove the session file first")
    if not isinstance(session, SQLiteSession) or not session.filename.endswith(".session"):
        raise UsageError("the Telegram client plugin in use keeps no session file: cannot import a session string")
    path = Path(session.filename)
    path.unlink(missing_ok=True)  # the old one was not logged in; its cached peers are another account's
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    target = SQLiteSession(session.filename[: -len(".session")])
    try:
        target.set_dc(imported.dc_id, imported.server_address, imported.port)
        target.auth_key = imported.auth_key
        target.save()
    finally:
        target.close()
    async with state.connected_client(require_login=False) as client:
        if await client.is_user_authorized():
            return await client.get_me()
    path.unlink(missing_ok=True)
    raise AuthError("Telegram does not accept the session string (logged out, or revoked?)",
                    hint="export a new one from a session that is logged in, or use `tgx login --qr`")


async def login(state: AppState, *, bot_token: str | None, phone: str | None, qr: bool = False,
                session_string: Any = None) -> None:
    from tgx.telegram.accounts import record_profile

    if session_string is not None:
        me = await _import_session_string(state, session_string)
        _secure_session(state)
        record_profile(state.config, me)
        console.info(f"logged in as {describe_account(me)} (session string imported)")
        return
    async with state.connected_client(require_login=False) as client:
        if await client.is_user_authorized():
            me = await client.get_me()
            record_profile(state.config, me)
            console.info(f"already logged in as {describe_account(me)}")
            return
        token = bot_token or (None if phone or qr else state.config.bot_token)
        try:
            if qr:
                await _qr_login(client)
            elif token:
                await client.sign_in(bot_token=token)
            else:
                if not phone:
                    phone = typer.prompt("phone number (international format, e.g. +4915112345678)",
                                         err=True)
                console.register_secret(phone)
                await _phone_login(client, phone.strip())
        except (AuthError, UsageError, NetworkError):
            raise
        except Exception as exc:
            mapped = _map_login_error(exc)
            if mapped is exc:
                raise
            raise mapped from None
        me = await client.get_me()
    _secure_session(state)
    record_profile(state.config, me)
    console.info(f"logged in as {describe_account(me)}")


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    @app.command("login")
    def login_command(
        ctx: typer.Context,
        bot_token: str | None = typer.Option(
            None, "--bot-token", metavar="TOKEN",
            help="Log in as a bot with this token (default: TGX_BOT_TOKEN or \\[telegram] bot_token).",
        ),
        phone: str | None = typer.Option(
            None, "--phone", metavar="PHONE",
            help="Log in as a user with this phone number (asked for when not given).",
        ),
        qr: bool = typer.Option(False, "--qr", help="Log in by scanning a QR code with the Telegram app "
                                "(Settings > Devices > Link Desktop Device)."),
        session_string: str | None = typer.Option(
            None, "--session-string", metavar="STRING",
            help="Import a Telethon session string; - reads it from stdin (safer than the command line, "
                 "which other users can see)."
        ),
        account: str = typer.Option("default", "--account", metavar="NAME",
                                    help="Log in this account: its own session file (see `tgx accounts`)."),
    ) -> None:
        """Log in to Telegram once; the session is kept in the data dir (0600).

        Needs an API id and hash from https://my.telegram.org: set TGX_API_ID and TGX_API_HASH,
        or api_id/api_hash in the \\[telegram] table of tgx.toml.
        """
        console.register_secret(bot_token)
        console.register_secret(phone)
        console.register_secret(session_string)
        chosen = [name for name, given in (("--bot-token", bot_token), ("--phone", phone), ("--qr", qr),
                                           ("--session-string", session_string)) if given]
        if len(chosen) > 1:
            raise UsageError(f"{chosen[0]} and {chosen[1]} cannot be combined: choose one way to log in")
        imported = read_session_string(session_string) if session_string is not None else None
        from tgx.cli.accounts import account_names

        state = get_state(ctx)
        names = account_names(account, "--account")
        if len(names) != 1:
            raise UsageError("--account takes one account name")
        state = dataclasses.replace(state, config=state.account_config(names[0]))  # its session, proxy, keys
        run_async(login(state, bot_token=bot_token, phone=phone, qr=qr, session_string=imported))


__all__ = ["describe_account", "login", "read_session_string", "register", "show_qr"]
