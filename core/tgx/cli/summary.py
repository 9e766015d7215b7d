"""The short table people read when an export ends, and the number formats it shares with
``tgx metrics show``. Input is a metrics report (a plain dict), so the same table can be drawn
from a live run or from an ``export_metrics.json`` written months ago.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


def fmt_int(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def fmt_bytes(value: Any) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # unreachable; keeps type checkers calm


def fmt_duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    minutes, sec = divmod(int(round(s)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {sec:02d}s" if hours else f"{minutes}m {sec:02d}s"


def fmt_seconds(value: Any) -> str:
    """A short span duration: µs, ms or s."""
    if value is None:
        return "-"
    v = float(value)
    if v < 1e-3:
        return f"{v * 1e6:.0f} µs"
    if v < 1:
        return f"{v * 1e3:.1f} ms"
    return f"{v:.2f} s"


def fmt_rate(value: Any, unit: str = "/s") -> str:
    if value is None:
        return "-"
    v = float(value)
    return f"{v:,.0f}{unit}" if v >= 100 else f"{v:,.2f}{unit}"


def fmt_percent(ratio: Any) -> str:
    return "-" if ratio is None else f"{100 * float(ratio):.1f}%"


def summary_rows(report: Mapping[str, Any],
                 outputs: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The summary as (label, value) rows: the table's content, testable without rendering."""
    run = report.get("run") or {}
    totals = report.get("totals") or {}
    duration = run.get("duration_s")
    messages = totals.get("messages")
    rows: list[tuple[str, str]] = []
    status = run.get("exit_status") or "-"
    if run.get("exit_code") is not None:
        status = f"{status} (exit {run['exit_code']})"
    rows.append(("Status", status))
    rows.append(("Messages", fmt_int(messages)))
    media = f"{fmt_int(totals.get('media_files'))} files, {fmt_bytes(totals.get('media_bytes'))}"
    rows.append(("Media", media))
    rows.append(("Duration", fmt_duration(duration)))
    rate = messages / duration if messages and duration else None
    rows.append(("Rate", fmt_rate(rate, " msg/s")))
    floods = totals.get("flood_waits") or 0
    flood_text = fmt_int(floods)
    if floods:
        flood_text += f" ({fmt_duration(totals.get('flood_wait_seconds'))} waiting)"
    rows.append(("Flood waits", flood_text))
    for name, acct in (report.get("accounts") or {}).items():  # several accounts: one line each
        if isinstance(acct, Mapping):
            waits = acct.get("flood_waits") or 0
            text = (f"{fmt_int(acct.get('chats'))} chats, {fmt_int(acct.get('requests'))} requests, "
                    f"{fmt_int(waits)} flood waits"
                    + (f" ({fmt_duration(acct.get('flood_wait_seconds'))})" if waits else ""))
            if acct.get("moved_out"):
                text += f", {fmt_int(acct['moved_out'])} moved to other accounts"
            rows.append((f"Account {name}", text))
    for name, stats in (report.get("caches") or {}).items():
        if isinstance(stats, Mapping) and stats.get("hit_rate") is not None:
            detail = ""
            if stats.get("hits") is not None and stats.get("misses") is not None:
                detail = f" ({fmt_int(stats['hits'])} hits, {fmt_int(stats['misses'])} misses)"
            rows.append((f"Cache hit rate: {name}", fmt_percent(stats["hit_rate"]) + detail))
    rows.append(("Warnings", fmt_int(totals.get("warnings") or 0)))
    for sink, path in (outputs or {}).items():
        rows.append(("Metrics" if sink == "metrics_json" else f"Metrics ({sink})", str(path)))
    return rows


def render_summary(report: Mapping[str, Any], console: Console | None = None,
                   outputs: Mapping[str, str] | None = None, *, title: str = "Export summary") -> None:
    """Print the end-of-export summary table.

    :param report: the final report (:meth:`tgx.metrics.collector.Metrics.finish`) or a loaded file.
    :param console: where to print (default: stderr, so stdout stays clean for ``--json``).
    :param outputs: files the sinks wrote, ``{sink: path}`` (:meth:`tgx.metrics.collector.Metrics.outputs`).
    """
    console = console or Console(stderr=True)
    table = Table(title=title, show_header=False, title_justify="left", box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in summary_rows(report, outputs):
        table.add_row(Text(label), Text(value))  # Text: no markup parsing of paths/names
    console.print(table)


__all__ = ["fmt_bytes", "fmt_duration", "fmt_int", "fmt_percent", "fmt_rate", "fmt_seconds",
           "render_summary", "summary_rows"]
