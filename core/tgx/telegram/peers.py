"""CHAT arguments → peers: parsing (:func:`parse_chat`) and the resolution chain (:class:`PeerResolution`).

Parsing is pure and strict: a malformed CHAT is a :class:`UsageError` that names the argument
and lists the accepted forms, before any request is made.

Resolution asks the registered resolvers (``tgx_register_peer_resolvers``, e.g. the built-in
``peer_cache``) in descending priority, then Telegram itself. Whoever answers, the result is
broadcast to every resolver's ``learn()``. A resolver that raises is disabled for the rest of
the run with one warning, so a broken cache can cost requests but never an export.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from tgx import console
from tgx.console import Warn
from tgx.errors import AuthError, ChatNotFound, NetworkError, TgxError, UsageError
from tgx.model import Peer
from tgx.specs import PeerRef, PeerResolver, ResolvedPeer, ResolverContext

if TYPE_CHECKING:
    import pluggy

    from tgx.config import Config


T = TypeVar("T")
ChatFetch = Callable[[ResolvedPeer, Callable[[Peer], None] | None, list[int]], Awaitable[T]]  # see PeerResolution.fetch

ACCEPTED_FORMS = ("@username, username, https://t.me/username[/MSG], https://t.me/c/ID/MSG, "
                  "a numeric id (-100… for channels and supergroups, -… for basic groups), or me")

TELEGRAM_HOSTS = ("t.me", "telegram.me", "telegram.dog")
_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{2,31}$")
_ID_RE = re.compile(r"^-?\d{1,20}$")
_PHONE_RE = re.compile(r"^\+[\d \-().]{7,24}$")
# t.me paths that are Telegram features, not chats.
_RESERVED_PATHS = {
    "addstickers", "addemoji", "share", "proxy", "socks", "setlanguage", "addtheme", "bg", "login",
    "confirmphone", "invoice", "addlist", "boost", "contact", "iv", "m", "giftcode", "multiaddstickers",
}
_INPUT_PEER_CRC = 0xC91C90B6  # crc32(b'InputPeer'): Telethon's SUBCLASS_OF_ID of every InputPeer*

CHANNEL_MARK = 1_000_000_000_000


def _bad(arg: str, why: str = "") -> UsageError:
    detail = f" ({why})" if why else ""
    return UsageError(f"invalid CHAT {arg!r}{detail}: expected {ACCEPTED_FORMS}")


def _invite(arg: str) -> UsageError:
    return UsageError(
        f"invite links are not supported ({arg!r}): join the chat in Telegram first, then export it "
        "by its @username or id",
        hint="`tgx chats` lists the chats this account can export, with their ids",
    )


def _channel_id(text: str, arg: str) -> int:
    if not text.isdigit():
        raise _bad(arg, "a t.me/c/ link needs the numeric channel id")
    return -(CHANNEL_MARK + int(text))


def _message_id(parts: Sequence[str], arg: str) -> int | None:
    """The last path segment of a message link (``…/MSG`` or ``…/TOPIC/MSG``)."""
    if not parts:
        return None
    if len(parts) > 2 or not all(p.isdigit() for p in parts):
        raise _bad(arg, "a message link ends in /MESSAGE_ID or /TOPIC_ID/MESSAGE_ID")
    return int(parts[-1])


def _username_ref(name: str, arg: str, message_id: int | None = None) -> PeerRef:
    if not _USERNAME_RE.match(name):
        raise _bad(arg, f"{name!r} is not a valid username")
    return PeerRef("username", name, arg, message_id)


def _parse_tg_scheme(arg: str) -> PeerRef:
    url = urlsplit(arg)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    action = (url.netloc or url.path).lower()
    post = query.get("post")
    message_id = int(post) if post and post.isdigit() else None
    if action == "join":
        raise _invite(arg)
    if action == "resolve" and "domain" in query:
        return _username_ref(query["domain"], arg, message_id)
    if action == "privatepost" and "channel" in query:
        return PeerRef("id", _channel_id(query["channel"], arg), arg, message_id)
    raise _bad(arg, "unsupported tg:// link")


def _parse_link(arg: str) -> PeerRef | None:
    """A t.me (telegram.me, telegram.dog) link, or None when ``arg`` is not one."""
    text = arg if "://" in arg else f"https://{arg}"
    url = urlsplit(text)
    host = (url.hostname or "").lower().removeprefix("www.")
    subdomain = None
    if host not in TELEGRAM_HOSTS:
        for base in TELEGRAM_HOSTS:  # https://username.t.me
            if host.endswith("." + base) and host.count(".") == base.count(".") + 1:
                subdomain = host[: -len(base) - 1]
                break
        else:
            return None
    if url.scheme not in ("http", "https"):
        raise _bad(arg)
    parts = [p for p in url.path.split("/") if p]
    if subdomain is not None:
        return _username_ref(subdomain, arg, _message_id(parts, arg))
    if not parts:
        raise _bad(arg, "the link names no chat")
    head = parts[0]
    if head.startswith("+"):
        digits = head[1:]
        if digits.isdigit() and 7 <= len(digits) <= 15:
            return PeerRef("phone", head, arg)
        raise _invite(arg)
    if head.lower() == "joinchat":
        raise _invite(arg)
    if head.lower() == "c":
        if len(parts) < 2:
            raise _bad(arg, "a t.me/c/ link needs the channel id")
        return PeerRef("id", _channel_id(parts[1], arg), arg, _message_id(parts[2:], arg))
    if head.lower() == "s" and len(parts) >= 2:  # the web preview: t.me/s/username
        return _username_ref(parts[1], arg, _message_id(parts[2:], arg))
    if head.lower() in _RESERVED_PATHS:
        raise _bad(arg, f"t.me/{head}/ links are not chats")
    return _username_ref(head, arg, _message_id(parts[1:], arg))


def parse_chat(arg: str) -> PeerRef:
    """Parse one CHAT argument into a :class:`PeerRef` (no request is made).

    ``kind`` is ``username`` (value without ``@``, case kept), ``id`` (value: the *marked* id —
    ``-100…`` channels/supergroups, negative basic groups, positive users), ``me``, or ``phone``
    (value ``+digits``; a secret: never print it). Links may carry a message id
    (``t.me/name/123``, ``t.me/c/ID/123``, ``t.me/c/ID/TOPIC/123``).
    """
    raw = arg
    text = arg.strip()
    if not text:
        raise UsageError(f"empty CHAT: expected {ACCEPTED_FORMS}")
    if text.lower() in ("me", "self"):
        return PeerRef("me", "me", raw)
    if text.lower().startswith("tg://"):
        return _parse_tg_scheme(text)
    if text.startswith("@"):
        return _username_ref(text[1:], raw)
    if text.startswith("+") and _PHONE_RE.match(text):
        digits = re.sub(r"\D", "", text)
        if 7 <= len(digits) <= 15:
            return PeerRef("phone", "+" + digits, raw)
        raise _bad(raw, "a phone number has 7 to 15 digits")
    if _ID_RE.match(text):
        value = int(text)
        if value == 0:
            raise _bad(raw, "0 is not an id")
        return PeerRef("id", value, raw)
    if "/" in text or "." in text or ":" in text:
        link = _parse_link(text)
        if link is not None:
            return PeerRef(link.kind, link.value, raw, link.message_id)
        raise _bad(raw, "not a t.me link")
    return _username_ref(text, raw)


def describe_ref(ref: PeerRef) -> str:
    """How to name ``ref`` in a message — never the phone number itself."""
    if ref.kind == "username":
        return f"@{ref.value}"
    if ref.kind == "phone":
        return "with that phone number"
    return str(ref.value)


# -- Telethon entities → tgx.model.Peer -----------------------------------------------------------


def _username_of(entity: Any) -> str | None:
    if getattr(entity, "username", None):
        return entity.username
    for item in getattr(entity, "usernames", None) or ():
        if getattr(item, "active", False) and getattr(item, "username", None):
            return item.username
    return None


def peer_from_entity(entity: Any) -> Peer:
    """A Telethon ``User``/``Chat``/``Channel`` (or their forbidden forms) as a :class:`Peer`."""
    from telethon import types, utils

    peer_id = utils.get_peer_id(entity)
    if isinstance(entity, types.User):
        kind = "self" if entity.is_self else "bot" if entity.bot else "user"
        first, last = entity.first_name, entity.last_name
        title = " ".join(p for p in (first, last) if p) or _username_of(entity) or (
            "Deleted Account" if entity.deleted else str(entity.id))
        return Peer(peer_id, kind, title, _username_of(entity), first, last, deleted=bool(entity.deleted))
    if isinstance(entity, types.Channel | types.ChannelForbidden):
        megagroup = bool(getattr(entity, "megagroup", False) or getattr(entity, "gigagroup", False))
        return Peer(peer_id, "supergroup" if megagroup else "channel", entity.title or "",
                    _username_of(entity), forum=bool(getattr(entity, "forum", False)))
    if isinstance(entity, types.Chat | types.ChatForbidden | types.ChatEmpty):
        return Peer(peer_id, "group", getattr(entity, "title", "") or "",
                    deleted=bool(getattr(entity, "deactivated", False)))
    raise TypeError(f"not a user, chat or channel: {type(entity).__name__}")


def is_input_peer(obj: Any) -> bool:
    return getattr(obj, "SUBCLASS_OF_ID", None) == _INPUT_PEER_CRC


# -- the network resolver --------------------------------------------------------------------------


class ResolveBudget:
    """At most ``per_minute`` username look-ups (``contacts.ResolveUsername``) in any 60 seconds,
    per account. Bursts of look-ups are what pushes accounts into hours-long flood waits, so a
    look-up beyond the budget is *deferred* — :meth:`lookup` waits until the oldest one leaves
    the window — never sent into a wait. Cached answers (the ``peer_cache`` resolver) cost nothing.

    A look-up holds its place from the moment it is sent until 60 s after its *answer*: Telegram
    counts it whenever it reached the server, somewhere in between, so windows counted from the
    send would let a look-up delayed on the way (a busy connection, a slow round trip) share a
    server-side minute with the next budget's worth (measured: 24 in 60 s at a budget of 20).
    """

    WINDOW = 60.0

    def __init__(self, per_minute: float, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], Awaitable[Any]] | None = None) -> None:
        import time

        self.limit = max(1, int(per_minute))
        self.clock = clock or time.monotonic
        self.sleep = sleep or asyncio.sleep
        self.stamps: list[float] = []  # when the answers of the window's look-ups came
        self.in_flight = 0  # sent, not answered: they hold a place with no end yet
        self._answered: asyncio.Event | None = None  # set when one in flight is answered
        self.deferred = 0  # look-ups that had to wait for the budget
        self.used = 0

    def _expire(self, now: float) -> None:
        while self.stamps and self.stamps[0] <= now - self.WINDOW:
            self.stamps.pop(0)

    def available(self) -> int:
        """Look-ups that may go now."""
        self._expire(self.clock())
        return self.limit - len(self.stamps) - self.in_flight

    async def acquire(self) -> None:
        """Take a place (waiting for one); pair it with :meth:`release` once answered."""
        waited = False
        while True:
            now = self.clock()
            self._expire(now)
            if len(self.stamps) + self.in_flight < self.limit:
                self.in_flight += 1
                self.used += 1
                self.deferred += waited
                return
            waited = True
            if self.stamps:  # the oldest answer leaves the window first
                await self.sleep(self.stamps[0] + self.WINDOW - now)
            else:  # every place is in flight: its window starts when it is answered
                self._answered = self._answered or asyncio.Event()
                await self._answered.wait()

    def release(self) -> None:
        """The look-up was answered (or failed): its 60 s start now."""
        self.in_flight -= 1
        self.stamps.append(self.clock())
        if self._answered is not None:
            self._answered.set()
            self._answered = None

    @contextlib.asynccontextmanager
    async def lookup(self) -> AsyncIterator[None]:
        """``async with budget.lookup(): await client(ResolveUsernameRequest(...))``."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()


