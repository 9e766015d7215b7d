"""``tgx chats``: the chats this account can export, with the ids and usernames CHAT accepts."""

from __future__ import annotations

from typing import Any

import pluggy
import typer

from tgx import console
from tgx.cli import AppState, get_state, run_async
from tgx.cli.table import print_table

# Channels and supergroups number their messages per chat, so the newest id approximates the
# count. Private chats and basic groups share one counter per account: their ids say nothing.
PER_CHAT_IDS = ("channel", "supergroup")


async def list_chats(state: AppState, *, limit: int | None, counts: bool,
                     account: str | None = None) -> list[dict[str, Any]]:
    from tgx.telegram.peers import peer_from_entity

    rows: list[dict[str, Any]] = []
    async with state.connected_client(account=account) as client:
        async for dialog in client.iter_dialogs(limit=limit):
            try:
                peer = peer_from_entity(dialog.entity)
            except TypeError:
                continue
            top = dialog.message.id if getattr(dialog, "message", None) is not None else None
            total = None
            if counts:
                total = (await client.get_messages(dialog.input_entity, limit=0)).total
            rows.append({
                "id": peer.id, "kind": peer.kind, "title": peer.title, "username": peer.username,
                "forum": peer.forum, "unread": dialog.unread_count, "top_message_id": top,
                "messages": total,
                "approx_messages": total if total is not None
                else (top if peer.kind in PER_CHAT_IDS else None),
            })
    return rows


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    @app.command("chats")
    def chats(
        ctx: typer.Context,
        json_output: bool = typer.Option(False, "--json", help="Print the list as JSON on stdout."),
        limit: int | None = typer.Option(None, "--limit", min=1, metavar="N",
                                         help="Only the N most recent chats."),
        counts: bool = typer.Option(False, "--counts",
                                    help="Ask Telegram for each chat's exact message count (one request per "
                                         "chat: slower)."),
        account: str | None = typer.Option(None, "--account", metavar="NAME",
                                           help="List the chats of this account (see `tgx accounts`)."),
    ) -> None:
        """List your chats: id, kind, title, @username, unread and (approximate) message count.

        Any id or @username shown here is a valid CHAT for `tgx export`.
        """
        from tgx.cli.accounts import account_names

        one = account_names(account, "--account")
        rows = run_async(list_chats(get_state(ctx), limit=limit, counts=counts, account=one[0] if one else None))
        if json_output:
            console.print_json(rows)
            return
        cells = []
        for row in rows:
            if row["messages"] is not None:
                messages = str(row["messages"])
            elif row["approx_messages"] is not None:
                messages = f"~{row['approx_messages']}"
            else:
                messages = ""
            kind = row["kind"] + (" (forum)" if row["forum"] else "")
            username = f"@{row['username']}" if row["username"] else ""
            cells.append((row["id"], kind, row["title"], username, row["unread"], messages))
        print_table([("id", "right"), "kind", "title", "username", ("unread", "right"), ("messages", "right")], cells)


__all__ = ["list_chats", "register"]
