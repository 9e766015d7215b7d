"""Update sequences (pts) of the simulated server: a compact event log per channel and one for
the account (private chats and basic groups), and the pages GetChannelDifference /
GetDifference serve from them.

The pts rule (see docs/testing.md): a chat's initial history counts one pts per message it was
created with; after that every change adds its Telegram ``pts_count``: a new message 1, an edit
1 (one event per edited message), a deletion of k messages k. A channel's pts is therefore
``messages at creation + Σ pts_count``; the account's is the same sum over every private chat
and basic group. Events are stored per *change* (a post of n messages is one event), so memory
never grows with history size.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field

ACCOUNT = -1  # the box key of the account-wide sequence (channels use their chat index)


@dataclass(slots=True)
class Event:
    """One change. ``pts``: the box's pts after it; ``count``: its pts_count.

    ``kind`` "new": ``count`` messages of chat ``chat``, ranks ``first`` .. ``first+count-1``;
    "edit": ``ids == (id,)``, ``first`` the version it made (1: the first edit);
    "delete": ``ids`` the messages removed (ascending); "pin": ``ids`` pinned (``first`` 1) or
    unpinned (``first`` 0)."""

    pts: int
    count: int
    kind: str
    chat: int
    first: int = 0
    ids: tuple[int, ...] = ()


@dataclass(slots=True)
class Box:
    """One pts sequence: ``base`` pts of initial history, then ``events`` in pts order."""

    base: int = 0
    events: list[Event] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # events' pts, for bisecting

    @property
    def pts(self) -> int:
        return self.ends[-1] if self.ends else self.base

    def add(self, kind: str, chat: int, count: int, *, first: int = 0, ids: tuple[int, ...] = ()) -> Event:
        event = Event(self.pts + count, count, kind, chat, first, ids)
        self.events.append(event)
        self.ends.append(event.pts)
        return event


@dataclass(slots=True)
class Page:
    """What changed in ``(from_pts, to_pts]``, compacted as Telegram serves it: ``new`` (chat
    index, id) of messages created there and still present; ``edits`` (chat index, id) → pts of
    its last edit there, for older messages still present; ``deletes`` every deletion event;
    ``pins`` every pin / unpin event."""

    from_pts: int
    to_pts: int
    new: list[tuple[int, int]]
    edits: dict[tuple[int, int], int]
    deletes: list[Event]
    pins: list[Event] = field(default_factory=list)


def page(box: Box, from_pts: int, limit: int, id_of: Callable[[int, int], int],
         exists: Callable[[int, int], bool], base_chat: int = ACCOUNT) -> Page:
    """The next page of at most ``limit`` updates after ``from_pts`` (at least one event; a
    deletion is never split, a post of many messages may be).

    ``id_of(chat, rank)`` gives a message id; ``exists(chat, id)`` whether it is still on the
    server (only current versions are served, as Telegram does). The base history (pts
    1..``box.base``) is served only for a channel (``base_chat``: its index; ids = pts)."""
    created: list[tuple[int, int]] = []
    edited: dict[tuple[int, int], int] = {}
    deletes: list[Event] = []
    pins: list[Event] = []
    pts, items = from_pts, 0
    if pts < box.base:
        if base_chat == ACCOUNT:
            raise ValueError("the account's initial history predates its update log")
        take = min(box.base - pts, limit)
        created += [(base_chat, message_id) for message_id in range(pts + 1, pts + take + 1)]
        pts += take
        items += take
    i = bisect_right(box.ends, pts)
    while i < len(box.events) and items < limit:
        event = box.events[i]
        if event.kind == "new":
            done = pts - (event.pts - event.count)
            take = min(event.count - done, limit - items)
            created += [(event.chat, id_of(event.chat, rank))
                        for rank in range(event.first + done, event.first + done + take)]
            pts += take
            items += take
            if done + take < event.count:
                break
        elif event.kind == "edit":
            edited[(event.chat, event.ids[0])] = event.pts
            pts = event.pts
            items += 1
        elif event.kind == "pin":
            pins.append(event)
            pts = event.pts
            items += 1
        else:
            deletes.append(event)
            pts = event.pts
            items += 1
        i += 1
    fresh = set(created)
    new = [key for key in created if exists(*key)]
    edits = {key: p for key, p in edited.items() if key not in fresh and exists(*key)}
    return Page(from_pts, pts, new, edits, deletes, pins)


__all__ = ["ACCOUNT", "Box", "Event", "Page", "page"]
