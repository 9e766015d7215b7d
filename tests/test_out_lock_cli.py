"""One writer per OUT, through the real CLI: a second export or render of one OUT is refused
naming the holder (exit 9), ``--wait-lock`` runs after it, a SIGKILLed holder frees OUT at once,
and read-only commands never take the lock."""

from __future__ import annotations

import json
import signal
import time

from tgx.errors import ExitCode
from tgxrun import archived_count, read_jsonl, request_counts, tgx, tgx_popen

CHANNEL = {"kind": "channel", "username": "lockchan", "title": "Lock channel", "messages": 3_000, "media": False}


def _slow_export(tmp_path, sim_config, out: str = "out"):
    """An export that is still running (≥ 200 messages archived) when this returns."""
    slow = sim_config(tmp_path / "slow.toml", chats=[CHANNEL], latency_ms=250)
    proc = tgx_popen(tmp_path, "export", "@lockchan", "--out", out, "--concurrency", "1", "-q", config=slow)
    deadline = time.monotonic() + 120
    while archived_count(tmp_path / out) < 200:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc


def test_a_second_export_of_one_out_is_refused_naming_the_holder(tmp_path, sim_config):
    log = tmp_path / "second.jsonl"
    second_cfg = sim_config(tmp_path / "second.toml", chats=[CHANNEL], request_log=str(log))
    first = _slow_export(tmp_path, sim_config)
    try:
        second = tgx(tmp_path, "export", "@lockchan", "--out", "out", config=second_cfg)
        render = tgx(tmp_path, "render", "out", "--format", "jsonl", config=second_cfg)
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    assert second.returncode == ExitCode.BUSY, second.stderr
    line = second.stderr.strip().splitlines()[0]
    assert line == (f"tgx: error: out is being written by another tgx process: "
                    f"pid {first.pid} (tgx export)")
    assert "--wait-lock" in second.stderr
    assert "Traceback" not in second.stderr
    assert request_counts(log).get("GetHistoryRequest", 0) == 0  # refused before it asked anything
    assert render.returncode == ExitCode.BUSY
    assert f"pid {first.pid} (tgx export)" in render.stderr


def test_wait_lock_runs_after_the_holder_and_fetches_nothing_twice(tmp_path, sim_config):
    log = tmp_path / "second.jsonl"
    second_cfg = sim_config(tmp_path / "second.toml", chats=[CHANNEL], request_log=str(log))
    first = _slow_export(tmp_path, sim_config)
    second = tgx_popen(tmp_path, "export", "@lockchan", "--out", "out", "--wait-lock", "300", "--json",
                       config=second_cfg)
    assert first.wait(timeout=240) == 0, first.stderr.read().decode()
    out, err = second.communicate(timeout=240)
    assert second.returncode == 0, err.decode()
    assert json.loads(out)["chats"][0]["fetched"] == 0  # the first run archived everything
    assert request_counts(log).get("GetHistoryRequest", 0) <= 2  # only "anything new?"
    ids = [m["id"] for m in read_jsonl(tmp_path / "out" / "lockchan" / "messages.jsonl")]
    assert len(ids) == len(set(ids)) == 3_000


def test_a_sigkilled_holder_frees_out_for_the_next_run_at_once(tmp_path, sim_config):
    cfg = sim_config(chats=[CHANNEL])
    first = _slow_export(tmp_path, sim_config)
    first.send_signal(signal.SIGKILL)
    first.wait()
    rerun = tgx(tmp_path, "export", "@lockchan", "--out", "out", config=cfg)  # no --wait-lock needed
    assert rerun.returncode == 0, rerun.stderr
    assert len(read_jsonl(tmp_path / "out" / "lockchan" / "messages.jsonl")) == 3_000


def test_two_renders_of_one_out_one_waits_and_both_succeed(tmp_path, sim_config):
    cfg = sim_config(chats=[{**CHANNEL, "messages": 20_000}])
    assert tgx(tmp_path, "export", "@lockchan", "--out", "out", "-f", "jsonl", config=cfg).returncode == 0
    procs = [tgx_popen(tmp_path, "render", "out", "-f", "html,jsonl,csv", "--html-page-size", size,
                       "--wait-lock", "300", config=cfg) for size in ("1000", "5000")]
    for proc in procs:
        _out, err = proc.communicate(timeout=280)
        assert proc.returncode == 0, err.decode()
        assert b"Traceback" not in err
    chat = tmp_path / "out" / "lockchan"
    assert not list(chat.rglob("*.tgx-tmp"))
    for page in chat.glob("messages*.html"):
        assert b"\0" not in page.read_bytes()
    assert len(read_jsonl(chat / "messages.jsonl")) == 20_000


def test_render_without_wait_lock_is_refused_while_another_writes(tmp_path, sim_config):
    cfg = sim_config(chats=[CHANNEL])
    assert tgx(tmp_path, "export", "@lockchan", "--out", "out", config=cfg).returncode == 0
    before = (tmp_path / "out" / "lockchan" / "messages.jsonl").read_bytes()
    first = _slow_export(tmp_path, sim_config, out="out2")
    try:
        # The lock is per OUT: a render of another folder runs at once.
        other = tgx(tmp_path, "render", "out", "-f", "jsonl", config=cfg)
        busy = tgx(tmp_path, "render", "out2", "-f", "jsonl", config=cfg)
    finally:
        first.kill()
        first.wait()
    assert other.returncode == 0, other.stderr
    assert (tmp_path / "out" / "lockchan" / "messages.jsonl").read_bytes() == before
    assert busy.returncode == ExitCode.BUSY
    assert f"pid {first.pid}" in busy.stderr


def test_read_only_commands_never_take_the_lock(tmp_path, sim_config):
    cfg = sim_config(chats=[CHANNEL])
    first = _slow_export(tmp_path, sim_config)
    try:
        chats = tgx(tmp_path, "chats", "--json", config=cfg)
        plugins = tgx(tmp_path, "plugins", "--json", config=cfg)
    finally:
        first.kill()
        first.wait()
    assert chats.returncode == 0, chats.stderr
    assert plugins.returncode == 0, plugins.stderr


def test_exports_of_different_chats_into_one_out_keep_each_others_cached_peers(tmp_path, sim_config):
    """Shared state under the lock: the second run loads what the first cached and writes both."""
    other = {**CHANNEL, "username": "otherlock", "title": "Other", "messages": 50}
    cfg = sim_config(chats=[{**CHANNEL, "messages": 50}, other])
    assert tgx(tmp_path, "export", "@lockchan", "--out", "out", config=cfg).returncode == 0
    second = tgx_popen(tmp_path, "export", "@otherlock", "--out", "out", "--wait-lock", "60", config=cfg)
    assert second.wait(timeout=120) == 0, second.stderr.read().decode()
    cached = json.loads((tmp_path / "out" / ".tgx" / "peer_cache.json").read_text())
    keys = json.dumps(cached)
    assert "@lockchan" in keys and "@otherlock" in keys
    assert json.loads((tmp_path / "out" / "export_metrics.json").read_text())["run"]["chats"] == ["@otherlock"]
