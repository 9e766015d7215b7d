"""The metrics collector: maths, thread safety, sink isolation, secrets, Telethon flood waits."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any

import pytest
from tgx.metrics.collector import STAGES, Metrics, Stage, TelethonFloodWaits


class FakeClock:
    """A perf_counter the test moves by hand: durations and windows become exact."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.closed = 0
        self.lock = threading.Lock()

    def event(self, snapshot):
        with self.lock:
            self.events.append(snapshot)

    def report(self, report):
        self.reports.append(report)

    def close(self):
        self.closed += 1


class RaisingSink(RecordingSink):
    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where
        self.calls = 0

    def event(self, snapshot):
        self.calls += 1
        if self.where == "event":
            raise RuntimeError("disk on fire\nsecond line")
        super().event(snapshot)

    def report(self, report):
        self.calls += 1
        if self.where == "report":
            raise OSError("no space left")
        super().report(report)


def make(sinks=(), clock=None, **kw) -> tuple[Metrics, list[str]]:
    warnings: list[str] = []
    m = Metrics(list(sinks), interval=kw.pop("interval", 0),
                run_info=kw.pop("run_info", {"command": "export"}), warn=warnings.append,
                resources=kw.pop("resources", False), clock=clock or time.perf_counter, **kw)
    return m, warnings


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


# -- maths -----------------------------------------------------------------------------------------


def test_percentiles_of_synthetic_spans_are_within_histogram_error():
    clock = FakeClock()
    stage = Stage("fetch", clock)
    durations = [i / 1000 for i in range(1, 1001)]  # 1 ms .. 1000 ms
    for d in reversed(durations):
        clock.now += d
        stage.add(items=10, seconds=d)
    snap = stage.snapshot()
    spans = snap["span_s"]
    assert spans["min"] == pytest.approx(0.001)
    assert spans["max"] == pytest.approx(1.0)
    assert spans["mean"] == pytest.approx(sum(durations) / 1000)
    # nearest rank: the 500th, 950th and 990th smallest durations; the histogram is within ~2.2 %
    assert spans["p50"] == pytest.approx(0.500, rel=0.025)
    assert spans["p95"] == pytest.approx(0.950, rel=0.025)
    assert spans["p99"] == pytest.approx(0.990, rel=0.025)
    assert stage.quantile(0.0) == pytest.approx(0.001, rel=0.025)
    assert stage.quantile(1.0) == pytest.approx(1.0)
    assert snap["calls"] == 1000 and snap["items"] == 10_000


def test_percentile_of_few_spans_is_exact_thanks_to_clamping():
    stage = Stage("x", FakeClock())
    stage.add(seconds=0.0123)
    spans = stage.snapshot()["span_s"]
    assert spans["p50"] == spans["p95"] == spans["min"] == spans["max"] == pytest.approx(0.0123)


def test_percentiles_separate_two_populations():
    stage = Stage("download", FakeClock())
    for _ in range(90):
        stage.add(seconds=0.002)
    for _ in range(10):
        stage.add(seconds=3.0)
    assert stage.quantile(0.5) == pytest.approx(0.002, rel=0.025)
    assert stage.quantile(0.95) == pytest.approx(3.0, rel=0.025)


def test_extreme_and_negative_durations_are_clamped_not_raised():
    stage = Stage("x", FakeClock())
    stage.add(seconds=0.0)
    stage.add(seconds=-1.0)
    stage.add(seconds=1e-12)
    stage.add(seconds=10 ** 9)
    snap = stage.snapshot()
    assert snap["calls"] == 4
    assert snap["span_s"]["min"] == 0.0
    assert snap["span_s"]["max"] == 10 ** 9
    assert snap["span_s"]["p50"] <= 1e-6


def test_histogram_memory_is_bounded():
    stage = Stage("x", FakeClock())
    size = len(stage._hist)
    for i in range(50_000):
        stage.add(items=1, seconds=(i % 997) * 1e-4 + 1e-6)
    assert len(stage._hist) == size
    assert sum(stage._hist) == 50_000


