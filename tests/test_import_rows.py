"""The import's shortcut for the commonest message (``ChatMessages.row``: its archive row built
straight from Telegram Desktop's object) against the general way (``ChatMessages.read`` into a
``Message``, then ``message_row``): the same row byte for byte, the same peers learned, the same
warnings — over every fixture export and messages made to sit on each edge of the shortcut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tgx.archive.records import message_row
from tgx.importer.source import ImportedChat, ImportedMessage, note_missing
from tgx.importer.tdjson import read_json_export
from tgx.model import Peer

FIXTURES = Path(__file__).parent / "fixtures" / "tdexports"


def _read(path: Path, *, rows: bool) -> tuple[list[Any], list[Any], int]:
    """Every item as comparable data, each message as its row where it has no file to place
    (a file the export left out noted as the import notes it, and counted); the warnings; how
    many messages came as rows."""
    out: list[Any] = []
    warned: list[tuple[str, str]] = []
    shortcut = 0
    for item in read_json_export(path, lambda k, d: warned.append((k, d)), rows=rows):
        if isinstance(item, Peer):
            out.append(item)
            continue
        assert isinstance(item, ImportedChat)
        missing = 0
        for m in item.messages:
            if type(m) is tuple:
                shortcut += 1
                out.append(m)
                continue
            assert isinstance(m, ImportedMessage)
            media = m.message.media
            if media is not None and m.files and all(f.relpath is None for f in m.files):
                for f in m.files:
                    note_missing(media, f.role, f.missing or "not in the export")
                missing += len(m.files)
                m.files = []
            out.append(message_row(item.peer.id, m.message) if not m.files else m)
        out.append(sorted(item.peers.items()))
        out.append(("missing", missing + item.missing))
    return out, warned, shortcut


def _same(path: Path) -> int:
    fast, fast_warned, shortcut = _read(path, rows=True)
    slow, slow_warned, none = _read(path, rows=False)
    assert none == 0
    assert fast == slow
    assert fast_warned == slow_warned
    return shortcut


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.iterdir() if (p / "result.json").is_file()))
def test_every_fixture_gives_the_same_rows(fixture: str) -> None:
    _same(FIXTURES / fixture / "result.json")


def _msg(i: int, **extra: Any) -> dict[str, Any]:
    text = [{"type": "bold", "text": "Hi"}, {"type": "plain", "text": f" 🙂 number {i} "},
            {"type": "text_link", "text": "here", "href": "https://example.org"},
            {"type": "custom_emoji", "text": "👍", "document_id": 5368324170671202286}]
    return {"id": i, "type": "message", "date": "2024-01-01T00:00:00", "date_unixtime": str(1704067200 + i),
            "from": "Ann", "from_id": "user1", "text": text, "text_entities": text, **extra}


EDGES = [
    _msg(1),
    _msg(2, reply_to_message_id=1),
    _msg(3, reactions=[{"type": "emoji", "count": 3, "emoji": "👍"}, {"type": "custom_emoji", "count": "2",
                       "document_id": "5368324170671202286"}, {"type": "paid", "count": 7}, "junk"]),
    _msg(4, reactions=[{"type": "emoji", "count": 1, "emoji": "👍", "recent": [{"from": "Bob", "from_id": "user2"}]}]),
    _msg(5, reactions=[{"type": "star", "count": 1}]),
    _msg(6, reactions={"not": "a list"}),
    _msg(7, from_id="user99", **{"from": "Zed"}),  # the account's own user: out
    _msg(8, date_unixtime="not a number"),
    _msg(9, date_unixtime="²"),
    _msg(10, text_entities=[{"type": "shiny", "text": "x"}], text="x"),
    _msg(11, text_entities=[{"type": "blockquote", "text": "q", "collapsed": True}], text="q"),
    _msg(12, from_id="channel77", **{"from": "The channel"}),
    _msg(13, from_id="nonsense"),
    {"id": 14, "type": "message", "date": "2024-01-01T00:00:00", "date_unixtime": "1704067214", "text": ""},
    _msg(15, edited="2024-01-02T00:00:00", edited_unixtime="1704153600"),
    _msg(16, id=True),
    _msg(17, type="service", action="pin_message", message_id=1),
    {"id": 18, "type": "service", "date": "2024-01-01T00:00:00", "date_unixtime": "1704067218", "actor": "Ann",
     "actor_id": "user1", "action": "topic_created", "title": "News", "text": "", "text_entities": []},
    _msg(19, reply_to_message_id=18),  # a post in the topic that message 18 created
    _msg(20, text_entities=[{"type": "mention_name", "text": "Bob", "user_id": "oops"}], text="Bob"),
]


def _runs(i: int, runs: Any) -> dict[str, Any]:
    """A message whose text is these runs only (the fast text of the shortcut, tdtext.plain_runs, or its edges)."""
    return {**_msg(i), "text": runs if isinstance(runs, list) else "", "text_entities": runs}


EDGES += [
    _runs(30, [{"type": "bold", "text": "Today:"}, {"type": "plain", "text": " news 🙂 𝄞 "},
               {"type": "mention", "text": "@tgx"}, {"type": "link", "text": "https://example.org/1"}]),
    _runs(31, [{"type": "plain", "text": ""}, {"type": "italic", "text": ""}, {"type": "code", "text": "x"}]),
    _runs(32, [{"type": "pre", "text": "print()"}]),  # pre without its language
    _runs(33, [{"type": "bold", "text": 5}]),
    _runs(34, [{"type": ["bold"], "text": "x"}]),
    _runs(35, [{"type": "bold", "text": "x", "extra": 1}]),
    _runs(36, ["plain string", {"type": "bold", "text": "b"}]),
    _runs(37, {"type": "bold", "text": "not a list"}),
    _runs(38, [{"type": "shiny", "text": "x"}]),
    _runs(39, []),
    _runs(40, [{"text": "no type"}, {"type": "bold"}]),
]

_LEFT_OUT = "(File not included. Change data exporting settings to download.)"
EDGES += [  # a photo: left out (the shortcut), or not (the general way)
    _msg(50, photo=_LEFT_OUT, photo_file_size=48_213, width=1280, height=720),
    _msg(51, photo="(File exceeds maximum size. Change data exporting settings to download.)", width=0, height=9),
    _msg(52, photo=_LEFT_OUT),
    _msg(53, photo="photos/photo_1.jpg", photo_file_size=10, width=1, height=1),
    _msg(54, photo=_LEFT_OUT, media_spoiler=True),
    _msg(55, photo="", width=5, height=5),
    _msg(56, photo=7),
    _msg(57, photo=_LEFT_OUT, photo_file_size="12", reply_to_message_id=50,
         reactions=[{"type": "emoji", "count": 2, "emoji": "🔥"}]),
    _msg(58, photo=_LEFT_OUT, file=_LEFT_OUT, media_type="video_file"),
    _runs(59, [{"type": "bold", "text": "x", "extra": 1}]) | {"photo": _LEFT_OUT, "from_id": "nonsense"},
]


@pytest.mark.parametrize("kind", ["personal_chat", "private_supergroup", "public_channel", "saved_messages"])
def test_every_edge_of_the_shortcut_gives_the_same_rows(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "result.json"
    chat_id = 99 if kind == "saved_messages" else 77
    head = {"name": "Chat", "type": kind, "id": chat_id}
    path.write_text(json.dumps({**head, "messages": EDGES}, ensure_ascii=False, indent=1), encoding="utf-8")
    assert _same(path) >= 8  # the shortcut was taken, not only declined


@pytest.mark.parametrize("seconds", [0, 59, 86_399, 86_400, 1_704_067_214, -1, -86_401, 951_782_400,  # 2000-02-29
                                     253_402_300_799, -62_135_596_800, 253_402_300_800, -62_135_596_801, 10**12])
def test_the_shortcut_writes_a_date_as_the_record_does(seconds: int) -> None:
    """``utc_iso`` (the shortcut's date) is ``utc(ts).isoformat()``: the same text, or the same
    refusal beyond the years a datetime holds (then the message goes the general way)."""
    from tgx.model import utc, utc_iso

    try:
        expected: object = utc(seconds).isoformat()
    except (ValueError, OverflowError, OSError) as exc:
        expected = type(exc)
    try:
        got: object = utc_iso(seconds)
    except (ValueError, OverflowError, OSError) as exc:
        got = type(exc)
    assert got == expected


def test_the_shortcut_writes_every_second_of_a_day_as_the_record_does() -> None:
    from tgx.model import utc, utc_iso

    for day in (-1, 0, 19_723):  # 1969-12-31, 1970-01-01, 2024-01-01
        for second in range(0, 86_400, 7):
            ts = day * 86_400 + second
            assert utc_iso(ts) == utc(ts).isoformat()
