"""The ``jsonl`` format: messages.jsonl is the archive's own records, one per line, in id order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import tgx_jsonl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tgx.archive.store import Archive
from tgx.fetch.normalize import convert_message, convert_peer
from tgx.model import Action, Entity, Forward, Media, Message, Peer, Reaction
from tgx.render.engine import render_chat
from tgx.specs import FormatSpec
from tgx.testing import SimulatedTelegram

CHAT = -1000000000042
T0 = datetime(2024, 1, 1, tzinfo=UTC)
JSONL = tgx_jsonl.tgx_register_formats()

KEYS = ["id", "chat_id", "date", "edit_date", "sender_id", "text", "entities", "reply_to_id",
        "reply_to_peer_id", "reply_to_top_id",
        "forward", "media", "action", "reactions", "views", "forwards", "replies", "replies_max_id", "grouped_id",
        "topic_id",
        "post_author", "via_bot_id", "out", "pinned", "deleted"]


def rich_messages() -> list[Message]:
    d = lambda i: T0 + timedelta(minutes=i)  # noqa: E731
    return [
        Message(CHAT, 1, d(1), "plain", sender_id=5),
        Message(CHAT, 2, d(2), "🙂 bold 𝔘 link", entities=[
            Entity("bold", 3, 4), Entity("italic", 8, 2), Entity("text_link", 11, 4, url="https://e.x/?q=1&b"),
            Entity("pre", 0, 2, language="py"), Entity("mention_name", 0, 1, user_id=5),
            Entity("custom_emoji", 0, 2, document_id=2**62)], sender_id=5, edit_date=d(100)),
        Message(CHAT, 3, d(3), "reply in topic", reply_to_id=2, topic_id=2, sender_id=-1000000000009,
                reply_to_peer_id=-1000000000010),
        Message(CHAT, 4, d(4), "", forward=Forward(from_id=-1000000000001, date=d(-5), channel_post=12,
                                                   post_author="Ed", saved_from_peer=3, saved_from_msg_id=4),
                media=Media("video", id=-(2**63), dc_id=4, file_name="a b.mp4", mime_type="video/mp4",
                            size=10**10, width=1920, height=1080, duration=12.25, spoiler=True,
                            path="media/video/a b.mp4", thumbnail_path="media/thumbs/a.jpg")),
        Message(CHAT, 5, d(5), "", action=Action("invite_members", {"members": [1, 2]}), sender_id=1),
        Message(CHAT, 6, d(6), "poll", media=Media("poll", id=8, extra={
            "question": "Q?", "closed": False, "total_voters": 3,
            "answers": [{"text": "A", "voters": 3, "chosen": True}]}),
            reactions=[Reaction("emoji", 3, emoji="❤️", chosen=True),
                       Reaction("custom_emoji", 1, document_id=9),
                       Reaction("paid", 50)], views=1000, forwards=3, replies=7, grouped_id=-99,
            post_author="Editor", via_bot_id=77, out=True, pinned=True),
        Message(CHAT, 7, d(7), 'quotes " and \\ and \n newlines\u2028and\tcontrol\x01', deleted=True,
                deleted_at=d(50)),
        Message(CHAT, 9, d(9), "", media=Media("geo", extra={"latitude": 52.5, "longitude": 13.4})),
    ]


def render(tmp_path: Path, messages: list[Message]) -> Path:
    with Archive.open(tmp_path) as a:
        a.set_chat(Peer(CHAT, "channel", "News", "news"))
        a.upsert_batch(CHAT, messages)
        a.mark_deleted(CHAT, [m.id for m in messages if m.deleted])
        result = render_chat(a, CHAT, tmp_path, {"jsonl": JSONL}, batch_size=3)
        assert result.ok, result.formats
    return tmp_path / "news" / "messages.jsonl"


def test_registered_spec():
    assert JSONL.name == "jsonl" and JSONL.description


def test_round_trip_rich_messages(tmp_path: Path):
    messages = rich_messages()
    path = render(tmp_path, messages)
    data = path.read_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == len(messages)
    lines = data.split(b"\n")[:-1]
    back = [Message.from_dict(orjson.loads(line)) for line in lines]
    assert back == messages
    # stdlib json reads it too, and every key is present, in the contract's order
    first = json.loads(lines[0])
    assert list(first) == KEYS
    assert first["date"] == "2024-01-01T00:01:00+00:00" and first["edit_date"] is None
    assert [json.loads(line)["id"] for line in lines] == [1, 2, 3, 4, 5, 6, 7, 9]
    assert "🙂".encode() in data  # UTF-8, not \u escapes


def test_lines_are_in_id_order_whatever_the_insert_order(tmp_path: Path):
    messages = rich_messages()
    path = render(tmp_path, list(reversed(messages)))
    ids = [orjson.loads(line)["id"] for line in path.read_bytes().splitlines()]
    assert ids == sorted(ids)


def test_each_batch_is_one_write(tmp_path: Path):
    writes = []

    class Ctx:
        chat = Peer(CHAT, "channel", "N")
        chat_dir = tmp_path
        options: dict = {}
        message_count = 0

        def open(self, relpath, mode="w"):
            assert (relpath, mode) == ("messages.jsonl", "wb")

            class F:
                def write(self, b):
                    writes.append(b)

            return F()

    w = tgx_jsonl.JsonlWriter(Ctx())
    w.open()
    w.write(rich_messages()[:3])
    w.write(rich_messages()[3:])
    w.close()
    assert len(writes) == 2 and writes[0].count(b"\n") == 3


# Text of any Unicode scalar value: astral characters are surrogate *pairs* in UTF-16 (Telegram's
# offsets count those), lone surrogates are not valid text and never come from Telegram.
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
small = st.integers(min_value=0, max_value=2**31 - 1)
ids = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@st.composite
def messages(draw, message_id):
    text = draw(texts)
    entities = draw(st.lists(st.builds(
        Entity, st.sampled_from(["bold", "italic", "text_link", "code", "pre"]), small, small,
        st.none() | texts, st.none() | ids, st.none() | texts, st.none() | ids), max_size=3))
    media = draw(st.none() | st.builds(
        Media, st.sampled_from(["photo", "document", "voice"]), st.none() | ids, st.none() | small,
        st.none() | texts, st.none() | texts, st.none() | small, st.none() | small, st.none() | small,
        st.none() | st.floats(allow_nan=False, allow_infinity=False, width=32)))
    return Message(CHAT, message_id, T0 + timedelta(seconds=draw(small)), text, entities,
                   sender_id=draw(st.none() | ids), media=media, views=draw(st.none() | small),
                   post_author=draw(st.none() | texts))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_round_trip_arbitrary_unicode(tmp_path_factory: pytest.TempPathFactory, data):
    count = data.draw(st.integers(min_value=1, max_value=8))
    msgs = [data.draw(messages(i + 1)) for i in range(count)]
    out = tmp_path_factory.mktemp("jsonl")
    path = render(out, msgs)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == count + 1
    assert [Message.from_dict(orjson.loads(line)) for line in lines[:-1]] == msgs
    for line, m in zip(lines, msgs, strict=False):
        assert orjson.loads(line)["text"].encode("utf-16-le") == m.text.encode("utf-16-le")


# ---------------------------------------------------------------------------------------------
# the engine's records path (write_records) writes what write() writes, from a varied archive


class MessagesOnlyJsonl(tgx_jsonl.JsonlWriter):
    """The jsonl writer without its fast path: the engine must hand it Messages."""

    write_records = None


MESSAGES_ONLY = FormatSpec("jsonl", MessagesOnlyJsonl, "jsonl through write()")


def demo_archive(out: Path, sim_run, *, downloaded: bool) -> tuple[Archive, Peer, list[Message]]:
    """The simulated @tgx_demo (every message kind, fetched through Telethon) in a real archive,
    with a few rows flagged deleted after the fact and, if ``downloaded``, some files recorded in
    the media index (one of this chat's, one another chat downloaded first, one failed)."""
    world = SimulatedTelegram(seed=5, messages=120)

    async def fetch(client):
        entity = await client.get_entity("tgx_demo")
        return convert_peer(entity), [m async for m in client.iter_messages(entity, wait_time=0)]

    chat, raw = sim_run(fetch, world=world)
    messages = sorted((m for m in (convert_message(r, chat.id) for r in raw) if m is not None),
                      key=lambda m: m.id)
    archive = Archive.open(out)
    archive.set_chat(chat)
    archive.upsert_batch(chat.id, messages)
    files = [m for m in messages if m.media is not None and m.media.is_file]
    plain = [m for m in messages if m.media is None]
    # deleted: a plain message, a message with a (downloaded, if any) file, the last message
    gone = {plain[0].id, files[0].id, messages[-1].id}
    assert archive.mark_deleted(chat.id, gone) == 3
    if downloaded:
        archive.set_media(files[0].media.id, f"{chat.folder_name}/media/a.jpg", size=1)
        archive.set_media(files[1].media.id, "-77/media/b.mp4", size=1)
        archive.set_media(files[2].media.id, f"{chat.folder_name}/media/c.pdf", status="failed")
    return archive, chat, messages


def expected_jsonl(chat: Peer, messages: list[Message], gone: dict[int, datetime], paths: dict[int, str]) -> bytes:
    """The file computed by hand: the deleted flags (and when), the chat-relative media paths applied."""
    lines = []
    for m in messages:
        m = Message.from_dict(m.to_dict())  # a copy
        m.deleted = m.id in gone
        m.deleted_at = gone.get(m.id)
        if m.media is not None and m.media.id in paths:
            m.media.path = paths[m.media.id]
        lines.append(orjson.dumps(m.to_dict()) + b"\n")
    return b"".join(lines)


@pytest.mark.parametrize("downloaded", [False, True], ids=["no-media-files", "media-files"])
def test_records_path_is_byte_identical_to_write(tmp_path: Path, sim_run, downloaded: bool):
    archive, chat, messages = demo_archive(tmp_path / "src", sim_run, downloaded=downloaded)
    with archive:
        kinds = {m.media.kind for m in messages if m.media is not None}
        assert {"photo", "video", "document", "poll", "sticker"} <= kinds  # the fixture is varied
        assert any(m.forward for m in messages) and any(m.action for m in messages)
        assert any(m.entities for m in messages) and any(m.reactions for m in messages)
        fast = render_chat(archive, chat.id, tmp_path / "fast", {"jsonl": JSONL}, batch_size=7)
        slow = render_chat(archive, chat.id, tmp_path / "slow", {"jsonl": MESSAGES_ONLY}, batch_size=7)
        assert fast.ok and slow.ok, (fast.errors, slow.errors)
        gone = {m.id: archive.message(chat.id, m.id).deleted_at for m in messages
                if archive.message(chat.id, m.id).deleted}
        assert all(gone.values())  # mark_deleted stamped them
    got = (fast.chat_dir / "messages.jsonl").read_bytes()
    assert got == (slow.chat_dir / "messages.jsonl").read_bytes()

    files = [m for m in messages if m.media is not None and m.media.is_file]
    paths = {files[0].media.id: "media/a.jpg", files[1].media.id: "../-77/media/b.mp4"} if downloaded else {}
    assert got == expected_jsonl(chat, messages, gone, paths)
    lines = {d["id"]: d for d in map(orjson.loads, got.splitlines())}
    assert sorted(d["id"] for d in lines.values() if d["deleted"]) == sorted(gone) and len(gone) == 3
    assert lines[files[0].id]["deleted"] is True
    if downloaded:
        assert lines[files[0].id]["media"]["path"] == "media/a.jpg"
        assert lines[files[1].id]["media"]["path"] == "../-77/media/b.mp4"
    assert lines[files[2].id]["media"]["path"] is None  # failed download: no link


def test_jsonl_alone_decodes_only_the_rows_it_must_fix(tmp_path: Path, sim_run, monkeypatch):
    """``--format jsonl`` copies stored records: without downloaded files, only the rows
    flagged deleted are decoded (to put ``deleted``/``deleted_at`` in: the archive's exact
    records); a writer that takes messages gets every row decoded."""
    import tgx.archive.store as store

    archive, chat, messages = demo_archive(tmp_path / "src", sim_run, downloaded=False)
    decoded: list[int] = []
    real = Message.from_dict.__func__
    real_exact = store.exact_record

    def counting(cls, d):
        decoded.append(d["id"])
        return real(cls, d)

    def exact(record, *args):
        fixed.append(orjson.loads(record)["id"])
        return real_exact(record, *args)

    fixed: list[int] = []
    monkeypatch.setattr(Message, "from_dict", classmethod(counting))
    monkeypatch.setattr(store, "exact_record", exact)
    with archive:
        render_chat(archive, chat.id, tmp_path / "a", {"jsonl": JSONL}, batch_size=50)
        assert len(fixed) == 3 and decoded == []  # the three deleted rows, and no message built
        decoded.clear()
        render_chat(archive, chat.id, tmp_path / "b", {"jsonl": MESSAGES_ONLY}, batch_size=50)
        assert sorted(decoded) == [m.id for m in messages]


def test_write_records_writes_one_buffer_per_batch_and_nothing_for_none(tmp_path: Path):
    writes = []

    class Ctx:
        def open(self, relpath, mode="w"):
            class F:
                def write(self, b):
                    writes.append(bytes(b))

            return F()

    w = tgx_jsonl.JsonlWriter(Ctx())
    w.open()
    w.write_records([b'{"id":1}', b'{"id":2}'])
    w.write_records([])
    w.write_records([b'{"id":3}'])
    assert writes == [b'{"id":1}\n{"id":2}\n', b'{"id":3}\n']
