"""CHAT parsing and the peer resolution chain (resolvers first, Telegram last, broadcast learn)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telethon import errors, functions, types
from tgx.errors import AuthError, ChatNotFound, ExitCode, NetworkError, UsageError
from tgx.model import Peer
from tgx.specs import PeerRef, ResolvedPeer
from tgx.telegram.peers import PeerResolution, describe_ref, parse_chat, peer_from_entity

# -- parse_chat --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("arg", "kind", "value", "message_id"), [
    ("@durov", "username", "durov", None),
    ("durov", "username", "durov", None),
    ("  @Durov_Channel ", "username", "Durov_Channel", None),
    ("https://t.me/durov", "username", "durov", None),
    ("http://t.me/durov/", "username", "durov", None),
    ("t.me/durov/123", "username", "durov", 123),
    ("https://t.me/durov/123?single", "username", "durov", 123),
    ("https://telegram.me/durov", "username", "durov", None),
    ("https://www.t.me/durov", "username", "durov", None),
    ("https://t.me/s/durov", "username", "durov", None),
    ("https://t.me/pythonforum/45/678", "username", "pythonforum", 678),
    ("https://durov.t.me", "username", "durov", None),
    ("https://t.me/c/1234567890/55", "id", -1001234567890, 55),
    ("https://t.me/c/1234567890/7/55", "id", -1001234567890, 55),
    ("t.me/c/1234567890", "id", -1001234567890, None),
    ("tg://resolve?domain=durov&post=9", "username", "durov", 9),
    ("tg://privatepost?channel=1234567890&post=3", "id", -1001234567890, 3),
    ("-1001234567890", "id", -1001234567890, None),
    ("-123456", "id", -123456, None),
    ("777000", "id", 777000, None),
    ("me", "me", "me", None),
    ("SELF", "me", "me", None),
    ("+49 151 2345678", "phone", "+491512345678", None),
    ("https://t.me/+491512345678", "phone", "+491512345678", None),
])
def test_parse_chat_accepts(arg: str, kind: str, value: Any, message_id: int | None) -> None:
    ref = parse_chat(arg)
    assert (ref.kind, ref.value, ref.message_id) == (kind, value, message_id)
    assert ref.raw == arg


@pytest.mark.parametrize("arg", [
    "", "   ", "@", "@a", "a", "hello world", "@bad-name", "1abc", "0",
    "https://example.com/durov", "https://t.me/", "https://t.me/durov/abc",
    "https://t.me/durov/1/2/3", "https://t.me/c/abc/1", "https://t.me/addstickers/pack",
    "ftp://t.me/durov", "tg://settings", "+12",
])
def test_parse_chat_rejects_malformed(arg: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_chat(arg)
    message = str(info.value)
    assert "\n" not in message
    assert info.value.exit_code == ExitCode.USAGE
    if arg.strip():
        assert repr(arg) in message or "CHAT" in message
    assert "@username" in message  # names the accepted forms


@pytest.mark.parametrize("arg", [
    "https://t.me/+AbCdEfGh12345", "t.me/joinchat/AbCdEf", "tg://join?invite=AbCdEf",
])
def test_invite_links_are_a_clear_usage_error(arg: str) -> None:
    with pytest.raises(UsageError, match="invite links are not supported.*join the chat"):
        parse_chat(arg)


def test_describe_ref_never_shows_a_phone_number() -> None:
    ref = parse_chat("+491512345678")
    assert "491512345678" not in describe_ref(ref)
    assert describe_ref(parse_chat("@durov")) == "@durov"
    assert describe_ref(parse_chat("-1001")) == "-1001"


# -- peer_from_entity --------------------------------------------------------------------------------


def test_peer_from_entity_kinds() -> None:
    user = types.User(id=5, first_name="Ada", last_name="Lovelace", username="ada", access_hash=1)
    bot = types.User(id=6, first_name="Helper", bot=True, access_hash=2)
    me = types.User(id=7, first_name="Me", is_self=True, access_hash=3)
    deleted = types.User(id=8, deleted=True, access_hash=4)
    channel = types.Channel(id=100, title="News", photo=types.ChatPhotoEmpty(), date=None,
                            access_hash=9, username="news", broadcast=True)
    forum = types.Channel(id=101, title="Forum", photo=types.ChatPhotoEmpty(), date=None,
                          access_hash=10, megagroup=True, forum=True,
                          usernames=[types.Username("old_forum"), types.Username("forum_x", active=True)])
    group = types.Chat(id=200, title="Family", photo=types.ChatPhotoEmpty(), participants_count=3,
                       date=None, version=1)
    assert peer_from_entity(user) == Peer(5, "user", "Ada Lovelace", "ada", "Ada", "Lovelace")
    assert peer_from_entity(bot).kind == "bot"
    assert peer_from_entity(me).kind == "self"
    assert peer_from_entity(deleted).deleted and peer_from_entity(deleted).title == "Deleted Account"
    assert peer_from_entity(channel) == Peer(-1000000000100, "channel", "News", "news")
    p = peer_from_entity(forum)
    assert (p.kind, p.forum, p.username) == ("supergroup", True, "forum_x")
    assert peer_from_entity(group) == Peer(-200, "group", "Family")


# -- the chain ---------------------------------------------------------------------------------------


CHANNEL = types.Channel(id=1234567890, title="News", photo=types.ChatPhotoEmpty(), date=None,
                        access_hash=42, username="news", broadcast=True)
ME = types.User(id=7, first_name="Me", is_self=True, access_hash=3, username="myself")


class FakeTelethon:
    """Just enough of a Telethon client for the network resolver (real TL objects and errors)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.entities = {1234567890: CHANNEL}
        self.usernames = {"news": CHANNEL}
        self.dialog_entities: dict[int, Any] = {}
        self.fail: BaseException | None = None

    async def __call__(self, request: Any) -> Any:
        self.calls.append(type(request).__name__)
        if self.fail is not None:
            raise self.fail
        assert isinstance(request, functions.contacts.ResolveUsernameRequest)
        entity = self.usernames.get(request.username.lower())
        if entity is None:
            raise errors.UsernameNotOccupiedError(request=request)
        return types.contacts.ResolvedPeer(peer=types.PeerChannel(entity.id), chats=[entity], users=[])

    async def get_me(self) -> Any:
        self.calls.append("get_me")
        return ME

    async def get_input_entity(self, peer: Any) -> Any:
        self.calls.append("get_input_entity")
        if peer == -1001234567890 and 1234567890 in self.entities:
            return types.InputPeerChannel(1234567890, 42)
        if isinstance(peer, int) and peer in self.dialog_entities:
            return self.dialog_entities[peer]
        raise ValueError(f"Could not find the input entity for {peer!r}")

    async def get_entity(self, peer: Any) -> Any:
        self.calls.append("get_entity")
        if isinstance(peer, types.InputPeerChannel):
            return self.entities[peer.channel_id]
        raise ValueError("unknown")

    async def get_dialogs(self, limit: Any = None) -> list[Any]:
        self.calls.append("get_dialogs")
        return []