def _not_found(ref: PeerRef, reason: str) -> ChatNotFound:
    return ChatNotFound(f"chat {describe_ref(ref)} not found: {reason}",
                        hint="`tgx chats` lists the chats this account can export")


def map_telethon_error(exc: BaseException, ref: PeerRef) -> BaseException:
    """The :class:`TgxError` to raise for a Telethon failure while resolving ``ref``."""
    from telethon import errors

    what = describe_ref(ref)
    if isinstance(exc, ValueError) and str(exc).startswith("Request was unsuccessful"):
        # Telethon's end of repeated flood waits / retries, not an unknown chat.
        return NetworkError(f"Telegram kept refusing while resolving {what}: {exc}",
                            hint="wait, then run the same command again")
    if isinstance(exc, errors.UsernameNotOccupiedError):
        return _not_found(ref, "no user or chat has this username")
    if isinstance(exc, errors.UsernameInvalidError):
        return _not_found(ref, "Telegram says this username is invalid")
    if isinstance(exc, errors.ChannelPrivateError):
        return _not_found(ref, "the channel is private, or this account was banned from it")
    if isinstance(exc, errors.ChannelInvalidError | errors.PeerIdInvalidError | errors.ChatIdInvalidError
                  | ValueError):
        if ref.kind == "id":
            return _not_found(ref, "this account knows no chat with this id (use its @username, or "
                                   "open the chat in Telegram once)")
        if ref.kind == "phone":
            return _not_found(ref, "no contact has this phone number")
        return _not_found(ref, "Telegram does not know it")
    if isinstance(exc, errors.AuthKeyUnregisteredError | errors.SessionRevokedError
                  | errors.UserDeactivatedError | errors.UnauthorizedError):
        return AuthError("not logged in (the session expired or was revoked)", hint="run `tgx login`")
    if isinstance(exc, errors.FloodWaitError):
        return NetworkError(f"Telegram asked to wait {exc.seconds} s while resolving {what}",
                            hint="wait, then run the same command again")
    if isinstance(exc, ConnectionError | OSError | asyncio.TimeoutError):
        return NetworkError(f"connection to Telegram failed while resolving {what}: {type(exc).__name__}",
                            hint="check the network, then run the same command again")
    if isinstance(exc, errors.RPCError):
        return TgxError(f"Telegram refused to resolve {what}: {exc.message}")
    return exc


