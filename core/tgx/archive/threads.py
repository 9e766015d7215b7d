"""Which thread a stored message belongs to, read from its record (see the threads part of
:mod:`tgx.archive.store`).

Two kinds of threaded chats:

* a **forum**: a message's thread is its topic (``topic_id``; General, which carries none, is 1;
  a ``topic_created`` service message opens — and so belongs to — its own topic);
* a channel's **discussion group**: the root of a thread is the group's auto-forwarded copy of a
  channel post (``forward.saved_from_peer`` = the channel, ``saved_from_msg_id`` = the post); a
  comment belongs to the thread it answers in: ``reply_to_top_id`` when it answers another
  comment, else ``reply_to_id`` (the root itself). A message replying to something that is not a
  root gets a member row too: joined with no root, it is nobody's comment.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

FORUM = "forum"
DISCUSSION = "discussion"
KINDS = (FORUM, DISCUSSION)
GENERAL_TOPIC = 1

Member = tuple[int, int]  # (message id, thread top id)
Root = tuple[int, int, int]  # (message id, channel id, post id)


def thread_links(kind: str, channel_id: int | None,
                 rows: Iterable[tuple[int, bytes]]) -> tuple[list[Member], list[Root]]:
    """The member and root rows of ``(id, record)`` pairs of one threaded chat."""
    members: list[Member] = []
    roots: list[Root] = []
    loads = orjson.loads
    if kind == FORUM:
        for msg_id, data in rows:
            d = loads(data)
            top = d.get("topic_id")
            if top is None:
                action = d.get("action")
                top = msg_id if action is not None and action.get("type") == "topic_created" else GENERAL_TOPIC
            members.append((msg_id, top))
        return members, roots
    for msg_id, data in rows:
        d = loads(data)
        fwd = d.get("forward")
        if fwd is not None and channel_id is not None and fwd.get("saved_from_peer") == channel_id:
            post = fwd.get("saved_from_msg_id")
            if post:
                roots.append((msg_id, channel_id, post))
                continue
        if d.get("reply_to_peer_id") is not None:
            continue  # answers a message of another chat
        top = d.get("reply_to_top_id") or d.get("reply_to_id")
        if top:
            members.append((msg_id, top))
    return members, roots


__all__ = ["DISCUSSION", "FORUM", "GENERAL_TOPIC", "KINDS", "thread_links"]
