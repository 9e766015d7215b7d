"""``tgx import`` end to end: the real CLI, the real Telethon client against the simulated Telegram.

Round trips (tgx's own result.json, single chat and account shape, with media → import → the same
result.json and the same bytes), continuing online (only the new pages are requested; the archive
ends as a full online export's; ``--refetch-imported`` replaces what was imported), idempotence,
a SIGKILLed import finished by a rerun, two overlapping exports merged, and bad input (a path out of
the export, a truncated file) with OUT untouched.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from tgx.archive.store import Archive
from tgx.errors import ExitCode
from tgx.fetch.history import PAGE
from tgx.sync.state import chat_pts
from tgxrun import archived_count, read_jsonl, request_counts, tgx, tgx_popen

DEMO = -1001700000002  # @tgx_demo's marked id


def _run(tmp_path: Path, *args: str, cfg: Path | None = None) -> Any:
    result = tgx(tmp_path, *args, config=cfg)
    assert result.returncode == 0, result.stderr
    return result


def _import(tmp_path: Path, *args: str, cfg: Path | None = None) -> dict[str, Any]:
    return json.loads(_run(tmp_path, "import", *args, "--json", cfg=cfg).stdout)


def _messages(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["messages"]


def _files_of(messages: list[dict[str, Any]]) -> list[str]:
    return [m[k] for m in messages for k in ("photo", "file", "thumbnail")
            if isinstance(m.get(k), str) and not m[k].startswith("(")]


def _rows(out: Path) -> dict[str, list[Any]]:
    """The archive's rows, as stored (bytes), for "nothing changed" comparisons."""
    con = sqlite3.connect(out / ".tgx" / "archive.sqlite")
    try:
        return {table: con.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                for table in ("messages", "versions", "media", "checkpoints", "peers", "chats")}
    finally:
        con.close()


def _exact(out: Path, chat_id: int) -> list[bytes]:
    with Archive.open(out) as a:
        return [r for batch in a.iter_exact_records(chat_id) for r in batch.records]