def test_throughput_uses_the_active_window_and_concurrency_the_busy_time():
    clock = FakeClock()
    m, _ = make(clock=clock)
    fetch = m.stage("fetch")
    # two workers overlapping: spans [0, 2] and [1, 3] -> window 3 s, busy 4 s
    clock.now = 2.0
    fetch.add(items=100, seconds=2.0, nbytes=1000)
    clock.now = 3.0
    fetch.add(items=200, seconds=2.0, nbytes=2000)
    snap = m.snapshot()["stages"]["fetch"]
    assert snap["wall_seconds"] == pytest.approx(3.0)
    assert snap["seconds"] == pytest.approx(4.0)
    assert snap["items_per_s"] == pytest.approx(100.0)
    assert snap["bytes_per_s"] == pytest.approx(1000.0)
    assert snap["concurrency"] == pytest.approx(4 / 3, rel=1e-3)


def test_unused_stage_has_null_rates_and_no_spans():
    m, _ = make()
    snap = m.snapshot()
    assert set(STAGES) <= set(snap["stages"])
    st = snap["stages"]["encode"]
    assert st["items"] == 0 and st["items_per_s"] is None and st["span_s"] is None


def test_span_context_manager_times_counts_and_flags_errors():
    clock = FakeClock()
    m, _ = make(clock=clock)
    with m.span("fetch") as sp:
        clock.now += 0.25
        sp.items = 100
        sp.nbytes = 5000
    with pytest.raises(ValueError), m.span("fetch", items=0):
        clock.now += 0.5
        raise ValueError("boom")
    with pytest.raises(KeyboardInterrupt), m.span("fetch"):
        raise KeyboardInterrupt
    st = m.snapshot()["stages"]["fetch"]
    assert st["items"] == 100 and st["bytes"] == 5000
    assert st["calls"] == 3
    assert st["errors"] == 1  # the KeyboardInterrupt is not an error of the stage
    assert st["seconds"] == pytest.approx(0.75)
    assert st["span_s"]["max"] == pytest.approx(0.5)


def test_span_around_awaits_in_concurrent_tasks():
    m, _ = make()

    async def worker(n: int) -> None:
        for _ in range(n):
            with m.span("download", items=1, nbytes=10):
                await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(worker(50) for _ in range(8)))

    asyncio.run(main())
    st = m.snapshot()["stages"]["download"]
    assert st["items"] == 400 and st["calls"] == 400 and st["bytes"] == 4000 and st["errors"] == 0


def test_record_errors_retries_flood_waits_gauges_counters():
    m, _ = make()
    m.record("fetch", 0.01, items=100)
    m.record("archive", None, items=100)  # count only: no span
    m.count_error("download")
    m.retry("download", 2)
    m.flood_wait("fetch", 5)
    m.flood_wait("fetch", 7.5)
    m.flood_wait(None, 3)  # not attributable to a stage: totals only
    m.gauge("concurrency", 4)
    m.gauge("concurrency", 9)
    m.gauge("concurrency", 2)
    m.incr("media_dedupe_hits")
    m.incr("media_dedupe_hits", 4)
    snap = m.snapshot()
    st = snap["stages"]
    assert st["archive"]["calls"] == 0 and st["archive"]["items"] == 100
    assert st["download"]["errors"] == 1 and st["download"]["retries"] == 2
    assert st["fetch"]["flood_waits"] == 2 and st["fetch"]["flood_wait_seconds"] == pytest.approx(12.5)
    assert snap["totals"]["flood_waits"] == 3
    assert snap["totals"]["flood_wait_seconds"] == pytest.approx(15.5)
    assert snap["gauges"]["concurrency"] == {"last": 2, "max": 9}
    assert snap["counters"]["media_dedupe_hits"] == 5


def test_custom_stage_names_are_reported():
    m, _ = make()
    m.record("transcode-probe", 0.1, items=1)
    assert m.snapshot()["stages"]["transcode-probe"]["items"] == 1


def test_totals_fall_back_to_stages_and_prefer_counters():
    m, _ = make()
    m.record("fetch", 0.1, items=120)
    m.record("archive", 0.1, items=100)
    m.record("download", 0.1, items=3, nbytes=3000)
    totals = m.snapshot()["totals"]
    assert totals["messages"] == 100  # archived, not merely fetched
    assert totals["media_files"] == 3 and totals["media_bytes"] == 3000
    assert totals["requests"] == 0 and totals["warnings"] == 0
    for name, value in (("messages", 99), ("media_files", 2), ("media_bytes", 10), ("requests", 7),
                        ("warnings", 1)):
        m.incr(name, value)
    totals = m.snapshot()["totals"]
    assert (totals["messages"], totals["media_files"], totals["media_bytes"], totals["requests"],
            totals["warnings"]) == (99, 2, 10, 7, 1)