class DictResolver:
    """A resolver plugin stand-in: answers from a dict, records what it learned."""

    def __init__(self, answers: dict[str, ResolvedPeer] | None = None, *, broken: str = "") -> None:
        self.answers = answers or {}
        self.learned: list[tuple[PeerRef, ResolvedPeer]] = []
        self.broken = broken
        self.closed = False

    async def resolve(self, ref: PeerRef) -> ResolvedPeer | None:
        if self.broken == "resolve":
            raise RuntimeError("boom")
        return self.answers.get(str(ref.value))

    def learn(self, ref: PeerRef, resolved: ResolvedPeer) -> None:
        if self.broken == "learn":
            raise RuntimeError("boom in learn")
        self.learned.append((ref, resolved))

    def stats(self) -> dict[str, int]:
        return {"learned": len(self.learned)}

    def close(self) -> None:
        self.closed = True


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_network_resolves_username_and_broadcasts_to_every_resolver() -> None:
    client = FakeTelethon()
    first, second = DictResolver(), DictResolver()
    chain = PeerResolution(client, [("first", first), ("second", second)], warn=pytest.fail)
    resolved = run(chain.resolve("@News"))
    assert resolved.peer == Peer(-1001234567890, "channel", "News", "news")
    assert resolved.input_peer == types.InputPeerChannel(1234567890, 42)
    assert client.calls == ["ResolveUsernameRequest"]
    assert [r.value for r, _ in first.learned] == ["News"] == [r.value for r, _ in second.learned]
    assert chain.stats()["network"]["requests"] == 1
    assert chain.stats()["chain"]["answered_by_network"] == 1


