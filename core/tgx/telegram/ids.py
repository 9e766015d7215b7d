"""Marked ids of Telegram peers, the one id scheme tgx stores: users positive, basic groups
``-id``, channels and supergroups ``-100…`` (``telethon.utils.get_peer_id``'s scheme)."""

from __future__ import annotations

from typing import Any

from telethon import utils as tl_utils
from telethon.tl import types as tl

CHANNEL_MARK = 1_000_000_000_000


def peer_id(peer: Any) -> int | None:
    """The marked id of a ``Peer*`` TL object (``None`` stays ``None``).

    Same result as ``telethon.utils.get_peer_id`` for ``PeerUser/PeerChat/PeerChannel``, at a
    fraction of its cost (no ``get_peer`` coercion); anything else goes through Telethon.
    """
    cls = type(peer)
    if cls is tl.PeerUser:
        return peer.user_id
    if cls is tl.PeerChannel:
        return -CHANNEL_MARK - peer.channel_id
    if cls is tl.PeerChat:
        return -peer.chat_id
    if peer is None:
        return None
    return tl_utils.get_peer_id(peer)


__all__ = ["CHANNEL_MARK", "peer_id"]