def test_thread_safety_smoke():
    m, _ = make()
    stage = m.stage("normalize")
    threads_n, per_thread = 8, 5000

    def work() -> None:
        for i in range(per_thread):
            stage.add(items=2, seconds=1e-4, nbytes=3)
            m.incr("messages")
            m.gauge("g", i)
            if i % 100 == 0:
                m.snapshot()

    threads = [threading.Thread(target=work) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = m.snapshot()
    st = snap["stages"]["normalize"]
    total = threads_n * per_thread
    assert st["calls"] == total and st["items"] == 2 * total and st["bytes"] == 3 * total
    assert snap["counters"]["messages"] == total
    assert snap["gauges"]["g"]["max"] == per_thread - 1


# -- report ----------------------------------------------------------------------------------------


def test_finish_builds_a_complete_report_once():
    sink = RecordingSink()
    m, _ = make([("rec", sink)], run_info={"command": "export", "chats": ["durov"], "formats": ["jsonl"],
                                          "plugins_enabled": ["jsonl", "peer_cache"], "out_dir": "/tmp/x"})
    m.start()
    m.record("fetch", 0.01, items=10)
    report = m.finish("ok", 0, extra={"totals": {"messages": 10}, "chat_results": [{"chat": "durov"}]})
    assert report["schema_version"] == 1 and report["complete"] is True
    run = report["run"]
    assert run["command"] == "export" and run["chats"] == ["durov"] and run["formats"] == ["jsonl"]
    assert run["exit_status"] == "ok" and run["exit_code"] == 0
    assert run["started_at"].endswith("Z") and run["finished_at"].endswith("Z")
    assert run["duration_s"] >= 0 and run["sinks_enabled"] == ["rec"]
    assert report["chat_results"] == [{"chat": "durov"}]
    assert sink.reports == [report] and sink.closed == 1
    again = m.finish("failed", 1)
    assert again is report and len(sink.reports) == 1 and sink.closed == 1
    json.dumps(report)  # plain JSON types only


def test_snapshot_is_marked_incomplete():
    m, _ = make()
    snap = m.snapshot()
    assert snap["complete"] is False
    assert snap["run"]["finished_at"] is None and snap["run"]["exit_code"] is None
    assert snap["run"]["exit_status"] == "running"


def test_unknown_run_info_key_is_refused():
    with pytest.raises(ValueError, match="api_hash"):
        Metrics([], 0, {"command": "export", "api_hash": "x"}, resources=False)


def test_secrets_never_reach_a_report_or_a_snapshot():
    secret = "0123456789abcdef0123456789abcdef"
    sink = RecordingSink()
    m, _ = make([("rec", sink)], run_info={"command": "export", "chats": [f"chat-{secret}"]},
                secrets=[secret, None, "ab"])
    m.add_cache_source(f"cache{secret}", lambda: {"hits": 1, "misses": 0})
    m._tick()
    report = m.finish("ok", 0, extra={"note": f"token {secret}"})
    for doc in (*sink.events, report):
        text = json.dumps(doc)
        assert secret not in text
        assert "***" in text


def test_cache_sources_numbers_only_hit_rate_and_failures():
    m, warnings = make()
    m.add_cache_source("peer_cache", lambda: {"size": 10, "hits": 30, "misses": 10, "evictions": 2,
                                              "expirations": 1, "owner": "secret-ish", "ok": True})
    m.add_cache_source("media_dedupe", lambda: {"hits": 0, "misses": 0})

    def broken() -> dict:
        raise RuntimeError("stats exploded")

    m.add_cache_source("broken", broken)
    caches = m.snapshot()["caches"]
    assert caches["peer_cache"] == {"size": 10, "hits": 30, "misses": 10, "evictions": 2, "expirations": 1,
                                    "ok": 1, "hit_rate": 0.75}
    assert caches["media_dedupe"]["hit_rate"] is None
    assert "broken" not in caches
    assert warnings == ["metrics cache source 'broken' failed: RuntimeError: stats exploded; "
                        "disabled for this run"]
    m.snapshot()
    assert len(warnings) == 1  # once


def test_raising_sink_is_disabled_with_one_warning_and_others_go_on():
    good, bad_event, bad_report = RecordingSink(), RaisingSink("event"), RaisingSink("report")
    m, warnings = make([("bad", bad_event), ("good", good), ("late", bad_report)])
    m.start()
    for _ in range(3):
        m._tick()
    report = m.finish("ok", 0)
    assert len(good.events) == 3 and good.reports == [report]
    assert bad_event.calls == 1  # never called again after failing
    assert len(bad_report.events) == 3 and bad_report.reports == []
    assert warnings == [
        "metrics sink 'bad' failed: RuntimeError: disk on fire second line; disabled for this run",
        "metrics sink 'late' failed: OSError: no space left; disabled for this run",
    ]
    assert good.closed == bad_event.closed == bad_report.closed == 1  # everyone is closed
    assert m.sink_names == ["good"]


def test_each_sink_gets_its_own_copy():
    class Mutating(RecordingSink):
        def event(self, snapshot):
            snapshot["stages"].clear()

    good = RecordingSink()
    m, _ = make([("mut", Mutating()), ("good", good)])
    m.record("fetch", 0.1, items=1)
    m._tick()
    assert good.events[0]["stages"]["fetch"]["items"] == 1


def test_periodic_ticks_reach_sinks_and_stop_at_finish():
    sink = RecordingSink()
    m, _ = make([("rec", sink)], interval=0.02, resources=True)
    m.start()
    m.record("fetch", 0.001, items=5)
    wait_for(lambda: len(sink.events) >= 3)
    report = m.finish("ok", 0)
    n_events = len(sink.events)
    time.sleep(0.1)
    assert len(sink.events) == n_events  # no event after the report
    assert all(e["complete"] is False for e in sink.events)
    assert sink.events[-1]["stages"]["fetch"]["items"] == 5
    assert report["resources"]["samples"] >= 3


def test_outputs_lists_sinks_with_a_path():
    class WithPath(RecordingSink):
        path = "/out/export_metrics.json"

    m, _ = make([("metrics_json", WithPath()), ("other", RecordingSink())])
    assert m.outputs() == {"metrics_json": "/out/export_metrics.json"}


# -- Telethon's own flood waits ------------------------------------------------------------------


def test_telethon_flood_waits_are_counted_without_printing_anything():
    from telethon.client.users import _fmt_flood
    from telethon.tl.functions.messages import GetHistoryRequest
    from telethon.tl.functions.upload import GetFileRequest

    captured: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record):
            captured.append(record)

    parent = logging.getLogger("telethon")
    handler = Capture(level=logging.NOTSET)
    parent.addHandler(handler)
    logger = logging.getLogger("telethon.client.users")
    old_level = logger.level
    try:
        m, _ = make()
        with TelethonFloodWaits(m):
            history = GetHistoryRequest(peer=None, offset_id=0, offset_date=None, add_offset=0, limit=100,
                                        max_id=0, min_id=0, hash=0)
            logger.info(*_fmt_flood(5, history))
            logger.info(*_fmt_flood(12, history, early=True))
            logger.info(*_fmt_flood(3, GetFileRequest(location=None, offset=0, limit=1024)))
            logger.info("Phone migrated to %d", 2)
            logger.warning("Telegram is having internal issues %s: %s", "X", "y")
        snap = m.snapshot()
        assert snap["stages"]["fetch"]["flood_waits"] == 2
        assert snap["stages"]["fetch"]["flood_wait_seconds"] == 17
        assert snap["stages"]["download"]["flood_waits"] == 1
        assert snap["totals"]["flood_waits"] == 3
        assert snap["counters"]["flood_wait.GetHistoryRequest"] == 2
        # INFO records stayed as silent as before; the warning went through as before
        assert [r.levelno for r in captured] == [logging.WARNING]
        assert logger.level == old_level
        logger.info(*_fmt_flood(5, history))  # uninstalled: no longer counted
        assert m.snapshot()["totals"]["flood_waits"] == 3
    finally:
        parent.removeHandler(handler)
        logger.setLevel(old_level)