class NetworkResolver:
    """Asks Telegram: ``ResolveUsername`` for usernames, the session's cache (then the dialog
    list, once) for ids, then ``GetUsers``/``GetChannels``/``GetChats`` for the full entity."""

    name = "network"

    def __init__(self, client: Any, budget: ResolveBudget | None = None) -> None:
        self.client = client
        self.budget = budget  # username look-ups per minute (None: unlimited)
        self.requests = 0  # resolutions that went to Telegram
        self._dialogs: asyncio.Future[bool] | None = None

    async def _load_dialogs(self) -> bool:
        """Fill Telethon's entity cache from the dialog list (ids of chats never seen this session),
        once: concurrent resolutions wait for the same load. False when there is none (bots)."""
        if self._dialogs is None:
            self._dialogs = asyncio.ensure_future(self._fetch_dialogs())
        try:
            return await asyncio.shield(self._dialogs)
        except Exception:
            self._dialogs = None  # a failed load is tried again by the next resolution
            raise

    async def _fetch_dialogs(self) -> bool:
        from telethon import errors

        try:
            await self.client.get_dialogs(limit=None)
        except errors.BotMethodInvalidError:  # bots have no dialog list
            return False
        return True

    async def _input_for_id(self, marked: int) -> Any:
        candidates = [marked]
        if marked > 0:  # a bare id: a user, or a channel's id as Telegram Desktop shows it
            candidates.append(-(CHANNEL_MARK + marked))
        for attempt in range(2):
            for candidate in candidates:
                try:
                    return await self.client.get_input_entity(candidate)
                except (ValueError, TypeError):
                    continue
            if attempt == 0 and not await self._load_dialogs():
                break
        raise ValueError(f"no input entity for {marked}")

    async def _entity(self, ref: PeerRef) -> Any:
        from telethon import functions, types, utils

        if ref.kind == "me":
            me = await self.client.get_me()
            if me is None:
                raise AuthError("not logged in", hint="run `tgx login`")
            return me
        if ref.kind == "username":
            request = functions.contacts.ResolveUsernameRequest(str(ref.value))
            if self.budget is None:
                result = await self.client(request)
            else:
                async with self.budget.lookup():
                    result = await self.client(request)
            pid = utils.get_peer_id(result.peer, add_mark=False)
            pool = result.users if isinstance(result.peer, types.PeerUser) else result.chats
            for entity in pool:
                if entity.id == pid:
                    return entity
            raise ValueError("the answer named no entity")
        if ref.kind == "id":
            return await self.client.get_entity(await self._input_for_id(int(ref.value)))
        if ref.kind == "phone":
            return await self.client.get_entity(str(ref.value))
        raise UsageError(f"cannot resolve a CHAT of kind {ref.kind!r}")

    async def resolve(self, ref: PeerRef) -> ResolvedPeer:
        from telethon import utils

        self.requests += 1
        try:
            entity = await self._entity(ref)
            peer = peer_from_entity(entity)
            input_peer = utils.get_input_peer(entity)
        except TgxError:
            raise
        except Exception as exc:
            mapped = map_telethon_error(exc, ref)
            if mapped is exc:
                raise
            raise mapped from None
        return ResolvedPeer(peer, input_peer)

    def stats(self) -> dict[str, int]:
        if self.budget is None:
            return {"requests": self.requests}
        return {"requests": self.requests, "deferred": self.budget.deferred}


