"""The built-in metrics sinks (metrics_json, openmetrics), built through the real hook."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pluggy
import pytest
import tgx.hookspecs
import tgx_metrics_json
import tgx_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families
from tgx.config import Config
from tgx.metrics.collector import Metrics, build_sinks
from tgx_openmetrics.render import render

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "metrics-report.schema.json"


# -- a validator for the subset of JSON Schema that docs/metrics-report.schema.json uses ---------

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_KNOWN = {"$schema", "$id", "$defs", "$ref", "title", "description", "type", "properties", "required",
          "additionalProperties", "items", "const", "minimum", "maximum"}


def validate(doc: Any, schema: dict, root: dict | None = None, where: str = "$") -> list[str]:
    """Errors of ``doc`` against ``schema`` (empty list: valid)."""
    root = root or schema
    unknown = set(schema) - _KNOWN
    assert not unknown, f"validator does not support {unknown}"
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return validate(doc, root["$defs"][name], root, where)
    errors: list[str] = []
    if "const" in schema and doc != schema["const"]:
        errors.append(f"{where}: expected {schema['const']!r}")
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_TYPES[t](doc) for t in types):
            return [f"{where}: expected {types}, got {type(doc).__name__}"]
    if _TYPES["number"](doc):
        if "minimum" in schema and doc < schema["minimum"]:
            errors.append(f"{where}: {doc} < {schema['minimum']}")
        if "maximum" in schema and doc > schema["maximum"]:
            errors.append(f"{where}: {doc} > {schema['maximum']}")
    if isinstance(doc, dict):
        for key in schema.get("required", []):
            if key not in doc:
                errors.append(f"{where}: missing {key!r}")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, value in doc.items():
            if key in props:
                errors += validate(value, props[key], root, f"{where}.{key}")
            elif extra is False:
                errors.append(f"{where}: unexpected {key!r}")
            elif isinstance(extra, dict):
                errors += validate(value, extra, root, f"{where}.{key}")
    if isinstance(doc, list) and "items" in schema:
        for i, value in enumerate(doc):
            errors += validate(value, schema["items"], root, f"{where}[{i}]")
    return errors


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


# -- helpers ---------------------------------------------------------------------------------------


def plugin_manager(*extra: object) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("tgx")
    pm.add_hookspecs(tgx.hookspecs)
    pm.register(tgx_metrics_json, name="metrics_json")
    pm.register(tgx_openmetrics, name="openmetrics")
    for plugin in extra:
        pm.register(plugin)
    return pm


def busy_metrics(sinks, **kw) -> Metrics:
    warnings = kw.pop("warnings", [])
    m = Metrics(sinks, interval=kw.pop("interval", 0),
                run_info={"command": "export", "chats": ["durov", 12345], "formats": ["jsonl", "html"],
                          "plugins_enabled": ["jsonl", "html", "peer_cache", "metrics_json"]},
                warn=warnings.append, secrets=[kw.pop("secret", None)], **kw)
    m.start()
    m.record("resolve", 0.2, items=2)
    for _ in range(20):
        m.record("fetch", 0.05, items=100, nbytes=40_000)
        m.record("archive", 0.01, items=100)
    m.record("download", 1.5, items=3, nbytes=3 * 1024 * 1024)
    m.flood_wait("fetch", 7)
    m.retry("download")
    m.count_error("download")
    m.gauge("concurrency", 3)
    m.incr("requests", 23)
    m.incr("media_dedupe_hits", 2)
    m.add_cache_source("peer_cache", lambda: {"size": 2, "hits": 8, "misses": 2, "evictions": 0,
                                              "expirations": 1})
    return m


# -- schema ---------------------------------------------------------------------------------------


def test_validator_rejects_what_the_schema_forbids(schema):
    m = busy_metrics([], resources=False)
    report = m.finish("ok", 0)
    assert validate(report, schema) == []
    broken = json.loads(json.dumps(report))
    del broken["totals"]["messages"]
    broken["stages"]["fetch"]["items"] = -1
    broken["run"]["api_hash"] = "x"
    broken["schema_version"] = 2
    broken["caches"]["peer_cache"]["hit_rate"] = 1.5
    errors = validate(broken, schema)
    assert any("missing 'messages'" in e for e in errors)
    assert any("fetch.items" in e for e in errors)
    assert any("unexpected 'api_hash'" in e for e in errors)
    assert any("schema_version" in e for e in errors)
    assert any("hit_rate" in e for e in errors)


def test_snapshots_and_reports_validate_with_and_without_resources(schema):
    for resources in (True, False):
        m = busy_metrics([], resources=resources)
        assert validate(m.snapshot(), schema) == []
        assert validate(m.finish("failed", 1), schema) == []


# -- building sinks through the hook ----------------------------------------------------------------


def test_only_metrics_json_is_on_by_default(tmp_path):
    sinks = build_sinks(plugin_manager(), Config(), tmp_path)
    assert [name for name, _ in sinks] == ["metrics_json"]
    assert sinks[0][1].path == tmp_path / "export_metrics.json"


def test_metrics_textfile_option_switches_openmetrics_on(tmp_path):
    prom = tmp_path / "tgx.prom"
    sinks = dict(build_sinks(plugin_manager(), Config(), tmp_path, {"metrics-textfile": str(prom)}))
    assert set(sinks) == {"metrics_json", "openmetrics"}
    assert sinks["openmetrics"].path == prom


def test_metrics_textfile_from_the_plugin_table(tmp_path):
    prom = tmp_path / "from-toml.prom"
    config = Config(tables={"openmetrics": {"metrics-textfile": str(prom)}})
    sinks = dict(build_sinks(plugin_manager(), config, tmp_path, {"metrics-textfile": None}))
    assert sinks["openmetrics"].path == prom
    # the command line wins over the file
    cli = tmp_path / "cli.prom"
    sinks = dict(build_sinks(plugin_manager(), config, tmp_path, {"metrics-textfile": str(cli)}))
    assert sinks["openmetrics"].path == cli


def test_a_factory_that_raises_is_skipped_with_a_warning(tmp_path):
    class Broken:
        @tgx.hookimpl
        def tgx_register_metrics_sinks(self, config):
            def factory(ctx):
                raise RuntimeError("cannot connect to statsd")

            return tgx.MetricsSinkSpec("statsd", factory)

    warnings: list[str] = []
    sinks = build_sinks(plugin_manager(Broken()), Config(), tmp_path, warn=warnings.append)
    assert [name for name, _ in sinks] == ["metrics_json"]
    assert warnings == ["metrics sink 'statsd' failed: RuntimeError: cannot connect to statsd; "
                        "disabled for this run"]


def test_openmetrics_without_a_path_does_nothing(tmp_path):
    sink = tgx_openmetrics.TextfileSink(tgx.specs.SinkContext(Config(), tmp_path, {}))
    sink.event({"complete": False})
    sink.report({"complete": True})
    sink.close()
    assert list(tmp_path.iterdir()) == []


# -- metrics_json -----------------------------------------------------------------------------------


def test_metrics_json_writes_progress_then_the_final_report(tmp_path, schema):
    sinks = build_sinks(plugin_manager(), Config(), tmp_path)
    m = busy_metrics(sinks, resources=False)
    m._tick()
    path = tmp_path / "export_metrics.json"
    progress = json.loads(path.read_text())
    assert progress["complete"] is False
    assert validate(progress, schema) == []
    report = m.finish("ok", 0)
    on_disk = json.loads(path.read_text())
    assert on_disk == report
    assert on_disk["complete"] is True and on_disk["totals"]["messages"] == 2000
    assert validate(on_disk, schema) == []
    assert path.read_text().startswith("{\n  ")  # pretty-printed
    # no temporary left; the final report is also the history's first line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export_metrics.json", "export_metrics_history.jsonl"]


def test_metrics_json_never_leaves_a_partial_file(tmp_path, monkeypatch):
    sink = tgx_metrics_json.JsonReportSink(tgx.specs.SinkContext(Config(), tmp_path, {}))
    sink.report({"schema_version": 1, "complete": True, "n": 1})
    before = sink.path.read_bytes()

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        sink.report({"schema_version": 1, "complete": True, "n": 2})
    assert sink.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export_metrics.json", "export_metrics_history.jsonl"]
    assert [h["n"] for h in tgx_metrics_json.read_history(tmp_path)] == [1]  # the failed run added nothing


def test_metrics_json_readers_always_see_whole_documents(tmp_path):
    sink = tgx_metrics_json.JsonReportSink(tgx.specs.SinkContext(Config(), tmp_path, {}))
    sink.report({"schema_version": 1, "complete": False, "pad": "x" * 200_000, "i": -1})
    stop = threading.Event()
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                json.loads(sink.path.read_bytes())
            except ValueError as exc:
                bad.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(30):
            sink.event({"schema_version": 1, "complete": False, "pad": "x" * (200_000 + i), "i": i})
    finally:
        stop.set()
        thread.join()
    assert bad == []


def test_a_failing_metrics_json_does_not_stop_the_others(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output directory should be")
    prom = tmp_path / "tgx.prom"
    warnings: list[str] = []
    sinks = build_sinks(plugin_manager(), Config(), blocker, {"metrics-textfile": str(prom)})
    m = busy_metrics(sinks, resources=False, warnings=warnings)
    m._tick()
    m._tick()
    m.finish("ok", 0)
    assert len(warnings) == 1 and warnings[0].startswith("metrics sink 'metrics_json' failed: ")
    assert "disabled for this run" in warnings[0]
    assert "# TYPE tgx_stage_items_total counter" in prom.read_text()


# -- openmetrics ------------------------------------------------------------------------------------


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    for s in fams[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise KeyError((family, sample, labels))


def test_textfile_is_classic_prometheus_text_and_carries_the_numbers(tmp_path):
    prom = tmp_path / "textfile" / "tgx.prom"
    prom.parent.mkdir()
    sinks = build_sinks(plugin_manager(), Config(), tmp_path, {"metrics-textfile": str(prom)})
    m = busy_metrics(sinks, resources=True)
    m._tick()
    fams = families(prom.read_text())
    assert value(fams, "tgx_run_complete", "tgx_run_complete") == 0
    m.finish("ok", 0)
    text = prom.read_text()
    assert "# EOF" not in text  # OpenMetrics only when asked
    fams = families(text)
    assert fams["tgx_stage_items"].type == "counter"
    assert value(fams, "tgx_stage_items", "tgx_stage_items_total", stage="fetch") == 2000
    assert value(fams, "tgx_stage_seconds", "tgx_stage_seconds_total", stage="fetch") == pytest.approx(1.0)
    assert value(fams, "tgx_stage_bytes", "tgx_stage_bytes_total", stage="download") == 3 * 1024 * 1024
    assert value(fams, "tgx_stage_errors", "tgx_stage_errors_total", stage="download") == 1
    assert value(fams, "tgx_flood_wait_seconds", "tgx_flood_wait_seconds_total") == 7
    assert value(fams, "tgx_messages", "tgx_messages_total") == 2000
    assert value(fams, "tgx_requests", "tgx_requests_total") == 23
    assert fams["tgx_rss_bytes"].type == "gauge" and value(fams, "tgx_rss_bytes", "tgx_rss_bytes") > 0
    assert value(fams, "tgx_cache_hits", "tgx_cache_hits_total", cache="peer_cache") == 8
    assert value(fams, "tgx_cache_hit_ratio", "tgx_cache_hit_ratio", cache="peer_cache") == pytest.approx(0.8)
    assert value(fams, "tgx_stage_span_seconds", "tgx_stage_span_seconds", stage="fetch",
                 quantile="0.95") == pytest.approx(0.05, rel=0.025)
    assert value(fams, "tgx_gauge", "tgx_gauge", name="concurrency") == 3
    assert value(fams, "tgx_counter", "tgx_counter_total", name="media_dedupe_hits") == 2
    assert value(fams, "tgx_run_complete", "tgx_run_complete") == 1
    assert value(fams, "tgx_run_exit_code", "tgx_run_exit_code") == 0
    assert [p.name for p in prom.parent.iterdir()] == ["tgx.prom"]


def test_openmetrics_escapes_label_values_and_special_numbers():
    report = {
        "schema_version": 1, "complete": False,
        "run": {"tgx_version": "0.1.0", "command": 'ex"port\\', "started_at": "bad-date"},
        "stages": {'we"ird\\stage\nname': {"items": 1, "items_per_s": float("inf"),
                                             "bytes_per_s": float("nan"), "seconds": 1e-7}},
        "caches": {"c": {"hits": 1, "extra_metric": 2.5}},
        "gauges": {"g": 1.5},
    }
    fams = families(render(report))
    assert value(fams, "tgx_stage_items", "tgx_stage_items_total", stage='we"ird\\stage\nname') == 1
    assert value(fams, "tgx_stage_items_per_second", "tgx_stage_items_per_second",
                 stage='we"ird\\stage\nname') == float("inf")
    assert value(fams, "tgx_build_info", "tgx_build_info", command='ex"port\\') == 1
    assert value(fams, "tgx_cache_stat", "tgx_cache_stat", cache="c", stat="extra_metric") == 2.5
    assert value(fams, "tgx_gauge", "tgx_gauge", name="g") == 1.5
    assert "tgx_run_start_time_seconds" not in fams


def assert_every_family_typed_and_populated(fams: dict[str, Any]) -> None:
    """What node_exporter needs: no family declared without samples, no untyped sample, and
    sample names that belong to their family (counters: ``_total``/``_created``)."""
    assert fams
    for name, fam in fams.items():
        assert fam.type in ("counter", "gauge"), (name, fam.type)
        assert fam.samples, name
        allowed = {name + "_total", name + "_created"} if fam.type == "counter" else {name}
        assert {s.name for s in fam.samples} <= allowed, (name, fam.samples[:2])


def test_every_family_of_a_busy_report_is_typed_and_populated():
    m = busy_metrics([], resources=True)
    fams = families(render(m.finish("ok", 0)))
    assert_every_family_typed_and_populated(fams)
    assert {"tgx_stage_items", "tgx_rss_bytes", "tgx_flood_wait_seconds"} <= set(fams)


def test_openmetrics_when_asked(tmp_path):
    prom = tmp_path / "tgx.prom"
    sinks = build_sinks(plugin_manager(), Config(), tmp_path,
                        {"metrics-textfile": str(prom), "metrics-textfile-format": "openmetrics"})
    m = busy_metrics(sinks, resources=True)
    m.finish("ok", 0)
    text = prom.read_text()
    assert text.endswith("# EOF\n")
    fams = {f.name: f for f in openmetrics_families(text)}
    assert fams["tgx_stage_items"].type == "counter"
    assert value(fams, "tgx_stage_items", "tgx_stage_items_total", stage="fetch") == 2000
    assert value(fams, "tgx_messages", "tgx_messages_total") == 2000


def test_sinks_see_periodic_snapshots_in_a_real_run(tmp_path):
    prom = tmp_path / "tgx.prom"
    sinks = build_sinks(plugin_manager(), Config(), tmp_path, {"metrics-textfile": str(prom)})
    m = busy_metrics(sinks, interval=0.02)
    deadline = time.monotonic() + 20
    while not prom.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    snapshot = json.loads((tmp_path / "export_metrics.json").read_text())
    assert snapshot["complete"] is False
    report = m.finish("ok", 0)
    assert json.loads((tmp_path / "export_metrics.json").read_text()) == report
    assert value(families(prom.read_text()), "tgx_run_complete", "tgx_run_complete") == 1


def test_secrets_do_not_reach_the_files(tmp_path):
    secret = "fedcba9876543210fedcba9876543210"
    prom = tmp_path / "tgx.prom"
    sinks = build_sinks(plugin_manager(), Config(api_hash=secret), tmp_path, {"metrics-textfile": str(prom)})
    m = busy_metrics(sinks, resources=False, secret=secret)
    m.add_cache_source(f"cache-{secret}", lambda: {"hits": 1})
    m.finish("ok", 0, extra={"run": {"command": f"export --api-hash {secret}"}})
    for path in (prom, tmp_path / "export_metrics.json"):
        assert secret not in path.read_text()
