"""``tgx metrics show PATH [--json]``: read an export's metrics report, for people or for scripts.

PATH is ``export_metrics.json`` or the export's OUT directory. A missing, unreadable or
malformed file is an :class:`~tgx.errors.OutputError` (exit 7, one line), like any other
unusable export output.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tgx.cli.summary import fmt_bytes, fmt_int, fmt_percent, fmt_rate, fmt_seconds, render_summary
from tgx.errors import OutputError
from tgx.metrics.collector import REPORT_FILE_NAME, SCHEMA_VERSION


def load_report(path: Path) -> tuple[str, dict[str, Any]]:
    """The report's text (unchanged) and its parsed content; :class:`OutputError` when unusable."""
    target = path / REPORT_FILE_NAME if path.is_dir() else path
    hint = f"pass an export's OUT directory or its {REPORT_FILE_NAME}"
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        raise OutputError(f"{target}: no metrics report here", hint=hint) from None
    except OSError as exc:
        raise OutputError(f"{target}: cannot read metrics report: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
        data = orjson.loads(raw)
    except (UnicodeDecodeError, orjson.JSONDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OutputError(f"{target}: not a tgx metrics report (invalid JSON: {first})", hint=hint) from None
    if not isinstance(data, dict) or not isinstance(data.get("schema_version"), int):
        raise OutputError(f"{target}: not a tgx metrics report (no schema_version)", hint=hint)
    if data["schema_version"] > SCHEMA_VERSION:
        raise OutputError(f"{target}: metrics report schema_version {data['schema_version']} is newer "
                          f"than this tgx understands ({SCHEMA_VERSION})", hint="upgrade tgx")
    return text, data


def _stages_table(stages: Mapping[str, Any]) -> Table:
    table = Table(title="Stages", title_justify="left")
    for col in ("stage", "items", "calls", "busy", "items/s", "bytes/s", "p50", "p95", "max",
                "errors", "retries", "flood waits"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for name, st in stages.items():
        if not isinstance(st, Mapping) or not (st.get("items") or st.get("calls") or st.get("errors")):
            continue  # a stage the run never used
        spans = st.get("span_s") or {}
        floods = fmt_int(st.get("flood_waits"))
        if st.get("flood_waits"):
            floods += f" ({st.get('flood_wait_seconds', 0):.0f} s)"
        table.add_row(Text(name), fmt_int(st.get("items")), fmt_int(st.get("calls")),
                      fmt_seconds(st.get("seconds")), fmt_rate(st.get("items_per_s"), ""),
                      fmt_bytes(st.get("bytes_per_s")) + "/s" if st.get("bytes_per_s") else "-",
                      fmt_seconds(spans.get("p50")), fmt_seconds(spans.get("p95")),
                      fmt_seconds(spans.get("max")), fmt_int(st.get("errors")), fmt_int(st.get("retries")),
                      floods)
    return table


def _resources_table(res: Mapping[str, Any]) -> Table:
    table = Table(title="Resources", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    cpu_mean, cpu_max = res.get("cpu_percent_mean"), res.get("cpu_percent_max")
    rows = [
        ("samples", fmt_int(res.get("samples"))),
        ("CPU mean / max", f"{'-' if cpu_mean is None else f'{cpu_mean:.0f}%'} / "
                           f"{'-' if cpu_max is None else f'{cpu_max:.0f}%'}"),
        ("RSS last / peak", f"{fmt_bytes(res.get('rss_bytes_last'))} / "
                            f"{fmt_bytes(res.get('rss_bytes_peak'))}"),
        ("open files peak", fmt_int(res.get("open_files_peak"))),
        ("disk read / written", f"{fmt_bytes(res.get('disk_read_bytes'))} / "
                                f"{fmt_bytes(res.get('disk_write_bytes'))}"),
        ("network sent / received (system-wide)", f"{fmt_bytes(res.get('net_sent_bytes'))} / "
                                                  f"{fmt_bytes(res.get('net_recv_bytes'))}"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3f}"


def _caches_table(caches: Mapping[str, Any]) -> Table:
    keys: list[str] = []
    for stats in caches.values():
        for key in stats if isinstance(stats, Mapping) else ():
            if key not in keys:
                keys.append(key)
    table = Table(title="Caches", title_justify="left")
    table.add_column("cache")
    for key in keys:
        table.add_column(key, justify="right")
    for name, stats in caches.items():
        stats = stats if isinstance(stats, Mapping) else {}
        cells = []
        for key in keys:
            value = stats.get(key)
            if key.endswith("rate"):
                cells.append(fmt_percent(value))
            else:
                cells.append(_number(value))
        table.add_row(Text(name), *cells)
    return table


def _named_values_table(title: str, values: Mapping[str, Any]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column()
    table.add_column(justify="right")
    for name, value in values.items():
        if isinstance(value, Mapping):
            value = ", ".join(f"{k} {v:,}" if isinstance(v, int | float) else f"{k} {v}"
                              for k, v in value.items())
        elif isinstance(value, int | float):
            value = f"{value:,}"
        table.add_row(Text(str(name)), Text(str(value)))
    return table


def show_report(report: Mapping[str, Any], console: Console, source: str | None = None) -> None:
    """The whole report for people: summary, stages, resources, caches, gauges, counters."""
    title = "Metrics report" + ("" if report.get("complete", True) else " (in progress)")
    run = report.get("run") or {}
    render_summary(report, console, {"metrics_json": source} if source else None, title=title)
    details = [f"{key}: {', '.join(map(str, run[key]))}" for key in ("chats", "formats", "plugins_enabled")
               if run.get(key)]
    details.insert(0, f"command: {run.get('command') or '-'}, started {run.get('started_at') or '-'}, "
                      f"tgx {run.get('tgx_version') or '-'}")
    for line in details:
        console.print(Text(line))
    sections = [
        (report.get("stages"), _stages_table),
        (report.get("resources"), _resources_table),
        (report.get("caches"), _caches_table),
        (report.get("gauges"), lambda v: _named_values_table("Gauges", v)),
        (report.get("counters"), lambda v: _named_values_table("Counters", v)),
    ]
    for section, draw in sections:
        if section and isinstance(section, Mapping):
            console.print()
            console.print(draw(section))


def register(app: typer.Typer, pm: Any) -> None:
    """Add the ``metrics`` command group to the root app."""
    metrics_app = typer.Typer(help="Read the metrics report an export wrote (export_metrics.json).",
                              no_args_is_help=True)

    @metrics_app.callback()
    def metrics_root() -> None:
        """Read the metrics report an export wrote (export_metrics.json)."""

    @metrics_app.command("show")
    def show(
        path: Path = typer.Argument(..., metavar="PATH", help=f"{REPORT_FILE_NAME}, or the export's OUT directory"),
        as_json: bool = typer.Option(False, "--json", help="Print the report unchanged, as JSON."),
    ) -> None:
        """Show a metrics report: summary, stages, resources, caches."""
        text, report = load_report(path)
        if as_json:
            typer.echo(text, nl=False)  # byte for byte what the sink wrote
            return
        target = path / REPORT_FILE_NAME if path.is_dir() else path
        show_report(report, Console(highlight=False), str(target))

    app.add_typer(metrics_app, name="metrics")


__all__ = ["load_report", "register", "show_report"]
