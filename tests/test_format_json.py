"""The ``json`` format: Telegram Desktop's ``result.json``, streamed.

Rendered two ways: directly with an in-memory context (tests/corpus/sample_chat.py), and
through the real engine from a real archive. Read back with ``json.load`` and checked the way
a tool written for Telegram Desktop exports would read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import tgx_json
from corpus.archived import render_archived
from corpus.hostile import FILE_NAMES, NAMES, TEXTS
from corpus.sample_chat import (
    ALICE,
    BOB,
    CHAT,
    CHAT_ID,
    PEERS,
    T0,
    MemoryContext,
    render,
    rss_growth,
    sample_messages,
    write_media,
)
from corpus.strategies import texts, texts_with_entities
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tgx.model import ENTITY_TYPES, Entity, Media, Message, Peer
from tgx.text import scrub_surrogates
from tgx_json.text import flat_parts
from tgx_json.writer import NOT_INCLUDED, JsonWriter

# Keys Telegram Desktop writes even when empty.
ALWAYS = {"text", "text_entities"}
# Keys whose null means "unknown name", as Telegram Desktop writes it.
NULLABLE = {"from", "actor", "forwarded_from", "saved_from", "inviter"}


def render_json(tmp_path: Path, messages: list[Message], chat: Peer = CHAT, batch: int = 100,
                peers: dict[int, Peer] | None = None) -> Path:
    ctx = MemoryContext(chat, tmp_path, messages, peers=peers)
    render(JsonWriter, ctx, messages, batch=batch)
    assert ctx.opened == ["result.json"]
    return tmp_path / "result.json"


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def by_id(data: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {m["id"]: m for m in data["messages"]}


def plain_text(value: Any) -> str:
    """How export readers flatten ``text``: a string, or a list of strings and {text} objects."""
    if isinstance(value, str):
        return value
    return "".join(part if isinstance(part, str) else part["text"] for part in value)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("json")
    path = render_json(out, sample_messages(), batch=7)
    return path, load(path)


def test_plugin_registers_json() -> None:
    spec = tgx_json.tgx_register_formats()
    assert spec.name == "json" and spec.options == ()
    assert isinstance(spec.factory(SimpleNamespace(options={})), JsonWriter)  # the writer, imported on first use


def test_root_is_telegram_desktops(sample: tuple[Path, dict[str, Any]]) -> None:
    _, data = sample
    assert list(data) == ["name", "type", "id", "messages"]
    assert data["name"] == "Test Group"
    assert data["type"] == "public_supergroup"
    assert data["id"] == 1234567890
    assert [m["id"] for m in data["messages"]] == [m.id for m in sample_messages() if not m.deleted]  # omitted


def test_file_is_exactly_one_space_indented_json(sample: tuple[Path, dict[str, Any]]) -> None:
    """Byte for byte what ``json.dump(indent=1, ensure_ascii=False)`` writes: Telegram Desktop's
    layout (one space per level, ``"key": value``), so line-based tools see the same shape."""
    path, data = sample
    assert path.read_text(encoding="utf-8") == json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def test_every_message_has_the_required_fields(sample: tuple[Path, dict[str, Any]]) -> None:
    _, data = sample
    for m in data["messages"]:
        assert list(m)[:4] == ["id", "type", "date", "date_unixtime"], m
        assert m["type"] in ("message", "service")
        assert isinstance(m["date_unixtime"], str) and m["date_unixtime"].isdigit()
        assert len(m["date"]) == 19 and m["date"][10] == "T"
        assert isinstance(m["text_entities"], list)
        assert plain_text(m["text"]) == "".join(e["text"] for e in m["text_entities"])
        for key, value in m.items():
            if key in ALWAYS:
                continue
            if value is None:
                assert key in NULLABLE, (m["id"], key)
            else:
                assert value not in ("", [], {}), (m["id"], key)


def test_dates_are_utc(sample: tuple[Path, dict[str, Any]]) -> None:
    _, data = sample
    first = data["messages"][0]
    assert first["date"] == T0.strftime("%Y-%m-%dT%H:%M:%S")
    assert first["date_unixtime"] == str(int(T0.timestamp()))


def test_text_and_entities(sample: tuple[Path, dict[str, Any]]) -> None:
    _, data = sample
    msgs = by_id(data)
    assert msgs[2]["text"] == "Hello, world!"
    assert msgs[2]["text_entities"] == [{"type": "plain", "text": "Hello, world!"}]
    rich = msgs[3]
    assert rich["text"][0] == {"type": "bold", "text": "Bold"}
    assert rich["text"][1] == " "
    types = [e["type"] for e in rich["text_entities"] if e["type"] != "plain"]
    assert types == ["bold", "italic", "text_link", "mention", "hashtag", "cashtag", "bot_command", "email",
                     "phone", "code"]
    link = next(e for e in rich["text_entities"] if e["type"] == "text_link")
    assert link == {"type": "text_link", "text": "link", "href": "https://example.com/?a=1&b=2"}
    # astral emoji before the entities: UTF-16 offsets sliced correctly
    assert [e["text"] for e in msgs[4]["text_entities"]] == ["\U0001F600 emoji then ", "bold", " and ",
                                                             "underlined"]
    assert msgs[5]["text_entities"] == [{"type": "pre", "text": "print('hi')\nprint(\"<b>\")",
                                         "language": "python"}]
    emoji = by_type(msgs[45], "custom_emoji")
    assert emoji == {"type": "custom_emoji", "text": "\U0001F525", "document_id": "5368324170671202286"}
    assert by_type(msgs[45], "mention_name") == {"type": "mention_name", "text": "custom", "user_id": BOB}
    assert msgs[1]["text"] == "" and msgs[1]["text_entities"] == []


def by_type(message: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(e for e in message["text_entities"] if e["type"] == kind)


def test_nested_entities_flatten_innermost_first() -> None:
    text = "nested: bold with italic inside"
    parts = flat_parts(text, [Entity("bold", 8, 23), Entity("italic", 18, 6)])
    assert [(k, t) for k, t, _ in parts] == [
        ("plain", "nested: "), ("bold", "bold with "), ("italic", "italic"), ("bold", " inside")]


def test_links_beat_formatting_when_they_overlap() -> None:
    """A bold message with a link inside keeps the link (Telegram Desktop would drop it)."""
    text = "all bold with a link"
    parts = flat_parts(text, [Entity("bold", 0, 20), Entity("text_link", 16, 4, url="https://x.org")])
    assert [(k, t) for k, t, _ in parts] == [("bold", "all bold with a "), ("text_link", "link")]
    # partial overlap: each run has one owner, the text is covered exactly once
    parts = flat_parts("abcdefgh", [Entity("italic", 0, 5), Entity("underline", 3, 5)])
    assert [(k, t) for k, t, _ in parts] == [("italic", "abcde"), ("underline", "fgh")]  # tie: earliest wins


def test_entities_out_of_range_or_inside_a_surrogate_pair() -> None:
    text = "\U0001F600x"  # UTF-16: D83D DE00 0078
    assert [(k, t) for k, t, _ in flat_parts(text, [Entity("bold", 1, 2)])] == [("plain", "\U0001F600"),
                                                                              ("bold", "x")]
    assert [(k, t) for k, t, _ in flat_parts(text, [Entity("bold", 0, 1)])] == [("bold", "\U0001F600"),
                                                                              ("plain", "x")]
    assert [(k, t) for k, t, _ in flat_parts(text, [Entity("bold", -5, 100)])] == [("bold", text)]
    assert [(k, t) for k, t, _ in flat_parts(text, [Entity("bold", 3, 0), Entity("code", 9, 4)])] == [
        ("plain", text)]


def test_senders_replies_forwards(sample: tuple[Path, dict[str, Any]]) -> None:
    _, data = sample
    msgs = by_id(data)
    assert msgs[2]["from"] == "Alice Liddell" and msgs[2]["from_id"] == f"user{ALICE}"
    assert msgs[8]["reply_to_message_id"] == 2 and "reply_to_peer_id" not in msgs[8]
    assert msgs[10]["reply_to_peer_id"] == "channel9999999999"
    assert msgs[11]["forwarded_from"] == "Other News"
    assert msgs[11]["forward_from_id"] == "channel9999999999"
    assert msgs[12]["forwarded_from"] == "Hidden Person" and "forward_from_id" not in msgs[12]
    assert msgs[13]["saved_from"] == "Other News"
    assert msgs[14]["edited"] == "2024-03-01T09:50:00" and msgs[14]["edited_unixtime"].isdigit()
    assert msgs[15]["via_bot"] == "@helperbot"
    assert msgs[42]["author"] == "Editor"
    # anonymous admins and channel posts: the chat speaks
    assert msgs[44]["from"] == "Test Group" and msgs[44]["from_id"] == "channel1234567890"


def test_media(sample: tuple[Path, dict[str, Any]]) -> None:
    _, data = sample
    msgs = by_id(data)
    assert {k: msgs[16][k] for k in ("photo", "photo_file_size", "width", "height")} == {
        "photo": "photos/photo_16.png", "photo_file_size": 3456, "width": 64, "height": 48}
    assert msgs[17]["photo"] == NOT_INCLUDED
    video = msgs[18]
    assert video["file"] == "video_files/clip.mp4" and video["file_name"] == "clip.mp4"
    assert video["thumbnail"] == "video_files/clip.mp4_thumb.png"
    assert (video["media_type"], video["mime_type"]) == ("video_file", "video/mp4")
    assert video["duration_seconds"] == 12
    assert msgs[19]["media_type"] == "voice_message"
    audio = msgs[20]
    assert (audio["media_type"], audio["performer"], audio["title"]) == ("audio_file", "Band", "Song")
    assert msgs[21]["media_type"] == "video_message"
    sticker = msgs[22]
    assert sticker["media_type"] == "sticker" and sticker["sticker_emoji"] == "\U0001F44D"
    assert "mime_type" not in sticker
    assert msgs[23]["media_type"] == "animation"
    assert "media_type" not in msgs[24] and msgs[24]["file_name"] == "report <final>.pdf"
    assert msgs[25]["file"] == NOT_INCLUDED
    assert msgs[49]["media_spoiler"] is True
    assert msgs[26]["poll"] == {"question": "Best colour?", "closed": True, "total_voters": 7, "answers": [
        {"text": "Red", "voters": 5, "chosen": True}, {"text": "Blue", "voters": 2, "chosen": False}]}
    assert msgs[27]["location_information"] == {"latitude": 51.5007, "longitude": -0.1246}
    assert (msgs[28]["place_name"], msgs[28]["address"]) == ("Big Ben", "London SW1A 0AA")
    assert msgs[29]["contact_information"] == {"first_name": "Dana", "last_name": "Scully",
                                               "phone_number": "+15550000000"}
    assert msgs[50]["live_location_period_seconds"] == 900
    assert (msgs[47]["game_title"], msgs[48]["invoice_information"]["amount"]) == ("Tetris", 1250)
    assert msgs[31]["dice"] == {"emoticon": "\U0001F3B2", "value": 4}


def test_downloaded_paths_resolve_from_the_json_folder(tmp_path: Path) -> None:
    messages = sample_messages()
    write_media(tmp_path, messages)
    data = load(render_json(tmp_path, messages))
    paths = [m[k] for m in data["messages"] for k in ("photo", "file", "thumbnail") if k in m]
    local = [p for p in paths if p != NOT_INCLUDED]
    assert len(local) >= 10
    for rel in local:
        assert (tmp_path / rel).is_file(), rel


def test_service_messages(sample: tuple[Path, dict[str, Any]]) -> None:
    _, data = sample
    msgs = by_id(data)
    create = msgs[1]
    assert create["type"] == "service" and "from" not in create
    assert (create["actor"], create["actor_id"], create["action"]) == ("Alice Liddell", f"user{ALICE}",
                                                                        "create_group")
    assert create["title"] == "Test Group" and create["members"] == ["Alice Liddell", "Bob"]
    assert msgs[36]["members"] == ["Carol \U0001F600 Danvers"]
    assert (msgs[37]["action"], msgs[37]["message_id"]) == ("pin_message", 2)
    assert msgs[38]["title"] == "Renamed <Group>"
    assert msgs[39]["duration_seconds"] == 65 and msgs[39]["discard_reason"] == "hangup"
    assert msgs[41]["action"] == "some_future_action" and msgs[41]["foo"] == "bar"


def test_reactions_and_tgx_keys(sample: tuple[Path, dict[str, Any]]) -> None:
    _, data = sample
    msgs = by_id(data)
    assert msgs[35]["reactions"] == [{"type": "emoji", "count": 3, "emoji": "\u2764\ufe0f"},
                                     {"type": "custom_emoji", "count": 2, "document_id": "555"},
                                     {"type": "paid", "count": 1}]
    assert (msgs[42]["views"], msgs[42]["forwards"], msgs[42]["topic_id"]) == (1234, 5, 40)
    assert msgs[32]["grouped_id"] == msgs[34]["grouped_id"] == 777
    assert 43 not in msgs and not any("tgx_deleted" in m for m in msgs.values())  # deleted: omitted


@pytest.mark.parametrize(("kind", "username", "expected"), [
    ("user", None, "personal_chat"), ("bot", "somebot", "bot_chat"), ("self", None, "saved_messages"),
    ("group", None, "private_group"), ("supergroup", None, "private_supergroup"),
    ("supergroup", "pub", "public_supergroup"), ("channel", None, "private_channel"),
    ("channel", "pub", "public_channel"),
])
def test_chat_types(tmp_path: Path, kind: str, username: str | None, expected: str) -> None:
    chat_id = {"user": 5, "bot": 6, "self": 7, "group": -55}.get(kind, -1000000000055)
    chat = Peer(chat_id, kind, "Chat Title", username)
    data = load(render_json(tmp_path, [], chat=chat))
    assert data["type"] == expected
    assert data["id"] == 55 if chat_id < 0 else chat_id
    assert ("name" in data) == (expected != "saved_messages")
    assert data["messages"] == []


def test_deterministic_and_independent_of_batch_size(tmp_path: Path) -> None:
    messages = sample_messages()
    outputs = set()
    for i, batch in enumerate((1, 7, 1000)):
        out = tmp_path / str(i)
        out.mkdir()
        outputs.add(render_json(out, messages, batch=batch).read_bytes())
    assert len(outputs) == 1


def test_hostile_strings_stay_valid_json(tmp_path: Path) -> None:
    peers = dict(PEERS)
    messages = []
    for i, text in enumerate(TEXTS + NAMES, start=1):
        sender = 10_000 + i
        peers[sender] = Peer(sender, "user", NAMES[i % len(NAMES)])
        name = FILE_NAMES[i % len(FILE_NAMES)]
        entities = [Entity("bold", 0, 3), Entity("text_link", 1, 4, url=text)]
        messages.append(Message(CHAT_ID, i, T0, text, entities, sender_id=sender,
                                media=Media("document", i, file_name=name or None)))
    data = load(render_json(tmp_path, messages, chat=Peer(CHAT_ID, "supergroup", NAMES[0]), peers=peers))
    assert data["name"] == NAMES[0]
    for msg, out in zip(messages, data["messages"], strict=True):
        assert plain_text(out["text"]) == scrub_surrogates(msg.text)
        assert out["from"] == (scrub_surrogates(peers[msg.sender_id].title) or None)


def test_through_the_real_engine_and_archive(tmp_path: Path) -> None:
    """Same bytes as the in-memory render: the engine's context changes nothing."""
    messages = sample_messages()
    result = render_archived(tmp_path, CHAT, messages, PEERS.values(), tgx_json.tgx_register_formats(),
                             batch_size=9)
    assert result.formats["json"].files == ["result.json"]
    engine_bytes = (tmp_path / CHAT.folder_name / "result.json").read_bytes()
    memory = tmp_path / "memory"
    memory.mkdir()
    assert engine_bytes == render_json(memory, messages).read_bytes()


