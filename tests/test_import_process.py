"""The JSON reader in a process of its own (``tgx.importer.process``): the same stream as the
reader in this process — the same peers, chats, warnings in the same order, each message's
archive row byte for byte — its failures as the reader's own lines, and no child left behind.

``tgx import`` uses it where two cores allow, so the CLI tests (tests/test_import_e2e.py) run it
end to end on such machines; these run it on any machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psutil
import pytest
from tgx.archive.records import message_row
from tgx.errors import UsageError
from tgx.importer.process import ReaderFailed, read_json_in_process
from tgx.importer.source import ImportedChat, ImportedMessage, note_missing
from tgx.importer.tdjson import read_json_export
from tgx.model import Peer

FIXTURES = Path(__file__).parent / "fixtures" / "tdexports"
NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"


def _flat(items: Any, *, child: bool) -> list[Any]:
    """Every item as comparable data: a peer, a chat header with its peers, each message as its
    archive row and the files still to place (the notes of files left out applied, as the stage
    applies them)."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, Peer):
            out.append(("peer", item))
            continue
        assert isinstance(item, ImportedChat)
        rows: list[Any] = []
        missing = 0
        for m in item.messages:
            if isinstance(m, ImportedMessage):
                m.message.chat_id = item.peer.id
                notes_only = m.message.media is not None and all(f.relpath is None for f in m.files)
                if not m.files:
                    assert not child, "the child sends these as rows"
                    rows.append(message_row(item.peer.id, m.message))
                elif notes_only:  # what the child does with the files an export left out
                    assert not child, "the child sends these as rows"
                    for f in m.files:
                        note_missing(m.message.media, f.role, f.missing or "not in the export")  # type: ignore[arg-type]
                    missing += len(m.files)
                    rows.append(message_row(item.peer.id, m.message))
                else:
                    rows.append((message_row(item.peer.id, m.message),
                                 [(f.role, f.relpath, f.missing) for f in m.files]))
            else:
                rows.append(m)
        out.append(("chat", item.peer, item.td_type, item.left, str(item.source), dict(item.peers), rows,
                    missing + item.missing))
    return out


def both(path: Path, **kw: Any) -> tuple[list[Any], list[Any], list[tuple[str, str]], list[tuple[str, str]]]:
    here: list[tuple[str, str]] = []
    there: list[tuple[str, str]] = []
    mine = _flat(read_json_export(path, lambda k, d: here.append((k, d))), child=False)
    theirs = _flat(read_json_in_process(path, lambda k, d: there.append((k, d)), **kw), child=True)
    return mine, theirs, here, there


@pytest.mark.parametrize("fixture", ["td1_personal", "td4_supergroup", "account"])
def test_the_same_stream_as_the_reader_in_this_process(fixture: str) -> None:
    mine, theirs, here, there = both(FIXTURES / fixture / "result.json")
    assert theirs == mine and any(x[0] == "chat" and x[6] for x in mine)
    assert there == here


def _chat(tmp_path: Path, messages: list[dict[str, Any]], **head: Any) -> Path:
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"name": "Chat", "type": "private_group", "id": 77, **head, "messages": messages}),
                    encoding="utf-8")
    return path


def _message(mid: int, **fields: Any) -> dict[str, Any]:
    return {"id": mid, "type": "message", "date": "2024-01-01T00:00:00", "date_unixtime": str(1704067200 + mid),
            "from": f"User {mid % 7}", "from_id": f"user{mid % 7 + 1}", "text": f"m{mid}",
            "text_entities": [{"type": "plain", "text": f"m{mid}"}], **fields}


def test_many_batches_files_notes_and_warnings_in_order(tmp_path: Path) -> None:
    """2,500 messages (three frames): peers learned as they come, files to place sent as
    messages, the notes of files left out recorded in the child, warnings in the reader's order."""
    messages = [_message(i) for i in range(1, 2501)]
    for i in range(0, 2500, 9):
        messages[i]["photo"] = NOT_INCLUDED
    for i in range(5, 2500, 500):
        messages[i]["file"] = f"files/doc{i}.pdf"
        messages[i]["stars"] = i  # unknown: warned (once per kind)
    messages[1000]["id"] = "x"  # no numeric id: left out, warned
    mine, theirs, here, there = both(_chat(tmp_path, messages))
    assert theirs == mine
    [(_tag, _peer, _t, _l, _s, peers, rows, missing)] = theirs
    assert len(rows) == 2499 and missing == 278 and len(peers) == 7
    assert sum(1 for r in rows if isinstance(r, tuple) and len(r) == 2) == 5  # the pdfs: to place
    assert there == here and ("bad message", "a message without a numeric id: x") in there


def test_unwanted_chats_are_read_through_and_sent_empty() -> None:
    path = FIXTURES / "account" / "result.json"
    chats = [x for x in _flat(read_json_export(path, lambda k, d: None), child=False) if x[0] == "chat"]
    wanted = chats[-1][1].id
    theirs = [x for x in _flat(read_json_in_process(path, lambda k, d: None, chat_ids=[wanted]), child=True)
              if x[0] == "chat"]
    assert [c[1].id for c in theirs] == [c[1].id for c in chats]
    assert [bool(c[6]) for c in theirs] == [c[1].id == wanted for c in chats]


def test_a_truncated_file_is_the_readers_own_line(tmp_path: Path) -> None:
    whole = _chat(tmp_path, [_message(i) for i in range(1, 3000)]).read_bytes()
    path = tmp_path / "result.json"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UsageError) as here:
        _flat(read_json_export(path, lambda k, d: None), child=False)
    with pytest.raises(UsageError) as there:
        _flat(read_json_in_process(path, lambda k, d: None), child=True)
    assert str(there.value) == str(here.value) and "truncated" in str(there.value)
    assert there.value.hint == here.value.hint


def test_not_an_export_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(b"[1, 2, 3]")
    with pytest.raises(UsageError, match="its root is not an object"):
        _flat(read_json_in_process(path, lambda k, d: None), child=True)
    with pytest.raises(UsageError, match="no such file"):
        _flat(read_json_in_process(tmp_path / "nowhere" / "result.json", lambda k, d: None), child=True)


def test_a_consumer_that_stops_early_leaves_no_child(tmp_path: Path) -> None:
    path = _chat(tmp_path, [_message(i) for i in range(1, 20_000)])
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    items = read_json_in_process(path, lambda k, d: None)
    chat = next(items)
    assert isinstance(chat, ImportedChat)
    next(chat.messages)
    items.close()  # the stage failed, or Ctrl-C: the generator is closed
    assert {p.pid for p in psutil.Process().children(recursive=True)} - before == set()


def test_a_child_that_dies_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tgx.importer.process as process

    monkeypatch.setattr(process, "CHILD_ARGV", ("-c", "import sys; sys.exit(3)"))
    with pytest.raises(ReaderFailed, match="ended without a word"):
        list(read_json_in_process(_chat(tmp_path, [_message(1)]), lambda k, d: None))
