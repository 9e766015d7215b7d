"""The account's dialog list, for ``tgx export --all-dialogs [--dialog-type ...]``.

``messages.GetDialogs`` is paged by the last dialog's top message (date, id, peer), like
Telegram's own clients do, and every page goes through the export's
:class:`~tgx.telegram.runner.RequestRunner` (flood waits, retries, pacing). Each dialog arrives with its
entity, so the result is already resolved: a :class:`~tgx.specs.ResolvedPeer` per chat, with
no further request per chat. Chats that cannot be read (``ChannelForbidden``, ``ChatForbidden``)
are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tgx.errors import UsageError
from tgx.specs import ResolvedPeer
from tgx.telegram.ids import peer_id
from tgx.telegram.peers import peer_from_entity

PAGE = 100  # dialogs per GetDialogs request (Telegram's maximum)
MAX_PAGES = 10_000  # a guard against a server that never stops paging

# --dialog-type names → Peer.kind values they select ("user" includes Saved Messages, "self").
DIALOG_TYPES: dict[str, frozenset[str]] = {
    "channel": frozenset({"channel"}),
    "supergroup": frozenset({"supergroup"}),
    "group": frozenset({"group"}),
    "user": frozenset({"user", "self"}),
    "bot": frozenset({"bot"}),
}


def parse_dialog_types(values: Iterable[str]) -> frozenset[str]:
    """``["channel,supergroup", "bot"]`` → the Peer kinds to export; unknown names are a usage error."""
    kinds: set[str] = set()
    for value in values:
        for name in (v.strip().lower() for v in value.split(",")):
            if not name:
                continue
            if name not in DIALOG_TYPES:
                raise UsageError(f"unknown dialog type '{name}'",
                                 hint="--dialog-type takes " + ", ".join(DIALOG_TYPES))
            kinds |= DIALOG_TYPES[name]
    return frozenset(kinds)


async def list_dialogs(runner: Any, *, kinds: Iterable[str] | None = None, page: int = PAGE) -> list[ResolvedPeer]:
    """Every exportable dialog of the account, most recent first.

    :param runner: the export's request runner (``await runner(request, stage=...)``).
    :param kinds: Peer kinds to keep (see :data:`DIALOG_TYPES`); None keeps all.
    """
    from telethon import utils
    from telethon.tl import functions, types

    wanted = frozenset(kinds) if kinds else None
    offset_date: Any = None
    offset_id = 0
    offset_peer: Any = types.InputPeerEmpty()
    seen: set[int] = set()
    found: list[ResolvedPeer] = []
    for _ in range(MAX_PAGES):
        request = functions.messages.GetDialogsRequest(
            offset_date=offset_date, offset_id=offset_id, offset_peer=offset_peer, limit=page, hash=0)
        resp = await runner(request, stage="resolve")
        dialogs = getattr(resp, "dialogs", None) or []
        entities = {utils.get_peer_id(e): e for e in (*resp.users, *resp.chats)} if dialogs else {}
        tops = {(peer_id(m.peer_id), m.id): m for m in getattr(resp, "messages", ()) or ()}
        new = 0
        last_entity = None
        for dialog in dialogs:
            marked = peer_id(dialog.peer)
            entity = entities.get(marked) if marked is not None else None
            if marked is None or entity is None or marked in seen:
                continue
            seen.add(marked)
            new += 1
            last_entity = entity
            if isinstance(entity, types.ChannelForbidden | types.ChatForbidden | types.ChatEmpty):
                continue
            try:
                peer = peer_from_entity(entity)
            except TypeError:
                continue
            if wanted is not None and peer.kind not in wanted:
                continue
            found.append(ResolvedPeer(peer, utils.get_input_peer(entity)))
        if not dialogs or isinstance(resp, types.messages.Dialogs) or len(dialogs) < page or not new:
            break
        last = dialogs[-1]
        top = tops.get((peer_id(last.peer), last.top_message))
        if top is None or last_entity is None:
            break  # nothing to page by: what was listed is all we can know
        offset_date, offset_id = top.date, top.id
        offset_peer = utils.get_input_peer(entities.get(peer_id(last.peer), last_entity))
    return found


__all__ = ["DIALOG_TYPES", "list_dialogs", "parse_dialog_types"]