def _snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file of OUT (its time, size and bytes) — but the lock file, which names the last
    process that held OUT (tgx.archive.lock): an import that was refused held it too."""
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root) != Path(".tgx", "lock")}


# -- round trips ---------------------------------------------------------------------------------

@pytest.fixture
def demo_export(tmp_path: Path, sim_config) -> tuple[Path, Path]:
    """An online export of @tgx_demo and @tgx_forum with every media kind, as json (and jsonl)."""
    cfg = sim_config(seed=3, messages=80, big_file_mb=0)
    _run(tmp_path, "export", "@tgx_demo", "@tgx_forum", "--media", "all", "-o", "out1", "-f", "json,jsonl", cfg=cfg)
    return tmp_path / "out1", cfg


def test_round_trip_of_tgx_result_json_with_media(tmp_path: Path, demo_export) -> None:
    out1, cfg = demo_export
    summary = _import(tmp_path, str(out1 / "tgx_demo" / "result.json"), "-o", "out2", "-f", "json", cfg=cfg)
    [chat] = summary["chats"]
    assert chat["id"] == DEMO and chat["new"] == chat["messages"] == 80 and chat["span"] == [1, 80]
    assert summary["files"]["refused"] == 0 and summary["warnings"] == {}
    original = _messages(out1 / "tgx_demo" / "result.json")
    back = _messages(tmp_path / "out2" / chat["folder"] / "result.json")
    assert back == original
    files = _files_of(original)
    assert len(files) >= 10  # photos, videos, voice, documents ... with their files
    for rel in files:
        assert (tmp_path / "out2" / chat["folder"] / rel).read_bytes() == (out1 / "tgx_demo" / rel).read_bytes()
    copied = summary["files"]["copied"]
    assert copied == len(set(files))  # the same file shown twice is one file


def test_round_trip_is_exact_including_chat_type_and_via_bot(tmp_path: Path, demo_export) -> None:
    out1, cfg = demo_export
    summary = _import(tmp_path, str(out1 / "tgx_demo" / "result.json"), "-o", "out2", "-f", "json", cfg=cfg)
    folder = summary["chats"][0]["folder"]
    assert json.loads((tmp_path / "out2" / folder / "result.json").read_text()) == \
        json.loads((out1 / "tgx_demo" / "result.json").read_text())


def test_round_trip_of_an_account_export(tmp_path: Path, demo_export) -> None:
    """Two chats' result.json wrapped in Telegram Desktop's account shape (paths relative to it)."""
    out1, cfg = demo_export
    chats = []
    for folder in ("tgx_demo", "tgx_forum"):
        doc = json.loads((out1 / folder / "result.json").read_text())
        for m in doc["messages"]:
            for key in ("photo", "file", "thumbnail"):
                if isinstance(m.get(key), str) and not m[key].startswith("("):
                    m[key] = os.path.normpath(f"{folder}/{m[key]}")
        chats.append(doc)
    account = {"about": "", "personal_information": {"user_id": 100, "first_name": "Me", "last_name": "",
                                                     "phone_number": "", "bio": ""},
               "chats": {"about": "", "list": chats}}
    (out1 / "result.json").write_text(json.dumps(account, ensure_ascii=False), encoding="utf-8")
    summary = _import(tmp_path, str(out1), "-o", "out2", "-f", "json", cfg=cfg)
    assert [c["messages"] for c in summary["chats"]] == [len(c["messages"]) for c in chats]
    for folder, chat in zip(("tgx_demo", "tgx_forum"), summary["chats"], strict=True):
        original = _messages(out1 / folder / "result.json")
        back = _messages(tmp_path / "out2" / chat["folder"] / "result.json")
        assert back == original, folder
        for rel in _files_of(original):
            placed = Path(os.path.normpath(tmp_path / "out2" / chat["folder"] / rel))
            assert placed.read_bytes() == Path(os.path.normpath(out1 / folder / rel)).read_bytes(), rel


# -- continuing online ---------------------------------------------------------------------------

CHANNEL = {"kind": "channel", "username": "longrun", "title": "Long run", "messages": 1000, "media": False}


def test_continue_online_fetches_only_the_new_pages_and_ends_as_a_full_export(tmp_path: Path, sim_config) -> None:
    cfg = sim_config(chats=[CHANNEL])
    _run(tmp_path, "export", "@longrun", "-o", "full", "-f", "jsonl,json", cfg=cfg)
    full = read_jsonl(tmp_path / "full" / "longrun" / "messages.jsonl")
    cut = full[int(len(full) * 0.7) - 1]  # the TD export of the first 70 %: up to this message
    _run(tmp_path, "export", "@longrun", "-o", "part", "-f", "json", "--until", cut["date"], cfg=cfg)
    summary = _import(tmp_path, str(tmp_path / "part" / "longrun" / "result.json"), "-o", "cont", "-f", "jsonl",
                      cfg=cfg)
    imported = summary["chats"][0]["messages"]
    assert imported == 700 and summary["chats"][0]["span"] == [full[0]["id"], cut["id"]]

    log = tmp_path / "requests.jsonl"
    logged = sim_config(tmp_path / "logged.toml", chats=[CHANNEL], request_log=str(log))
    _run(tmp_path, "export", "@longrun", "-o", "cont", "-f", "jsonl,json", cfg=logged)
    new = len(full) - imported
    history = request_counts(log).get("GetHistoryRequest", 0)
    # One request per page of new messages, plus at most one that finds the boundary (a page
    # holding exactly PAGE messages cannot tell it reached the covered span).
    assert math.ceil(new / PAGE) <= history <= math.ceil(new / PAGE) + 1, request_counts(log)
    # Every field Telegram Desktop carries is what a full online export has.
    assert _messages(tmp_path / "cont" / "longrun" / "result.json") == \
        _messages(tmp_path / "full" / "longrun" / "result.json")
    with Archive.open(tmp_path / "cont") as a:
        assert chat_pts(a, a.chats()[0].id) is not None  # the first online run recorded the chat's pts
        assert sum(1 for _ in a.imported_ids(a.chats()[0].id)) == imported

    _run(tmp_path, "export", "@longrun", "-o", "cont", "-f", "jsonl", "--refetch-imported", cfg=cfg)
    # Replaced by Telegram's own versions: byte for byte the full export's, no version added.
    assert (tmp_path / "cont" / "longrun" / "messages.jsonl").read_bytes() == \
        (tmp_path / "full" / "longrun" / "messages.jsonl").read_bytes()
    with Archive.open(tmp_path / "cont") as a:
        assert list(a.imported_ids(a.chats()[0].id)) == []


# -- idempotence, resume, merge ------------------------------------------------------------------

def _td_message(i: int, text: str, *, edited: int | None = None, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"id": i, "type": "message", "date": "2021-01-01T00:00:00",
                         "date_unixtime": str(1609459200 + i * 60), "from": "Alice", "from_id": "user11"}
    if edited is not None:
        d["edited"] = "2021-02-01T00:00:00"
        d["edited_unixtime"] = str(edited)
    d.update(extra)
    d["text"] = text
    d["text_entities"] = [{"type": "plain", "text": text}] if text else []
    return d


def _td_export(folder: Path, messages: list[dict[str, Any]], *, mtime: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "result.json"
    path.write_text(json.dumps({"name": "Group", "type": "private_supergroup", "id": 1800000001,
                                "messages": messages}, ensure_ascii=False, indent=1), encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_re_import_changes_nothing(tmp_path: Path, demo_export) -> None:
    out1, cfg = demo_export
    source = str(out1 / "tgx_demo" / "result.json")
    _import(tmp_path, source, "-o", "out2", cfg=cfg)
    before = _rows(tmp_path / "out2")
    again = _import(tmp_path, source, "-o", "out2", cfg=cfg)
    assert again["chats"][0]["unchanged"] == 80 and again["chats"][0]["new"] == 0
    assert again["files"]["copied"] == 0
    assert _rows(tmp_path / "out2") == before  # the same bytes, no version added


def test_a_killed_import_is_finished_by_running_it_again(tmp_path: Path) -> None:
    n = 60_000
    source = _td_export(tmp_path / "big", [_td_message(i, f"message {i} " + "x" * 200) for i in range(1, n + 1)])
    clean = _import(tmp_path, str(source), "-o", "clean", "-f", "jsonl")
    assert clean["chats"][0]["new"] == n
    """All or nothing: a SIGKILL in the middle leaves no message committed (SQLite rolls the one
    transaction back); the rerun makes the archive an uninterrupted import makes."""
    proc = tgx_popen(tmp_path, "import", str(source), "-o", "killed", "-f", "jsonl", "--quiet")
    deadline = time.monotonic() + 120
    archive = tmp_path / "killed" / ".tgx" / "archive.sqlite"
    while not archive.exists():  # OUT locked, the archive open: the import is writing
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(0.2)  # well inside its writes (60,000 messages)
    assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert archived_count(tmp_path / "killed") == 0
    assert not (tmp_path / "killed" / "-1001800000001" / "messages.jsonl").exists()
    _import(tmp_path, str(source), "-o", "killed", "-f", "jsonl")
    assert _exact(tmp_path / "killed", -1001800000001) == _exact(tmp_path / "clean", -1001800000001)
    assert (tmp_path / "killed" / "-1001800000001" / "messages.jsonl").read_bytes() == \
        (tmp_path / "clean" / "-1001800000001" / "messages.jsonl").read_bytes()
    with Archive.open(tmp_path / "killed") as k, Archive.open(tmp_path / "clean") as c:
        assert k.checkpoint(-1001800000001) == c.checkpoint(-1001800000001) == {"ranges": [[1, n]],
                                                                                  "server_count": None}


def test_two_overlapping_exports_merge_the_newer_version_wins_the_older_is_kept(tmp_path: Path) -> None:
    older = [_td_message(i, f"m{i}") for i in range(1, 61)]
    newer = [_td_message(i, f"m{i}") for i in range(40, 101)]
    newer[45 - 40] = _td_message(45, "m45 edited", edited=1612137600)
    a = _td_export(tmp_path / "a", older, mtime=1_700_000_000)
    b = _td_export(tmp_path / "b", newer, mtime=1_710_000_000)
    chat = -1001800000001
    for order, out in (((b, a), "newer_first"), ((a, b), "older_first")):
        for source in order:
            _import(tmp_path, str(source), "-o", out)
        with Archive.open(tmp_path / out) as archive:
            assert archive.count(chat) == 100  # each message once
            assert archive.message(chat, 45).text == "m45 edited"
            assert [v.text for v in archive.history(chat, 45)] == ["m45"]
            assert archive.checkpoint(chat)["ranges"] == [[1, 100]]
    assert _exact(tmp_path / "newer_first", chat) == _exact(tmp_path / "older_first", chat)


# -- files ---------------------------------------------------------------------------------------

def test_link_hard_links_and_the_same_bytes_are_one_file(tmp_path: Path) -> None:
    export = tmp_path / "td"
    (export / "photos").mkdir(parents=True)
    (export / "photos" / "a.jpg").write_bytes(b"\xff\xd8 same bytes")
    (export / "photos" / "b.jpg").write_bytes(b"\xff\xd8 same bytes")
    (export / "photos" / "c.jpg").write_bytes(b"\xff\xd8 other bytes")
    photos = [_td_message(i, "", photo=f"photos/{name}.jpg", width=10, height=10)
              for i, name in ((1, "a"), (2, "b"), (3, "c"))]
    _td_export(export, photos)
    summary = _import(tmp_path, str(export), "-o", "out", "--link", "-f", "json")
    assert summary["files"]["linked"] == 2 and summary["files"]["deduped"] == 1
    folder = tmp_path / "out" / summary["chats"][0]["folder"]
    on_disk = sorted(p.name for p in (folder / "media" / "photo").iterdir())
    assert on_disk == ["a.jpg", "c.jpg"]
    assert os.stat(folder / "media" / "photo" / "a.jpg").st_ino == os.stat(export / "photos" / "a.jpg").st_ino
    back = _messages(folder / "result.json")
    assert [m["photo"] for m in back] == ["media/photo/a.jpg", "media/photo/a.jpg", "media/photo/c.jpg"]


def test_a_path_out_of_the_export_is_refused_and_recorded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy me")
    export = tmp_path / "td"
    (export / "files").mkdir(parents=True)
    (export / "files" / "link.txt").symlink_to(secret)
    messages = [_td_message(1, "up", file="../secret.txt", mime_type="text/plain"),
                _td_message(2, "abs", file=str(secret), mime_type="text/plain"),
                _td_message(3, "link", file="files/link.txt", mime_type="text/plain"),
                _td_message(4, "not included", file="(File not included. Change data exporting settings to "
                                                     "download.)", mime_type="text/plain")]
    _td_export(export, messages)
    result = tgx(tmp_path, "import", str(export), "-o", "out", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["files"]["refused"] == 3 and summary["files"]["missing"] == 1
    assert summary["warnings"] == {"file refused": 3}
    assert [line for line in result.stderr.splitlines() if "refused" in line] == [
        line for line in result.stderr.splitlines() if line.startswith("tgx: warning: file refused")]
    assert not any(p.read_bytes() == b"do not copy me" for p in (tmp_path / "out").rglob("*") if p.is_file())
    records = read_jsonl(tmp_path / "out" / summary["chats"][0]["folder"] / "messages.jsonl")
    reasons = [r["media"]["extra"]["missing"] for r in records]
    assert all("outside" in why or "not a path inside" in why for why in reasons[:3]), reasons
    assert reasons[3].startswith("(File not included")


# -- bad input -----------------------------------------------------------------------------------

def _one_error(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert lines and lines[0].startswith("tgx: error:"), result.stderr
    return lines[0]


def test_truncated_json_is_one_line_and_out_is_untouched(tmp_path: Path) -> None:
    good = _td_export(tmp_path / "good", [_td_message(i, f"m{i}") for i in range(1, 3001)])
    _import(tmp_path, str(good), "-o", "out")
    before = _snapshot(tmp_path / "out")
    cut = tmp_path / "cut" / "result.json"
    cut.parent.mkdir()
    cut.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    for out in ("out", "fresh"):
        result = tgx(tmp_path, "import", str(cut), "-o", out)
        assert result.returncode == ExitCode.USAGE
        assert "result.json" in _one_error(result)
    assert _snapshot(tmp_path / "out") == before
    assert not (tmp_path / "fresh").exists()


def test_a_broken_export_with_files_leaves_out_as_it_was(tmp_path: Path) -> None:
    """All or nothing: the import's writes are one transaction, committed once the export is read
    to its last byte — an export whose result.json breaks off at its very end (all its messages
    and their files read, placed and stored meanwhile) is refused in one line, its rows rolled
    back and the files it had placed removed: OUT as it was, or not there at all. The same for an
    export that is whole but lacks the chat --chat-id asks for."""
    good = _td_export(tmp_path / "good", [_td_message(i, f"m{i}") for i in range(1, 301)])
    _import(tmp_path, str(good), "-o", "out")
    before = _snapshot(tmp_path / "out")
    broken = tmp_path / "broken"
    (broken / "files").mkdir(parents=True)
    messages = []
    for i in range(1, 1601):
        extra: dict[str, Any] = {}
        if i % 25 == 0:
            (broken / "files" / f"note{i}.txt").write_text(f"file of message {i}")
            extra = {"file": f"files/note{i}.txt", "file_name": f"note{i}.txt", "mime_type": "text/plain"}
        messages.append(_td_message(i, f"m{i}", **extra))
    whole = _td_export(broken, messages).read_bytes()
    (broken / "result.json").write_bytes(whole[: whole.rstrip().rfind(b"]")])  # the array never closes
    for out in ("out", "fresh"):
        result = tgx(tmp_path, "import", str(broken), "-o", out)
        assert result.returncode == ExitCode.USAGE, result.stderr
        assert "result.json" in _one_error(result)
    assert _snapshot(tmp_path / "out") == before
    assert not (tmp_path / "fresh").exists()
    (broken / "result.json").write_bytes(whole)
    for out in ("out", "fresh"):
        result = tgx(tmp_path, "import", str(broken), "-o", out, "--chat-id", "-1005")
        assert result.returncode == ExitCode.USAGE, result.stderr
        assert "holds no chat with id -1005" in _one_error(result)
    assert _snapshot(tmp_path / "out") == before
    assert not (tmp_path / "fresh").exists()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two CPUs to compare with one")
def test_on_one_cpu_the_import_reads_in_its_own_process_and_ends_the_same(tmp_path: Path) -> None:
    """With one CPU a reader process is not worth it: the import reads in its own process — the
    same archive and files as with two, the same refusal."""
    import subprocess
    import sys

    from tgxrun import tgx_env

    def one_cpu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tgx", *args], capture_output=True, text=True, timeout=300,
                              env=tgx_env(tmp_path), cwd=tmp_path, preexec_fn=lambda: os.sched_setaffinity(0, {0}))

    left_out = {"photo": "(File not included. Change data exporting settings to download.)", "width": 90,
                "height": 60}
    messages = [_td_message(i, f"m{i}", **({"reply_to_message_id": i - 1} if i % 3 == 0 else {}),
                            **(left_out if i % 7 == 0 else {})) for i in range(1, 2501)]
    good = _td_export(tmp_path / "good", messages)
    two = _import(tmp_path, str(good), "-o", "two", "-f", "jsonl")
    r = one_cpu("import", str(good), "-o", "one", "-f", "jsonl", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"] == two["files"] and two["files"]["missing"] == 2500 // 7
    assert _exact(tmp_path / "one", -1001800000001) == _exact(tmp_path / "two", -1001800000001)
    [jsonl] = (tmp_path / "one").glob("*/messages.jsonl")
    assert jsonl.read_bytes() == next((tmp_path / "two").glob("*/messages.jsonl")).read_bytes()
    cut = tmp_path / "cut" / "result.json"
    cut.parent.mkdir()
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    before = _snapshot(tmp_path / "one")
    r = one_cpu("import", str(cut), "-o", "one")
    assert r.returncode == ExitCode.USAGE and "truncated" in _one_error(r)
    assert _snapshot(tmp_path / "one") == before


def test_not_an_export_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello")
    (tmp_path / "other.json").write_text('{"hello": "world"}')
    for path in ("notes", "other.json", "missing"):
        result = tgx(tmp_path, "import", path, "-o", "out")
        assert result.returncode == ExitCode.USAGE, result.stderr
        _one_error(result)
    assert not (tmp_path / "out").exists()


# -- HTML, and exports with holes ----------------------------------------------------------------

HTML = Path(__file__).parent / "fixtures" / "tdexports" / "html" / "cybersecurity_news"


def test_an_html_export_needs_its_chat_id_and_its_missing_page_is_no_coverage(tmp_path: Path) -> None:
    result = tgx(tmp_path, "import", str(HTML), "-o", "out")
    assert result.returncode == ExitCode.USAGE and "--chat-id" in result.stderr
    _one_error(result)
    assert not (tmp_path / "out").exists()
    result = tgx(tmp_path, "import", str(HTML), "-o", "out", "-f", "json", "--chat-id", "-1001234567890", "--json")
    assert result.returncode == 0, result.stderr
    [chat] = json.loads(result.stdout)["chats"]
    assert chat["id"] == -1001234567890 and chat["messages"] == 11
    # its first page (messages.html) is missing: the ids in the span are not all deletions, so none
    # is claimed — `tgx export` fetches the whole chat instead of trusting a hole
    assert chat["span"] is None
    with Archive.open(tmp_path / "out") as a:
        assert a.checkpoint(-1001234567890) is None and a.count(-1001234567890) == 11
    assert "holes in the export" in result.stderr


def test_a_message_left_out_freezes_the_coverage_where_it_was(tmp_path: Path) -> None:
    messages = [_td_message(i, f"m{i}") for i in range(1, 2501)]
    messages[1500]["id"] = "oops"  # TD never writes this: the reader leaves the message out
    source = _td_export(tmp_path / "td", messages)
    summary = _import(tmp_path, str(source), "-o", "out")
    with Archive.open(tmp_path / "out") as a:
        ranges = a.checkpoint(-1001800000001)["ranges"]
    assert ranges == [[1, 1000]] == [list(summary["chats"][0]["span"])]  # the batches before the hole
    assert summary["warnings"]["bad message"] == 1 and "holes in the export" in summary["warnings"]
