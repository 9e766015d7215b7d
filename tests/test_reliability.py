""""Never lose a message": flood waits, dropped connections, takeout, Ctrl-C, --refresh-edits.

Every test drives the real ``tgx export`` command (in this process through ``tgx.cli.main``, or
as a subprocess where signals are involved) with the real Telethon client against the simulated
Telegram, injects a fault through the scenario, and checks three things: the exit code and its
one-line message, that what was fetched before the failure stayed committed, and that a rerun
without the fault ends with output byte-identical to an export that never failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from tgx.errors import ExitCode
from tgx.simulator.messages import SERVICE_KINDS
from tgx.simulator.scenario import validate
from tgx.testing import SimulatedTelegram, read_request_log
from tgxrun import archived_count, read_jsonl, tgx, tgx_popen

CHAT = "relchan"
CHANNEL = {"kind": "channel", "username": CHAT, "title": "Reliability", "messages": 3000, "media": False}
STATE = ".tgx"
METRICS = "export_metrics.json"
METRICS_HISTORY = "export_metrics_history.jsonl"  # one line per run: grows with each run by design


# -- helpers (also used by test_kill_matrix.py and test_reliability_bad_input.py) ---------------------


def write_config(path: Path, scenario: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    doc = dict(extra or {})
    doc["simulated"] = validate(scenario)
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return path


def snapshot(out: Path) -> dict[str, str]:
    """Every output file (relative path → sha256) except the runs' own metrics and the state dir.

    Also skipped: ``.export_metrics.json.<pid>.tmp``, which the metrics_json sink leaves behind
    when a process is killed while it writes the report (it names temp files by pid, so the
    next run does not remove it; reported to the plugin's owner)."""
    files = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_dir() or rel in (METRICS, METRICS_HISTORY) or rel.startswith(STATE + "/"):
            continue
        if rel.startswith("." + METRICS + ".") and rel.endswith(".tmp"):
            continue
        files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def archive_state(out: Path) -> dict[str, list[tuple]]:
    """The archive's messages (records expanded: each archive trains its own compression
    dictionary from the rows it stored first, so the packed bytes differ between runs), media
    index and checkpoints, in key order."""
    from tgx.archive.codec import RecordCodec

    con = sqlite3.connect(f"file:{out / STATE / 'archive.sqlite'}?mode=ro", uri=True)
    try:
        expand = RecordCodec(dict(con.execute("SELECT id, data FROM dictionaries").fetchall()).get).expand
        return {
            "messages": [(*row[:5], expand(row[5])) for row in con.execute(
                "SELECT chat_id, id, date, edit_date, deleted, data FROM messages ORDER BY chat_id, id")],
            "media": con.execute("SELECT media_id, path, size, sha256, status FROM media ORDER BY media_id").fetchall(),
            "checkpoints": con.execute("SELECT chat_id, data FROM checkpoints ORDER BY chat_id").fetchall(),
            "integrity": con.execute("PRAGMA integrity_check").fetchall(),
        }
    finally:
        con.close()


def assert_same_export(out: Path, reference: Path) -> None:
    got, want = snapshot(out), snapshot(reference)
    assert sorted(got) == sorted(want), (sorted(set(got) ^ set(want)))[:10]
    different = [name for name in want if got[name] != want[name]]
    assert not different, different[:10]
    a, b = archive_state(out), archive_state(reference)
    assert a["integrity"] == [("ok",)]
    assert len(a["messages"]) == len(b["messages"])
    assert a == b


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tgx: error:")]


def one_error(result: Any) -> str:
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "ValueError" not in result.stderr, result.stderr
    return lines[0]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_tgx(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
            ) -> Callable[..., Result]:
    """``run_tgx(config, *argv)``: the real CLI in this process (cheaper than a subprocess)."""
    from tgx.cli import main

    for name in list(os.environ):
        if name.startswith("TGX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TGX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)

    def run(config: Path, *argv: str) -> Result:
        capsys.readouterr()
        code = main(["--config", str(config), *argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export of CHANNEL that never failed (jsonl + csv)."""
    root = tmp_path_factory.mktemp("baseline")
    cfg = write_config(root / "tgx.toml", {"chats": [CHANNEL]})
    r = tgx(root, "export", "@" + CHAT, "-o", "out", "-f", "jsonl,csv", config=cfg)
    assert r.returncode == 0, r.stderr
    return root / "out"


def export_args(out: str = "out", *extra: str) -> list[str]:
    return ["export", "@" + CHAT, "-o", out, "-f", "jsonl,csv", *extra]


def faulty(tmp_path: Path, *faults: dict[str, Any], name: str = "faulty.toml", **top: Any) -> Path:
    return write_config(tmp_path / name, {"chats": [CHANNEL], "faults": list(faults), **top})


def clean(tmp_path: Path, **top: Any) -> Path:
    return write_config(tmp_path / "clean.toml", {"chats": [CHANNEL], **top})


# -- flood waits -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["flood_wait", "flood_premium_wait"])
def test_short_flood_wait_is_slept_shown_and_counted(tmp_path, run_tgx, baseline, kind):
    cfg = faulty(tmp_path, {"type": kind, "request": "GetHistory", "seconds": 2, "after": 3})
    r = run_tgx(cfg, *export_args("out", "--max-flood-wait", "10"))
    assert r.returncode == 0, r.stderr
    assert "waiting 2 s: Telegram rate limit" in r.stderr
    assert "Traceback" not in r.stderr and "unsuccessful" not in r.stderr
    totals = json.loads((tmp_path / "out" / METRICS).read_text())["totals"]
    assert totals["flood_waits"] == 1 and totals["flood_wait_seconds"] == 2
    assert_same_export(tmp_path / "out", baseline)


@pytest.mark.parametrize(("kind", "words"), [("flood_wait", "more than --max-flood-wait 5 s"),
                                              ("flood_premium_wait", "non-Premium")])
def test_long_flood_wait_stops_cleanly_and_resumes(tmp_path, run_tgx, baseline, kind, words):
    cfg = faulty(tmp_path, {"type": kind, "request": "GetHistory", "seconds": 30, "after": 12})
    r = run_tgx(cfg, *export_args("out", "--max-flood-wait", "5"))
    assert r.returncode == ExitCode.NETWORK, r.stderr
    line = one_error(r)
    assert "wait 30 s" in line and words in line and "progress is saved" in line
    assert "run the same command again" in r.stderr
    kept = archived_count(tmp_path / "out")
    assert 0 < kept < CHANNEL["messages"]  # pages fetched before the wait stayed committed
    assert json.loads((tmp_path / "out" / METRICS).read_text())["run"]["exit_code"] == ExitCode.NETWORK

    r = run_tgx(clean(tmp_path), *export_args("out"))
    assert r.returncode == 0, r.stderr
    assert_same_export(tmp_path / "out", baseline)


# -- dropped connections -------------------------------------------------------------------------------


@pytest.mark.parametrize("fatal", [False, True], ids=["transient", "fatal"])
def test_dropped_connection_is_retried_and_nothing_is_lost(tmp_path, run_tgx, baseline, fatal):
    log = tmp_path / "requests.jsonl"
    cfg = faulty(tmp_path, {"type": "drop", "request": "GetHistory", "after": 5, "times": 2, "fatal": fatal},
                 request_log=str(log))
    r = run_tgx(cfg, *export_args("out"))
    assert r.returncode == 0, r.stderr
    assert_same_export(tmp_path / "out", baseline)
    dropped = [e for e in read_request_log(str(log)) if e["error"] == "DROPPED"]
    assert len(dropped) == 2
    if fatal:
        assert "connection problem" in r.stderr  # the runner reconnected (Telethon did not hide it)
        assert json.loads((tmp_path / "out" / METRICS).read_text())["counters"].get("retries", 1) >= 1


def test_connection_that_stays_down_stops_cleanly_and_resumes(tmp_path, run_tgx, baseline):
    cfg = faulty(tmp_path, {"type": "drop", "request": "GetHistory", "after": 12, "times": 0, "fatal": True})
    r = run_tgx(cfg, *export_args("out", "--max-reconnects", "1"))
    assert r.returncode == ExitCode.NETWORK, r.stderr
    line = one_error(r)
    assert "failed 2 times in a row" in line and "progress is saved" in line
    assert 0 < archived_count(tmp_path / "out") < CHANNEL["messages"]
    r = run_tgx(clean(tmp_path), *export_args("out"))
    assert r.returncode == 0, r.stderr
    assert_same_export(tmp_path / "out", baseline)


# -- takeout -----------------------------------------------------------------------------------------------


def test_takeout_wraps_history_and_finishes(tmp_path, run_tgx, baseline):
    log = tmp_path / "requests.jsonl"
    r = run_tgx(clean(tmp_path, request_log=str(log)), *export_args("out", "--takeout"))
    assert r.returncode == 0, r.stderr
    assert_same_export(tmp_path / "out", baseline)
    entries = read_request_log(str(log))
    types = [e["type"] for e in entries]
    history = [e for e in entries if e["type"] == "GetHistoryRequest"]
    assert history and all(e["takeout"] for e in history)
    init, finish = types.index("InitTakeoutSessionRequest"), types.index("FinishTakeoutSessionRequest")
    first_history = types.index("GetHistoryRequest")
    assert init < first_history < finish and types.count("InitTakeoutSessionRequest") == 1
    assert entries[finish]["takeout"] and entries[finish]["error"] is None
    assert not any(e["takeout"] for e in entries if e["type"] not in ("GetHistoryRequest",
                                                                      "FinishTakeoutSessionRequest"))


def test_takeout_init_delay_stops_with_the_delay(tmp_path, run_tgx):
    log = tmp_path / "requests.jsonl"
    cfg = faulty(tmp_path, {"type": "takeout_delay", "seconds": 86400}, request_log=str(log))
    r = run_tgx(cfg, *export_args("out", "--takeout"))
    assert r.returncode == ExitCode.NETWORK, r.stderr
    line = one_error(r)
    assert "86400 s (~24.0 h)" in line and "confirm the data export" in line
    assert "--takeout-fallback" in r.stderr
    assert "GetHistoryRequest" not in {e["type"] for e in read_request_log(str(log))}


def test_takeout_fallback_continues_with_the_normal_api(tmp_path, run_tgx, baseline):
    log = tmp_path / "requests.jsonl"
    cfg = faulty(tmp_path, {"type": "takeout_delay", "seconds": 3600}, request_log=str(log))
    r = run_tgx(cfg, *export_args("out", "--takeout-fallback"))
    assert r.returncode == 0, r.stderr
    assert "tgx: warning:" in r.stderr and "continuing without --takeout" in r.stderr
    history = [e for e in read_request_log(str(log)) if e["type"] == "GetHistoryRequest"]
    assert history and not any(e["takeout"] for e in history)
    assert_same_export(tmp_path / "out", baseline)


def test_takeout_is_finished_when_the_export_fails(tmp_path, run_tgx):
    log = tmp_path / "requests.jsonl"
    cfg = faulty(tmp_path, {"type": "private", "chat": CHAT, "after": 8}, request_log=str(log))
    r = run_tgx(cfg, *export_args("out", "--takeout"))
    assert r.returncode == ExitCode.NOT_FOUND, r.stderr
    types = [e["type"] for e in read_request_log(str(log))]
    assert types[-1] == "FinishTakeoutSessionRequest"


def test_takeout_request_with_files_serializes():
    """Telethon refuses ``files=True`` without ``file_max_size``; tgx always sets both."""
    from types import SimpleNamespace

    from tgx.media import MediaOptions
    from tgx.telegram.takeout import MAX_TELEGRAM_FILE, TakeoutSession

    req = SimpleNamespace(takeout=True, takeout_fallback=False,
                          media=MediaOptions(kinds=frozenset({"photo"}), max_size=5_000_000))
    session = TakeoutSession.for_export(SimpleNamespace(), None, req)
    init = session.init_request()
    assert init.files and init.file_max_size == 5_000_000
    bytes(init)  # serializes
    no_media = TakeoutSession.for_export(SimpleNamespace(), None, SimpleNamespace(takeout=True, media=None))
    assert no_media.init_request().files is None and no_media.init_request().file_max_size is None
    req.media.max_size = None
    assert TakeoutSession.for_export(SimpleNamespace(), None, req).init_request().file_max_size == MAX_TELEGRAM_FILE


# -- Ctrl-C / SIGTERM ----------------------------------------------------------------------------------------


def _slow_config(tmp_path: Path) -> Path:
    # Latency and a rate limit (with the flood waits it causes) make the fetch last seconds.
    return write_config(tmp_path / "slow.toml", {"chats": [CHANNEL], "latency_ms": 40, "rate_limit": 6})


def _wait_for_commit(proc: Any, out: Path, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while (n := archived_count(out)) == 0:
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "no batch was committed in time"
        time.sleep(0.01)
    return n


def _no_temp_files(out: Path) -> None:
    leftovers = [p for p in out.rglob("*") if p.name.endswith((".tgx-tmp", ".part"))]
    assert not leftovers, leftovers


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_commits_and_resumes(tmp_path, baseline, sig):
    out = tmp_path / "out"
    proc = tgx_popen(tmp_path, *export_args("out"), config=_slow_config(tmp_path))
    seen = _wait_for_commit(proc, out)
    proc.send_signal(sig)
    _stdout, stderr = proc.communicate(timeout=60)
    stderr = stderr.decode()
    assert proc.returncode == ExitCode.INTERRUPTED, stderr
    assert "interrupted; run the same command again to resume" in stderr
    assert "Traceback" not in stderr and "error" not in stderr.lower(), stderr
    assert seen <= archived_count(out) < CHANNEL["messages"], (seen, archived_count(out), stderr)
    _no_temp_files(out)
    assert not (out / CHAT / "messages.jsonl").exists(), stderr  # skipped the render, wrote nothing half
    metrics = json.loads((out / METRICS).read_text())
    assert metrics["run"]["exit_status"] == "interrupted" and metrics["run"]["exit_code"] == 130, metrics["run"]

    r = tgx(tmp_path, *export_args("out"), config=clean(tmp_path))
    assert r.returncode == 0, r.stderr
    assert_same_export(out, baseline)


def test_second_interrupt_quits_at_once_and_stays_resumable(tmp_path, baseline):
    out = tmp_path / "out"
    proc = tgx_popen(tmp_path, *export_args("out"), config=_slow_config(tmp_path))
    _wait_for_commit(proc, out)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.005)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=60)
    stderr = stderr.decode()
    # 130 from tgx itself; -SIGINT when the second signal landed while Python was already exiting.
    assert proc.returncode in (ExitCode.INTERRUPTED, -signal.SIGINT), stderr
    assert "Traceback" not in stderr
    if "interrupted again" in stderr:
        assert proc.returncode == ExitCode.INTERRUPTED
    assert archive_state(out)["integrity"] == [("ok",)]
    r = tgx(tmp_path, *export_args("out"), config=clean(tmp_path))
    assert r.returncode == 0, r.stderr
    assert_same_export(out, baseline)


# -- --refresh-edits -------------------------------------------------------------------------------------------

SMALL = {"kind": "channel", "username": "edits", "title": "Edits", "messages": 400, "media": False}
FORMATS = "jsonl,csv,txt,markdown"


def forget_position(out: Path) -> None:
    """Drop every pts the archive keeps (tgx.sync.state), as an archive written before it did."""
    con = sqlite3.connect(out / STATE / "archive.sqlite")
    try:
        with con:
            con.execute("DELETE FROM meta WHERE key LIKE 'sync.%'")
    finally:
        con.close()


def test_refresh_edits_replaces_edits_and_flags_deletions(tmp_path, run_tgx):
    world = SimulatedTelegram.from_scenario({"chats": [SMALL]})
    ids = list(world.expected_ids("edits"))
    newest = world.tl_message("edits", ids[-1]).date
    in_window = [i for i in ids if (newest - world.tl_message("edits", i).date).days < 7]
    assert 100 < len(in_window) < 200  # one message an hour: about a week of them
    texts = [i for i in in_window if world.facts("edits", i).kind not in SERVICE_KINDS]
    edited = [texts[-3], texts[10]]
    deleted = [texts[-1], texts[-5], in_window[40]]
    old_deleted = ids[20]  # deleted too, but older than the window: not re-checked
    log = tmp_path / "requests.jsonl"
    before = write_config(tmp_path / "before.toml", {"chats": [SMALL]})
    after = write_config(tmp_path / "after.toml", {"request_log": str(log), "chats": [
        {**SMALL, "edited": edited, "deleted": [*deleted, old_deleted]}]})

    assert run_tgx(before, "export", "@edits", "-o", "out", "-f", FORMATS).returncode == 0
    first = read_jsonl(tmp_path / "out" / "edits" / "messages.jsonl")
    forget_position(tmp_path / "out")  # an archive from before tgx kept the chat's pts (tgx.sync)
    rendered = snapshot(tmp_path / "out")

    # Without a position to catch up from, incremental sync does not see edits or deletions of
    # archived messages (with one, a rerun applies them exactly: tests/test_sync_e2e.py).
    r = run_tgx(after, "export", "@edits", "-o", "out", "-f", FORMATS)
    assert r.returncode == 0, r.stderr
    assert snapshot(tmp_path / "out") == rendered

    log.unlink()
    r = run_tgx(after, "export", "@edits", "-o", "out", "-f", FORMATS, "--refresh-edits", "7")
    assert r.returncode == 0, r.stderr
    assert "2 edited" in r.stderr and "3 deleted" in r.stderr
    history = [e for e in read_request_log(str(log)) if e["type"] == "GetHistoryRequest"]
    assert len(history) <= 4  # the window (~170 messages) plus the incremental top page

    rows = {m["id"]: m for m in read_jsonl(tmp_path / "out" / "edits" / "messages.jsonl")}
    assert [m["id"] for m in first] == sorted(rows)  # nothing lost, nothing added
    for m in first:
        now = rows[m["id"]]
        if m["id"] in edited:
            assert now["text"].endswith(" (edited later)") and now["edit_date"] != m["edit_date"]
            assert [v["text"] for v in now["history"]] == [m["text"]]  # the version it replaced, kept
            assert not now["deleted"]
        elif m["id"] in deleted:
            assert now["deleted"] is True and now["text"] == m["text"] and now["deleted_at"]  # kept, flagged
        else:
            assert now == m, m["id"]
    csv_text = (tmp_path / "out" / "edits" / "messages.csv").read_text(encoding="utf-8-sig")
    assert csv_text.count("(edited later)") == 2
    txt = (tmp_path / "out" / "edits" / "messages.txt").read_text()
    assert txt.count("[deleted ") == 3  # with when tgx learned it
    assert all((rows[i]["deleted"] is False) for i in [old_deleted])


def test_refresh_edits_rejects_bad_values(tmp_path, run_tgx):
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [SMALL]})
    r = run_tgx(cfg, "export", "@edits", "-o", "out", "--refresh-edits", "0")
    assert r.returncode == ExitCode.USAGE
    assert "--refresh-edits" in r.stderr


def test_simulator_deletions_page_like_telegram(sim_run):
    """The scenario keys behind the refresh test: deleted ids vanish from GetHistory without
    shifting other messages' contents; edited ones get new text and edit date."""
    plain = SimulatedTelegram.from_scenario({"chats": [SMALL]})
    changed = SimulatedTelegram.from_scenario({"chats": [{**SMALL, "edited": [399], "deleted": [5, 398, 999]}]})
    assert list(changed.expected_ids("edits")) == [i for i in plain.expected_ids("edits") if i not in (5, 398)]

    async def top(client: Any) -> list[Any]:
        return [m async for m in client.iter_messages("edits", limit=150, wait_time=0)]

    got = {m.id: m for m in sim_run(top, world=changed)}
    want = {m.id: m for m in sim_run(top, world=plain)}
    assert 398 not in got and len(got) == 150
    assert got[399].message.endswith(" (edited later)") and got[399].edit_date is not None
    for i in (set(got) & set(want)) - {399}:
        assert bytes(got[i]) == bytes(want[i])
    with pytest.raises(Exception, match="positive message ids"):
        validate({"chats": [{**SMALL, "deleted": ["x"]}]})



# -- the signal handling itself, deterministically --------------------------------------------------------

SLOW_UNWIND = """
import asyncio, sys, time
from tgx.cli.interrupt import run_cli, sync_section

async def main(mode):
    if mode == "sync":  # blocking code (like a render): the first signal unwinds it right there
        with sync_section():
            try:
                print("ready", flush=True)
                while True:
                    time.sleep(0.01)
            finally:
                print("cleaned up", flush=True)
    print("ready", flush=True)
    while True:  # a slow unwind: ignores the first cancellation for a while
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            print("cancelled", flush=True)
            await asyncio.sleep(30)

try:
    run_cli(main(sys.argv[1]))
except SystemExit:
    raise
except BaseException as exc:  # typer.Exit
    sys.exit(getattr(exc, "exit_code", 99))
"""


def _signal_script(tmp_path: Path, mode: str) -> subprocess.Popen:
    script = tmp_path / "unwind.py"
    script.write_text(SLOW_UNWIND)
    proc = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline() == "ready\n"
    return proc


def test_second_signal_exits_at_once_while_the_first_unwinds(tmp_path):
    proc = _signal_script(tmp_path, "async")
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline() == "cancelled\n"  # the first one only cancelled the task
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "press Ctrl-C again to quit at once" in err and "interrupted again: quitting now" in err


def test_signal_during_blocking_code_unwinds_through_finally(tmp_path):
    proc = _signal_script(tmp_path, "sync")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert out == "cleaned up\n"
    assert "tgx: interrupted; run the same command again to resume" in err
