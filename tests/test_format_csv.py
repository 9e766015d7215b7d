"""The ``csv`` format, rendered through the real engine from a real archive."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tgx_csv
from corpus.archived import message_maker, render_archived
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tgx.model import Action, Entity, Forward, Media, Message, Peer, Reaction
from tgx_csv.writer import COLUMNS, flag

CHAT = Peer(-1001234567890, "supergroup", "Test Group", username="testgroup")
ALICE = Peer(11, "user", "Alice Liddell", first_name="Alice", last_name="Liddell")
BOB = Peer(22, "user", "=Bob", username="bob")  # a name that looks like a formula
NEWS = Peer(-1009999, "channel", "News Channel", username="news")
BOT = Peer(33, "bot", "Helper Bot", username="helperbot")
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
        msg(3, text="a reply,\nwith \"quotes\" and a second line", sender_id=BOB.id, reply_to_id=2),
        msg(4, text="forwarded", forward=Forward(from_id=NEWS.id, date=T0, channel_post=7)),
        msg(5, text="hidden", forward=Forward(from_name="Someone Hidden")),
        msg(6, media=Media("photo", 501, size=1000, path="media/501.jpg"), grouped_id=99),
        msg(7, media=Media("photo", 502, size=2000), grouped_id=99, text="album caption"),
        msg(8, media=Media("document", 503, file_name="-report.pdf", mime_type="application/pdf", size=12345,
                           path="media/503-report.pdf")),
        msg(9, media=Media("poll", 504, extra={"question": "Lunch?", "answers": [
            {"text": "Pizza", "voters": 3}, {"text": "Soup", "voters": 1}], "total_voters": 4})),
        msg(10, media=Media("geo", extra={"latitude": 52.5, "longitude": 13.4})),
        msg(11, text="+1", reactions=[Reaction("emoji", 3, "👍"), Reaction("custom_emoji", 1, document_id=5),
                                     Reaction("paid", 2)]),
        msg(12, text="edited", edit_date=T0 + timedelta(days=1)),
        msg(13, text="gone", deleted=True, deleted_at=T0 + timedelta(days=2)),
        msg(14, text="channel post", sender_id=None, post_author="Editor", views=100, forwards=5),
        msg(15, text="via bot", via_bot_id=BOT.id, topic_id=1),
        msg(16, action=Action("pin_message", {"message_id": 2})),
        msg(17, text="@everyone"),
    ]


PEERS = [ALICE, BOB, NEWS, BOT]


def render(out: Path, messages: list[Message], options: dict | None = None, batch_size: int = 1000) -> Path:
    result = render_archived(out, CHAT, messages, PEERS, tgx_csv.tgx_register_formats(), options,
                             batch_size=batch_size)
    assert result.formats["csv"].files == ["messages.csv"]
    return result.chat_dir / "messages.csv"


def read_rows(path: Path, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    with open(path, encoding=encoding, newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == COLUMNS
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


def test_one_row_per_message_with_documented_columns(tmp_path: Path) -> None:
    rows = read_rows(render(tmp_path, kitchen_sink()))
    by_id = {int(r["id"]): r for r in rows}
    assert [int(r["id"]) for r in rows] == list(range(1, 18))

    assert by_id[1]["action"] == "create_group" and by_id[1]["text"] == ""
    assert by_id[2]["date"] == "2024-05-01T14:34:56+00:00"
    assert by_id[2]["text"] == "bold italic 😀 link @bob #tag code"  # entities are not rendered
    assert by_id[2]["sender_id"] == "11" and by_id[2]["sender_name"] == "Alice Liddell"
    assert by_id[3]["reply_to_id"] == "2"
    assert by_id[3]["text"] == "a reply,\nwith \"quotes\" and a second line"
    assert by_id[3]["sender_name"] == "'=Bob"  # formula guard applies to names too
    assert by_id[4]["forward_from_id"] == str(NEWS.id) and by_id[4]["forward_from"] == "News Channel"
    assert by_id[4]["forward_date"] == T0.isoformat()
    assert by_id[5]["forward_from"] == "Someone Hidden" and by_id[5]["forward_from_id"] == ""
    assert by_id[6]["media_kind"] == "photo" and by_id[6]["media_path"] == "media/501.jpg"
    assert by_id[6]["grouped_id"] == by_id[7]["grouped_id"] == "99"
    assert by_id[7]["media_path"] == "" and by_id[7]["media_size"] == "2000"
    assert by_id[8]["media_file_name"] == "'-report.pdf" and by_id[8]["media_size"] == "12345"
    assert by_id[9]["media_kind"] == "poll"
    assert by_id[11]["reactions"] == "👍 3; custom:5 1; ⭐ 2"
    assert by_id[11]["text"] == "'+1"
    assert by_id[12]["edit_date"] == (T0 + timedelta(days=1)).isoformat()
    assert by_id[13]["deleted"] == "1" and by_id[12]["deleted"] == "0"
    assert by_id[13]["deleted_at"] == "2024-05-03T12:34:56+00:00" and by_id[12]["deleted_at"] == ""
    assert by_id[14]["sender_id"] == "" and by_id[14]["sender_name"] == "Editor"
    assert (by_id[14]["views"], by_id[14]["forwards"]) == ("100", "5")
    assert by_id[15]["topic_id"] == "1"
    assert by_id[16]["action"] == "pin_message"
    assert by_id[17]["text"] == "'@everyone"


def test_rfc4180_bytes(tmp_path: Path) -> None:
    data = render(tmp_path, kitchen_sink()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbfid,date,edit_date,")  # BOM by default: Excel reads UTF-8
    assert data.endswith(b"\r\n")
    # a text with a newline and quotes is quoted, quotes doubled, the inner newline kept as is
    assert b'"a reply,\nwith ""quotes"" and a second line"' in data
    assert data.count(b"\r\n") == 18  # header + 17 rows; inner newlines are bare \n


def test_options_turn_off_guard_and_bom(tmp_path: Path) -> None:
    path = render(tmp_path, kitchen_sink(), {"csv-formula-guard": "off", "csv-bom": "off"})
    assert path.read_bytes().startswith(b"id,")
    by_id = {int(r["id"]): r for r in read_rows(path, encoding="utf-8")}
    assert by_id[11]["text"] == "+1" and by_id[3]["sender_name"] == "=Bob"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"http://e\")"])
def test_formula_guard_every_trigger(tmp_path: Path, text: str) -> None:
    rows = read_rows(render(tmp_path, [Message(CHAT.id, 1, T0, text=text, sender_id=ALICE.id)]))
    assert rows[0]["text"] == "'" + text


def test_deterministic_and_independent_of_batch_size(tmp_path: Path) -> None:
    first = render(tmp_path / "a", kitchen_sink(), batch_size=1000).read_bytes()
    second = render(tmp_path / "b", kitchen_sink(), batch_size=3).read_bytes()
    again = render(tmp_path / "a", kitchen_sink(), batch_size=7).read_bytes()
    assert first == second == again


def test_empty_chat_has_a_header(tmp_path: Path) -> None:
    path = render(tmp_path, [])
    assert read_rows(path) == []


def test_lone_surrogate_does_not_fail_the_format(tmp_path: Path) -> None:
    rows = read_rows(render(tmp_path, [Message(CHAT.id, 1, T0, text="a\ud800b", sender_id=ALICE.id)]))
    assert rows[0]["text"] in ("a?b", "a\ufffdb")


texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.tuples(texts, st.lists(st.tuples(st.integers(-2, 70), st.integers(0, 70)),
                                                 max_size=4)), min_size=1, max_size=8))
def test_text_round_trips(tmp_path_factory: pytest.TempPathFactory,
                          items: list[tuple[str, list[tuple[int, int]]]]) -> None:
    messages = [
        Message(CHAT.id, i + 1, T0 + timedelta(minutes=i), text=text, sender_id=ALICE.id,
                entities=[Entity("bold", off, length) for off, length in spans])
        for i, (text, spans) in enumerate(items)
    ]
    path = render(tmp_path_factory.mktemp("csv"), messages)
    rows = read_rows(path)
    assert len(rows) == len(items)
    for row, (text, _) in zip(rows, items, strict=True):
        expected = "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text
        assert row["text"] == expected


def test_reads_back_with_the_csv_module_defaults(tmp_path: Path) -> None:
    """What a user does: csv.DictReader on the file opened with newline=''."""
    path = render(tmp_path, kitchen_sink())
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 17 and rows[1]["text"].startswith("bold italic")


@pytest.mark.parametrize(("value", "expected"), [("on", True), ("off", False), (True, True), (False, False),
                                                 ("false", False), ("no", False), ("1", True), (None, True)])
def test_on_off_values_from_cli_or_config(value: object, expected: bool) -> None:
    assert flag(value, True) is expected
