"""The always-on metrics collector and the dispatch to metrics sinks.

Why it is shaped like this: the export pipeline records from asyncio code and from worker
threads at tens of thousands of messages a second, so recording must be O(1), lock-cheap and
bounded in memory. Work is recorded *per batch* (``stage.add(items=100, seconds=0.004)``);
span durations go into a fixed log-scale histogram (16 buckets per doubling, ~2 % relative
error on percentiles, 640 ints per stage whatever the run length). Everything else is plain
counters. Sinks see a snapshot every ``interval`` seconds (from the resource monitor's thread,
never from the event loop) and the final report once; each call is isolated, and a sink that
raises is disabled with one warning while the export goes on.

Typical use (the pipeline)::

    metrics = Metrics(build_sinks(pm, config, out_dir, options), interval=5.0,
                      run_info={"command": "export", "chats": [...], "formats": ["jsonl"],
                                "plugins_enabled": [...]}, secrets=[config.api_hash])
    metrics.start()
    fetch = metrics.stage("fetch")             # keep the handle: no dict lookup per batch
    with fetch.span() as sp:                   # works around awaits, too
        batch = await get_batch()
        sp.items = len(batch)
    metrics.record("archive", seconds, items=len(batch))
    metrics.flood_wait("fetch", 5)
    report = metrics.finish("ok", 0)
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tgx import __version__, console
from tgx.console import Warn

if TYPE_CHECKING:
    import logging

    from tgx.config import Config
    from tgx.specs import MetricsSink

SCHEMA_VERSION = 1
REPORT_FILE_NAME = "export_metrics.json"  # what the built-in metrics_json sink writes in OUT/
STAGES = ("resolve", "fetch", "normalize", "archive", "download", "encode", "render")
RUN_INFO_KEYS = frozenset({"command", "plugins_enabled", "chats", "formats", "out_dir"})

# Histogram of span durations: bucket b covers [2**(b/_SUB - _OCTAVES_BELOW_1S), 2**((b+1)/_SUB - ...))
# seconds, from ~60 ns to ~18 h; anything outside is clamped into the first/last bucket.
_SUB = 16  # buckets per doubling: the representative value is within 2**(1/32) ~ 2.2 % of any member
_OCTAVES_BELOW_1S = 24
_NBUCKETS = 40 * _SUB
_MIN_S = 2.0 ** -_OCTAVES_BELOW_1S
_log2 = math.log2





def _utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\r", " ").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _num(value: float) -> float | None:
    """JSON has no NaN/inf: such values become null."""
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------------------------
# Stages


class Span:
    """Times one unit of work (usually a batch) in a stage; set ``items``/``nbytes`` inside.

    An ``Exception`` escaping the block counts one error (and the time spent); cancellation
    and ``KeyboardInterrupt`` record the time only.
    """

    __slots__ = ("_stage", "_t0", "items", "nbytes")

    def __init__(self, stage: Stage, items: int = 0, nbytes: int = 0) -> None:
        self._stage = stage
        self.items = items
        self.nbytes = nbytes
        self._t0 = 0.0

    def __enter__(self) -> Span:
        self._t0 = self._stage._clock()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        stage = self._stage
        end = stage._clock()
        stage._add(self.items, end - self._t0, self.nbytes, end)
        if exc_type is not None and issubclass(exc_type, Exception):
            stage.error()


class Stage:
    """Counters and a duration histogram for one pipeline stage. Thread-safe; get it once."""

    __slots__ = ("name", "_lock", "_clock", "items", "calls", "seconds", "nbytes", "errors", "retries",
                 "flood_waits", "flood_wait_seconds", "min_s", "max_s", "first", "last", "_hist")

    def __init__(self, name: str, clock: Callable[[], float] = time.perf_counter) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._clock = clock
        self.items = 0
        self.calls = 0  # timed spans
        self.seconds = 0.0  # busy time: sum of spans (exceeds wall time when work overlaps)
        self.nbytes = 0
        self.errors = 0
        self.retries = 0
        self.flood_waits = 0
        self.flood_wait_seconds = 0.0
        self.min_s = math.inf
        self.max_s = 0.0
        self.first = math.inf  # active window on the clock: first start .. last end
        self.last = -math.inf
        self._hist = [0] * _NBUCKETS

    # -- recording (hot path) --------------------------------------------------------------------

    def add(self, items: int = 0, seconds: float | None = None, nbytes: int = 0) -> None:
        """Record work done: ``seconds`` is one timed span (None: count items/bytes only)."""
        self._add(items, seconds, nbytes, self._clock())

    def _add(self, items: int, seconds: float | None, nbytes: int, now: float) -> None:
        with self._lock:
            self.items += items
            self.nbytes += nbytes
            start = now
            if seconds is not None:
                if seconds < 0.0:
                    seconds = 0.0
                start = now - seconds
                self.calls += 1
                self.seconds += seconds
                if seconds < self.min_s:
                    self.min_s = seconds
                if seconds > self.max_s:
                    self.max_s = seconds
                if seconds > _MIN_S:
                    b = int((_log2(seconds) + _OCTAVES_BELOW_1S) * _SUB)  # > 0, so int() floors
                    self._hist[b if b < _NBUCKETS else _NBUCKETS - 1] += 1
                else:
                    self._hist[0] += 1
            if start < self.first:
                self.first = start
            if now > self.last:
                self.last = now

    def span(self, items: int = 0, nbytes: int = 0) -> Span:
        return Span(self, items, nbytes)

    def error(self, n: int = 1) -> None:
        with self._lock:
            self.errors += n

    def retry(self, n: int = 1) -> None:
        with self._lock:
            self.retries += n

    def flood_wait(self, seconds: float) -> None:
        with self._lock:
            self.flood_waits += 1
            self.flood_wait_seconds += max(0.0, float(seconds))

    # -- reading ---------------------------------------------------------------------------------

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0..1) of span durations, from the histogram; None without spans."""
        with self._lock:
            return _quantile(self._hist, self.calls, q, self.min_s, self.max_s)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            hist = self._hist[:]
            calls, items, seconds, nbytes = self.calls, self.items, self.seconds, self.nbytes
            min_s, max_s = self.min_s, self.max_s
            wall = (self.last - self.first) if self.first != math.inf else 0.0
            out: dict[str, Any] = {
                "items": items,
                "calls": calls,
                "bytes": nbytes,
                "seconds": round(seconds, 6),
                "wall_seconds": round(wall, 6),
                "items_per_s": _num(round(items / wall, 3)) if wall > 0 else None,
                "bytes_per_s": _num(round(nbytes / wall, 3)) if wall > 0 else None,
                "concurrency": _num(round(seconds / wall, 3)) if wall > 0 else None,
                "errors": self.errors,
                "retries": self.retries,
                "flood_waits": self.flood_waits,
                "flood_wait_seconds": round(self.flood_wait_seconds, 6),
            }
        if calls:
            out["span_s"] = {
                "min": round(min_s, 9),
                "max": round(max_s, 9),
                "mean": round(seconds / calls, 9),
                **{f"p{round(q * 100)}": round(_quantile(hist, calls, q, min_s, max_s) or 0.0, 9)
                   for q in (0.50, 0.95, 0.99)},  # calls > 0: every quantile exists
            }
        else:
            out["span_s"] = None
        return out