# -- the chain -------------------------------------------------------------------------------------




class PeerResolution:
    """Resolvers in descending priority, then Telegram; every answer is taught to all resolvers.

    Use :meth:`from_plugins` in commands; construct directly with ``(name, resolver)`` pairs in
    tests. Call :meth:`close` when done (resolvers persist what they learned).
    """

    def __init__(self, client: Any, resolvers: Sequence[tuple[str, PeerResolver]] = (), *,
                 warn: Warn | None = None, budget: ResolveBudget | None = None) -> None:
        self.client = client
        self.network = NetworkResolver(client, budget)
        self._resolvers: list[tuple[str, PeerResolver]] = list(resolvers)
        self._disabled: set[str] = set()
        self._warn = console.warn if warn is None else warn
        self._closed = False
        self.resolutions = 0
        self.answered_by: dict[str, int] = {}
        self.source_of: dict[int, str] = {}  # peer id → who answered its last resolution

    @classmethod
    def from_plugins(cls, pm: pluggy.PluginManager, client: Any, state_dir: Path | str, *,
                     config: Config | None = None, warn: Warn | None = None,
                     budget: ResolveBudget | None = None) -> PeerResolution:
        """The chain from the registered ``tgx_register_peer_resolvers`` specs.

        :param state_dir: ``OUT/.tgx/`` — where resolvers may persist (created on demand by them).
        """
        from tgx.host import registry

        cfg = config if config is not None else pm.config  # type: ignore[attr-defined]
        warn = console.warn if warn is None else warn
        context = ResolverContext(cfg, Path(state_dir))
        built: list[tuple[str, PeerResolver]] = []
        for item in registry.peer_resolvers(pm, cfg):
            try:
                built.append((item.name, item.spec.factory(context)))
            except Exception as exc:
                warn(f"peer resolver '{item.name}' (plugin '{item.plugin}') failed to start: "
                     f"{type(exc).__name__}: {exc}; resolving without it")
        return cls(client, built, warn=warn, budget=budget)

    @property
    def resolver_names(self) -> list[str]:
        return [name for name, _ in self._resolvers if name not in self._disabled]

    def _disable(self, name: str, exc: BaseException, during: str) -> None:
        self._disabled.add(name)
        self._warn(f"peer resolver '{name}' failed in {during}: {type(exc).__name__}: {exc}; "
                   "disabled for this run (resolution goes on without it)")

    async def cached(self, chat: PeerRef | str) -> ResolvedPeer | None:
        """The resolvers' answer (a cache), or None: never a request."""
        ref = parse_chat(chat) if isinstance(chat, str) else chat
        found = await self._ask_resolvers(ref)
        if found is None:
            return None
        self.resolutions += 1
        return self._answered(ref, *found)

    async def resolve(self, chat: PeerRef | str) -> ResolvedPeer:
        """Resolve a CHAT (string or parsed): resolvers first, Telegram last.

        Raises :class:`ChatNotFound` (exit 4) for unknown or inaccessible chats, :class:`AuthError`
        when the session is not logged in, :class:`NetworkError` for flood waits above the
        threshold and lost connections.
        """
        ref = parse_chat(chat) if isinstance(chat, str) else chat
        self.resolutions += 1
        found = await self._ask_resolvers(ref)
        if found is None:
            found = await self.network.resolve(ref), "network"
        return self._answered(ref, *found)

    async def _ask_resolvers(self, ref: PeerRef) -> tuple[ResolvedPeer, str] | None:
        """The first resolver's answer and its name; a resolver that fails or answers something
        that is no ResolvedPeer is disabled for the run."""
        for name, resolver in self._resolvers:
            if name in self._disabled:
                continue
            try:
                answer = await resolver.resolve(ref)
            except Exception as exc:
                self._disable(name, exc, "resolve")
                continue
            if answer is None:
                continue
            if not (isinstance(answer, ResolvedPeer) and isinstance(answer.peer, Peer)
                    and is_input_peer(answer.input_peer)):
                self._disable(name, TypeError(f"answered {type(answer).__name__}, not a ResolvedPeer "
                                              "with a Peer and an InputPeer"), "resolve")
                continue
            return answer, name
        return None

    def _answered(self, ref: PeerRef, resolved: ResolvedPeer, source: str) -> ResolvedPeer:
        """Count who answered, remember it for :meth:`from_resolver`, teach every resolver."""
        self.answered_by[source] = self.answered_by.get(source, 0) + 1
        self.source_of[resolved.peer.id] = source
        self.learn(ref, resolved)
        return resolved

    def from_resolver(self, resolved: ResolvedPeer) -> bool:
        """Whether a resolver (a cache), not Telegram, gave this answer: it may be stale."""
        return self.source_of.get(resolved.peer.id, "network") != "network"

    async def refresh(self, chat: PeerRef | str) -> ResolvedPeer:
        """Ask Telegram again, past every resolver, and teach them the answer: for when a
        resolver's answer turned out stale (a username that moved, a chat gone since)."""
        ref = parse_chat(chat) if isinstance(chat, str) else chat
        self.resolutions += 1
        return self._answered(ref, await self.network.resolve(ref), "network")

    async def fetch(self, ref: PeerRef | None, resolved: ResolvedPeer, fetch: ChatFetch[T],
                    adopt: Callable[[ResolvedPeer, bool], None]) -> T:
        """``fetch`` a resolved chat; when the resolution came from a resolver (a cache) and
        turns out stale — the chat is gone, or its first page shows the username now belongs to
        another chat — ask Telegram again and fetch what it answers.

        ``fetch(resolved, on_chat, pages)`` fetches; ``on_chat`` checks the chat's peer as its
        first page shows it (it raises :class:`StaleResolution`), ``pages`` collects how many
        pages each attempt got. ``adopt(fresh, moved)`` records a fresh resolution before it is
        fetched (``moved``: another chat than the cached one); it may refuse by raising.
        """
        cached = ref is not None and self.from_resolver(resolved)
        pages: list[int] = []
        try:
            return await fetch(resolved, username_check(ref) if cached and ref is not None else None, pages)
        except (ChatNotFound, StaleResolution) as exc:
            if not cached or (isinstance(exc, ChatNotFound) and pages and pages[0] > 0):
                raise  # not from a cache, or gone after pages came: the chat changed, not the cache
            stale: BaseException = exc
        assert ref is not None
        fresh = await self.refresh(ref)  # unknown now: ChatNotFound, the right error
        if fresh.peer.id == resolved.peer.id and isinstance(stale, ChatNotFound):
            raise stale
        adopt(fresh, fresh.peer.id != resolved.peer.id)
        return await fetch(fresh, None, [])

    def learn(self, ref: PeerRef, resolved: ResolvedPeer) -> None:
        """Teach every active resolver a resolution (also usable for peers met while fetching)."""
        for name, resolver in self._resolvers:
            if name in self._disabled:
                continue
            try:
                resolver.learn(ref, resolved)
            except Exception as exc:
                self._disable(name, exc, "learn")

    def stats(self) -> dict[str, Mapping[str, int | float]]:
        """Per-resolver stats (``hits``, ``misses``, ... as each reports), plus ``network`` and
        ``chain`` (``resolutions`` and how many each source answered)."""
        out: dict[str, Mapping[str, int | float]] = {}
        for name, resolver in self._resolvers:
            if name in self._disabled:
                out[name] = {"disabled": 1}
                continue
            try:
                out[name] = dict(resolver.stats())
            except Exception as exc:
                self._disable(name, exc, "stats")
                out[name] = {"disabled": 1}
        out["network"] = self.network.stats()
        out["chain"] = {"resolutions": self.resolutions,
                        **{f"answered_by_{k}": v for k, v in sorted(self.answered_by.items())}}
        return out

    def close(self) -> None:
        """Close every resolver (they persist here); idempotent; failures are warnings."""
        if self._closed:
            return
        self._closed = True
        for name, resolver in self._resolvers:
            if name in self._disabled:  # it failed earlier: do not let it persist a bad state
                continue
            try:
                resolver.close()
            except Exception as exc:
                self._warn(f"peer resolver '{name}' failed to close: {type(exc).__name__}: {exc}")


class StaleResolution(Exception):
    """The chat's first page shows a username other than the one the cache resolved."""


def username_check(ref: PeerRef) -> Callable[[Peer], None] | None:
    """For a chat named by username: a check of the chat's current peer (from its first page)
    that raises :class:`StaleResolution` when the username is not (or no longer) its own."""
    if ref.kind != "username":
        return None  # ids and `me`: a stale access hash fails the first request instead
    wanted = str(ref.value).lower()

    def check(peer: Peer) -> None:
        if (peer.username or "").lower() != wanted:
            raise StaleResolution(f"@{wanted} resolved from the cache to {peer.id}, now @{peer.username}")

    return check


__all__ = [
    "ACCEPTED_FORMS", "ChatFetch", "NetworkResolver", "PeerResolution", "ResolveBudget", "StaleResolution",
    "describe_ref",
    "is_input_peer", "map_telethon_error", "parse_chat", "peer_from_entity", "username_check",
]
