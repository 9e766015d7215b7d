"""``tgx login``: authorize a session once (phone → code → 2FA password, or a bot token).

The client comes from the ``tgx_telegram_client`` hook, so the command works the same with the
real Telegram and with the simulated one (which is already authorized). Secrets — the phone
number, the code, the password, the bot token — are read with hidden prompts where possible,
registered with :func:`tgx.console.register_secret`, and never printed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pluggy
import typer

from tgx import console
from tgx.cli import AppState, get_state, run_async
from tgx.errors import AuthError, NetworkError, UsageError

MAX_ATTEMPTS = 3


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


async def login(state: AppState, *, bot_token: str | None, phone: str | None) -> None:
    async with state.connected_client(require_login=False) as client:
        if await client.is_user_authorized():
            console.info(f"already logged in as {describe_account(await client.get_me())}")
            return
        token = bot_token or (None if phone else state.config.bot_token)
        try:
            if token:
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
    ) -> None:
        """Log in to Telegram once; the session is kept in the data dir (0600).

        Needs an API id and hash from https://my.telegram.org: set TGX_API_ID and TGX_API_HASH,
        or api_id/api_hash in the \\[telegram] table of tgx.toml.
        """
        console.register_secret(bot_token)
        console.register_secret(phone)
        run_async(login(get_state(ctx), bot_token=bot_token, phone=phone))


__all__ = ["describe_account", "login", "register"]
