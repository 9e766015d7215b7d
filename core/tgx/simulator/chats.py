"""The simulated world's specs: users, forum topics and chats (plain data, below every other
simulator module)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telethon import utils
from telethon.tl import types

from tgx.simulator.ids import CommentLayout, Interleave, ThreadIds

DATE_EPOCH = 1_609_459_200  # 2021-01-01T00:00:00Z: histories start here


@dataclass(slots=True, eq=False)
class UserSpec:
    key: str
    id: int
    first_name: str | None
    last_name: str | None = None
    username: str | None = None
    bot: bool = False
    deleted: bool = False
    contact: bool = False
    is_self: bool = False
    access_hash: int = 0

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(slots=True, eq=False)
class TopicSpec:
    root: int  # id of its topic-created message (1 for General)
    title: str
    color: int
    closed: bool = False
    pinned: bool = False
    icon_emoji_id: int | None = None  # a custom emoji document id (ForumTopic / topic-created action)
    deleted: bool = False  # gone from GetForumTopics / GetForumTopicsByID; its messages stay


@dataclass(slots=True, eq=False)
class ChatSpec:
    """One chat. ``kind``: channel (broadcast) | supergroup | group (basic) | private."""

    key: str
    kind: str
    id: int  # bare id; the user's id for a private chat
    title: str
    messages: int
    media: bool
    username: str | None = None
    forum: bool = False
    joined: bool = True  # in the dialog list; False: a public channel read without joining
    signatures: bool = False
    user: UserSpec | None = None
    members: tuple[int, ...] = ()
    min_users: frozenset[int] = frozenset()
    topics: tuple[TopicSpec, ...] = ()
    general_hidden: bool = False  # forum: General served with hidden=True
    # a broadcast channel and its discussion group name each other (chat index); the group
    # also holds the layout of the comments (None on every other chat)
    linked: int | None = None
    comments: CommentLayout | None = None
    readable: bool = True  # False: a private discussion group the account is not in (CHANNEL_PRIVATE)
    readers: frozenset[str] | None = None  # accounts that are members (None: every account)
    index: int = 0
    access_hash: int = 0
    salt: int = 0
    # computed when the world is frozen
    space: Any = None
    showcase: tuple[tuple[str, int, int], ...] = ()
    kinds: tuple[str, ...] = ()
    date_base: int = DATE_EPOCH
    date_step: int = 60
    topic_seq: Interleave | None = None
    threads: tuple[ThreadIds, ...] = ()
    topic_base: int = 0
    base: int = 0  # messages it was created with (``messages`` grows with World.post_messages)
    # changes (World.edit_messages / delete_messages, scenario keys edited/deleted/changes/timeline)
    edited: dict[int, int] = field(default_factory=dict)  # message id -> how many times edited
    pinned: set[int] = field(default_factory=set)  # message ids pinned now (World.pin_messages)
    deleted: frozenset[int] = frozenset()
    history: Any = None  # ``space`` minus ``deleted``: what GetHistory serves

    @property
    def is_discussion(self) -> bool:
        return self.comments is not None

    @property
    def is_channel(self) -> bool:
        return self.kind in ("channel", "supergroup")

    def peer(self) -> Any:
        if self.is_channel:
            return types.PeerChannel(self.id)
        if self.kind == "group":
            return types.PeerChat(self.id)
        return types.PeerUser(self.id)

    @property
    def marked_id(self) -> int:
        return utils.get_peer_id(self.peer())

    def input_peer(self) -> Any:
        if self.is_channel:
            return types.InputPeerChannel(self.id, self.access_hash)
        if self.kind == "group":
            return types.InputPeerChat(self.id)
        assert self.user is not None
        return types.InputPeerUser(self.user.id, self.user.access_hash)

    def thread_of(self, message_id: int) -> tuple[int, ThreadIds]:
        """(topic root id, topic id space) of a forum message."""
        if message_id < self.topic_base:
            index = 0 if message_id == 1 else message_id - 1
        else:
            index = self.topic_seq.at(message_id - self.topic_base)[0]  # type: ignore[union-attr]
        thread = self.threads[index]
        return thread.root, thread

    def thread(self, root: int) -> ThreadIds | None:
        for thread in self.threads:
            if thread.root == root:
                return thread
        return None


@dataclass(slots=True, eq=False)
class AccountSpec:
    """One account of the world: its own user (what ``get_me()`` answers), its own rate limit,
    faults and takeouts, and whether its session is logged in. ``default`` is the world's "me"."""

    name: str
    user: UserSpec
    premium: bool = False
    phone: str | None = None
    logged_in: bool = True  # False: every authorized request answers 401 (tgx login needed)
    logged_out: bool = False  # auth.LogOut was called: the session is dead
    revoked: bool = False  # the ``revoked`` fault fired
    rate_limiter: Any = None  # a faults.RateLimiter for GetHistory, or None
    takeouts: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def authorized(self) -> bool:
        return self.logged_in and not self.logged_out and not self.revoked


__all__ = ["DATE_EPOCH", "AccountSpec", "ChatSpec", "TopicSpec", "UserSpec"]
