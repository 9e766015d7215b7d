"""``tgx accounts [--json] [--check]``: the accounts tgx has a session for, offline.

Listing reads files only — each account's session file (its permissions) and the small profile
tgx cached beside it when Telegram last answered ``get_me()`` (``tgx login``, ``--check``,
``tgx doctor --online``) — so it is instant and sends nothing. ``--check`` connects each
account once, refreshes its profile and says whether it is still logged in. Phone numbers are
only ever shown masked (``+49•••••••78``).
"""

from __future__ import annotations

from typing import Any

import pluggy
import typer

from tgx import console
from tgx.cli import AppState, get_state, run_async
from tgx.cli.table import print_table


def account_names(value: str | list[str] | None, flag: str = "--accounts") -> list[str]:
    """``a,b`` (or a repeated flag) as checked account names, each once; a bad one is a usage error."""
    from tgx.config import check_account_name
    from tgx.errors import ConfigError, UsageError

    parts = value if isinstance(value, list) else [value or ""]
    names = [n.strip() for part in parts for n in part.split(",") if n.strip()]
    try:
        return list(dict.fromkeys(check_account_name(n, f"{flag}:") for n in names))
    except ConfigError as exc:
        raise UsageError(exc.message) from None


def account_rows(state: AppState) -> list[dict[str, Any]]:
    from tgx.telegram.accounts import describe

    return [describe(state.account_config(name)) for name in state.config.known_accounts()]


async def check_accounts(state: AppState, rows: list[dict[str, Any]]) -> None:
    """Connect every account that has a session; record its profile; mark ``logged_in``."""
    from tgx.errors import TgxError
    from tgx.telegram.accounts import describe, record_profile

    for row in rows:
        if not row["exists"]:  # never log in by accident: connecting would create a session
            row["logged_in"] = False
            continue
        try:
            async with state.connected_client(require_login=False, account=row["name"]) as client:
                row["logged_in"] = bool(await client.is_user_authorized())
                if row["logged_in"]:
                    record_profile(state.account_config(row["name"]), await client.get_me())
        except TgxError as exc:
            row["logged_in"], row["error"] = False, exc.message
            continue
        row.update({k: v for k, v in describe(state.account_config(row["name"])).items() if v is not None})


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    @app.command("accounts")
    def accounts(
        ctx: typer.Context,
        json_output: bool = typer.Option(False, "--json", help="Print the list as JSON on stdout."),
        check: bool = typer.Option(False, "--check", help="Connect each account once: still logged in? "
                                   "(refreshes the cached @username, premium, ...)"),
    ) -> None:
        """List your accounts: name, user id, @username, premium, session file (and its mode), last used.

        Offline and instant: what Telegram last said of each account is cached beside its session.
        Log in another with `tgx login --account NAME`; export with several with `--accounts a,b`.
        """
        state = get_state(ctx)
        rows = account_rows(state)
        if check:
            run_async(check_accounts(state, rows))
        if json_output:
            console.print_json(rows)
            return
        cells = []
        for row in rows:
            if not row["exists"]:
                login = "tgx login" + ("" if row["name"] == "default" else f" --account {row['name']}")
                session = f"(no session: {login})"
            else:
                session = f"{row['session_file']} ({row['mode']}{'' if row['private'] else ', readable by others!'})"
            who = f"@{row['username']}" if row.get("username") else ""
            premium = "" if row.get("premium") is None else ("yes" if row["premium"] else "no")
            user_id = "" if row.get("user_id") is None else str(row["user_id"])
            why = f": {row['error']}" if row.get("error") else ""
            status = "" if "logged_in" not in row else ("logged in" if row["logged_in"] else f"NOT logged in{why}")
            cells.append((row["name"], user_id, who, row.get("phone") or "", premium, session,
                          row.get("last_used") or "", *((status,) if check else ())))
        columns: list[Any] = ["account", ("user id", "right"), "username", "phone", "premium", "session",
                              "last used"]
        print_table([*columns, *(["status"] if check else [])], cells)


__all__ = ["account_names", "account_rows", "check_accounts", "register"]
