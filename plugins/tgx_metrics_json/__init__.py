"""Built-in sink ``metrics_json``: the run's report as ``OUT/export_metrics.json``.

An ordinary plugin (it uses only the public ``tgx`` API), and the reference example of the
``tgx_register_metrics_sinks`` hook. During the run the file holds the latest snapshot with
``"complete": false``; at the end, the final report with ``"complete": true``. Every write is
atomic (temporary file, fsync, ``os.replace``), so a reader or a crash never sees half a file.
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

    def close(self) -> None:
        pass


@tgx.hookimpl
def tgx_register_metrics_sinks(config: Any) -> MetricsSinkSpec:
    return MetricsSinkSpec(
        name="metrics_json",
        factory=JsonReportSink,
        description=f"writes the run's metrics report to OUT/{FILE_NAME}",
    )