def test_first_resolver_that_answers_wins_and_no_request_is_made() -> None:
    client = FakeTelethon()
    answer = ResolvedPeer(Peer(-1001234567890, "channel", "Cached"), types.InputPeerChannel(1234567890, 42))
    low, high = DictResolver({"news": answer}), DictResolver()
    chain = PeerResolution(client, [("high", high), ("low", low)], warn=pytest.fail)
    assert run(chain.resolve("news")).peer.title == "Cached"
    assert client.calls == []
    assert len(high.learned) == 1 and len(low.learned) == 1  # broadcast includes the answerer
    assert chain.stats()["chain"]["answered_by_low"] == 1


@pytest.mark.parametrize("broken", ["resolve", "learn"])
def test_a_resolver_that_raises_is_disabled_with_one_warning(broken: str) -> None:
    warnings: list[str] = []
    bad, good = DictResolver(broken=broken), DictResolver()
    chain = PeerResolution(FakeTelethon(), [("bad", bad), ("good", good)], warn=warnings.append)
    assert run(chain.resolve("@news")).peer.username == "news"
    assert run(chain.resolve("@news")).peer.username == "news"
    assert len(warnings) == 1 and "'bad'" in warnings[0] and "disabled for this run" in warnings[0]
    assert len(good.learned) == 2
    assert chain.resolver_names == ["good"]
    chain.close()
    assert good.closed and not bad.closed


def test_a_resolver_answering_garbage_is_disabled() -> None:
    warnings: list[str] = []
    liar = DictResolver({"news": "not a resolved peer"})  # type: ignore[dict-item]
    chain = PeerResolution(FakeTelethon(), [("liar", liar)], warn=warnings.append)
    assert run(chain.resolve("news")).peer.title == "News"
    assert "'liar'" in warnings[0]


def test_me_and_ids() -> None:
    client = FakeTelethon()
    chain = PeerResolution(client, [], warn=pytest.fail)
    me = run(chain.resolve("me"))
    assert me.peer.kind == "self" and me.input_peer == types.InputPeerSelf()
    by_link = run(chain.resolve("https://t.me/c/1234567890/5"))
    assert by_link.peer.id == -1001234567890


def test_unknown_id_loads_dialogs_once_then_is_chat_not_found() -> None:
    client = FakeTelethon()
    chain = PeerResolution(client, [], warn=pytest.fail)
    with pytest.raises(ChatNotFound, match=r"chat -1009999 not found: this account knows no chat") as info:
        run(chain.resolve("-1009999"))
    assert info.value.exit_code == ExitCode.NOT_FOUND
    assert client.calls.count("get_dialogs") == 1


@pytest.mark.parametrize(("error", "expected", "pattern"), [
    (errors.UsernameNotOccupiedError(request=None), ChatNotFound, "chat @ghost not found: no user or chat"),
    (errors.UsernameInvalidError(request=None), ChatNotFound, "chat @ghost not found: .*invalid"),
    (errors.ChannelPrivateError(request=None), ChatNotFound, "chat @ghost not found: the channel is private"),
    (errors.FloodWaitError(request=None, capture=900), NetworkError, "wait 900 s"),
    (errors.AuthKeyUnregisteredError(request=None), AuthError, "not logged in"),
    (ConnectionError("reset"), NetworkError, "connection to Telegram failed"),
    (ValueError("Request was unsuccessful 5 time(s)"), NetworkError, "kept refusing"),
])
def test_telethon_errors_become_one_line_tgx_errors(error: BaseException, expected: type,
                                                    pattern: str) -> None:
    client = FakeTelethon()
    client.fail = error
    with pytest.raises(expected, match=pattern) as info:
        run(PeerResolution(client, []).resolve("@ghost"))
    assert "\n" not in str(info.value)


