"""The simulated server: parse a serialized request, answer with serialized TL.

:meth:`Server.handle` takes the bytes a client sent (``bytes(request)``), parses them with
Telethon's own ``BinaryReader``, unwraps InvokeWithLayer / InitConnection /
InvokeWithoutUpdates / InvokeWithTakeout, applies faults and the rate limit, and returns the
answer's bytes, or raises :class:`RpcFault` (an RPC error) or :class:`Dropped` (the
connection died). Handlers follow Telegram's documented semantics; see docs/testing.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from telethon import utils
from telethon.extensions import BinaryReader
from telethon.tl import functions, types
from telethon.tl.functions import account, auth, channels, contacts, help, messages, updates, upload, users

from tgx.simulator import content
from tgx.simulator import messages as msgs
from tgx.simulator.ids import WithoutIds
from tgx.simulator.login import login_of
from tgx.simulator.updates import ACCOUNT, Event, Page, page

if TYPE_CHECKING:
    from tgx.simulator.chats import ChatSpec
    from tgx.simulator.world import World

BOOL_TRUE = b"\xb5\x75\x72\x99"  # boolTrue#997275b5
HISTORY_LIMIT = 100
CHANNEL_DIFF_MAX = 100_000  # GetChannelDifference's largest limit
ACCOUNT_DIFF_SLICE = 1000  # updates per DifferenceSlice (Telegram slices the account difference)
DIFF_TIMEOUT = 30  # ChannelDifference.timeout: seconds before a viewing client asks again
TOO_LONG_MESSAGES = 20  # latest messages in a ChannelDifferenceTooLong
MIB = 1 << 20
EXEMPT_FROM_AUTH = frozenset({"GetConfigRequest", "PingRequest", "ImportAuthorizationRequest",
                              "GetNearestDcRequest", "ExportLoginTokenRequest", "ImportLoginTokenRequest",
                              "GetPasswordRequest", "CheckPasswordRequest"})  # what logging in needs
WRAPPERS = (functions.InvokeWithLayerRequest, functions.InitConnectionRequest,
            functions.InvokeWithoutUpdatesRequest, functions.InvokeWithTakeoutRequest,
            functions.InvokeAfterMsgRequest)
QUIET_WRAPPERS = (functions.InvokeWithoutUpdatesRequest, functions.InvokeWithTakeoutRequest)  # no pushed updates


class RpcFault(Exception):
    """An RPC error the server answers with (the client turns it into a telethon RPCError)."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


class Dropped(Exception):
    """The connection died while this request was in flight."""

    def __init__(self, fatal: bool):
        super().__init__("fatal connection drop" if fatal else "transient connection drop")
        self.fatal = fatal


@dataclass(slots=True)
class Connection:
    """One client connection (a sender): which DC it talks to and whether it is logged in."""

    dc_id: int
    authorized: bool
    updates: bool = False  # made a request outside InvokeWithoutUpdates / takeout: gets pushed updates
    account: str = "default"  # whose session this is (World.accounts)


class Raw:
    """Pre-serialized TL: lets Telethon's own container code serialize cached bytes."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data

    def _bytes(self) -> bytes:
        return self.data


def _ts(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value)


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class _Entities:
    """Users and chats an answer references, deduplicated, serialized from the world's cache."""

    __slots__ = ("chats", "users", "world")

    def __init__(self, world: World):
        self.world = world
        self.users: dict[int, bool] = {}
        self.chats: dict[int, None] = {}

    def add_facts(self, facts: msgs.Facts, tpl: msgs.Template) -> None:
        users = self.users  # user id -> served as min (only while every mention is min)
        for user_id, as_min in tpl.users:
            users[user_id] = users.get(user_id, True) and as_min
        sender = facts.sender
        if sender:
            users[sender] = users.get(sender, True) and sender in facts.chat.min_users
        for index in tpl.chats:
            self.chats[index] = None

    def add_user(self, user_id: int) -> None:
        self.users[user_id] = False

    def add_chat(self, chat: ChatSpec) -> None:
        if chat.kind == "private":
            self.add_user(chat.id)
        else:
            self.chats[chat.index] = None

    def user_list(self) -> list[Raw]:
        return [Raw(self.world.user_blob(u, m)) for u, m in self.users.items()]

    def chat_list(self) -> list[Raw]:
        world = self.world
        return [Raw(world.chat_blob(world.chats[i])) for i in self.chats]


