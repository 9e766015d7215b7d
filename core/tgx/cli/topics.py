"""``tgx topics CHAT``: a forum's topics — id, title, state, newest message, optionally counts."""

from __future__ import annotations

from typing import Any, Literal

import pluggy
import typer

from tgx import console
from tgx.cli import AppState, get_state, run_async
from tgx.cli.table import print_table


async def forum_topics(state: AppState, chat: str, *, counts: bool) -> tuple[Any, list[Any]]:
    """(the resolved chat's Peer, its topics) — read-only: no OUT, no lock, no archive."""
    from tgx.errors import UsageError
    from tgx.telegram.peers import PeerResolution
    from tgx.telegram.runner import RequestRunner
    from tgx.telegram.topics import count_messages, list_topics

    async with state.connected_client() as client:
        runner = RequestRunner(client)
        resolved = await PeerResolution(client).resolve(chat)
        peer = resolved.peer
        if not peer.forum:
            raise UsageError(f"{console.printable(peer.title)} is not a forum: it has no topics",
                             hint="`tgx chats` marks forums with (forum)")
        topics = await list_topics(runner, resolved.input_peer, title=console.printable(peer.title))
        if counts:
            for topic in topics:
                topic.messages = await count_messages(runner, resolved.input_peer, topic)
        return peer, topics


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    @app.command("topics")
    def topics(
        ctx: typer.Context,
        chat: str = typer.Argument(..., metavar="CHAT", help="The forum: @username, link or id (see `tgx chats`)."),
        json_output: bool = typer.Option(False, "--json", help="Print the topics as a JSON array on stdout."),
        counts: bool = typer.Option(False, "--counts",
                                    help="Ask Telegram for each topic's message count (one request per topic)."),
    ) -> None:
        """List a forum's topics: id, icon emoji, title, closed / pinned / hidden, created, newest message.

        A topic's id is the `topic_id` of its messages in every format.
        """
        _peer, found = run_async(forum_topics(get_state(ctx), chat, counts=counts))
        if json_output:
            console.print_json([t.to_dict() for t in found])
            return
        cells = []
        for t in found:
            flags = ", ".join(name for name, on in (("closed", t.closed), ("pinned", t.pinned), ("hidden", t.hidden))
                              if on)
            created = t.date.strftime("%Y-%m-%d") if t.date else ""
            cells.append((t.id, t.icon_emoji or "", t.title, flags, created, t.top_message_id, t.messages))
        columns: list[str | tuple[str, Literal["left", "right"]]] = [
            ("id", "right"), "icon", "title", "state", "created", ("newest", "right"), ("messages", "right")]
        print_table(columns, cells)


__all__ = ["forum_topics", "register"]
