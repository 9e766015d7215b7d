"""The psutil resource monitor: it samples, keeps peaks, survives callbacks, and stops at once."""

from __future__ import annotations

import os
import time

from tgx.metrics.resources import ResourceMonitor


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def test_monitor_samples_periodically_and_summarizes(tmp_path):
    seen: list[dict] = []
    mon = ResourceMonitor(0.02, seen.append)
    mon.start()
    ballast = bytearray(32 * 1024 * 1024)  # RSS must grow by this much at some sample
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    (tmp_path / "f.bin").write_bytes(b"x" * 1024)
    wait_for(lambda: len(seen) >= 3)
    mon.stop()
    summary = mon.summary()
    assert summary["samples"] >= 4  # the periodic ones plus the final one taken by stop()
    assert summary["rss_bytes_peak"] >= summary["rss_bytes_last"] > 0
    assert summary["rss_bytes_peak"] >= len(ballast)
    assert summary["open_files_peak"] >= 1
    assert summary["cpu_seconds"] is not None and summary["cpu_seconds"] >= 0
    assert summary["cpu_percent_mean"] is None or summary["cpu_percent_mean"] >= 0
    for key in ("disk_read_bytes", "disk_write_bytes", "net_sent_bytes", "net_recv_bytes"):
        assert summary[key] is None or (isinstance(summary[key], int) and summary[key] >= 0)
    assert set(seen[0]) >= {"elapsed_s", "cpu_percent", "rss_bytes", "open_files", "disk_read_bytes",
                            "net_sent_bytes"}
    del ballast


def test_stop_returns_promptly_even_with_a_long_interval():
    mon = ResourceMonitor(3600)
    mon.start()
    thread = mon._thread
    assert thread is not None and thread.daemon
    mon.stop(timeout=10)
    # with a sleep(3600) loop the join would have given up and left the thread running
    assert not thread.is_alive()
    assert mon.samples == 1  # only the final sample


def test_a_raising_callback_does_not_kill_the_thread():
    calls = []

    def boom(sample):
        calls.append(sample)
        raise RuntimeError("sink exploded")

    mon = ResourceMonitor(0.01, boom)
    mon.start()
    wait_for(lambda: len(calls) >= 3)
    assert mon._thread is not None and mon._thread.is_alive()
    mon.stop()


def test_on_demand_only_when_interval_is_zero():
    mon = ResourceMonitor(0)
    mon.start()
    assert mon._thread is None
    sample = mon.sample()
    assert sample["rss_bytes"] > 0
    mon.stop()
    assert mon.samples == 2


def test_open_files_follow_descriptors(tmp_path):
    mon = ResourceMonitor(0)
    mon.start()
    before = mon.sample()["open_files"]
    handles = [open(tmp_path / f"f{i}", "w") for i in range(20)]  # noqa: SIM115
    try:
        during = mon.sample()["open_files"]
    finally:
        for fh in handles:
            fh.close()
    if before is not None and os.name == "posix":
        assert during >= before + 20
        assert mon.summary()["open_files_peak"] >= before + 20
