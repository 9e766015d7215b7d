"""The simulated Telegram's world: the account, its users and chats, and their histories.

A :class:`World` is both the world and the server's state (file-reference epoch, takeout
sessions, faults, request log). Histories are computed, never stored: a chat of any size costs
O(1) memory. :class:`tgx.simulator.simulated.SimulatedTelegram` adds the clients on top.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from telethon.tl import types

from tgx.simulator import content, messages
from tgx.simulator.chats import DATE_EPOCH, AccountSpec, ChatSpec, TopicSpec, UserSpec
from tgx.simulator.content import hash_of, mix64, signed64
from tgx.simulator.faults import Faults, RateLimiter, RequestLog
from tgx.simulator.ids import (
    CommentLayout,
    DenseIds,
    IdSpace,
    IdsView,
    Interleave,
    SharedIds,
    ThreadIds,
    WithoutIds,
)
from tgx.simulator.updates import ACCOUNT, Box, Event

DATE_SPAN = 4 * 365 * 86_400  # ... and end within four years, whatever their size
TOPIC_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)
DEFAULT_TOPICS = ("Announcements 📣", "Random 🎲", "Help & <Support>")
EDIT_SUFFIX = " (edited later)"  # appended to the text of a message listed in ``edited``
EDIT_DELAY = 5 * 86_400  # its new edit_date: this long after the message's date
EDIT_STEP = 3600  # each further edit of a message: this much later again
DIFFERENCE_HORIZON = 100_000  # pts the server keeps per sequence (Telegram's documented usual value)
COMMENT_PERIOD = 1024  # a discussion group's comment counts repeat every this many posts
TEMPLATE_CACHE = 4096  # message templates a world keeps (least recently used ones go)


class World:
    """A deterministic Telegram account and server, for tests and benchmarks.

    :param seed: everything (texts, kinds, access hashes, file bytes) derives from it.
    :param messages: size of the default ``@tgx_demo`` channel.
    :param media: whether default chats carry media (False: text-only histories).
    :param latency: simulated round trip per request, in seconds.
    :param rate_limit: GetHistory requests per second allowed over ``rate_window`` seconds
        (None: unlimited); beyond it, FLOOD_WAIT_N with N the whole seconds until refill.
    :param big_file_mb: size of the showcase's big video (0: none).
    :param request_log: path to append one JSON line per request to (for CLI subprocesses).
    :param default_chats: build the default world (False: only users; add chats yourself).
    :param clock: monotonic clock for the rate limiter (tests may pass a fake one).
    :param difference_horizon: how many pts back GetChannelDifference / GetDifference can
        answer; an older pts gets ``...TooLong``.
    """

    def __init__(
        self,
        seed: int = 1,
        *,
        messages: int = 2000,
        media: bool = True,
        latency: float = 0.0,
        rate_limit: float | None = None,
        rate_window: float = 1.0,
        big_file_mb: int = 4,
        request_log: str | None = None,
        log_limit: int = 50_000,
        default_chats: bool = True,
        home_dc: int = 1,
        other_dc: int = 2,
        clock: Callable[[], float] = time.monotonic,
        difference_horizon: int = DIFFERENCE_HORIZON,
    ):
        self.seed = seed
        self._media_salt = hash_of(seed, 0xACC)
        self._ref_salt = hash_of(seed, 0xF11E)
        self.media = media
        self.latency = latency
        self.big_file_mb = big_file_mb
        self.home_dc = home_dc
        self.other_dc = other_dc
        self.date_epoch = DATE_EPOCH
        self.clock = clock
        self.faults = Faults()
        self.rate_limit, self.rate_window = rate_limit, rate_window  # every account's, unless its own
        self.log = RequestLog(path=request_log, limit=log_limit)
        # server state
        self.file_ref_epoch = 1
        self.next_takeout_id = 1
        self.forbidden: set[int] = set()  # chat indexes that became private
        self.difference_horizon = difference_horizon
        self.boxes: dict[int, Box] = {}  # pts sequences: a channel's index, or ACCOUNT
        self.seq = 1  # the account's Updates sequence (one per pushed account Updates)
        self._pending: list[tuple[str, ChatSpec, Any]] = []  # changes made before freeze()
        self.listeners: list[Any] = []  # connected senders that take pushed updates (see notify)
        self.timeline: Any = None  # a tgx.simulator.timeline.Timeline, started when a client connects

        self.users: dict[str, UserSpec] = {}
        self.chats: list[ChatSpec] = []
        self._frozen = False
        # the last TEMPLATE_CACHE templates: a chat needs its few hundred while it is read, and a
        # world of many chats must not keep every chat's (the server shares its process with tgx,
        # whose memory the benchmarks measure)
        self._templates: OrderedDict[tuple, messages.Template] = OrderedDict()
        self._texts: dict[tuple[int, int], messages.Piece] = {}
        self._blobs: dict[tuple, bytes] = {}
        self._add_default_users()
        self.accounts: dict[str, AccountSpec] = {}
        self.add_account("default")
        self.viewer: AccountSpec = self.accounts["default"]  # whose request the server is answering
        self.source = self.add_channel("tgx_source", "tgx source channel", 50, joined=False,
                                       key="tgx_source")
        if default_chats:
            self.add_channel("tgx_demo", "tgx demo channel", messages, signatures=True, key="tgx_demo")
            self.add_channel("tgx_forum", "tgx forum", 300, megagroup=True, forum=True, key="tgx_forum")
            self.add_group("tgx basic group", 200, key="group")
            self.add_private("alice", 200, key="alice")
            self.add_private("bot", 20, key="bot")

    # -- users

    def _add_default_users(self) -> None:
        base = 7_100_000_000
        for i, (key, first, last, username, extra) in enumerate((
            ("me", "Tgx", "Tester", "tgx_tester", {"is_self": True}),
            ("alice", "Alice", "Liddell", "alice", {"contact": True}),
            ("bob", "Bob", "Builder", "bob_builder", {}),
            ("carol", "Carol", None, None, {}),
            ("dave", "Dave", "Min", "dave_min", {}),
            ("deleted", None, None, None, {"deleted": True}),
            ("bot", "Tgx Helper", None, "tgx_helper_bot", {"bot": True}),
            ("erin", "Erin Émoji 🦊", "Ünïcode", "erin_fox", {}),
        ), start=1):
            user = UserSpec(key, base + i, first, last, username, **extra)
            user.access_hash = signed64(hash_of(self.seed, 0x05E2, user.id))
            self.users[key] = user
        self._users_by_id = {u.id: u for u in self.users.values()}

    @property
    def me(self) -> UserSpec:
        """The default account's user: histories are written from its point of view (``out``)."""
        return self.users["me"]

    # -- accounts: each its own user, rate limit, faults, takeouts and login; chats' ``readers``

    def add_account(self, name: str, *, user_id: int | None = None, username: str | None = None,
                    first_name: str | None = None, premium: bool = False, phone: str | None = None,
                    rate_limit: float | None = None, rate_window: float | None = None,
                    logged_in: bool = True) -> AccountSpec:
        """An account that logs in to this world (``default`` is "me"; others get a user of their
        own). ``rate_limit``/``rate_window``: its own GetHistory budget (default: the world's)."""
        if name in self.accounts:
            raise ValueError(f"account {name!r} already exists")
        if name == "default":
            if user_id is not None or username is not None or first_name is not None:
                raise ValueError("the default account is the world's own user: no user_id, username, first_name")
            user = self.me
        else:
            user_id = user_id or 7_200_000_001 + len(self.accounts)
            if user_id in self._users_by_id:
                raise ValueError(f"user id {user_id} is taken")
            if username and any((u.username or "").lower() == username.lower() for u in self.users.values()):
                raise ValueError(f"username @{username} is taken")
            user = UserSpec(f"account:{name}", user_id, first_name or name.capitalize(), None, username)
            user.access_hash = signed64(hash_of(self.seed, 0x05E2, user.id))
            self.users[user.key] = user
            self._users_by_id[user.id] = user
        rate = self.rate_limit if rate_limit is None else rate_limit
        window = self.rate_window if rate_window is None else rate_window
        account = AccountSpec(name, user, premium=premium, phone=phone, logged_in=logged_in,
                              rate_limiter=RateLimiter(rate, window, self.clock) if rate else None)
        self.accounts[name] = account
        return account

    def account(self, name: str) -> AccountSpec:
        try:
            return self.accounts[name]
        except KeyError:
            raise KeyError(f"no simulated account {name!r} (known: {', '.join(self.accounts)})") from None

    def channel_hash(self, chat: ChatSpec, account: AccountSpec | None = None) -> int:
        """The access hash of a channel as ``account`` (default: the viewer) knows it: Telegram
        gives every account its own, so an input peer one account resolved is CHANNEL_INVALID
        for another — a chat moved to another account must be resolved again by that one."""
        return self._own_hash(chat.access_hash, account)

    def user_hash(self, user: UserSpec, account: AccountSpec | None = None) -> int:
        """The access hash of a user as ``account`` (default: the viewer) knows it (see :meth:`channel_hash`)."""
        return self._own_hash(user.access_hash, account)

    def _own_hash(self, stored: int, account: AccountSpec | None) -> int:
        account = account or self.viewer
        if not stored or account.name == "default":  # the world's own account: the stored hash
            return stored
        return signed64(hash_of(stored, account.user.id))

    def sees(self, chat: ChatSpec, account: AccountSpec | None = None) -> bool:
        """Whether the account is a member of the chat (``readers``; None: everyone is)."""
        readers = chat.readers
        return readers is None or (account or self.viewer).name in readers

    def can_read(self, chat: ChatSpec, account: AccountSpec | None = None) -> bool:
        """A member, or a public (username) channel or supergroup: anyone may read those."""
        return self.sees(chat, account) or (chat.is_channel and bool(chat.username))

    @property
    def rate_limiter(self) -> Any:
        """The default account's GetHistory limiter (each account has its own)."""
        return self.accounts["default"].rate_limiter

    @property
    def takeouts(self) -> dict[int, dict[str, Any]]:
        return self.viewer.takeouts

    @property
    def revoked(self) -> bool:
        return self.accounts["default"].revoked

    @revoked.setter
    def revoked(self, value: bool) -> None:
        self.accounts["default"].revoked = value

    def user(self, ref: str | int) -> UserSpec:
        if isinstance(ref, int):
            return self._users_by_id[ref]
        ref = ref.lstrip("@").lower()
        for user in self.users.values():
            if user.key == ref or (user.username or "").lower() == ref:
                return user
        raise KeyError(f"no simulated user {ref!r}")

    def user_by_id(self, user_id: int) -> UserSpec | None:
        return self._users_by_id.get(user_id)

    # -- chats

    def _add(self, chat: ChatSpec) -> ChatSpec:
        if self._frozen:
            raise RuntimeError("add chats before the world is used (its id sequence is fixed then)")
        for other in self.chats:
            if other.key == chat.key:
                raise ValueError(f"a chat named {chat.key!r} already exists")
            if chat.username and (other.username or "").lower() == chat.username.lower():
                raise ValueError(f"username @{chat.username} is taken")
            if other.is_channel == chat.is_channel and other.kind != "private" and other.id == chat.id:
                raise ValueError(f"chat id {chat.id} is taken")
        chat.index = len(self.chats)
        chat.base = chat.messages
        chat.access_hash = signed64(hash_of(self.seed, 0xC4A7, chat.id)) if chat.is_channel else 0
        chat.salt = hash_of(self.seed, 0x5A17, chat.index, chat.id)
        self.chats.append(chat)
        return chat

    def add_channel(
        self,
        username: str | None = None,
        title: str | None = None,
        messages: int = 1000,
        *,
        megagroup: bool = False,
        forum: bool = False,
        topics: Iterable[str | Mapping[str, Any]] | int | None = None,
        media: bool | None = None,
        joined: bool = True,
        signatures: bool = False,
        id: int | None = None,
        key: str | None = None,
        comments: bool | Mapping[str, Any] | None = None,
        general_hidden: bool = False,
    ) -> ChatSpec:
        """A broadcast channel, or a supergroup (``megagroup=True``; ``forum=True`` for topics:
        a count, or titles, or ``{"title", "closed", "pinned", "icon_emoji_id", "deleted"}``
        tables — change them between two runs to rename, close or delete a topic).

        ``comments`` (broadcast channels): True, or :meth:`add_discussion`'s keyword arguments
        as a mapping, gives the channel a linked discussion group. ``general_hidden`` (forums):
        the General topic is served hidden."""
        index = len(self.chats)
        chat_id = id or 1_700_000_001 + index
        kind = "supergroup" if (megagroup or forum) else "channel"
        members: tuple[int, ...] = ()
        min_users: frozenset[int] = frozenset()
        if kind == "supergroup":
            keys = ("me", "alice", "bob", "carol", "dave", "erin", "deleted")
            members = tuple(self.users[k].id for k in keys)
            min_users = frozenset({self.users["dave"].id})
        topic_specs: tuple[TopicSpec, ...] = ()
        if forum:
            listed: tuple[str | Mapping[str, Any], ...] = DEFAULT_TOPICS if topics is None else (
                tuple(f"Topic {i + 1}" for i in range(topics)) if isinstance(topics, int) else tuple(topics))
            listed = listed[:max(0, messages - 1)]
            topic_specs = tuple(
                TopicSpec(2 + i, t, TOPIC_COLORS[i % len(TOPIC_COLORS)]) if isinstance(t, str) else
                TopicSpec(2 + i, str(t["title"]), TOPIC_COLORS[i % len(TOPIC_COLORS)],
                          closed=bool(t.get("closed", False)), pinned=bool(t.get("pinned", False)),
                          icon_emoji_id=t.get("icon_emoji_id"), deleted=bool(t.get("deleted", False)))
                for i, t in enumerate(listed))
        chat = ChatSpec(
            key=key or username or f"channel{chat_id}", kind=kind, id=chat_id,
            title=title or (username or f"Channel {chat_id}"), messages=messages,
            media=self.media if media is None else media, username=username, forum=forum, joined=joined,
            signatures=signatures, members=members, min_users=min_users, topics=topic_specs,
            general_hidden=general_hidden and forum)
        if comments and kind != "channel":
            raise ValueError(f"{chat.key}: only a broadcast channel has comments")
        self._add(chat)
        if comments:
            try:
                self.add_discussion(chat, **(dict(comments) if isinstance(comments, Mapping) else {}))
            except (TypeError, ValueError):
                self.chats.pop()  # nothing half-added
                raise
        return chat

    def add_discussion(
        self,
        channel: ChatSpec | str | int,
        *,
        commented: float | int = 0.3,
        most: int = 200,
        private: bool = False,
        later: Iterable[Sequence[int]] = (),
        username: str | None = None,
        title: str | None = None,
        id: int | None = None,
        key: str | None = None,
        media: bool | None = None,
    ) -> ChatSpec:
        """The broadcast channel's linked discussion group, where its posts' comments live.

        ``commented``: the share (a float, 0..1) or the number (an int, taken as the share
        n / posts to two significant digits) of the channel's posts that have comments — about
        that many: each of a pattern of 1,024 positions, repeated along the posts, has comments
        by a seeded priority — each between 1 and ``most`` of them (mostly few). A post's
        comments depend on its position and the share only, so a rerun with more posts keeps the
        old posts' comments (with an int, while n / posts rounds the same). The
        group's ids: 1 its creation; then per post, in id order, the thread root (the post's
        auto-forwarded copy) and the post's comments — in the block of a service post (creation,
        pin, title edit) they are plain messages of the group, no thread; then ``later``:
        ``(post, n)`` pairs, n more comments on that post, in that order, after the last block
        (a rerun with more posts moves them behind the new blocks: grow both in one rerun).

        ``private``: the account is not a member (no username, ``left``): GetHistory,
        GetFullChannel and channels.GetMessages on the group answer CHANNEL_PRIVATE, while
        GetReplies on the channel's posts still work. Otherwise the group is joined (in the
        dialog list) and read like any supergroup.
        """
        chat = self.chat(channel)
        if chat.kind != "channel":
            raise ValueError(f"{chat.key} is not a broadcast channel")
        if chat.linked is not None:
            raise ValueError(f"{chat.key} already has a discussion group")
        if private and username:
            raise ValueError("a private discussion group has no username")
        if isinstance(commented, bool) or not isinstance(commented, int | float) or commented < 0 or (
                isinstance(commented, float) and commented > 1):
            raise ValueError(f"commented must be a share (0..1) or a number of posts, not {commented!r}")
        if isinstance(most, bool) or not isinstance(most, int) or most < 1:
            raise ValueError(f"most must be a whole number of comments >= 1, not {most!r}")
        runs: list[tuple[int, int]] = []
        for entry in later:
            pair = tuple(entry)
            if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair) \
                    or pair[1] < 0:
                raise ValueError(f"later entries are [post id, comments], not {entry!r}")
            runs.append((pair[0], pair[1]))
        posts = chat.messages
        period = COMMENT_PERIOD if posts else 0
        counts = [0] * period
        if period:
            # a share, so that a channel grown between two runs keeps its old posts' comments; an
            # int is n / posts to two significant digits (growing by a few percent keeps it)
            share = float(commented) if isinstance(commented, float) else float(f"{min(1.0, commented / posts):.2g}")
            rng = random.Random(hash_of(self.seed, 0xC033E27, chat.id))
            sizes = [rng.random() for _ in range(period)]  # each position's size, whoever is chosen
            order = list(range(period))
            rng.shuffle(order)  # the positions by priority: a larger share adds posts, changes none
            for position in order[:round(share * period)]:
                r = sizes[position]
                counts[position] = min(most, 1 + int(most * r * r))  # skewed toward few
        layout = CommentLayout(posts, counts, runs)
        group = self.add_channel(username, title or f"{chat.title} chat", layout.total, megagroup=True,
                                 media=media, joined=not private, id=id, key=key or f"{chat.key}_comments")
        group.comments = layout
        group.readable = not private
        group.linked, chat.linked = chat.index, group.index
        layout.set_deleted(group.deleted)
        return group

    def add_supergroup(self, username: str | None = None, title: str | None = None, messages: int = 1000,
                       **kwargs: Any) -> ChatSpec:
        return self.add_channel(username, title, messages, megagroup=True, **kwargs)

    def add_group(self, title: str = "basic group", messages: int = 200, *, media: bool | None = None,
                  id: int | None = None, key: str | None = None) -> ChatSpec:
        """A basic group: its ids interleave with the other basic groups' and private chats'."""
        chat_id = id or 4_100_000_001 + len(self.chats)
        members = tuple(self.users[k].id for k in ("me", "alice", "bob", "carol", "deleted"))
        chat = ChatSpec(key=key or f"group{chat_id}", kind="group", id=chat_id, title=title,
                        messages=messages,
                        media=self.media if media is None else media, members=members)
        return self._add(chat)

    def add_private(self, user: str | int | UserSpec, messages: int = 200, *, media: bool | None = None,
                    key: str | None = None) -> ChatSpec:
        """The private chat with ``user`` (a key like "alice", a username or an id)."""
        spec = user if isinstance(user, UserSpec) else self.user(user)
        chat = ChatSpec(key=key or spec.key, kind="private", id=spec.id, title=spec.name or "Deleted Account",
                        messages=messages, media=self.media if media is None else media, user=spec,
                        username=spec.username, members=(spec.id, self.me.id))
        return self._add(chat)

    def chat(self, ref: ChatSpec | str | int) -> ChatSpec:
        """A chat by spec, key, username (with or without @) or marked id."""
        if isinstance(ref, ChatSpec):
            return ref
        if isinstance(ref, int):
            for chat in self.chats:
                if chat.marked_id == ref:
                    return chat
            raise KeyError(f"no simulated chat with id {ref}")
        name = ref.lstrip("@").lower()
        for chat in self.chats:
            if chat.key.lower() == name or (chat.username or "").lower() == name:
                return chat
        raise KeyError(f"no simulated chat {ref!r}")

    def chat_by_index(self, index: int) -> ChatSpec | None:
        return self.chats[index] if 0 <= index < len(self.chats) else None

    def freeze(self) -> None:
        """Fix every chat's id space (done on first use; chats cannot be added afterwards)."""
        if self._frozen:
            return
        self._frozen = True
        shared = [c for c in self.chats if c.kind in ("group", "private") and c.messages > 0]
        if shared:
            top = max(c.base for c in shared)
            seq = Interleave([max(1, round(24 * c.base / top)) for c in shared], self.seed ^ 0x5E9)
            last = 0
            for member, chat in enumerate(shared):
                chat.space = SharedIds(seq, member, chat.messages)
                last = max(last, chat.space.id_at(chat.base - 1))
            step = max(1, min(3600, DATE_SPAN // max(1, last)))
            for chat in shared:
                chat.date_base, chat.date_step = DATE_EPOCH, step
        for chat in self.chats:
            if chat.space is None:
                if chat.is_channel:
                    chat.space = DenseIds(chat.messages)
                else:  # a basic group or private chat without messages
                    chat.space = SharedIds(Interleave([1], 0), 0, 0)
                chat.date_base = DATE_EPOCH + chat.index * 3600
                chat.date_step = max(1, min(3600, DATE_SPAN // max(1, chat.base)))
            if chat.forum:
                self._freeze_forum(chat)
            chat.showcase = messages.showcase(chat, self.big_file_mb > 0)
            chat.kinds = messages.kind_table(chat)
            chat.history = WithoutIds(chat.space, chat.deleted) if chat.deleted else chat.space
        for chat in self.chats:
            if chat.comments is not None and chat.linked is not None:
                chat.showcase = ()
                chat.date_base = self.chats[chat.linked].date_base  # created with its channel
        self.boxes[ACCOUNT] = Box(sum(c.base for c in self.chats if not c.is_channel))
        for chat in self.chats:
            if chat.is_channel:
                self.boxes[chat.index] = Box(chat.base)
        pending, self._pending = self._pending, []
        for kind, chat, arg in pending:
            self._change(kind, chat, arg)

    def _freeze_forum(self, chat: ChatSpec) -> None:
        count = len(chat.topics)
        chat.topic_base = count + 2
        weights = [3] + [max(1, 2 - i // 2) for i in range(count)]
        chat.topic_seq = Interleave(weights, chat.salt)
        roots = [1] + [t.root for t in chat.topics]
        chat.threads = tuple(ThreadIds(chat.topic_seq, i, root, chat.topic_base, chat.messages)
                             for i, root in enumerate(roots))

    # -- messages

    def expected_ids(self, chat: ChatSpec | str | int) -> IdsView:
        """Every message id of the chat (deleted ones excluded), ascending, lazily (O(1) memory)."""
        self.freeze()
        return IdsView(self.chat(chat).history)

    def space(self, chat: ChatSpec | str | int) -> IdSpace:
        self.freeze()
        return self.chat(chat).space

    def facts(self, chat: ChatSpec | str | int, message_id: int) -> messages.Facts:
        self.freeze()
        spec = self.chat(chat)
        if not spec.space.contains(message_id):
            raise KeyError(f"{spec.key} has no message {message_id}")
        return messages.plan(self, spec, message_id)

    def template(self, facts: messages.Facts) -> messages.Template:
        key = (facts.chat.index, messages.variant_of(facts, self.me.id))
        templates = self._templates
        tpl = templates.get(key)
        if tpl is None:
            tpl = templates[key] = messages.build_template(self, facts.chat, facts)
            if len(templates) > TEMPLATE_CACHE:
                templates.popitem(last=False)
        else:
            templates.move_to_end(key)
        return tpl

    def text_piece(self, pool: int, index: int) -> messages.Piece:
        key = (pool, index)
        piece = self._texts.get(key)
        if piece is None:
            piece = self._texts[key] = messages.text_piece(pool, index)
        return piece

    def message_bytes(self, chat: ChatSpec | str | int, message_id: int, version: int | None = None) -> bytes:
        """The message exactly as the server serializes it (``version``: 0 the original, k its
        k-th edit; None: the current one)."""
        facts = self.facts(chat, message_id)
        return self.pinned_bytes(facts, self.edited_bytes(facts, self.template(facts).render(self, facts), version))

    def edited_bytes(self, facts: messages.Facts, data: bytes, version: int | None = None) -> bytes:
        """``data`` (a rendered message) as of its edit ``version`` (None: the current one).

        Edit k appends :data:`EDIT_SUFFIX` (k = 1) or " (edited later #k)" to the text and
        sets ``edit_date`` to date + :data:`EDIT_DELAY` + (k - 1) × :data:`EDIT_STEP`."""
        current = facts.chat.edited.get(facts.id, 0)
        version = current if version is None else min(version, current)
        if not version:
            return data
        from telethon.extensions import BinaryReader

        msg = BinaryReader(data).tgread_object()
        if not isinstance(msg, types.Message):
            return data  # service messages cannot be edited
        msg.message = (msg.message or "") + (EDIT_SUFFIX if version == 1 else f" (edited later #{version})")
        msg.edit_date = datetime.fromtimestamp(facts.date + EDIT_DELAY + (version - 1) * EDIT_STEP, UTC)
        return bytes(msg)

    # -- changes: each records events with pts (tgx.simulator.updates) and is pushed to clients

    def post_messages(self, chat: ChatSpec | str | int, n: int = 1) -> list[int]:
        """Post ``n`` new messages to the chat (contents planned like the rest of its history);
        returns their ids (empty before the world is frozen: they are posted then). One event of
        pts_count n. Not for a channel with comments or its discussion group (their ids are a
        layout fixed at creation)."""
        spec = self.chat(chat)
        if spec.linked is not None:
            raise ValueError(f"{spec.key}: cannot post to a chat with a discussion layout")
        if n < 0:
            raise ValueError("n must not be negative")
        return self._change("post", spec, n)

    def edit_messages(self, chat: ChatSpec | str | int, ids: Iterable[int]) -> list[int]:
        """Edit messages: each edit makes a new version (see :meth:`edited_bytes`); a message
        may be edited again. Ids that are absent, deleted or service messages are skipped.
        One event of pts_count 1 per message; returns the ids edited."""
        return self._change("edit", self.chat(chat), list(ids))

    def delete_messages(self, chat: ChatSpec | str | int, ids: Iterable[int]) -> list[int]:
        """Delete messages on the server: GetHistory no longer lists them (counts and pages shift
        like Telegram's); every other message keeps its content. Absent or already deleted ids
        are skipped; one event of pts_count k for k deleted; returns the ids deleted."""
        return self._change("delete", self.chat(chat), list(ids))

    def pin_messages(self, chat: ChatSpec | str | int, ids: Iterable[int], *, pinned: bool = True) -> list[int]:
        """Pin (or unpin) messages: GetHistory serves them with ``pinned`` from then on. Ids absent
        or already so are skipped; one event of pts_count 1 (``updatePinnedChannelMessages`` /
        ``updatePinnedMessages``); returns the ids changed."""
        return self._change("pin" if pinned else "unpin", self.chat(chat), list(ids))

    def pinned_bytes(self, facts: messages.Facts, data: bytes) -> bytes:
        """``data`` with ``pinned`` set when the message is pinned now (almost never: as is)."""
        if facts.id not in facts.chat.pinned:
            return data
        from telethon.extensions import BinaryReader

        msg = BinaryReader(data).tgread_object()
        if not isinstance(msg, types.Message | types.MessageService):
            return data
        msg.pinned = True
        return bytes(msg)

    def _change(self, kind: str, spec: ChatSpec, arg: Any) -> list[int]:
        if not self._frozen:
            self._pending.append((kind, spec, arg))
            return []
        box = self.boxes[spec.index if spec.is_channel else ACCOUNT]
        events: list[Event] = []
        done: list[int] = []
        if kind == "post":
            if arg:
                first = spec.messages
                self._grow(spec, arg)
                events.append(box.add("new", spec.index, arg, first=first))
                done = [spec.space.id_at(rank) for rank in range(first, first + arg)]
        elif kind == "edit":
            for message_id in dict.fromkeys(arg):
                if not spec.history.contains(message_id):
                    continue
                if messages.plan(self, spec, message_id).kind in messages.SERVICE_KINDS:
                    continue
                version = spec.edited[message_id] = spec.edited.get(message_id, 0) + 1
                events.append(box.add("edit", spec.index, 1, first=version, ids=(message_id,)))
                done.append(message_id)
        elif kind in ("pin", "unpin"):
            pin = kind == "pin"
            done = sorted({i for i in arg if isinstance(i, int) and spec.history.contains(i)
                           and (i in spec.pinned) != pin})
            if done:
                (spec.pinned.update if pin else spec.pinned.difference_update)(done)
                events.append(box.add("pin", spec.index, 1, first=int(pin), ids=tuple(done)))
        else:
            done = sorted({i for i in arg if isinstance(i, int) and spec.history.contains(i)})
            if done:
                spec.deleted = spec.deleted | frozenset(done)
                spec.history = WithoutIds(spec.space, spec.deleted)
                if spec.comments is not None:
                    spec.comments.set_deleted(spec.deleted)
                events.append(box.add("delete", spec.index, len(done), ids=tuple(done)))
        if events:
            self.notify(spec, events)
        return done

    def _grow(self, spec: ChatSpec, n: int) -> None:
        spec.messages += n
        spec.space.count += n
        if spec.forum:
            self._freeze_forum(spec)
        spec.history = WithoutIds(spec.space, spec.deleted) if spec.deleted else spec.space

    def notify(self, chat: ChatSpec, events: list[Event]) -> None:
        """Push new events to every listener (a connected sender that wants updates) as one
        serialized ``Updates``, built once by the server (``_server``, see sender.server_of)."""
        listeners = [lst for lst in self.listeners if lst.wants_updates()]
        server = getattr(self, "_server", None)
        if not listeners or server is None:
            return
        viewer = self.viewer
        try:
            for name in dict.fromkeys(lst.conn.account for lst in listeners):  # each account sees its own
                self.viewer = self.account(name)
                data = server.pushed(chat, events)
                if data is not None:
                    for listener in listeners:
                        if listener.conn.account == name:
                            listener.push(data)
        finally:
            self.viewer = viewer

    def editable_ids(self, chat: ChatSpec | str | int, n: int, start: int = 1) -> list[int]:
        """The first ``n`` ids from ``start`` that an edit changes (present, not service messages)."""
        self.freeze()
        spec = self.chat(chat)
        history = spec.history
        found: list[int] = []
        rank = history.rank_le(start - 1)
        while len(found) < n and rank < history.count:
            message_id = history.id_at(rank)
            if messages.plan(self, spec, message_id).kind not in messages.SERVICE_KINDS:
                found.append(message_id)
            rank += 1
        return found

    def pts_of(self, chat: ChatSpec | str | int) -> int:
        """The chat's pts: its channel sequence's, or the account's for other chats."""
        self.freeze()
        spec = self.chat(chat)
        return self.boxes[spec.index if spec.is_channel else ACCOUNT].pts

    @property
    def pts(self) -> int:
        """The account's pts (private chats and basic groups)."""
        self.freeze()
        return self.boxes[ACCOUNT].pts

    def versions(self, chat: ChatSpec | str | int, message_id: int) -> list[Any]:
        """Every version of a message as TL, oldest (the original) first."""
        from telethon.extensions import BinaryReader

        spec = self.chat(chat)
        self.freeze()
        return [BinaryReader(self.message_bytes(spec, message_id, k)).tgread_object()
                for k in range(spec.edited.get(message_id, 0) + 1)]

    # -- comments (a broadcast channel's discussion group)

    def discussion_of(self, channel: ChatSpec | str | int) -> ChatSpec | None:
        """The channel's linked discussion group, or None."""
        chat = self.chat(channel)
        if chat.kind != "channel" or chat.linked is None:
            return None
        return self.chats[chat.linked]

    def _thread_of_post(self, channel: ChatSpec | str | int, post_id: int) -> tuple[ChatSpec, IdSpace] | None:
        """(group, the post's comment ids, deleted ones excluded) or None: no group, or no
        thread (a service post, or no such post)."""
        self.freeze()
        chat = self.chat(channel)
        group = self.discussion_of(chat)
        if group is None or not 1 <= post_id <= chat.messages:
            return None
        if messages.post_kind_date(chat, post_id)[0] in messages.SERVICE_KINDS:
            return None
        layout = group.comments
        assert layout is not None
        thread: IdSpace = layout.thread(post_id)
        if layout.gone.get(post_id):
            thread = WithoutIds(thread, layout.gone[post_id])
        return group, thread

    def thread_root(self, channel: ChatSpec | str | int, post_id: int) -> int | None:
        """The id, in the discussion group, of the post's thread root (None: no thread)."""
        found = self._thread_of_post(channel, post_id)
        if found is None:
            return None
        layout = found[0].comments
        assert layout is not None
        return layout.root(post_id)

    def comments_of(self, channel: ChatSpec | str | int, post_id: int) -> list[int]:
        """The ids (in the discussion group) of the post's comments, ascending, deleted ones
        excluded, later ones included."""
        found = self._thread_of_post(channel, post_id)
        return list(IdsView(found[1])) if found is not None else []

    def expected_comments(self, channel: ChatSpec | str | int) -> Iterator[tuple[int, int]]:
        """Every (post id, comment id) of the channel, in ascending (post, comment) order, lazily."""
        chat = self.chat(channel)
        for post_id in range(1, chat.messages + 1):
            found = self._thread_of_post(chat, post_id)
            if found is not None:
                for comment_id in IdsView(found[1]):
                    yield post_id, comment_id

    def comment_total(self, channel: ChatSpec | str | int) -> int:
        """How many comments the channel's posts have (deleted ones excluded)."""
        chat = self.chat(channel)
        total = 0
        for post_id in range(1, chat.messages + 1):
            found = self._thread_of_post(chat, post_id)
            if found is not None:
                total += found[1].count
        return total

    def tl_message(self, chat: ChatSpec | str | int, message_id: int) -> Any:
        """The message as a Telethon TL object (what a client receives)."""
        from telethon.extensions import BinaryReader

        return BinaryReader(self.message_bytes(chat, message_id)).tgread_object()

    def media_of(self, chat: ChatSpec | str | int, message_id: int) -> messages.MediaFacts | None:
        return self.facts(chat, message_id).media

    def find(self, chat: ChatSpec | str | int, kind: str, *, start: int = 0) -> int:
        """The id of the first message of ``kind`` (plan kinds: photo, doc_128k, poll, ...)."""
        spec = self.chat(chat)
        space = self.space(spec)
        for rank in range(start, space.count):
            message_id = space.id_at(rank)
            if self.facts(spec, message_id).kind == kind:
                return message_id
        raise KeyError(f"{spec.key} has no {kind} message")

    def expected_file(self, chat: ChatSpec | str | int, message_id: int, thumb: str = "") -> bytes:
        """The full bytes of a message's file (or one of its thumbnails)."""
        m = self.media_of(chat, message_id)
        if m is None:
            raise KeyError(f"message {message_id} has no file")
        if m.kind == "photo" and not thumb:
            thumb = "y"  # the largest size: what download_media fetches
        size, mime = self.file_size(m, thumb)
        return content.file_bytes(self.file_key(m.media_id, thumb), size, 0, size, mime)

    @staticmethod
    def file_size(m: messages.MediaFacts, thumb: str) -> tuple[int, str]:
        if m.kind == "photo":
            return m.thumbs[thumb or "y"], "image/jpeg"
        if thumb:
            return m.thumbs[thumb], "image/jpeg"
        return m.size, m.mime

    def file_key(self, media_id: int, thumb: str) -> int:
        return hash_of(self.seed, media_id, sum(map(ord, thumb)) if thumb else 0)

    def access_hash_for(self, media_id: int) -> int:
        return signed64(mix64(self._media_salt ^ media_id))

    def file_reference(self, media_id: int, epoch: int | None = None) -> bytes:
        """16 bytes naming the file and the epoch it was handed out in (see expire_file_references)."""
        epoch = self.file_ref_epoch if epoch is None else epoch
        mac = mix64(self._ref_salt ^ media_id ^ (epoch << 52))
        return b"\x02" + epoch.to_bytes(3, "big") + mac.to_bytes(8, "big") + b"tgx\x00"

    def media_for_id(self, media_id: int) -> tuple[ChatSpec | None, int]:
        """(chat, message id) a media id was made for; (None, sticker index) for shared stickers."""
        space = media_id >> messages.MEDIA_SPACE_SHIFT
        if space == 0:
            return None, media_id - messages.STICKER_BASE
        return self.chat_by_index(space - 1), media_id & ((1 << messages.MEDIA_SPACE_SHIFT) - 1)

    # -- state changes (also reachable through faults)

    def expire_file_references(self) -> None:
        """Every file reference handed out so far stops working (clients must re-fetch)."""
        self.file_ref_epoch += 1

    def make_private(self, chat: ChatSpec | str | int) -> None:
        self.forbidden.add(self.chat(chat).index)
        self._blobs.clear()

    def revoke(self, account: str = "default") -> None:
        """The session is revoked: every authorized request fails with AUTH_KEY_UNREGISTERED."""
        self.account(account).revoked = True

    # -- entities as TL

    def tl_user(self, user: UserSpec, *, as_min: bool = False) -> Any:
        kwargs: dict[str, Any] = {}
        if user.deleted:
            kwargs["deleted"] = True
        else:
            kwargs.update(first_name=user.first_name, last_name=user.last_name, username=user.username)
            if not user.bot:
                kwargs["status"] = types.UserStatusRecently()
        if user.bot:
            kwargs.update(bot=True, bot_info_version=1, bot_nochats=True)
        if as_min:
            return types.User(user.id, min=True, access_hash=signed64(hash_of(self.seed, 0x313, user.id)),
                              **kwargs)
        mine = user.id == self.viewer.user.id
        if mine:
            kwargs.update(premium=self.viewer.premium or None, phone=self.viewer.phone)
        return types.User(user.id, is_self=mine or None, contact=user.contact or None,
                          mutual_contact=user.contact or None, access_hash=self.user_hash(user), **kwargs)

    def tl_chat(self, chat: ChatSpec) -> Any:
        if chat.kind == "private":
            assert chat.user is not None
            return self.tl_user(chat.user)
        date = datetime.fromtimestamp(chat.date_base, UTC)
        if chat.is_channel:
            if chat.index in self.forbidden:
                return types.ChannelForbidden(chat.id, self.channel_hash(chat), chat.title,
                                              broadcast=chat.kind == "channel" or None,
                                              megagroup=chat.kind == "supergroup" or None)
            return types.Channel(
                chat.id, chat.title, types.ChatPhotoEmpty(), date, access_hash=self.channel_hash(chat),
                username=chat.username, left=not (chat.joined and self.sees(chat)) or None,
                broadcast=chat.kind == "channel" or None, megagroup=chat.kind == "supergroup" or None,
                forum=chat.forum or None, signatures=chat.signatures or None,
                has_link=chat.linked is not None or None,
                participants_count=len(chat.members) or 1234)
        if chat.index in self.forbidden:
            return types.ChatForbidden(chat.id, chat.title)
        return types.Chat(chat.id, chat.title, types.ChatPhotoEmpty(), len(chat.members), date, 1,
                          creator=True)

    def user_blob(self, user_id: int, as_min: bool = False) -> bytes:
        key = ("u", user_id, as_min, self.viewer.name)  # each account its own access hashes
        blob = self._blobs.get(key)
        if blob is None:
            user = self._users_by_id[user_id]
            blob = self._blobs[key] = bytes(self.tl_user(user, as_min=as_min))
        return blob

    def chat_blob(self, chat: ChatSpec) -> bytes:
        key = ("c", chat.index, self.sees(chat), self.viewer.name)
        blob = self._blobs.get(key)
        if blob is None:
            blob = self._blobs[key] = bytes(self.tl_chat(chat))
        return blob

    # -- clients and observation

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """Recent requests (bounded by ``log_limit``), oldest first, as dicts."""
        return self.log.entries()

    def request_counts(self, account: str | None = None) -> dict[str, int]:
        """Requests seen per type (unwrapped: InvokeWithTakeout(GetHistory) counts as GetHistoryRequest),
        of every account or of one."""
        if account is None:
            return dict(self.log.counts)
        return {t: n for (a, t), n in self.log.by_account.items() if a == account}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed}, chats={[c.key for c in self.chats]})"


__all__ = ["ChatSpec", "TopicSpec", "UserSpec", "World"]