def _quantile(hist: list[int], n: int, q: float, lo: float, hi: float) -> float | None:
    """Nearest-rank quantile: the bucket holding the ceil(q*n)-th span, at its geometric middle."""
    if n <= 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for b, count in enumerate(hist):
        seen += count
        if seen >= rank:
            value = 2.0 ** ((b + 0.5) / _SUB - _OCTAVES_BELOW_1S)
            return min(max(value, lo), hi)
    return hi


# ---------------------------------------------------------------------------------------------
# The collector


class _SinkSlot:
    __slots__ = ("name", "sink", "alive")

    def __init__(self, name: str, sink: MetricsSink) -> None:
        self.name = name
        self.sink = sink
        self.alive = True


class Metrics:
    """Collects per-stage timings, counters, gauges, cache stats and resources; feeds the sinks.

    :param sinks: ``(name, sink)`` pairs, e.g. from :func:`build_sinks`.
    :param interval: seconds between snapshots to the sinks and resource samples (``<= 0``: none
        during the run; the report still carries one final resource sample).
    :param run_info: ``command``, ``plugins_enabled``, ``chats``, ``formats``, ``out_dir`` (any
        other key is a ``ValueError``: the report must never carry what it was not designed to).
    :param warn: where one-line warnings go, without the ``tgx: warning:`` prefix (default:
        :func:`tgx.console.warn`).
    :param secrets: strings that must never appear in a snapshot or report (replaced by ``***``).
    :param resources: False to run without the psutil monitor (tests, embedding).
    """

    def __init__(
        self,
        sinks: Sequence[tuple[str, MetricsSink]] = (),
        interval: float = 5.0,
        run_info: Mapping[str, Any] | None = None,
        *,
        warn: Warn | None = None,
        secrets: Iterable[str | None] = (),
        resources: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        run_info = dict(run_info or {})
        unknown = sorted(set(run_info) - RUN_INFO_KEYS)
        if unknown:
            raise ValueError(f"unknown run_info keys: {', '.join(unknown)}")
        self.interval = float(interval)
        self.run_info = run_info
        self._warn = warn or console.warn
        self._secrets = tuple(sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True))
        self._clock = clock
        self._sinks = [_SinkSlot(name, sink) for name, sink in sinks]
        self._sink_lock = threading.RLock()
        self._lock = threading.Lock()  # stages dict, counters, gauges, caches
        self._stages: dict[str, Stage] = {}
        self._counters: dict[str, float] = {}
        self._gauges: dict[str, list[float]] = {}  # name -> [last, max]
        self._caches: dict[str, Callable[[], Mapping[str, Any]]] = {}
        self._unstaged_flood_waits = 0
        self._unstaged_flood_wait_seconds = 0.0
        from tgx.metrics.resources import ResourceMonitor  # psutil: only when a run is measured

        self._monitor = ResourceMonitor(self.interval, self._tick) if resources else None
        self._started_wall = time.time()
        self._started_mono = time.monotonic()
        self._started = False
        self._report: dict[str, Any] | None = None
        for name in STAGES:
            self.stage(name)

    # -- recording API ---------------------------------------------------------------------------

    def stage(self, name: str) -> Stage:
        """The stage's handle (created on first use); keep it to skip a lookup per call."""
        stage = self._stages.get(name)
        if stage is None:
            with self._lock:
                stage = self._stages.get(name)
                if stage is None:
                    stage = self._stages[name] = Stage(name, self._clock)
        return stage

    def span(self, stage: str, items: int = 0, nbytes: int = 0) -> Span:
        """``with metrics.span("fetch", items=n) as sp: ...`` — times the block."""
        return Span(self.stage(stage), items, nbytes)

    def record(self, stage: str, seconds: float | None, items: int = 0, nbytes: int = 0) -> None:
        """Record a span measured elsewhere (``seconds`` None: count items/bytes only)."""
        self.stage(stage).add(items, seconds, nbytes)

    def count_error(self, stage: str, n: int = 1) -> None:
        self.stage(stage).error(n)

    def retry(self, stage: str, n: int = 1) -> None:
        self.stage(stage).retry(n)

    def flood_wait(self, stage: str | None, seconds: float) -> None:
        """One flood wait of ``seconds``; ``stage`` None when it cannot be attributed."""
        if stage is not None:
            self.stage(stage).flood_wait(seconds)
            return
        with self._lock:
            self._unstaged_flood_waits += 1
            self._unstaged_flood_wait_seconds += max(0.0, float(seconds))

    def incr(self, name: str, n: float = 1) -> None:
        """A run counter: ``messages``, ``media_files``, ``media_bytes``, ``requests`` and
        ``warnings`` feed the report's totals; any other name is reported under ``counters``."""
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + n

    def gauge(self, name: str, value: float) -> None:
        """A current level (e.g. ``concurrency``); the report keeps the last value and the peak."""
        with self._lock:
            cell = self._gauges.get(name)
            if cell is None:
                self._gauges[name] = [value, value]
            else:
                cell[0] = value
                if value > cell[1]:
                    cell[1] = value

    def add_cache_source(self, name: str, stats: Callable[[], Mapping[str, Any]]) -> None:
        """Report a cache's effectiveness: ``stats()`` returns numbers (size, hits, misses,
        hit_rate, evictions, expirations, ...). Called at every snapshot; non-numbers are dropped."""
        with self._lock:
            self._caches[name] = stats

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Mark the start of the run and start periodic snapshots/resource sampling."""
        if self._started:
            return
        self._started = True
        self._started_wall = time.time()
        self._started_mono = time.monotonic()
        if self._monitor is not None:
            self._monitor.start()

    def _tick(self, _sample: Any = None) -> None:
        """Called by the monitor thread every interval: one snapshot to every live sink."""
        if self._report is not None:
            return
        try:
            snapshot = self.snapshot()
        except Exception as exc:  # noqa: BLE001 - never let metrics kill the monitor thread
            self._warn(f"metrics snapshot failed: {_one_line(exc)}")
            return
        self._dispatch("event", snapshot)

    def finish(self, status: str = "ok", exit_code: int = 0, extra: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
        """Stop sampling, build the final report, give it to every sink, close them, return it.

        ``status`` is a word (``ok``, ``failed``, ``interrupted``...); ``extra`` is merged into the
        report (a dict value updates that section, e.g. ``{"totals": {"messages": n}}``). Calling
        it again returns the same report without touching the sinks.
        """
        if self._report is not None:
            return self._report
        if self._monitor is not None:
            if self._started:
                self._monitor.stop()
            else:
                self._monitor.sample()
        with self._sink_lock:  # no tick may interleave with the report
            report = self._build(complete=True, status=status, exit_code=exit_code, extra=extra)
            self._dispatch("report", report)
            self._report = report
            for slot in self._sinks:
                try:
                    slot.sink.close()
                except Exception as exc:  # noqa: BLE001
                    if slot.alive:
                        self._disable(slot, exc)
        return report

    # -- reading ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The in-progress report (``complete: false``), as the sinks get it each interval."""
        return self._build(complete=False, status="running", exit_code=None, extra=None)

    @property
    def sink_names(self) -> list[str]:
        return [slot.name for slot in self._sinks if slot.alive]

    def outputs(self) -> dict[str, str]:
        """``{sink: path}`` for live sinks that expose a ``path`` attribute (for the summary)."""
        out = {}
        for slot in self._sinks:
            path = getattr(slot.sink, "path", None)
            if slot.alive and path:
                out[slot.name] = str(path)
        return out

    def _build(self, *, complete: bool, status: str, exit_code: int | None,
               extra: Mapping[str, Any] | None) -> dict[str, Any]:
        now_wall = time.time()
        duration = time.monotonic() - self._started_mono
        stages = {name: st.snapshot() for name, st in list(self._stages.items())}
        with self._lock:
            counters = dict(self._counters)
            gauges = {k: {"last": v[0], "max": v[1]} for k, v in self._gauges.items()}
            sources = list(self._caches.items())
            floods = self._unstaged_flood_waits
            flood_s = self._unstaged_flood_wait_seconds
        caches = self._read_caches(sources)
        floods += sum(s["flood_waits"] for s in stages.values())
        flood_s += sum(s["flood_wait_seconds"] for s in stages.values())

        def pick(counter: str, stage: str | None = None, field: str = "items") -> float:
            if counter in counters:
                return counters[counter]
            if stage is not None and stage in stages:
                return stages[stage][field]
            return 0

        messages = counters.get("messages")
        if messages is None:
            messages = stages["archive"]["items"] or stages["fetch"]["items"]
        run = {
            "tgx_version": __version__,
            "command": self.run_info.get("command"),
            "plugins_enabled": list(self.run_info.get("plugins_enabled", [])),
            "sinks_enabled": self.sink_names,
            "chats": list(self.run_info.get("chats", [])),
            "formats": list(self.run_info.get("formats", [])),
            "out_dir": str(self.run_info["out_dir"]) if self.run_info.get("out_dir") else None,
            "started_at": _utc_iso(self._started_wall),
            "finished_at": _utc_iso(now_wall) if complete else None,
            "duration_s": round(duration, 3),
            "exit_status": status,
            "exit_code": exit_code,
        }
        report: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "complete": complete,
            "run": run,
            "totals": {
                "messages": messages,
                "media_files": pick("media_files", "download", "items"),
                "media_bytes": pick("media_bytes", "download", "bytes"),
                "requests": pick("requests"),
                "flood_waits": floods,
                "flood_wait_seconds": round(flood_s, 3),
                "warnings": pick("warnings"),
            },
            "stages": stages,
            "resources": self._monitor.summary() if self._monitor is not None else None,
            "caches": caches,
            "gauges": gauges,
            "counters": counters,
        }
        if extra:
            for key, value in extra.items():
                if isinstance(value, Mapping) and isinstance(report.get(key), dict):
                    report[key].update(value)
                else:
                    report[key] = value
        if self._secrets:
            report = _scrub(report, self._secrets)
        return report

    def _read_caches(self, sources: list[tuple[str, Callable[[], Mapping[str, Any]]]]) -> dict[str, Any]:
        caches: dict[str, Any] = {}
        for name, fn in sources:
            try:
                raw = dict(fn())
            except Exception as exc:  # noqa: BLE001
                with self._lock:
                    self._caches.pop(name, None)
                self._warn(f"metrics cache source '{name}' failed: {_one_line(exc)}; "
                           "disabled for this run")
                continue
            stats: dict[str, Any] = {}
            for key, value in raw.items():
                if isinstance(value, bool):
                    value = int(value)
                if isinstance(value, int | float) and isinstance(key, str):
                    stats[key] = _num(float(value)) if isinstance(value, float) else value
            if "hit_rate" not in stats and isinstance(stats.get("hits"), int | float) \
                    and isinstance(stats.get("misses"), int | float):
                total = stats["hits"] + stats["misses"]
                stats["hit_rate"] = round(stats["hits"] / total, 6) if total else None
            caches[name] = stats
        return caches

    # -- sinks -----------------------------------------------------------------------------------

    def _dispatch(self, method: str, payload: dict[str, Any]) -> None:
        with self._sink_lock:
            if method == "event" and self._report is not None:
                return  # a tick that raced finish(): the sinks are closed already
            for slot in self._sinks:
                if not slot.alive:
                    continue
                try:
                    # A private copy: one sink mutating its payload cannot break the next one.
                    getattr(slot.sink, method)(copy.deepcopy(payload))
                except Exception as exc:  # noqa: BLE001 - a sink never kills the export
                    self._disable(slot, exc)

    def _disable(self, slot: _SinkSlot, exc: BaseException) -> None:
        slot.alive = False
        self.incr("warnings")
        self._warn(f"metrics sink '{slot.name}' failed: {_one_line(exc)}; "
                   "disabled for this run")


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {_scrub(k, secrets): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, secrets) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# Building sinks from the plugin hook


