"""The ``txt`` format, rendered through the real engine from a real archive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tgx_txt
from corpus.archived import message_maker, render_archived
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tgx.model import Action, Entity, Forward, Media, Message, Peer, Reaction

CHAT = Peer(-1001234567890, "supergroup", "Test Group", username="testgroup")
ALICE = Peer(11, "user", "Alice Liddell", first_name="Alice", last_name="Liddell")
BOB = Peer(22, "user", "Bob", username="bob")
NEWS = Peer(-1009999, "channel", "News Channel", username="news")
BOT = Peer(33, "bot", "Helper Bot", username="helperbot")
PEERS = [ALICE, BOB, NEWS, BOT]
T0 = datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)


def kitchen_sink() -> list[Message]:
    """One message of every kind the model has."""
    msg = message_maker(CHAT, T0, ALICE)
    text = "bold italic 😀 link @bob #tag code"
    entities = [Entity("bold", 0, 4), Entity("italic", 5, 6), Entity("text_link", 15, 4, url="https://x.org"),
                Entity("mention", 20, 4), Entity("hashtag", 25, 4), Entity("code", 30, 4)]
    return [
        msg(1, action=Action("create_group", {"title": "Test Group", "members": [ALICE.id, BOB.id]})),
        msg(2, text=text, entities=entities),
        msg(3, text="first line\r\nsecond line\n\nfourth", sender_id=BOB.id, reply_to_id=2),
        msg(4, text="forwarded", forward=Forward(from_id=NEWS.id, date=T0, channel_post=7)),
        msg(5, text="hidden", forward=Forward(from_name="Someone Hidden")),
        msg(6, media=Media("photo", 501, size=1000, path="media/501.jpg"), grouped_id=99),
        msg(7, media=Media("photo", 502, size=2000), grouped_id=99, text="album caption"),
        msg(8, media=Media("document", 503, file_name="report.pdf", size=12345, path="media/503-report.pdf")),
        msg(9, media=Media("poll", 504, extra={"question": "Lunch?", "answers": [
            {"text": "Pizza", "voters": 3}, {"text": "Soup", "voters": 1}], "total_voters": 4})),
        msg(10, media=Media("geo", extra={"latitude": 52.5, "longitude": 13.4})),
        msg(11, media=Media("venue", title="Cafe", extra={"latitude": 1.5, "longitude": 2.5, "title": "Cafe",
                                                          "address": "Main St 1"})),
        msg(12, media=Media("contact", extra={"first_name": "Carol", "last_name": "C",
                                              "phone_number": "+100"})),
        msg(13, text="see https://e.org",
            media=Media("webpage", extra={"url": "https://e.org", "title": "E"})),
        msg(14, media=Media("dice", emoji="🎲", extra={"emoticon": "🎲", "value": 5})),
        msg(15, text="+1", reactions=[Reaction("emoji", 3, "👍"), Reaction("custom_emoji", 1, document_id=5),
                                     Reaction("paid", 2)]),
        msg(16, text="edited", edit_date=T0 + timedelta(days=1)),
        msg(17, text="gone", deleted=True, deleted_at=T0 + timedelta(days=2)),
        msg(18, text="channel post", sender_id=None, post_author="Editor"),
        msg(19, action=Action("pin_message", {"message_id": 2})),
        msg(20, action=Action("invite_members", {"members": [BOB.id]})),
        msg(21, action=Action("invite_members", {"members": [ALICE.id]})),
        msg(22, action=Action("some_future_action", {"x": 1})),
        msg(23, text="reply to the void", reply_to_id=9999),
        msg(24, text="reply elsewhere", reply_to_id=5, reply_to_peer_id=NEWS.id),
        msg(25, media=Media("video", 505, file_name="clip.mp4", size=5 << 20)),
    ]


def render(out: Path, messages: list[Message], batch_size: int = 1000) -> Path:
    result = render_archived(out, CHAT, messages, PEERS, tgx_txt.tgx_register_formats(), batch_size=batch_size)
    return result.chat_dir / "messages.txt"


def test_transcript_shows_every_kind(tmp_path: Path) -> None:
    text = render(tmp_path, kitchen_sink()).read_text("utf-8")
    lines = text.split("\n")
    assert lines[0] == "Test Group (@testgroup), id -1001234567890, 25 messages"
    expected = [
        "[2024-05-01 13:34:56 UTC] * Alice Liddell created the group «Test Group»",
        "[2024-05-01 14:34:56 UTC] Alice Liddell: bold italic 😀 link @bob #tag code",
        '[2024-05-01 15:34:56 UTC] Bob: [reply to Alice Liddell: "bold italic 😀 link @bob #tag code"] '
        'first line',
        "    second line",
        "    ",
        "    fourth",
        "[2024-05-01 16:34:56 UTC] Alice Liddell: [forwarded from News Channel, 2024-05-01 12:34:56 UTC] "
        "forwarded",
        "[2024-05-01 17:34:56 UTC] Alice Liddell: [forwarded from Someone Hidden] hidden",
        "[2024-05-01 18:34:56 UTC] Alice Liddell:",
        "    [photo, 1000 B: media/501.jpg]",
        "[2024-05-01 19:34:56 UTC] Alice Liddell: album caption",
        "    [photo, 2.0 KB, not downloaded]",
        '    [document "report.pdf", 12.1 KB: media/503-report.pdf]',
        "    [poll: Lunch?]",
        "    [- Pizza: 3]",
        "    [location: 52.5, 13.4]",
        "    [venue: Cafe, Main St 1, 1.5, 2.5]",
        "    [contact: Carol C, +100]",
        "[2024-05-02 01:34:56 UTC] Alice Liddell: see https://e.org",
        "    [link preview: E <https://e.org>]",
        "    [dice 🎲 5]",
        "[2024-05-02 03:34:56 UTC] Alice Liddell: +1",
        "    [reactions: 👍 3, custom:5 1, ⭐ 2]",
        "    [edited 2024-05-02 12:34:56 UTC]",
        "    [deleted 2024-05-03 12:34:56 UTC]",
        "[2024-05-02 06:34:56 UTC] Editor: channel post",
        "[2024-05-02 07:34:56 UTC] * Alice Liddell pinned a message (#2)",
        "[2024-05-02 08:34:56 UTC] * Alice Liddell added Bob",
        "[2024-05-02 09:34:56 UTC] * Alice Liddell joined",
        "[2024-05-02 10:34:56 UTC] * Alice Liddell: some future action",
        "[2024-05-02 11:34:56 UTC] Alice Liddell: [reply to message #9999] reply to the void",
        "[2024-05-02 12:34:56 UTC] Alice Liddell: [reply to message #5 in another chat] reply elsewhere",
        '    [video "clip.mp4", 5.0 MB, not downloaded]',
    ]
    for line in expected:
        assert line in lines, line
    # day separators, one per UTC day, in order
    assert [ln for ln in lines if ln.startswith("---")] == ["--- 2024-05-01 ---", "--- 2024-05-02 ---"]
    assert text.endswith("\n") and "\r" not in text


def test_every_line_is_a_message_a_continuation_or_structure(tmp_path: Path) -> None:
    lines = render(tmp_path, kitchen_sink()).read_text("utf-8").split("\n")
    for line in lines[1:]:
        assert line == "" or line.startswith(("[", "    ", "--- ")), line


def test_deterministic_and_independent_of_batch_size(tmp_path: Path) -> None:
    a = render(tmp_path / "a", kitchen_sink()).read_bytes()
    b = render(tmp_path / "b", kitchen_sink(), batch_size=2).read_bytes()
    assert a == b == render(tmp_path / "a", kitchen_sink(), batch_size=5).read_bytes()


def test_empty_chat(tmp_path: Path) -> None:
    content = render(tmp_path, []).read_text("utf-8")
    assert content == "Test Group (@testgroup), id -1001234567890, 0 messages\n"


texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(texts, min_size=1, max_size=6))
def test_text_is_in_the_transcript(tmp_path_factory: pytest.TempPathFactory, items: list[str]) -> None:
    messages = [Message(CHAT.id, i + 1, T0 + timedelta(minutes=i), text=t, sender_id=BOB.id)
                for i, t in enumerate(items)]
    content = render(tmp_path_factory.mktemp("txt"), messages).read_text("utf-8")
    # the transcript's own line structure: split on \n only (texts may hold other line breaks)
    lines = content.split("\n")
    heads = [i for i, ln in enumerate(lines) if ln.startswith("[2024-")]
    assert len(heads) == len(items)
    for start, text in zip(heads, items, strict=True):
        normalized = text.replace("\r\n", "\n").replace("\r", "\n")
        parts = normalized.split("\n")
        head = lines[start]
        assert head.startswith("[") and " Bob:" in head
        assert head == head[:25] + " Bob:" + (" " + parts[0] if parts[0] else "")
        for k, part in enumerate(parts[1:], start=1):
            assert lines[start + k] == "    " + part
