"""Built-in sink ``metrics_json``: the run's report as ``OUT/export_metrics.json``.

An ordinary plugin (it uses only the public ``tgx`` API), and the reference example of the
``tgx_register_metrics_sinks`` hook. During the run the file holds the latest snapshot with
``"complete": false``; at the end, the final report with ``"complete": true``. Every write is
atomic (temporary file, fsync, ``os.replace``), so a reader or a crash never sees half a file.

``export_metrics.json`` is the latest run's. So that exports of different chats into one OUT do
not lose each other's numbers, each final report is also added to
``OUT/export_metrics_history.jsonl`` (one line per run, the newest last, the last
:data:`HISTORY_RUNS` kept). tgx holds OUT's lock for the whole run, so the read-append-replace
never races another run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import tgx
from tgx.fsutil import write_atomic
from tgx.specs import MetricsSinkSpec, SinkContext

FILE_NAME = "export_metrics.json"
HISTORY_NAME = "export_metrics_history.jsonl"
HISTORY_RUNS = 100  # final reports kept in the history (~10 KB each)


def dumps(report: Mapping[str, Any]) -> bytes:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"


class JsonReportSink:
    """Keeps ``OUT/export_metrics.json`` current: snapshots while running, the report at the end."""

    def __init__(self, ctx: SinkContext) -> None:
        self.path = Path(ctx.out_dir) / FILE_NAME
        for stale in self.path.parent.glob(f".{FILE_NAME}.*.tmp"):  # a killed run's half-written copy
            stale.unlink(missing_ok=True)

    def event(self, snapshot: Mapping[str, Any]) -> None:
        write_atomic(self.path, dumps(snapshot))

    def report(self, report: Mapping[str, Any]) -> None:
        write_atomic(self.path, dumps(report))
        self._append_history(report)

    def _append_history(self, report: Mapping[str, Any]) -> None:
        path = self.path.with_name(HISTORY_NAME)
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            lines = []
        kept = [line for line in lines if _is_report(line)][-(HISTORY_RUNS - 1):]
        kept.append(orjson.dumps(report, option=orjson.OPT_NON_STR_KEYS))
        write_atomic(path, b"\n".join(kept) + b"\n")

    def close(self) -> None:
        pass


def _is_report(line: bytes) -> bool:
    """A history line worth keeping: a JSON object (a line damaged by hand or by a disk is dropped)."""
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def read_history(out_dir: Path | str) -> list[dict[str, Any]]:
    """The final reports of the runs into ``out_dir``, oldest first (``[]`` when there are none)."""
    try:
        lines = (Path(out_dir) / HISTORY_NAME).read_bytes().splitlines()
    except FileNotFoundError:
        return []
    return [orjson.loads(line) for line in lines if _is_report(line)]


@tgx.hookimpl
def tgx_register_metrics_sinks(config: Any) -> MetricsSinkSpec:
    return MetricsSinkSpec(
        name="metrics_json",
        factory=JsonReportSink,
        description=f"writes the run's metrics report to OUT/{FILE_NAME}",
    )
