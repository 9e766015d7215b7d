"""The fast path for Telegram Desktop's own layout (``tgx.importer.tdlines``): the very messages
ijson builds, for every layout it reads; for anything else it stops where it is and the reader
goes on with ijson from there — nothing lost, nothing given twice, ijson's own error lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ijson
import pytest
from tgx.importer import tdlines
from tgx.importer.tdjson import ExportError, read_json_export

FIXTURES = Path(__file__).parent / "fixtures" / "tdexports"
HEAD = {"name": "Chat ✓", "type": "private_group", "id": 77}


def _msg(i: int, **extra: Any) -> dict[str, Any]:
    text = f"message {i} \"quoted\" {{braces}} [brackets]\\ 🙂"
    return {"id": i, "type": "message", "date": "2024-01-01T00:00:00", "date_unixtime": str(1704067200 + i),
            "from": "Ann", "from_id": "user1", "text": text, "text_entities": [{"type": "plain", "text": text}],
            **extra}


def td_layout(messages: list[dict[str, Any]], newline: str = "\n") -> str:
    """Telegram Desktop's own: one space per level, the messages at two, one key per line."""
    body = json.dumps({**HEAD, "messages": messages}, ensure_ascii=False, indent=1)
    return body.replace("\n", newline)


def one_per_line(messages: list[dict[str, Any]]) -> str:
    head = json.dumps(HEAD, ensure_ascii=False, indent=1)[:-2]
    items = ",\n".join("  " + json.dumps(m, ensure_ascii=False) for m in messages)
    return f'{head},\n "messages": [\n{items}\n ]\n}}\n'


def by_ijson(path: Path) -> list[Any]:
    with path.open("rb") as fh:
        return list(ijson.items(fh, "messages.item", use_float=True))


def read_messages(path: Path) -> list[int]:
    ids = []
    for item in read_json_export(path, lambda k, d: None):
        for m in item.messages:  # type: ignore[union-attr]
            ids.append(m.message.id)
    return ids


MESSAGES = [_msg(i, reactions=[{"type": "emoji", "count": i, "emoji": "👍"}], score=i / 4) for i in range(1, 60)]


@pytest.mark.parametrize("layout", [
    lambda: td_layout(MESSAGES), lambda: td_layout(MESSAGES, "\r\n"), lambda: one_per_line(MESSAGES),
    lambda: td_layout([]), lambda: one_per_line(MESSAGES[:1]),
])
def test_the_same_messages_as_ijson_for_every_layout_it_reads(tmp_path: Path, layout: Any) -> None:
    path = tmp_path / "result.json"
    path.write_text(layout(), encoding="utf-8")
    assert list(tdlines.messages(path)) == by_ijson(path)


@pytest.mark.parametrize("fixture", ["td1_personal", "td4_supergroup"])
def test_real_layouts_and_tgx_own_writer_take_the_fast_path(fixture: str) -> None:
    path = FIXTURES / fixture / "result.json"
    assert list(tdlines.messages(path)) == by_ijson(path)


def test_anything_else_stops_where_it_is_and_ijson_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    # a compact file: not this layout at all
    path.write_text(json.dumps({**HEAD, "messages": MESSAGES}), encoding="utf-8")
    with pytest.raises(tdlines.Layout) as stop:
        list(tdlines.messages(path))
    assert stop.value.count == 0
    assert read_messages(path) == list(range(1, 60))
    # the layout changes after 20 messages (two on one line); a string orjson refuses at 41
    lines = td_layout(MESSAGES[:20]).splitlines()
    text = "\n".join(lines[:-2]) + ",\n  " + json.dumps(MESSAGES[20]) + ", " + json.dumps(MESSAGES[21]) + ",\n"
    text += ",\n".join("  " + json.dumps(m) for m in MESSAGES[22:]) + "\n ]\n}\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(tdlines.Layout) as stop:
        list(tdlines.messages(path))
    assert stop.value.count == 20
    assert read_messages(path) == list(range(1, 60))  # none lost, none twice
    text = one_per_line(MESSAGES).replace('"text": "message 41 ', '"text": "\\ud800 message 41 ', 1)
    path.write_text(text, encoding="utf-8")  # a lone surrogate: orjson refuses it, ijson reads it
    with pytest.raises(tdlines.Layout) as stop:
        list(tdlines.messages(path))
    assert stop.value.count == 40
    assert read_messages(path) == list(range(1, 60))