def build_sinks(pm: Any, config: Config, out_dir: Path, cli_options: Mapping[str, Any] | None = None,
                *, warn: Warn | None = None) -> list[tuple[str, MetricsSink]]:
    """Build the enabled sinks for one run (specs from :func:`tgx.host.registry.metrics_sinks`).

    A sink is enabled when its spec says ``default_enabled``, or when one of its options is set
    to something other than its default (so ``--metrics-textfile PATH`` switches ``openmetrics``
    on). ``cli_options`` maps option names to CLI values (None = not given). A factory that
    raises is reported with one warning and skipped: a sink never stops an export.
    """
    from tgx.host.registry import metrics_sinks, option_values
    from tgx.specs import SinkContext

    sinks: list[tuple[str, MetricsSink]] = []
    for registered in metrics_sinks(pm, config, warn=warn).values():
        plugin, spec = registered.plugin, registered.spec
        options = option_values(plugin, spec, config, cli_options)
        wanted = spec.default_enabled or any(
            options[opt.name] != opt.default for opt in spec.options)
        if not wanted:
            continue
        try:
            sink = spec.factory(SinkContext(config=config, out_dir=Path(out_dir), options=options))
        except Exception as exc:  # noqa: BLE001
            (warn or console.warn)(f"metrics sink '{spec.name}' failed: {_one_line(exc)}; "
                                    "disabled for this run")
            continue
        sinks.append((spec.name, sink))
    return sinks


