"""Both built-in sinks from a real `tgx export` on the simulated Telegram: their numbers are
checked against what the simulated server logged and what the archive holds."""

from __future__ import annotations

import json
import sqlite3

from prometheus_client.parser import text_string_to_metric_families  # the classic text node_exporter reads
from test_metrics_sinks import assert_every_family_typed_and_populated
from tgxrun import request_counts, tgx

CHANNEL = {"kind": "channel", "username": "metricschan", "title": "Metrics", "messages": 1_200, "media": False}


def _families(path):
    return {f.name: f for f in text_string_to_metric_families(path.read_text())}


def _value(families, name, **labels):
    for family in families.values():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"no sample {name} {labels}")


def test_json_and_textfile_sinks_match_the_server_and_the_archive(tmp_path, sim_config):
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(chats=[CHANNEL], request_log=str(log))
    prom = tmp_path / "tgx.prom"
    r = tgx(tmp_path, "export", "@metricschan", "-o", "out", "--metrics-textfile", str(prom),
            "--metrics-interval", "0.2", config=cfg)
    assert r.returncode == 0, r.stderr
    assert "out/export_metrics.json" in r.stderr  # the summary names the report

    report = json.loads((tmp_path / "out" / "export_metrics.json").read_text())
    archived = sqlite3.connect(tmp_path / "out" / ".tgx" / "archive.sqlite").execute(
        "SELECT COUNT(*) FROM messages").fetchone()[0]
    served = request_counts(log)
    assert report["complete"] is True and report["run"]["exit_code"] == 0
    assert report["totals"]["messages"] == archived == 1_200
    assert report["stages"]["fetch"]["calls"] == served["GetHistoryRequest"]
    assert report["stages"]["fetch"]["items"] == archived
    # Every request of the export; the server also logs connecting and the login check.
    setup = sum(served.get(n, 0) for n in ("GetConfigRequest", "GetStateRequest", "GetDifferenceRequest",
                                           "GetUsersRequest"))
    assert report["totals"]["requests"] == sum(served.values()) - setup
    assert report["caches"]["peer_cache"]["misses"] == 1 and report["caches"]["peer_cache"]["hits"] == 0
    assert report["resources"]["rss_bytes_peak"] > 0

    families = _families(prom)
    assert_every_family_typed_and_populated(families)
    assert "# EOF" not in prom.read_text()
    assert _value(families, "tgx_stage_items_total", stage="fetch") == archived
    assert _value(families, "tgx_stage_calls_total", stage="fetch") == served["GetHistoryRequest"]

    # A second run within the TTL resolves from the persisted InputPeer cache: a hit, no request.
    log.unlink()
    r = tgx(tmp_path, "export", "@metricschan", "-o", "out", config=cfg)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "out" / "export_metrics.json").read_text())
    assert report["caches"]["peer_cache"]["hits"] == 1
    assert "ResolveUsernameRequest" not in request_counts(log)
    assert report["stages"]["fetch"]["calls"] == request_counts(log)["GetHistoryRequest"]
    assert report["totals"]["messages"] == 0  # nothing new


def test_a_disabled_sink_writes_nothing(tmp_path, sim_config):
    cfg = sim_config(chats=[{**CHANNEL, "messages": 20}])
    r = tgx(tmp_path, "-p", "no:metrics_json", "export", "@metricschan", "-o", "out", config=cfg)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "out" / "export_metrics.json").exists()


def test_runs_into_one_out_keep_each_others_reports_in_the_history(tmp_path, sim_config, monkeypatch):
    """export_metrics.json is the latest run's; every run's final report is kept, one line each, in
    export_metrics_history.jsonl — two exports of different chats lose neither's numbers — and
    the history is capped (oldest dropped) and survives a damaged line."""
    import tgx_metrics_json

    other = {**CHANNEL, "username": "otherchan", "title": "Other", "messages": 300}
    cfg = sim_config(chats=[CHANNEL, other])
    for chat in ("@metricschan", "@otherchan"):
        r = tgx(tmp_path, "export", chat, "-o", "out", "-q", config=cfg)
        assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    history = tgx_metrics_json.read_history(out)
    assert [h["run"]["chats"] for h in history] == [["@metricschan"], ["@otherchan"]]
    assert [h["totals"]["messages"] for h in history] == [1_200, 300]
    assert all(h["complete"] for h in history)
    assert json.loads((out / "export_metrics.json").read_text())["run"]["chats"] == ["@otherchan"]

    path = out / tgx_metrics_json.HISTORY_NAME
    path.write_bytes(path.read_bytes() + b'{"half a li\n')  # a damaged line is dropped, not fatal
    from tgx.specs import SinkContext

    monkeypatch.setattr(tgx_metrics_json, "HISTORY_RUNS", 3)
    from tgx.config import Config

    sink = tgx_metrics_json.JsonReportSink(SinkContext(config=Config(env={}), out_dir=out, options={}))
    for n in range(3):
        sink.report({"run": {"chats": [f"run{n}"]}, "complete": True})
    assert [h["run"]["chats"] for h in tgx_metrics_json.read_history(out)] == [["run0"], ["run1"], ["run2"]]