def test_a_file_that_breaks_off_is_ijsons_line(tmp_path: Path) -> None:
    whole = td_layout(MESSAGES).encode()
    path = tmp_path / "result.json"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(tdlines.Layout) as stop:
        list(tdlines.messages(path))
    assert 0 < stop.value.count < 59
    with pytest.raises(ExportError, match="truncated"):
        read_messages(path)


def test_two_messages_without_a_comma_are_not_json(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(one_per_line(MESSAGES[:5]).replace("},\n", "}\n", 1), encoding="utf-8")
    with pytest.raises(tdlines.Layout) as stop:
        list(tdlines.messages(path))
    assert stop.value.count == 1
    with pytest.raises(ExportError):
        read_messages(path)


def test_a_compact_file_is_never_held_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One line of 3 MB: given up after LONGEST bytes, not read into memory whole."""
    monkeypatch.setattr(tdlines, "LONGEST", 1 << 16)
    path = tmp_path / "result.json"
    path.write_text(json.dumps({**HEAD, "messages": [_msg(i) for i in range(1, 10_000)]}), encoding="utf-8")
    read = []

    class Counting:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def read(self, n: int) -> bytes:
            data = self.fh.read(n)
            read.append(len(data))
            return data

    with path.open("rb") as fh, pytest.raises(tdlines._LongLine):
        list(tdlines._lines(Counting(fh)))  # type: ignore[arg-type]
    assert sum(read) <= (1 << 16) + 2 * tdlines.BLOCK < path.stat().st_size


@pytest.mark.parametrize("tail", [
    ' ]\n}\n{"x": 1}\n',  # a second value after the root
    ' ]\n}\ngarbage',  # trailing garbage
    ' ]\n',  # the root never closed
    ' ],\n "more": [1, 2]\n}\n',  # a key after the messages: read by ijson, valid
])
def test_what_follows_the_array_is_judged_as_ijson_judges_it(tmp_path: Path, tail: str) -> None:
    """The fast path reads the file to its last byte: anything but the root's closing brace
    after the array goes to ijson, which refuses it or reads it — the same verdict either way."""
    path = tmp_path / "result.json"
    path.write_text(one_per_line(MESSAGES[:5]).rsplit(" ]", 1)[0] + tail, encoding="utf-8")
    with pytest.raises(tdlines.Layout) as stop:
        list(tdlines.messages(path))
    assert stop.value.count == 5
    try:
        expected: Any = by_ijson(path)
    except ijson.JSONError:
        with pytest.raises(ExportError):
            read_messages(path)
    else:
        assert [m["id"] for m in expected] == read_messages(path) == [1, 2, 3, 4, 5]


def test_an_integer_beyond_64_bits_is_refused_as_ijson_refuses_it(tmp_path: Path) -> None:
    """orjson reads 2**64 (as a float); ijson refuses the file: the fast path checks a message
    with 19 digits in a row by ijson's parser — a custom emoji's 19-digit id stays fast."""
    path = tmp_path / "result.json"
    emoji = [{"type": "custom_emoji", "text": "🙂", "document_id": 5368324170671202286}]
    fine = [_msg(i) for i in range(1, 4)] + [_msg(4, text_entities=emoji, text=emoji)]
    path.write_text(one_per_line(fine), encoding="utf-8")
    assert list(tdlines.messages(path)) == by_ijson(path)
    path.write_text(one_per_line([*fine, _msg(5, views=2**64)]), encoding="utf-8")
    with pytest.raises(tdlines.Layout) as stop:
        list(tdlines.messages(path))
    assert stop.value.count == 4
    with pytest.raises(ExportError, match="integer overflow"):
        read_messages(path)


def test_an_account_export_is_read_to_its_last_byte(tmp_path: Path) -> None:
    account = (FIXTURES / "account" / "result.json").read_text(encoding="utf-8")
    path = tmp_path / "result.json"
    path.write_text(account.rstrip() + "\n[]\n", encoding="utf-8")
    with pytest.raises(ExportError, match="trailing garbage"):
        for item in read_json_export(path, lambda k, d: None):
            for _m in getattr(item, "messages", ()):
                pass