# ---------------------------------------------------------------------------------------------
# Telethon's own flood-wait sleeps


_TELETHON_LOGGER = "telethon.client.users"
_TELETHON_FLOOD_FMT = "Sleeping%s for %ds (%s) on %s flood wait"
DEFAULT_REQUEST_STAGES = {
    "GetHistoryRequest": "fetch", "GetRepliesRequest": "fetch", "GetMessagesRequest": "fetch",
    "SearchRequest": "fetch", "GetFileRequest": "download", "GetFileHashesRequest": "download",
    "ResolveUsernameRequest": "resolve", "GetFullChannelRequest": "resolve",
    "GetChannelsRequest": "resolve", "GetUsersRequest": "resolve", "GetDialogsRequest": "resolve",
}


class TelethonFloodWaits:
    """Counts the flood waits Telethon sleeps through by itself (below ``flood_sleep_threshold``).

    Telethon only logs them (INFO, ``telethon.client.users``). This installs a *logger filter*
    that sees those records and lets through only what the logger's previous level allowed, so
    nothing new is printed. The request name maps to a stage via ``DEFAULT_REQUEST_STAGES``
    (unknown requests count in the totals only). Use as a context manager or install/uninstall.
    """

    def __init__(self, metrics: Metrics, stages: Mapping[str, str] | None = None) -> None:
        self.metrics = metrics
        self.stages = dict(DEFAULT_REQUEST_STAGES if stages is None else stages)
        self._logger: logging.Logger | None = None
        self._old_level = 0
        self._threshold = 0

    def install(self) -> TelethonFloodWaits:
        import logging

        if self._logger is not None:
            return self
        logger = logging.getLogger(_TELETHON_LOGGER)
        self._old_level = logger.level
        self._threshold = logger.getEffectiveLevel()
        if self._threshold > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addFilter(self._filter)
        self._logger = logger
        return self

    def uninstall(self) -> None:
        logger, self._logger = self._logger, None
        if logger is not None:
            logger.removeFilter(self._filter)
            logger.setLevel(self._old_level)

    def _filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _TELETHON_FLOOD_FMT and isinstance(record.args, tuple) and len(record.args) == 4:
            try:
                seconds = float(str(record.args[1]))
                stage = self.stages.get(str(record.args[3]))
                self.metrics.flood_wait(stage, seconds)
                self.metrics.incr(f"flood_wait.{record.args[3]}")
            except Exception:  # noqa: BLE001 - counting must never break logging
                pass
        return record.levelno >= self._threshold

    def __enter__(self) -> TelethonFloodWaits:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


__all__ = [
    "DEFAULT_REQUEST_STAGES", "Metrics", "REPORT_FILE_NAME", "SCHEMA_VERSION", "STAGES", "Span", "Stage",
    "TelethonFloodWaits", "build_sinks",
]
