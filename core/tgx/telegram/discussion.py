"""A broadcast channel's linked discussion group: where its posts' comments live.

``channels.GetFullChannel`` names it (``linked_chat_id``) and carries its ``Channel`` among the
answer's chats (with the access hash to read it). Whether its history is *readable* decides how
comments are fetched (:mod:`tgx.threads.comments`): a public group, or one the account is a
member of, is read like any chat; a private group the account is not in answers only
``messages.GetReplies`` on the channel's posts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telethon import utils
from telethon.tl import functions, types

from tgx.specs import ResolvedPeer
from tgx.telegram.peers import peer_from_entity


@dataclass(frozen=True, slots=True)
class Discussion:
    group: ResolvedPeer
    readable: bool  # its history can be read with GetHistory (else GetReplies per post)


async def linked_group(runner: Any, input_channel: Any, *, label: str) -> Discussion | None:
    """The channel's discussion group (one request), or None when it has none."""
    full = await runner(functions.channels.GetFullChannelRequest(utils.get_input_channel(input_channel)),
                        stage="resolve", chat=label)
    linked = getattr(full.full_chat, "linked_chat_id", None)
    if not linked:
        return None
    for chat in full.chats:
        if getattr(chat, "id", None) != linked:
            continue
        peer = peer_from_entity(chat)
        if isinstance(chat, types.ChannelForbidden):
            return Discussion(ResolvedPeer(peer, utils.get_input_peer(chat)), readable=False)
        member = not getattr(chat, "left", False)
        return Discussion(ResolvedPeer(peer, utils.get_input_peer(chat)), readable=member or bool(peer.username))
    return None


__all__ = ["Discussion", "linked_group"]
