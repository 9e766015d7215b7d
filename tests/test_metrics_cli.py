"""``tgx metrics show`` and the end-of-export summary table."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import typer
from rich.console import Console
from tgx.cli.metrics import register
from tgx.cli.summary import fmt_bytes, fmt_duration, render_summary, summary_rows
from tgx.errors import ExitCode, OutputError
from tgx.metrics.collector import Metrics
from typer.testing import CliRunner


def sample_report() -> dict:
    m = Metrics([], interval=0, resources=True, warn=lambda _m: None,
                run_info={"command": "export", "chats": ["durov"], "formats": ["jsonl"],
                          "plugins_enabled": ["jsonl", "peer_cache"]})
    m.start()
    for _ in range(10):
        m.record("fetch", 0.02, items=100, nbytes=10_000)
        m.record("archive", 0.005, items=100)
    m.record("download", 0.5, items=2, nbytes=5 * 1024 * 1024)
    m.flood_wait("fetch", 30)
    m.incr("warnings")
    m.gauge("concurrency", 4)
    m.incr("media_dedupe_hits", 1)
    m.add_cache_source("peer_cache", lambda: {"size": 3, "hits": 97, "misses": 3})
    report = m.finish("ok", 0)
    report["run"]["duration_s"] = 10.0  # a stable rate for the assertions below
    return report


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    path = tmp_path / "export_metrics.json"
    path.write_text(json.dumps(sample_report(), indent=2) + "\n")
    return path


def bare_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        pass

    register(app, None)
    return app


# -- via the real entry point ------------------------------------------------------------------------


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No user config or data dir leaks into main()."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TGX_CONFIG", str(tmp_path / "tgx.toml"))
    (tmp_path / "tgx.toml").write_text("")
    monkeypatch.setenv("TGX_DATA_DIR", str(tmp_path / "data"))
    for var in ("TGX_DISABLE_PLUGINS", "TGX_LOAD_PLUGINS", "TGX_API_HASH", "TGX_API_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COLUMNS", "200")


def test_show_pretty_prints_stages_resources_caches(report_file, isolated, capsys):
    from tgx.cli import main

    assert main(["metrics", "show", str(report_file)]) == 0
    out = capsys.readouterr().out
    for text in ("Messages", "1,000", "Stages", "fetch", "archive", "download", "Resources", "RSS",
                 "Caches", "peer_cache", "97.0%", "Flood waits", "Gauges", "concurrency", "Counters",
                 "media_dedupe_hits", str(report_file)):
        assert text in out, text
    assert "encode" not in out  # stages the run never used are left out


def test_show_json_passes_the_file_through_unchanged(report_file, isolated, capsys):
    from tgx.cli import main

    assert main(["metrics", "show", "--json", str(report_file)]) == 0
    out = capsys.readouterr().out
    assert out == report_file.read_text()
    assert json.loads(out) == json.loads(report_file.read_text())


def test_show_accepts_the_out_directory(report_file, isolated, capsys):
    from tgx.cli import main

    assert main(["metrics", "show", "--json", str(report_file.parent)]) == 0
    assert json.loads(capsys.readouterr().out)["schema_version"] == 1


@pytest.mark.parametrize("content, message", [
    (None, "no metrics report here"),
    ("{not json", "invalid JSON"),
    ('["a list"]', "no schema_version"),
    ('{"schema_version": 99}', "newer than this tgx understands"),
])
def test_show_reports_unusable_files_in_one_line(tmp_path, isolated, capsys, content, message):
    from tgx.cli import main

    path = tmp_path / "export_metrics.json"
    if content is not None:
        path.write_text(content)
    assert main(["metrics", "show", str(path)]) == ExitCode.OUTPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    errors = [line for line in captured.err.splitlines() if line.startswith("tgx: error: ")]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in captured.err


# -- via typer's CliRunner on a bare app ------------------------------------------------------------


def test_cli_runner_json_round_trip(report_file):
    result = CliRunner().invoke(bare_app(), ["metrics", "show", "--json", str(report_file)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(report_file.read_text())


def test_cli_runner_missing_file_raises_output_error(tmp_path):
    result = CliRunner().invoke(bare_app(), ["metrics", "show", str(tmp_path / "nope.json")])
    assert isinstance(result.exception, OutputError)
    assert result.exception.exit_code == ExitCode.OUTPUT


# -- the summary ----------------------------------------------------------------------------------


def test_summary_rows_say_what_people_ask_first():
    rows = dict(summary_rows(sample_report(), {"metrics_json": "/out/export_metrics.json",
                                               "openmetrics": "/var/lib/node/tgx.prom"}))
    assert rows["Status"] == "ok (exit 0)"
    assert rows["Messages"] == "1,000"
    assert rows["Media"] == "2 files, 5.0 MiB"
    assert rows["Duration"] == "10.0 s"
    assert rows["Rate"] == "100 msg/s"
    assert rows["Flood waits"] == "1 (30.0 s waiting)"
    assert rows["Cache hit rate: peer_cache"] == "97.0% (97 hits, 3 misses)"
    assert rows["Warnings"] == "1"
    assert rows["Metrics"] == "/out/export_metrics.json"
    assert rows["Metrics (openmetrics)"] == "/var/lib/node/tgx.prom"


def test_render_summary_prints_a_table_without_markup_surprises():
    report = sample_report()
    buf = io.StringIO()
    render_summary(report, Console(file=buf, width=120), {"metrics_json": "/out/[bold]x[/bold].json"})
    text = buf.getvalue()
    assert "Export summary" in text and "1,000" in text and "97.0%" in text
    assert "/out/[bold]x[/bold].json" in text  # a path is text, not rich markup


def test_summary_of_a_failed_run_with_nothing_done():
    m = Metrics([], interval=0, resources=False, warn=lambda _m: None)
    rows = dict(summary_rows(m.finish("interrupted", 130)))
    assert rows["Status"] == "interrupted (exit 130)"
    assert rows["Messages"] == "0" and rows["Rate"] == "-" and rows["Flood waits"] == "0"


@pytest.mark.parametrize("n, text", [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"),
                                     (5 * 1024 ** 3, "5.0 GiB"), (None, "-")])
def test_fmt_bytes(n, text):
    assert fmt_bytes(n) == text


@pytest.mark.parametrize("s, text", [(0.5, "0.5 s"), (61, "1m 01s"), (3725, "1h 02m 05s"), (None, "-")])
def test_fmt_duration(s, text):
    assert fmt_duration(s) == text
