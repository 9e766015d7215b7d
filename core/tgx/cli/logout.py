"""``tgx logout [--account NAME]``: end the session at Telegram, then delete it here.

``auth.LogOut`` first (Telethon's ``log_out()``: the authorization disappears from the account's
active sessions, so a copy of the file left anywhere is worthless), then the session file and
its cached profile are deleted. An account with no session file, or one Telegram no longer
accepts, is refused with one line (exit 5) before anything is sent or deleted.
"""

from __future__ import annotations

import pluggy
import typer

from tgx import console
from tgx.cli import AppState, get_state, run_async
from tgx.errors import AuthError, NetworkError


async def logout(state: AppState, account: str) -> None:
    from tgx.telegram.accounts import forget, session_file

    config = state.account_config(account)
    session = session_file(config)
    if not session.exists():
        raise AuthError(f"account {account!r} is not logged in (no session file {session})",
                        hint="`tgx accounts` lists the accounts with a session")
    async with state.connected_client(require_login=False, account=account) as client:
        if not await client.is_user_authorized():
            raise AuthError(f"account {account!r} is not logged in at Telegram (its session was ended "
                            "elsewhere or revoked); nothing to log out",
                            hint=f"delete {session} if you no longer need it, or `tgx login --account {account}`")
        from tgx.cli.login import describe_account

        who = describe_account(await client.get_me())
        if not await client.log_out():  # auth.LogOut; Telethon deletes its session on success
            raise NetworkError(f"Telegram did not accept the log-out of account {account!r}",
                               hint="run `tgx logout` again")
    forget(config)  # whatever Telethon left: the file (a MemorySession deletes nothing), the profile
    console.info(f"logged out {who} (account {account!r}); session file deleted")


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    @app.command("logout")
    def logout_command(
        ctx: typer.Context,
        account: str = typer.Option("default", "--account", metavar="NAME",
                                    help="The account to log out (see `tgx accounts`)."),
    ) -> None:
        """Log an account out at Telegram and delete its session file."""
        from tgx.cli.accounts import account_names
        from tgx.errors import UsageError

        names = account_names(account, "--account")
        if len(names) != 1:
            raise UsageError("--account takes one account name")
        run_async(logout(get_state(ctx), names[0]))


__all__ = ["logout", "register"]