class Server:
    """Answers requests against one :class:`World`."""

    def __init__(self, world: World):
        self.world = world
        self._handlers: dict[type, Any] = {
            help.GetConfigRequest: self.get_config,
            help.GetNearestDcRequest: self.get_nearest_dc,
            functions.PingRequest: self.ping,
            users.GetUsersRequest: self.get_users,
            users.GetFullUserRequest: self.get_full_user,
            contacts.ResolveUsernameRequest: self.resolve_username,
            contacts.GetContactsRequest: self.get_contacts,
            channels.GetChannelsRequest: self.get_channels,
            channels.GetFullChannelRequest: self.get_full_channel,
            channels.GetMessagesRequest: self.get_channel_messages,
            messages.GetChatsRequest: self.get_chats,
            messages.GetFullChatRequest: self.get_full_chat,
            messages.GetMessagesRequest: self.get_messages,
            messages.GetHistoryRequest: self.get_history,
            messages.GetRepliesRequest: self.get_replies,
            messages.GetDiscussionMessageRequest: self.get_discussion_message,
            messages.GetDialogsRequest: self.get_dialogs,
            messages.GetPeerDialogsRequest: self.get_peer_dialogs,
            messages.GetForumTopicsRequest: self.get_forum_topics,
            messages.GetForumTopicsByIDRequest: self.get_forum_topics_by_id,
            messages.GetCustomEmojiDocumentsRequest: self.get_custom_emoji_documents,
            upload.GetFileRequest: self.get_file,
            account.InitTakeoutSessionRequest: self.init_takeout,
            account.FinishTakeoutSessionRequest: self.finish_takeout,
            auth.ExportAuthorizationRequest: self.export_authorization,
            auth.ImportAuthorizationRequest: self.import_authorization,
            auth.ExportLoginTokenRequest: self.export_login_token,
            auth.ImportLoginTokenRequest: self.import_login_token,
            account.GetPasswordRequest: self.get_password,
            auth.CheckPasswordRequest: self.check_password,
            updates.GetStateRequest: self.get_state,
            updates.GetDifferenceRequest: self.get_difference,
            updates.GetChannelDifferenceRequest: self.get_channel_difference,
            account.UpdateStatusRequest: lambda req, ctx: BOOL_TRUE,
            auth.LogOutRequest: self.log_out,
        }

    # -- entry point

    def handle(self, data: bytes, conn: Connection) -> bytes:
        world = self.world
        request = BinaryReader(data).tgread_object()
        takeout_id: int | None = None
        quiet = False
        while isinstance(request, WRAPPERS):
            if isinstance(request, functions.InvokeWithTakeoutRequest):
                takeout_id = request.takeout_id
            quiet = quiet or isinstance(request, QUIET_WRAPPERS)
            request = request.query
        name = type(request).__name__
        viewer = world.viewer = world.account(conn.account)  # handle() never awaits: one viewer at a time
        record = world.log.add(name, conn.dc_id, takeout_id is not None, _params(request), account=viewer.name)
        error: str | None = None
        try:
            drop = self._faults(name, request)
            if not viewer.authorized and name not in EXEMPT_FROM_AUTH:
                raise RpcFault(401, "AUTH_KEY_UNREGISTERED")
            if not conn.authorized and name not in EXEMPT_FROM_AUTH:
                raise RpcFault(401, "AUTH_KEY_UNREGISTERED")
            if takeout_id is not None and takeout_id not in world.takeouts:
                raise RpcFault(400, "TAKEOUT_INVALID")
            if name == "GetHistoryRequest" and viewer.rate_limiter is not None:
                wait = viewer.rate_limiter.acquire()
                if wait:
                    raise RpcFault(420, f"FLOOD_WAIT_{wait}")
            handler = self._handlers.get(type(request))
            if handler is None:
                raise RpcFault(400, f"SIMULATOR_UNSUPPORTED_{name.upper()}")
            ctx = _Ctx(conn, takeout_id)
            answer = handler(request, ctx)
            if not quiet:
                conn.updates = True
            if not isinstance(answer, bytes):
                answer = bytes(answer)
            if drop is not None:
                error = "DROPPED"
                raise Dropped(drop)
            return answer
        except RpcFault as fault:
            error = f"{fault.code} {fault.message}"
            raise
        finally:
            world.log.finish(record, error)

    def _faults(self, name: str, request: Any) -> bool | None:
        """Apply injected faults; returns the drop kind (fatal?) to apply after answering."""
        world = self.world
        drop: bool | None = None
        viewer = world.viewer.name
        for fault in world.faults:
            if fault.type == "private" or not fault.matches(name, viewer):
                continue
            if fault.type == "revoked":
                if fault.trigger():
                    world.revoke(viewer)
                continue
            if not fault.trigger():
                continue
            kind = fault.type
            if kind == "flood_wait":
                raise RpcFault(420, f"FLOOD_WAIT_{fault.seconds}")
            if kind == "flood_premium_wait":
                raise RpcFault(420, f"FLOOD_PREMIUM_WAIT_{fault.seconds}")
            if kind == "takeout_delay":
                raise RpcFault(420, f"TAKEOUT_INIT_DELAY_{fault.seconds}")
            if kind == "rpc_error":
                raise RpcFault(fault.code, fault.message)
            if kind == "file_reference_expired":
                world.expire_file_references()
            elif kind == "drop":
                drop = fault.fatal
        return drop

    # -- peers

    def _touch(self, chat: ChatSpec) -> ChatSpec:
        """Count a request about ``chat`` for 'private' faults; refuse chats that became private."""
        world = self.world
        for fault in world.faults:
            if fault.type == "private" and fault.chat is not None and world.chat(fault.chat) is chat:
                if fault.trigger():
                    world.make_private(chat)
        if chat.index in world.forbidden:
            raise RpcFault(400, "CHANNEL_PRIVATE" if chat.is_channel else "CHAT_FORBIDDEN")
        if not world.can_read(chat):  # another account's private chat, group or channel
            raise RpcFault(400, "CHANNEL_PRIVATE" if chat.is_channel else "PEER_ID_INVALID")
        return chat

    @staticmethod
    def _readable(chat: ChatSpec) -> ChatSpec:
        """Refuse reading a private discussion group the account is not a member of."""
        if not chat.readable:
            raise RpcFault(400, "CHANNEL_PRIVATE")
        return chat

    def _channel(self, channel_id: int, access_hash: int | None) -> ChatSpec:
        for chat in self.world.chats:
            if chat.is_channel and chat.id == channel_id:
                if access_hash is not None and access_hash != self.world.channel_hash(chat):
                    raise RpcFault(400, "CHANNEL_INVALID")
                return chat
        raise RpcFault(400, "CHANNEL_INVALID")

    def _input_channel(self, peer: Any) -> ChatSpec:
        if isinstance(peer, types.InputChannel | types.InputPeerChannel):
            return self._channel(peer.channel_id, peer.access_hash)
        if isinstance(peer, types.InputChannelFromMessage | types.InputPeerChannelFromMessage):
            return self._channel(peer.channel_id, None)
        raise RpcFault(400, "CHANNEL_INVALID")

    def _user(self, peer: Any, *, allow_contact_hash0: bool = False) -> Any:
        world = self.world
        if isinstance(peer, types.InputUserSelf | types.InputPeerSelf):
            return world.viewer.user
        if isinstance(peer, types.InputUserFromMessage | types.InputPeerUserFromMessage):
            user = world.user_by_id(peer.user_id)
        elif isinstance(peer, types.InputUser | types.InputPeerUser):
            user = world.user_by_id(peer.user_id)
            if user is not None and peer.access_hash != world.user_hash(user):
                if not (allow_contact_hash0 and peer.access_hash == 0 and (user.contact or user.bot)):
                    user = None
        else:
            user = None
        return user

    def _peer_chat(self, peer: Any) -> ChatSpec | None:
        """The chat an InputPeer names (None: a user with no chat history), or an RPC error."""
        world = self.world
        if isinstance(peer, types.InputPeerChannel | types.InputPeerChannelFromMessage):
            return self._touch(self._input_channel(peer))
        if isinstance(peer, types.InputPeerChat):
            for chat in world.chats:
                if chat.kind == "group" and chat.id == peer.chat_id:
                    return self._touch(chat)
            raise RpcFault(400, "PEER_ID_INVALID")
        if isinstance(peer, types.InputPeerUser | types.InputPeerUserFromMessage | types.InputPeerSelf):
            user = self._user(peer)
            if user is None:
                raise RpcFault(400, "PEER_ID_INVALID")
            for chat in world.chats:
                if chat.kind == "private" and chat.id == user.id:
                    return self._touch(chat)
            return None
        raise RpcFault(400, "PEER_ID_INVALID")

    # -- history

    def _date_rank(self, chat: ChatSpec, space: Any, offset_date: int) -> int:
        """How many messages of ``space`` are dated before ``offset_date``."""
        world = self.world
        lo, hi = 0, space.count
        while lo < hi:
            mid = (lo + hi) // 2
            if msgs.plan(world, chat, space.id_at(mid)).date < offset_date:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _slice(self, chat: ChatSpec | None, space: Any, req: Any) -> tuple[list[int], int, bool]:
        """Telegram's offset_id/offset_date/add_offset/limit/max_id/min_id rules, newest first.

        The window is ``offsetFromID(offset_id) + add_offset`` elements from the newest, where
        offsetFromID counts messages with id >= offset_id; max_id/min_id then filter it.
        """
        count = space.count if space is not None else 0
        limit = req.limit if req.limit > 0 else 20
        limit = min(limit, HISTORY_LIMIT)
        if count == 0:
            return [], 0, True
        offset_date = _ts(req.offset_date)
        if req.offset_id:
            pos = count - space.rank_le(req.offset_id - 1)
        elif offset_date:
            pos = count - self._date_rank(chat, space, offset_date)
        else:
            pos = 0
        start = pos + req.add_offset
        end = min(count, start + limit)
        start = max(0, start)
        ids = [space.id_at(count - 1 - i) for i in range(start, end)]
        if req.max_id > 0:
            ids = [i for i in ids if i < req.max_id]
        if req.min_id > 0:
            ids = [i for i in ids if i > req.min_id]
        whole = start == 0 and end >= count
        return ids, count, whole

    def _message_blobs(self, chat: ChatSpec, ids: list[int], ents: _Entities) -> list[Raw]:
        world = self.world
        out = []
        for message_id in ids:
            facts = msgs.plan(world, chat, message_id)
            tpl = world.template(facts)
            ents.add_facts(facts, tpl)
            data = tpl.render(world, facts)
            if chat.edited:
                data = world.edited_bytes(facts, data)
            if chat.pinned:
                data = world.pinned_bytes(facts, data)
            out.append(Raw(data))
        return out

    def _history_answer(self, chat: ChatSpec | None, ids: list[int], count: int, whole: bool) -> Any:
        ents = _Entities(self.world)
        blobs = self._message_blobs(chat, ids, ents) if chat is not None else []
        if chat is not None:
            ents.add_chat(chat)
        if chat is not None and chat.is_channel:
            return types.messages.ChannelMessages(pts=self.world.pts_of(chat), count=count, messages=blobs,
                                                  topics=[], chats=ents.chat_list(), users=ents.user_list())
        if whole:
            return types.messages.Messages(messages=blobs, topics=[], chats=ents.chat_list(),
                                           users=ents.user_list())
        return types.messages.MessagesSlice(count=count, messages=blobs, topics=[], chats=ents.chat_list(),
                                            users=ents.user_list())

    def get_history(self, req: Any, ctx: _Ctx) -> Any:
        self.world.freeze()
        chat = self._peer_chat(req.peer)
        if chat is not None:
            self._readable(chat)
        space = chat.history if chat is not None else None
        ids, count, whole = self._slice(chat, space, req)
        return self._history_answer(chat, ids, count, whole)

    def get_replies(self, req: Any, ctx: _Ctx) -> Any:
        self.world.freeze()
        chat = self._peer_chat(req.peer)
        if chat is None or not chat.is_channel:
            raise RpcFault(400, "PEER_ID_INVALID")
        if not chat.space.contains(req.msg_id):
            raise RpcFault(400, "MSG_ID_INVALID")
        found = self._comment_thread(chat, req.msg_id)
        if found is not None:
            channel, group, post = found
            layout = group.comments
            assert layout is not None
            space: Any = layout.thread(post) if post else None
            if space is not None and layout.gone.get(post):
                space = WithoutIds(space, layout.gone[post])
            ids, count, _ = self._slice(group, space, req)
            ents = _Entities(self.world)
            blobs = self._message_blobs(group, ids, ents)
            ents.add_chat(channel)
            ents.add_chat(group)
            return types.messages.ChannelMessages(pts=self.world.pts_of(group), count=count, messages=blobs,
                                                  topics=[], chats=ents.chat_list(), users=ents.user_list())
        thread = chat.thread(req.msg_id) if chat.forum else None
        if thread is None:
            return types.messages.ChannelMessages(pts=self.world.pts_of(chat), count=0, messages=[], topics=[],
                                                  chats=[Raw(self.world.chat_blob(chat))], users=[])
        ids, count, _ = self._slice(chat, thread, req)
        return self._history_answer(chat, ids, count, False)

    def _comment_thread(self, chat: ChatSpec, message_id: int) -> tuple[ChatSpec, ChatSpec, int] | None:
        """(channel, discussion group, post id) of a comment thread named by a channel post or by
        one of the group's messages; post 0: no thread there (a service post, the group's own
        messages). None: ``chat`` has no comments (a forum or any other chat)."""
        world = self.world
        if chat.kind == "channel" and chat.linked is not None:
            channel, group, post = chat, world.chats[chat.linked], message_id
        elif chat.comments is not None and chat.linked is not None:
            self._readable(chat)
            channel, group = world.chats[chat.linked], chat
            post, _slot = chat.comments.locate(message_id)
        else:
            return None
        if post and msgs.post_kind_date(channel, post)[0] in msgs.SERVICE_KINDS:
            post = 0
        return channel, group, post

    def get_discussion_message(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        world.freeze()
        chat = self._peer_chat(req.peer)
        if chat is None or not chat.is_channel or not chat.space.contains(req.msg_id):
            raise RpcFault(400, "MSG_ID_INVALID")
        found = self._comment_thread(chat, req.msg_id)
        if found is None or not found[2]:
            raise RpcFault(400, "MSG_ID_INVALID")
        channel, group, post = found
        layout = group.comments
        assert layout is not None
        root = layout.root(post)
        if not group.history.contains(root):
            raise RpcFault(400, "MSG_ID_INVALID")
        ents = _Entities(world)
        blobs = self._message_blobs(group, [root], ents)
        ents.add_chat(channel)
        ents.add_chat(group)
        _count, newest = layout.summary(post)
        return types.messages.DiscussionMessage(
            messages=blobs, max_id=newest or None, read_inbox_max_id=newest or None,
            read_outbox_max_id=newest or None, unread_count=0, chats=ents.chat_list(), users=ents.user_list())

    def _messages_by_id(self, chat_for: Any, wanted: list[Any],
                        channel: ChatSpec | None) -> tuple[list, _Entities]:
        world = self.world
        ents = _Entities(world)
        out: list[Any] = []
        for item in wanted:
            found: tuple[ChatSpec, int] | None = None
            if isinstance(item, types.InputMessageID):
                found = chat_for(item.id)
            elif isinstance(item, types.InputMessageReplyTo):
                origin = chat_for(item.id)
                if origin is not None:
                    reply_to = msgs.plan(world, origin[0], origin[1]).reply_to
                    found = (origin[0], reply_to) if reply_to else None
            if found is None:
                message_id = getattr(item, "id", 0)
                peer = channel.peer() if channel is not None else None
                out.append(types.MessageEmpty(message_id, peer_id=peer))
                continue
            chat, message_id = found
            out.extend(self._message_blobs(chat, [message_id], ents))
            ents.add_chat(chat)
        return out, ents

    def get_channel_messages(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        world.freeze()
        chat = self._readable(self._touch(self._input_channel(req.channel)))

        def lookup(message_id: int) -> tuple[ChatSpec, int] | None:
            return (chat, message_id) if chat.history.contains(message_id) else None

        out, ents = self._messages_by_id(lookup, req.id, chat)
        ents.add_chat(chat)
        return types.messages.ChannelMessages(pts=world.pts_of(chat), count=len(out), messages=out, topics=[],
                                              chats=ents.chat_list(), users=ents.user_list())

    def get_messages(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        world.freeze()
        shared = [c for c in world.chats if not c.is_channel]

        def lookup(message_id: int) -> tuple[ChatSpec, int] | None:
            for chat in shared:
                if chat.history.contains(message_id) and chat.index not in world.forbidden:
                    return chat, message_id
            return None

        out, ents = self._messages_by_id(lookup, req.id, None)
        return types.messages.Messages(messages=out, topics=[], chats=ents.chat_list(),
                                       users=ents.user_list())

    # -- dialogs and topics

    def _dialog_rows(self) -> list[tuple[int, int, ChatSpec]]:
        """(top message date, top id, chat) of every joined chat, newest first."""
        world = self.world
        world.freeze()
        rows = []
        for chat in world.chats:
            if not chat.joined or chat.space.count == 0 or chat.index in world.forbidden or not world.sees(chat):
                continue
            top = chat.space.id_at(chat.space.count - 1)
            rows.append((msgs.plan(world, chat, top).date, top, chat))
        rows.sort(key=lambda r: (r[0], r[1], r[2].marked_id), reverse=True)
        return rows

    def _dialogs_answer(self, rows: list[tuple[int, int, ChatSpec]], total: int | None) -> Any:
        world = self.world
        ents = _Entities(world)
        dialogs = []
        tops: list[Raw] = []
        for _, top, chat in rows:
            dialogs.append(types.Dialog(
                peer=chat.peer(), top_message=top, read_inbox_max_id=top, read_outbox_max_id=top,
                unread_count=0, unread_mentions_count=0, unread_reactions_count=0, unread_poll_votes_count=0,
                notify_settings=types.PeerNotifySettings(), pts=world.pts_of(chat) if chat.is_channel else None))
            tops.extend(self._message_blobs(chat, [top], ents))
            ents.add_chat(chat)
        if total is None:
            return types.messages.Dialogs(dialogs, tops, ents.chat_list(), ents.user_list())
        return types.messages.DialogsSlice(total, dialogs, tops, ents.chat_list(), ents.user_list())

    def get_dialogs(self, req: Any, ctx: _Ctx) -> Any:
        if req.folder_id:  # the archive folder is empty
            return types.messages.Dialogs([], [], [], [])
        rows = self._dialog_rows()
        start = 0
        if not isinstance(req.offset_peer, types.InputPeerEmpty | type(None)):
            marked = _marked(req.offset_peer)
            for i, (_, _, chat) in enumerate(rows):
                if chat.marked_id == marked:
                    start = i + 1
                    break
        elif _ts(req.offset_date) or req.offset_id:
            key = (_ts(req.offset_date), req.offset_id)
            start = next((i for i, r in enumerate(rows) if (r[0], r[1]) < key), len(rows))
        limit = min(req.limit if req.limit > 0 else 20, HISTORY_LIMIT)
        page = rows[start:start + limit]
        whole = start == 0 and len(rows) <= limit
        return self._dialogs_answer(page, None if whole else len(rows))

    def get_peer_dialogs(self, req: Any, ctx: _Ctx) -> Any:
        rows = []
        all_rows = {r[2].index: r for r in self._dialog_rows()}
        for dialog_peer in req.peers:
            chat = self._peer_chat(getattr(dialog_peer, "peer", None))
            if chat is not None and chat.index in all_rows:
                rows.append(all_rows[chat.index])
        answer = self._dialogs_answer(rows, None)
        return types.messages.PeerDialogs(answer.dialogs, answer.messages, answer.chats, answer.users,
                                          self._state())

    def _topics(self, chat: ChatSpec) -> list[tuple[int, Any, int]]:
        """(top message id, thread, title/color source) of every forum topic, most recent first."""
        rows = []
        for i, thread in enumerate(chat.threads):
            if i and chat.topics[i - 1].deleted:
                continue
            top = thread.id_at(thread.count - 1)
            rows.append((top, thread, i))
        rows.sort(key=lambda r: r[0], reverse=True)
        return rows

    def _topics_answer(self, chat: ChatSpec, rows: list[tuple[int, Any, int]], count: int) -> Any:
        world = self.world
        ents = _Entities(world)
        topics = []
        tops: list[Raw] = []
        for top, thread, i in rows:
            closed = pinned = False
            emoji: int | None = None
            hidden = False
            if i == 0:
                title, color, hidden = "General", 0x6FB9F0, chat.general_hidden
            else:
                spec = chat.topics[i - 1]
                title, color, closed, pinned = spec.title, spec.color, spec.closed, spec.pinned
                emoji = spec.icon_emoji_id
            root_date = msgs.plan(world, chat, thread.root).date
            topics.append(types.ForumTopic(
                id=thread.root, date=_dt(root_date), peer=chat.peer(), title=title, icon_color=color,
                top_message=top, read_inbox_max_id=top, read_outbox_max_id=top, unread_count=0,
                unread_mentions_count=0, unread_reactions_count=0, unread_poll_votes_count=0,
                from_id=types.PeerUser(world.me.id), notify_settings=types.PeerNotifySettings(),
                closed=closed, pinned=pinned, hidden=hidden, icon_emoji_id=emoji))
            tops.extend(self._message_blobs(chat, [top], ents))
        ents.add_chat(chat)
        ents.add_user(world.me.id)
        return types.messages.ForumTopics(count=count, topics=topics, messages=tops, chats=ents.chat_list(),
                                          users=ents.user_list(), pts=world.pts_of(chat))

    def get_forum_topics(self, req: Any, ctx: _Ctx) -> Any:
        self.world.freeze()
        chat = self._peer_chat(req.peer)
        if chat is None or not chat.forum:
            raise RpcFault(400, "CHANNEL_FORUM_MISSING")
        rows = self._topics(chat)
        if req.q:
            rows = [r for r in rows if r[2] and req.q.lower() in chat.topics[r[2] - 1].title.lower()]
        start = 0
        if req.offset_topic:
            start = next((i + 1 for i, r in enumerate(rows) if r[1].root == req.offset_topic), 0)
        limit = min(req.limit if req.limit > 0 else 20, HISTORY_LIMIT)
        return self._topics_answer(chat, rows[start:start + limit], len(rows))

    def get_forum_topics_by_id(self, req: Any, ctx: _Ctx) -> Any:
        self.world.freeze()
        chat = self._peer_chat(req.peer)
        if chat is None or not chat.forum:
            raise RpcFault(400, "CHANNEL_FORUM_MISSING")
        wanted = set(req.topics)
        rows = [r for r in self._topics(chat) if r[1].root in wanted]
        return self._topics_answer(chat, rows, len(rows))

    def get_custom_emoji_documents(self, req: Any, ctx: _Ctx) -> bytes:
        """Every id is a custom emoji here; its ``alt`` is :func:`content.custom_emoji_alt`."""
        return _vector([bytes(types.Document(id=i, access_hash=i ^ 0x5EED, file_reference=b"", date=_dt(0),
                               mime_type="application/x-tgsticker", size=1024, dc_id=2, attributes=[
                                   types.DocumentAttributeCustomEmoji(alt=content.custom_emoji_alt(i),
                                                                      stickerset=types.InputStickerSetEmpty())]))
                        for i in req.document_id[:200]])

    # -- files

    def get_file(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        world.freeze()
        loc = req.location
        if not isinstance(loc, types.InputDocumentFileLocation | types.InputPhotoFileLocation):
            raise RpcFault(400, "LOCATION_INVALID")
        want_photo = isinstance(loc, types.InputPhotoFileLocation)
        chat, key = world.media_for_id(loc.id)
        media: msgs.MediaFacts | None = None
        if chat is None:
            if 0 <= key < msgs.STICKER_COUNT and not want_photo:
                media = msgs.MediaFacts("document", loc.id, world.access_hash_for(loc.id), world.home_dc,
                                        "image/webp", 18_000 + key * 1_111, {}, world.date_epoch)
        elif chat.space.contains(key):
            media = msgs.plan(world, chat, key).media
            self._touch(chat)
        if media is None or media.media_id != loc.id or (media.kind == "photo") != want_photo:
            raise RpcFault(400, "FILE_ID_INVALID")
        if loc.access_hash != media.access_hash:
            raise RpcFault(400, "FILE_ID_INVALID")
        if media.dc_id != ctx.conn.dc_id:
            raise RpcFault(303, f"FILE_MIGRATE_{media.dc_id}")
        ref = bytes(loc.file_reference)
        if ref != world.file_reference(media.media_id):
            epoch = int.from_bytes(ref[1:4], "big") if len(ref) == 16 else -1
            if 0 < epoch < world.file_ref_epoch and ref == world.file_reference(media.media_id, epoch):
                raise RpcFault(400, "FILE_REFERENCE_EXPIRED")
            raise RpcFault(400, "FILE_REFERENCE_INVALID")
        thumb = loc.thumb_size or ""
        if media.kind == "photo" and not thumb:
            raise RpcFault(400, "LOCATION_INVALID")
        if thumb and thumb not in media.thumbs:
            raise RpcFault(400, "LOCATION_INVALID")
        offset, limit = req.offset, req.limit
        if req.precise:
            if offset % 1024:
                raise RpcFault(400, "OFFSET_INVALID")
            if limit <= 0 or limit % 1024 or limit > MIB:
                raise RpcFault(400, "LIMIT_INVALID")
        else:
            if offset % 4096:
                raise RpcFault(400, "OFFSET_INVALID")
            if limit <= 0 or limit % 4096 or MIB % limit or offset // MIB != (offset + limit - 1) // MIB:
                raise RpcFault(400, "LIMIT_INVALID")
        size, mime = world.file_size(media, thumb)
        data = content.file_bytes(world.file_key(media.media_id, thumb), size, offset, limit, mime)
        if offset == 0:
            file_type = (types.storage.FileJpeg() if mime == "image/jpeg" else types.storage.FileMp4()
                         if mime == "video/mp4" else types.storage.FileWebp() if mime == "image/webp"
                         else types.storage.FileUnknown())
        else:
            file_type = types.storage.FilePartial()
        return types.upload.File(type=file_type, mtime=media.date, bytes=data)

    # -- users and chats

    def get_config(self, req: Any, ctx: _Ctx) -> Any:
        now = int(time.time())
        options = [types.DcOption(id=dc, ip_address=f"127.0.0.{dc}", port=443) for dc in range(1, 6)]
        return types.Config(
            date=_dt(now), expires=_dt(now + 3600), test_mode=False, this_dc=ctx.conn.dc_id,
            dc_options=options, dc_txt_domain_name="simulated.invalid", chat_size_max=200,
            megagroup_size_max=200_000, forwarded_count_max=100, online_update_period_ms=210_000,
            offline_blur_timeout_ms=5_000, offline_idle_timeout_ms=30_000, online_cloud_timeout_ms=300_000,
            notify_cloud_delay_ms=30_000, notify_default_delay_ms=1_500, push_chat_period_ms=60_000,
            push_chat_limit=2, edit_time_limit=172_800, revoke_time_limit=2_147_483_647,
            revoke_pm_time_limit=2_147_483_647, rating_e_decay=2_419_200, stickers_recent_limit=200,
            channels_read_media_period=604_800, call_receive_timeout_ms=20_000, call_ring_timeout_ms=90_000,
            call_connect_timeout_ms=30_000, call_packet_timeout_ms=10_000, me_url_prefix="https://t.me/",
            caption_length_max=1024, message_length_max=4096, webfile_dc_id=4)

    def get_nearest_dc(self, req: Any, ctx: _Ctx) -> Any:
        return types.NearestDc(country="ZZ", this_dc=ctx.conn.dc_id, nearest_dc=self.world.home_dc)

    def ping(self, req: Any, ctx: _Ctx) -> Any:
        return types.Pong(msg_id=0, ping_id=req.ping_id)

    def get_users(self, req: Any, ctx: _Ctx) -> bytes:
        world = self.world
        blobs = []
        for peer in req.id:
            user = self._user(peer, allow_contact_hash0=True)
            if user is not None:
                blobs.append(world.user_blob(user.id))
        return _vector(blobs)

    def get_full_user(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        user = self._user(req.id, allow_contact_hash0=True)
        if user is None:
            raise RpcFault(400, "USER_ID_INVALID")
        full = types.UserFull(id=user.id, settings=types.PeerSettings(),
                              notify_settings=types.PeerNotifySettings(),
                              common_chats_count=1, about=f"Simulated user {user.key}",
                              bot_info=types.BotInfo(user_id=user.id, description="A simulated bot")
                              if user.bot else None)
        return types.users.UserFull(full_user=full, chats=[], users=[Raw(world.user_blob(user.id))])

    def resolve_username(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        world.freeze()
        name = (req.username or "").lower()
        if not content_username_ok(name):
            raise RpcFault(400, "USERNAME_INVALID")
        for chat in world.chats:
            if chat.is_channel and (chat.username or "").lower() == name:
                return types.contacts.ResolvedPeer(chat.peer(), [Raw(world.chat_blob(chat))], [])
        for user in world.users.values():
            if (user.username or "").lower() == name:
                return types.contacts.ResolvedPeer(types.PeerUser(user.id), [],
                                                   [Raw(world.user_blob(user.id))])
        raise RpcFault(400, "USERNAME_NOT_OCCUPIED")

    def get_contacts(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        contacts_ = [u for u in world.users.values() if u.contact]
        return types.contacts.Contacts([types.Contact(u.id, mutual=True) for u in contacts_], 0,
                                       [Raw(world.user_blob(u.id)) for u in contacts_])

    def get_channels(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        return types.messages.Chats([Raw(world.chat_blob(self._input_channel(c))) for c in req.id])

    def get_chats(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        found = []
        for chat_id in req.id:
            chat = next((c for c in world.chats if c.kind == "group" and c.id == chat_id), None)
            if chat is None:
                raise RpcFault(400, "CHAT_ID_INVALID")
            found.append(Raw(world.chat_blob(chat)))
        return types.messages.Chats(found)

    def get_full_channel(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        world.freeze()
        chat = self._readable(self._touch(self._input_channel(req.channel)))
        top = chat.space.id_at(chat.space.count - 1) if chat.space.count else 0
        linked = world.chats[chat.linked] if chat.linked is not None else None
        full = types.ChannelFull(
            id=chat.id, about=f"About {chat.title}", read_inbox_max_id=top, read_outbox_max_id=top,
            unread_count=0, chat_photo=types.PhotoEmpty(0), notify_settings=types.PeerNotifySettings(),
            bot_info=[], pts=world.pts_of(chat), participants_count=len(chat.members) or 1234,
            can_view_participants=chat.kind == "supergroup" or None,
            linked_chat_id=linked.id if linked is not None else None)
        ents = _Entities(world)
        ents.add_chat(chat)
        if linked is not None:
            ents.add_chat(linked)
        return types.messages.ChatFull(full_chat=full, chats=ents.chat_list(), users=[])

    def get_full_chat(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        chat = next((c for c in world.chats if c.kind == "group" and c.id == req.chat_id), None)
        if chat is None:
            raise RpcFault(400, "CHAT_ID_INVALID")
        self._touch(chat)
        date = _dt(chat.date_base)
        people = [types.ChatParticipantCreator(world.me.id)] + [
            types.ChatParticipant(m, world.me.id, date) for m in chat.members if m != world.me.id]
        full = types.ChatFull(id=chat.id, about=f"About {chat.title}",
                              participants=types.ChatParticipants(chat.id, people, 1),
                              notify_settings=types.PeerNotifySettings())
        ents = _Entities(world)
        ents.add_chat(chat)
        for member in chat.members:
            ents.add_user(member)
        return types.messages.ChatFull(full_chat=full, chats=ents.chat_list(), users=ents.user_list())

    # -- takeout and authorization

    def init_takeout(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        world.takeouts.clear()  # a new takeout invalidates the previous ones
        takeout_id = world.next_takeout_id
        world.next_takeout_id += 1
        world.takeouts[takeout_id] = {name: getattr(req, name) for name in (
            "contacts", "message_users", "message_chats", "message_megagroups", "message_channels", "files",
            "file_max_size")}
        return types.account.Takeout(takeout_id)

    def finish_takeout(self, req: Any, ctx: _Ctx) -> bytes:
        if ctx.takeout_id is None:
            raise RpcFault(400, "TAKEOUT_REQUIRED")
        self.world.takeouts.pop(ctx.takeout_id, None)
        return BOOL_TRUE

    def export_authorization(self, req: Any, ctx: _Ctx) -> Any:
        if req.dc_id == ctx.conn.dc_id or not 1 <= req.dc_id <= 5:
            raise RpcFault(400, "DC_ID_INVALID")
        return types.auth.ExportedAuthorization(id=self.world.viewer.user.id, bytes=self._auth_token(req.dc_id))

    def import_authorization(self, req: Any, ctx: _Ctx) -> Any:
        world = self.world
        me = world.viewer.user
        if req.id != me.id or bytes(req.bytes) != self._auth_token(ctx.conn.dc_id):
            raise RpcFault(400, "AUTH_BYTES_INVALID")
        ctx.conn.authorized = True
        return types.auth.Authorization(user=Raw(world.user_blob(me.id)))

    def log_out(self, req: Any, ctx: _Ctx) -> Any:
        """auth.LogOut: this account's session is dead from now on (every sender of it)."""
        self.world.viewer.logged_out = True
        return types.auth.LoggedOut()

    # -- logging in (tgx.simulator.login: QR tokens, 2FA)

    def _authorize(self, conn: Connection) -> Raw:
        """A login succeeded on ``conn``: it is authorized; the answer's user is the account."""
        conn.authorized = True
        return Raw(self.world.user_blob(self.world.me.id))

    def _push_to(self, conn: Connection, data: bytes) -> None:
        for listener in list(self.world.listeners):
            if listener.conn is conn and listener.wants_updates():
                listener.push(data)

    def export_login_token(self, req: Any, ctx: _Ctx) -> Any:
        return login_of(self.world).export_token(ctx.conn, self._authorize, self._push_to, RpcFault)

    def import_login_token(self, req: Any, ctx: _Ctx) -> Any:
        return login_of(self.world).import_token(ctx.conn, bytes(req.token), self._authorize, RpcFault)

    def get_password(self, req: Any, ctx: _Ctx) -> Any:
        return login_of(self.world).get_password(ctx.conn)

    def check_password(self, req: Any, ctx: _Ctx) -> Any:
        return login_of(self.world).check_password(ctx.conn, req.password, self._authorize, RpcFault)

    def _auth_token(self, dc_id: int) -> bytes:
        return content.hash_of(self.world.seed, 0xA07, dc_id).to_bytes(8, "big") * 2

    # -- updates

    def _state(self, pts: int | None = None) -> Any:
        world = self.world
        return types.updates.State(pts=world.pts if pts is None else pts, qts=0, date=_dt(int(time.time())),
                                   seq=world.seq, unread_count=0)

    def get_state(self, req: Any, ctx: _Ctx) -> Any:
        return self._state()

    def _page(self, key: int, from_pts: int, limit: int, base_chat: int = ACCOUNT) -> Page:
        world = self.world
        chats = world.chats
        return page(world.boxes[key], from_pts, limit, lambda c, rank: chats[c].space.id_at(rank),
                    lambda c, message_id: chats[c].history.contains(message_id), base_chat)

    def _page_tl(self, found: Page, channel: ChatSpec | None) -> tuple[list[Raw], list[Any], _Entities]:
        """(new messages, other updates, entities) of a page; channel: UpdateEditChannelMessage /
        UpdateDeleteChannelMessages, else UpdateEditMessage / UpdateDeleteMessages."""
        world = self.world
        ents = _Entities(world)
        new: list[Raw] = []
        for index, message_id in sorted(found.new, key=lambda k: (k[1], k[0])):
            chat = world.chats[index]
            new.extend(self._message_blobs(chat, [message_id], ents))
            ents.add_chat(chat)
        rows: list[tuple[int, Any]] = []
        for (index, message_id), pts in found.edits.items():
            chat = world.chats[index]
            blob = self._message_blobs(chat, [message_id], ents)[0]
            ents.add_chat(chat)
            rows.append((pts, types.UpdateEditChannelMessage(blob, pts, 1) if channel is not None
                         else types.UpdateEditMessage(blob, pts, 1)))
        for event in found.deletes:
            rows.append((event.pts, types.UpdateDeleteChannelMessages(channel.id, list(event.ids), event.pts,
                                                                     event.count)
                         if channel is not None else types.UpdateDeleteMessages(list(event.ids), event.pts,
                                                                                event.count)))
            if channel is None:
                ents.add_chat(world.chats[event.chat])
        for event in found.pins:
            rows.append((event.pts, _pin_update(world.chats[event.chat], event)))
            if channel is None:
                ents.add_chat(world.chats[event.chat])
        if channel is not None:
            ents.add_chat(channel)
        rows.sort(key=lambda r: r[0])
        return new, [r[1] for r in rows], ents

    def get_difference(self, req: Any, ctx: _Ctx) -> Any:
        """The account's changes (private chats, basic groups) since ``req.pts``; see docs/testing.md."""
        world = self.world
        world.freeze()
        box = world.boxes[ACCOUNT]
        now = _dt(int(time.time()))
        if req.pts > box.pts or req.pts < 0:
            raise RpcFault(400, "PERSISTENT_TIMESTAMP_INVALID")
        if req.pts == box.pts:
            return types.updates.DifferenceEmpty(date=now, seq=world.seq)
        horizon = world.difference_horizon
        if req.pts_total_limit:
            horizon = min(horizon, req.pts_total_limit)
        if box.pts - req.pts > horizon or req.pts < box.base:
            return types.updates.DifferenceTooLong(pts=box.pts)
        found = self._page(ACCOUNT, req.pts, ACCOUNT_DIFF_SLICE)
        new, other, ents = self._page_tl(found, None)
        if found.to_pts < box.pts:
            return types.updates.DifferenceSlice(new, [], other, ents.chat_list(), ents.user_list(),
                                                 self._state(found.to_pts))
        return types.updates.Difference(new, [], other, ents.chat_list(), ents.user_list(), self._state())

    def get_channel_difference(self, req: Any, ctx: _Ctx) -> Any:
        """A channel's changes since ``req.pts``, ``req.limit`` updates a page; see docs/testing.md."""
        world = self.world
        world.freeze()
        chat = self._readable(self._touch(self._input_channel(req.channel)))
        box = world.boxes[chat.index]
        if req.pts > box.pts or req.pts < 0:
            raise RpcFault(400, "PERSISTENT_TIMESTAMP_INVALID")
        if req.pts == box.pts:
            return types.updates.ChannelDifferenceEmpty(pts=box.pts, final=True, timeout=DIFF_TIMEOUT)
        if box.pts - req.pts > world.difference_horizon:
            return self._channel_too_long(chat)
        limit = min(req.limit, CHANNEL_DIFF_MAX) if req.limit > 0 else HISTORY_LIMIT
        found = self._page(chat.index, req.pts, limit, chat.index)
        new, other, ents = self._page_tl(found, chat)
        return types.updates.ChannelDifference(
            pts=found.to_pts, new_messages=new, other_updates=other, chats=ents.chat_list(),
            users=ents.user_list(), final=found.to_pts == box.pts or None, timeout=DIFF_TIMEOUT)

    def _channel_too_long(self, chat: ChatSpec) -> Any:
        world = self.world
        history = chat.history
        ids = [history.id_at(history.count - 1 - i) for i in range(min(TOO_LONG_MESSAGES, history.count))]
        ents = _Entities(world)
        blobs = self._message_blobs(chat, ids, ents)
        ents.add_chat(chat)
        top = ids[0] if ids else 0
        dialog = types.Dialog(peer=chat.peer(), top_message=top, read_inbox_max_id=top, read_outbox_max_id=top,
                              unread_count=0, unread_mentions_count=0, unread_reactions_count=0,
                              unread_poll_votes_count=0, notify_settings=types.PeerNotifySettings(),
                              pts=world.pts_of(chat))
        return types.updates.ChannelDifferenceTooLong(dialog=dialog, messages=blobs, chats=ents.chat_list(),
                                                      users=ents.user_list(), final=True, timeout=DIFF_TIMEOUT)

    def pushed(self, chat: ChatSpec, events: list[Event]) -> bytes | None:
        """The Updates a connected client receives for ``events`` of ``chat`` (None: nothing,
        e.g. a channel the account has not joined). Account updates carry the next ``seq``."""
        world = self.world
        if not chat.joined or not chat.readable or chat.index in world.forbidden or not world.sees(chat):
            return None
        ents = _Entities(world)
        out: list[Any] = []
        for event in events:
            if event.kind == "new":
                ids = [chat.space.id_at(r) for r in range(event.first, event.first + event.count)]
                first_pts = event.pts - event.count
                for k, blob in enumerate(self._message_blobs(chat, ids, ents)):
                    pts = first_pts + k + 1
                    out.append(types.UpdateNewChannelMessage(blob, pts, 1) if chat.is_channel
                               else types.UpdateNewMessage(blob, pts, 1))
            elif event.kind == "edit":
                facts = msgs.plan(world, chat, event.ids[0])
                tpl = world.template(facts)
                ents.add_facts(facts, tpl)
                data = world.edited_bytes(facts, tpl.render(world, facts), event.first)
                blob = Raw(world.pinned_bytes(facts, data))
                out.append(types.UpdateEditChannelMessage(blob, event.pts, 1) if chat.is_channel
                           else types.UpdateEditMessage(blob, event.pts, 1))
            elif event.kind == "pin":
                out.append(_pin_update(chat, event))
            else:
                out.append(types.UpdateDeleteChannelMessages(chat.id, list(event.ids), event.pts, event.count)
                           if chat.is_channel else types.UpdateDeleteMessages(list(event.ids), event.pts,
                                                                              event.count))
        if not out:
            return None
        ents.add_chat(chat)
        seq = 0
        if not chat.is_channel:
            world.seq += 1
            seq = world.seq
        return bytes(types.Updates(out, ents.user_list(), ents.chat_list(), _dt(int(time.time())), seq))


@dataclass(slots=True)
class _Ctx:
    conn: Connection
    takeout_id: int | None


def _pin_update(chat: ChatSpec, event: Event) -> Any:
    """``updatePinnedChannelMessages`` (a channel) or ``updatePinnedMessages`` for a pin event."""
    if chat.is_channel:
        return types.UpdatePinnedChannelMessages(chat.id, list(event.ids), event.pts, event.count,
                                                 pinned=bool(event.first))
    return types.UpdatePinnedMessages(chat.peer(), list(event.ids), event.pts, event.count, pinned=bool(event.first))


def _vector(blobs: list[bytes]) -> bytes:
    return b"".join((b"\x15\xc4\xb5\x1c", len(blobs).to_bytes(4, "little"), *blobs))


def _marked(peer: Any) -> int | None:
    try:
        return utils.get_peer_id(peer)
    except (TypeError, ValueError):
        return None


def content_username_ok(name: str) -> bool:
    """Telegram's username shape: 4-32 of [a-z0-9_], starting with a letter, no trailing '_'."""
    if not 4 <= len(name) <= 32 or not name[0].isalpha() or name.endswith("_"):
        return False
    return all(c.isascii() and (c.isalnum() or c == "_") for c in name)


def _params(request: Any) -> dict[str, Any]:
    """The key parameters of a request, for the log."""
    if isinstance(request, messages.GetHistoryRequest | messages.GetRepliesRequest):
        params = {"peer": _marked(request.peer), "offset_id": request.offset_id,
                  "offset_date": _ts(request.offset_date), "add_offset": request.add_offset,
                  "limit": request.limit, "max_id": request.max_id, "min_id": request.min_id}
        if isinstance(request, messages.GetRepliesRequest):
            params["msg_id"] = request.msg_id
        return params
    if isinstance(request, messages.GetDiscussionMessageRequest):
        return {"peer": _marked(request.peer), "msg_id": request.msg_id}
    if isinstance(request, upload.GetFileRequest):
        loc = request.location
        return {"location": type(loc).__name__, "media_id": getattr(loc, "id", None),
                "thumb": getattr(loc, "thumb_size", None), "offset": request.offset, "limit": request.limit,
                "precise": bool(request.precise)}
    if isinstance(request, channels.GetMessagesRequest):
        return {"peer": _marked(request.channel), "ids": [getattr(i, "id", None) for i in request.id]}
    if isinstance(request, messages.GetMessagesRequest):
        return {"ids": [getattr(i, "id", None) for i in request.id]}
    peer = getattr(request, "peer", None) or getattr(request, "channel", None)
    if peer is not None and not isinstance(peer, list):
        return {"peer": _marked(peer)}
    if isinstance(request, contacts.ResolveUsernameRequest):
        return {"username": request.username}
    return {}


__all__ = ["Connection", "Dropped", "RpcFault", "Server"]
