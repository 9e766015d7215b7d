"""Built-in sink ``openmetrics``: a Prometheus textfile-collector file, refreshed every interval.

Off unless ``--metrics-textfile PATH`` (or ``metrics-textfile`` in the ``[openmetrics]`` table of
``tgx.toml``) is given: its spec is ``default_enabled=False`` and the core switches a sink on
when one of its options is set. The text is the classic Prometheus format that node_exporter's
textfile collector parses; ``--metrics-textfile-format openmetrics`` writes OpenMetrics instead,
for a scraper that asks for it. Each write goes through :func:`tgx.fsutil.write_atomic` (a
hidden temporary file beside the target, then ``os.replace``), so the collector never reads half
a file; the temporary name does not end in ``.prom``, so the collector ignores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tgx
from tgx.fsutil import write_atomic
from tgx.specs import MetricsSinkSpec, OptionSpec, SinkContext

from .render import FORMATS, render

OPTION = "metrics-textfile"
FORMAT_OPTION = "metrics-textfile-format"


class TextfileSink:
    """Rewrites ``path`` with the latest snapshot each interval and with the report at the end.

    Without a path the sink does nothing (it is only built when the option is set anyway).
    """

    def __init__(self, ctx: SinkContext) -> None:
        value = ctx.options.get(OPTION)
        self.path: Path | None = Path(value).expanduser() if value else None
        self.format: str = ctx.options.get(FORMAT_OPTION) or FORMATS[0]

    def event(self, snapshot: Mapping[str, Any]) -> None:
        if self.path is not None:
            write_atomic(self.path, render(snapshot, self.format))

    def report(self, report: Mapping[str, Any]) -> None:
        if self.path is not None:
            write_atomic(self.path, render(report, self.format))

    def close(self) -> None:
        pass


@tgx.hookimpl
def tgx_register_metrics_sinks(config: Any) -> MetricsSinkSpec:
    return MetricsSinkSpec(
        name="openmetrics",
        factory=TextfileSink,
        description="writes a Prometheus textfile for node_exporter's textfile collector",
        options=(
            OptionSpec(name=OPTION, metavar="PATH", help="Write Prometheus metrics to PATH (a *.prom file in "
                       "node_exporter's --collector.textfile.directory), refreshed every interval."),
            OptionSpec(name=FORMAT_OPTION, default=FORMATS[0], choices=FORMATS,
                       help="Text format of --metrics-textfile: prometheus (what node_exporter reads) "
                       "or openmetrics."),
        ),
        default_enabled=False,
    )


__all__ = ["TextfileSink", "render", "tgx_register_metrics_sinks"]