def test_memory_stays_flat_while_streaming(tmp_path: Path) -> None:
    """60,000 messages: the writer keeps none of them (a writer that did would grow by >50 MiB)."""
    total, batch = 60_000, 1000

    def make(i: int) -> Message:
        return Message(CHAT_ID, i, T0, f"message {i} " + "x" * 200, [Entity("bold", 0, 7)], sender_id=ALICE,
                       media=Media("photo", i, size=10, path=f"photos/{i}.jpg") if i % 5 == 0 else None)

    ctx = MemoryContext(CHAT, tmp_path, count=total, lookup=lambda i: None, rank=lambda i: None)
    writer = JsonWriter(ctx)
    writer.open()
    grown = rss_growth(writer, make, total, batch, warmup=11)
    assert grown < 20 << 20, grown >> 20
    with (tmp_path / "result.json").open(encoding="utf-8") as fh:
        assert len(json.load(fh)["messages"]) == total


# ---------------------------------------------------------------------------------------------
# properties: any text, any entity offsets (incl. astral characters and lone surrogates)

_TEXT = texts(["\U0001F600", "\U0001D54F", "\n", "<", "&"], max_size=60)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sample=texts_with_entities(_TEXT, st.none() | st.text(max_size=8)))
def test_any_text_round_trips(tmp_path: Path, sample: tuple[str, list[Entity]]) -> None:
    text, entities = sample
    msg = Message(CHAT_ID, 1, T0, text, entities, sender_id=ALICE)
    data = load(render_json(tmp_path, [msg]))
    out = data["messages"][0]
    expected = scrub_surrogates(text)
    assert "".join(e["text"] for e in out["text_entities"]) == expected
    assert plain_text(out["text"]) == expected
    for part in out["text_entities"]:
        assert part["text"], part
        assert part["type"] in ENTITY_TYPES or part["type"] == "plain"