def test_from_plugins_uses_registered_resolvers_in_priority_order(tmp_path: Any) -> None:
    import tgx
    from tgx.config import Config
    from tgx.host.manager import get_plugin_manager
    from tgx.specs import PeerResolverSpec

    made: list[str] = []

    class Plugin:
        @tgx.hookimpl
        def tgx_register_peer_resolvers(self, config: Config) -> list[PeerResolverSpec]:
            def factory(name: str) -> Any:
                def build(context: Any) -> DictResolver:
                    assert context.state_dir == tmp_path
                    made.append(name)
                    return DictResolver()
                return build
            return [PeerResolverSpec("low", 1, factory("low")),
                    PeerResolverSpec("high", 500, factory("high"))]

    config = Config(env={}, disable=["peer_cache"])
    pm = get_plugin_manager(config, load_entrypoints=False, warn=lambda m: None)
    pm.register(Plugin(), name="resolvers")
    chain = PeerResolution.from_plugins(pm, FakeTelethon(), tmp_path, warn=pytest.fail)
    assert chain.resolver_names == ["high", "low"]
    assert made == ["high", "low"]


# -- end to end: Telethon's real client against the simulated Telegram ----------------------------------


def test_network_resolution_against_the_simulated_telegram() -> None:
    from tgx.testing import SimulatedTelegram

    world = SimulatedTelegram(seed=1)

    async def scenario() -> dict[str, Any]:
        client = world.client()
        await client.connect()
        try:
            chain = PeerResolution(client, [], warn=pytest.fail)
            out: dict[str, Any] = {}
            for arg in ("@tgx_demo", "https://t.me/c/1700000002/5", "@TGX_FORUM", "me", "@alice",
                        "-4100000004"):
                out[arg] = (await chain.resolve(arg)).peer
            for arg in ("@nosuchuser_x", "-1009999999"):
                with pytest.raises(ChatNotFound, match=f"chat {arg} not found"):
                    await chain.resolve(arg)
            return out
        finally:
            await client.disconnect()

    peers = asyncio.run(scenario())
    assert peers["@tgx_demo"] == peers["https://t.me/c/1700000002/5"]
    assert (peers["@tgx_demo"].id, peers["@tgx_demo"].kind) == (-1001700000002, "channel")
    assert (peers["@TGX_FORUM"].kind, peers["@TGX_FORUM"].forum) == ("supergroup", True)
    assert peers["me"].kind == "self"
    assert (peers["@alice"].kind, peers["@alice"].username) == ("user", "alice")
    assert (peers["-4100000004"].kind, peers["-4100000004"].title) == ("group", "tgx basic group")


def test_ids_resolved_at_once_share_one_dialog_load() -> None:
    """Two chats named by id, resolved concurrently (as tgx export does), both known only from
    the dialog list: both wait for the one load instead of the second giving up meanwhile."""
    other = types.Channel(id=222, title="Other", photo=types.ChatPhotoEmpty(), date=None, access_hash=7)
    third = types.Channel(id=333, title="Third", photo=types.ChatPhotoEmpty(), date=None, access_hash=9)

    class SlowDialogs(FakeTelethon):
        async def get_dialogs(self, limit: Any = None) -> list[Any]:
            self.calls.append("get_dialogs")
            await asyncio.sleep(0.05)  # the dialog list takes a few round trips
            self.entities.update({222: other, 333: third})
            self.dialog_entities.update({-1000000000222: types.InputPeerChannel(222, 7),
                                         -1000000000333: types.InputPeerChannel(333, 9)})
            return []

    client = SlowDialogs()
    chain = PeerResolution(client, [], warn=pytest.fail)

    async def both() -> list[Any]:
        return list(await asyncio.gather(chain.resolve("-1000000000222"), chain.resolve("-1000000000333")))

    answers = run(both())
    assert [a.peer.title for a in answers] == ["Other", "Third"]
    assert client.calls.count("get_dialogs") == 1
