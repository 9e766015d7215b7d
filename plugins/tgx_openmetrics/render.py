"""Turn a tgx metrics snapshot/report into exposition text (one pure function, easy to test).

The families are built here, the text is written by ``prometheus_client``'s own exposition:
the classic Prometheus text format by default (what node_exporter's textfile collector parses:
every family typed, counters' samples ending in ``_total``), or OpenMetrics (``# EOF`` at the
end) for scrapers that ask for it. ``prometheus_client`` is imported when a file is written,
never at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

Labels = tuple[tuple[str, str], ...]

STAGE_COUNTERS = (
    # (report field, metric name, help)
    ("items", "tgx_stage_items", "Items (messages, files...) processed by the stage."),
    ("calls", "tgx_stage_calls", "Timed spans (batches, requests) recorded by the stage."),
    ("seconds", "tgx_stage_seconds", "Busy time of the stage: the sum of its spans."),
    ("bytes", "tgx_stage_bytes", "Bytes processed by the stage."),
    ("errors", "tgx_stage_errors", "Errors counted in the stage."),
    ("retries", "tgx_stage_retries", "Retries in the stage."),
    ("flood_waits", "tgx_stage_flood_waits", "Flood waits hit by the stage."),
    ("flood_wait_seconds", "tgx_stage_flood_wait_seconds", "Seconds of flood wait in the stage."),
)
STAGE_GAUGES = (
    ("items_per_s", "tgx_stage_items_per_second", "Items per second over the stage's active window."),
    ("bytes_per_s", "tgx_stage_bytes_per_second", "Bytes per second over the stage's active window."),
    ("concurrency", "tgx_stage_concurrency", "Mean overlapping spans: busy time over active window."),
)
TOTAL_COUNTERS = (
    ("messages", "tgx_messages", "Messages exported."),
    ("media_files", "tgx_media_files", "Media files downloaded."),
    ("media_bytes", "tgx_media_bytes", "Media bytes downloaded."),
    ("requests", "tgx_requests", "Requests sent to Telegram."),
    ("flood_waits", "tgx_flood_waits", "Flood waits, all stages."),
    ("flood_wait_seconds", "tgx_flood_wait_seconds", "Seconds spent in flood waits, all stages."),
    ("warnings", "tgx_warnings", "Warnings emitted."),
)
RESOURCE_GAUGES = (
    ("cpu_percent_last", "tgx_cpu_percent", "Process CPU percent at the last sample (100 = one core)."),
    ("rss_bytes_last", "tgx_rss_bytes", "Resident memory at the last sample."),
    ("rss_bytes_peak", "tgx_rss_peak_bytes", "Peak resident memory seen by the sampler."),
    ("open_files_last", "tgx_open_files", "Open file descriptors at the last sample."),
    ("open_files_peak", "tgx_open_files_peak", "Peak open file descriptors seen by the sampler."),
)
RESOURCE_COUNTERS = (
    ("cpu_seconds", "tgx_cpu_seconds", "Process CPU time (user + system) since the start."),
    ("disk_read_bytes", "tgx_disk_read_bytes", "Bytes the process read from storage."),
    ("disk_write_bytes", "tgx_disk_write_bytes", "Bytes the process wrote to storage."),
    ("net_sent_bytes", "tgx_net_sent_bytes", "Bytes sent by the whole system (not only tgx)."),
    ("net_recv_bytes", "tgx_net_recv_bytes", "Bytes received by the whole system (not only tgx)."),
    ("samples", "tgx_resource_samples", "Resource samples taken."),
)
CACHE_COUNTERS = ("hits", "misses", "evictions", "expirations")
QUANTILES = (("p50", "0.5"), ("p95", "0.95"), ("p99", "0.99"))


class _Family:
    __slots__ = ("name", "kind", "help", "samples")

    def __init__(self, name: str, kind: str, help: str) -> None:
        self.name = name
        self.kind = kind
        self.help = help
        self.samples: list[tuple[Labels, float]] = []


class _Builder:
    def __init__(self) -> None:
        self.families: dict[str, _Family] = {}

    def add(self, name: str, kind: str, help: str, value: Any, labels: Labels = ()) -> None:
        if value is None or isinstance(value, str):
            return
        family = self.families.get(name)
        if family is None:
            family = self.families[name] = _Family(name, kind, help)
        family.samples.append((labels, float(value)))

    def text(self, fmt: str) -> str:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

        built = []
        for fam in self.families.values():
            kind = CounterMetricFamily if fam.kind == "counter" else GaugeMetricFamily
            metric = kind(fam.name, fam.help, labels=[k for k, _ in fam.samples[0][0]])
            for labels, value in fam.samples:
                metric.add_metric([v for _, v in labels], value)
            built.append(metric)

        class Snapshot:  # a collector that yields this one snapshot's families
            def collect(self) -> list[Any]:
                return built

        registry = CollectorRegistry(auto_describe=False)
        registry.register(Snapshot())
        generate = generate_openmetrics if fmt == "openmetrics" else generate_latest
        return generate(registry).decode("utf-8")


def _items(section: Any) -> Iterable[tuple[str, Any]]:
    return section.items() if isinstance(section, Mapping) else ()


FORMATS = ("prometheus", "openmetrics")


def render(report: Mapping[str, Any], fmt: str = "prometheus") -> str:
    """Exposition text (``fmt``: one of :data:`FORMATS`) for one snapshot or final report."""
    b = _Builder()
    run = report.get("run") or {}
    b.add("tgx_build_info", "gauge", "Always 1; the tgx version is a label.", 1,
          (("version", str(run.get("tgx_version", ""))), ("command", str(run.get("command") or ""))))
    b.add("tgx_run_complete", "gauge", "1 once the run has finished, 0 while it runs.",
          1 if report.get("complete") else 0)
    started = run.get("started_at")
    if isinstance(started, str):
        try:
            b.add("tgx_run_start_time_seconds", "gauge", "When the run started (Unix time).",
                  datetime.fromisoformat(started).timestamp())
        except ValueError:
            pass
    b.add("tgx_run_duration_seconds", "gauge", "Seconds since the run started (final: its duration).",
          run.get("duration_s"))
    if report.get("complete"):
        b.add("tgx_run_exit_code", "gauge", "The run's exit code (0 = success).", run.get("exit_code"))

    totals = report.get("totals") or {}
    for key, name, help in TOTAL_COUNTERS:
        b.add(name, "counter", help, totals.get(key))

    stages = list(_items(report.get("stages")))
    for key, name, help in STAGE_COUNTERS:
        for stage, st in stages:
            b.add(name, "counter", help, st.get(key), (("stage", stage),))
    for key, name, help in STAGE_GAUGES:
        for stage, st in stages:
            b.add(name, "gauge", help, st.get(key), (("stage", stage),))
    for stage, st in stages:
        spans = st.get("span_s") or {}
        for key, q in QUANTILES:
            b.add("tgx_stage_span_seconds", "gauge", "Span duration quantiles of the stage (~2% error).",
                  spans.get(key), (("stage", stage), ("quantile", q)))
        b.add("tgx_stage_span_max_seconds", "gauge", "Longest span of the stage.", spans.get("max"),
              (("stage", stage),))

    resources = report.get("resources") or {}
    for key, name, help in RESOURCE_GAUGES:
        b.add(name, "gauge", help, resources.get(key))
    for key, name, help in RESOURCE_COUNTERS:
        b.add(name, "counter", help, resources.get(key))

    for cache, stats in _items(report.get("caches")):
        label = (("cache", cache),)
        for key in CACHE_COUNTERS:
            b.add(f"tgx_cache_{key}", "counter", f"Cache {key}.", stats.get(key), label)
        b.add("tgx_cache_size", "gauge", "Entries in the cache.", stats.get("size"), label)
        b.add("tgx_cache_hit_ratio", "gauge", "hits / (hits + misses).", stats.get("hit_rate"), label)
        for key, value in _items(stats):
            if key not in CACHE_COUNTERS and key not in ("size", "hit_rate"):
                b.add("tgx_cache_stat", "gauge", "Other numbers a cache reports.", value,
                      (("cache", cache), ("stat", str(key))))

    for name, cell in _items(report.get("gauges")):
        cell = cell if isinstance(cell, Mapping) else {"last": cell}
        b.add("tgx_gauge", "gauge", "Pipeline gauges (last value).", cell.get("last"), (("name", name),))
        b.add("tgx_gauge_max", "gauge", "Pipeline gauges (peak).", cell.get("max"), (("name", name),))
    for name, value in _items(report.get("counters")):
        b.add("tgx_counter", "counter", "Pipeline counters.", value, (("name", name),))
    return b.text(fmt)
