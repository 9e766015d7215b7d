# ruff: noqa: F811 - the fixtures imported from test_reliability are parameters here
"""An archive that checks itself: rows missing under a checkpoint, an unreadable checkpoint and an
unreadable message row are each named in one warning and repaired by the next export — which
fetches exactly what is missing, so the files end as complete as an undamaged export's. Through
the real CLI against the simulated Telegram; the damage is done with sqlite3, as a partial
``.recover`` or a bit flip would leave it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from test_reliability import (  # noqa: F401 - baseline and run_tgx are fixtures
    CHANNEL,
    CHAT,
    assert_same_export,
    baseline,
    export_args,
    run_tgx,
    write_config,
)
from tgx.archive.store import SCHEMA_VERSION
from tgx.errors import ExitCode
from tgxrun import archived_count, read_jsonl, request_counts


def _db(out: Path) -> sqlite3.Connection:
    return sqlite3.connect(out / ".tgx" / "archive.sqlite", isolation_level=None)


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tgx: warning:")]


@pytest.fixture
def exported(tmp_path: Path, run_tgx):
    log = tmp_path / "requests.jsonl"
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [CHANNEL], "request_log": str(log)})
    r = run_tgx(cfg, *export_args())
    assert r.returncode == 0, r.stderr
    log.unlink()
    return cfg, log


def test_rows_missing_under_the_checkpoint_are_noticed_and_fetched_again(tmp_path, run_tgx, exported, baseline):
    cfg, log = exported
    with _db(tmp_path / "out") as con:
        con.execute("DELETE FROM messages WHERE id BETWEEN 500 AND 599")
    assert archived_count(tmp_path / "out") == 2_900

    r = run_tgx(cfg, *export_args("out", "--json"))
    assert r.returncode == ExitCode.OK, r.stderr
    (warning,) = _warnings(r.stderr)
    assert warning.startswith(f"tgx: warning: {CHAT}: 100 archived message(s) are missing from the archive (ids ")
    assert "fetching them again" in warning
    assert json.loads(r.stdout)["chats"][0]["fetched"] >= 100
    assert archived_count(tmp_path / "out") == 3_000
    assert_same_export(tmp_path / "out", baseline)  # jsonl and csv complete, never shrunk
    # Only the damaged block was fetched again (ids 1–4095 here: the whole small channel).
    assert request_counts(log).get("GetHistoryRequest", 0) <= 45

    again = run_tgx(cfg, *export_args())
    assert again.returncode == 0 and not _warnings(again.stderr), again.stderr


def test_the_repair_survives_a_kill_before_the_refetch(tmp_path, run_tgx, exported):
    """The smaller checkpoint is committed when the hole is found: a run that stops right after
    (here: the chat cannot be fetched at all) leaves the gap claimed by nobody."""
    cfg, _log = exported
    with _db(tmp_path / "out") as con:
        con.execute("DELETE FROM messages WHERE id BETWEEN 10 AND 19")
    from tgx.archive.store import Archive
    from tgx.fetch.checkpoint import read_checkpoint

    seen: list[str] = []
    with Archive.open(tmp_path / "out") as archive:
        (chat,) = archive.chats()
        ranges, _count = read_checkpoint(archive, chat.id, label=CHAT, warn=seen.append)
        assert ranges.covers(9) is False and ranges.covers(15) is False
        assert len(seen) == 1
    with Archive.open(tmp_path / "out") as archive:  # "killed": reopened, nothing was fetched
        ranges, _count = read_checkpoint(archive, chat.id, label=CHAT, warn=seen.append)
        assert not ranges.covers(15)  # still not claimed
        assert len(seen) == 1  # and no second warning: the archive already admitted the gap
    r = run_tgx(cfg, *export_args())
    assert r.returncode == 0, r.stderr
    assert archived_count(tmp_path / "out") == 3_000


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'{"ranges": [[1]]}', b'{"ranges": "all"}',
                                  b'{"ranges": [[1, 3000]], "server_count": "x"}'],
                         ids=["invalid-json", "a-list", "short-range", "ranges-a-string", "bad-count"])
def test_an_unreadable_checkpoint_is_dropped_and_the_history_fetched_again(tmp_path, run_tgx, exported,
                                                                           baseline, data):
    cfg, log = exported
    with _db(tmp_path / "out") as con:
        con.execute("UPDATE checkpoints SET data = ?", (data,))
    r = run_tgx(cfg, *export_args())
    assert r.returncode == ExitCode.OK, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    (warning,) = _warnings(r.stderr)
    assert warning.startswith(f"tgx: warning: {CHAT}: its checkpoint in the archive is unreadable (")
    assert "fetched again" in warning
    assert archived_count(tmp_path / "out") == 3_000  # replaced, never duplicated
    assert_same_export(tmp_path / "out", baseline)
    assert request_counts(log)["GetHistoryRequest"] >= 30
    again = run_tgx(cfg, *export_args())
    assert again.returncode == 0 and not _warnings(again.stderr), again.stderr


def test_an_unreadable_message_row_is_skipped_by_render_and_fetched_by_the_next_export(tmp_path, run_tgx,
                                                                                        exported, baseline):
    cfg, _log = exported
    with _db(tmp_path / "out") as con:
        con.execute("UPDATE messages SET data = ? WHERE id = 1234", (b'{"id": 1234, "te',))
    r = run_tgx(cfg, "render", "out", "-f", "csv")
    assert r.returncode == ExitCode.OK, r.stderr
    warnings = _warnings(r.stderr)
    assert any("archived message 1234 is unreadable" in w and "the next `tgx export` fetches it again" in w
               for w in warnings), r.stderr
    assert "rendered 2,999 messages over files that held 3,000" in r.stderr  # never silently shrunk

    fixed = run_tgx(cfg, *export_args())
    assert fixed.returncode == ExitCode.OK, fixed.stderr
    assert any("1 archived message(s) are missing" in w for w in _warnings(fixed.stderr)), fixed.stderr
    assert [m["id"] for m in read_jsonl(tmp_path / "out" / CHAT / "messages.jsonl")] == \
        [m["id"] for m in read_jsonl(baseline / CHAT / "messages.jsonl")]
    assert_same_export(tmp_path / "out", baseline)


def test_an_archive_from_schema_1_gets_its_counts_and_then_is_checked(tmp_path, run_tgx, exported):
    cfg, _log = exported
    with _db(tmp_path / "out") as con:
        con.execute("DROP TABLE row_counts")
        con.execute("DROP TABLE topics")
        con.execute("UPDATE schema_version SET version = 1")
    r = run_tgx(cfg, *export_args())  # migrates; counts filled from the rows as they are
    assert r.returncode == 0 and not _warnings(r.stderr), r.stderr
    with _db(tmp_path / "out") as con:
        assert con.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
        assert con.execute("SELECT SUM(rows) FROM row_counts").fetchone() == (3_000,)
        con.execute("DELETE FROM messages WHERE id = 7")
    r = run_tgx(cfg, *export_args())
    assert any("1 archived message(s) are missing" in w for w in _warnings(r.stderr)), r.stderr
    assert archived_count(tmp_path / "out") == 3_000


# -- tgx verify ------------------------------------------------------------------------------------------


def _verify(run_tgx, cfg, *args):
    r = run_tgx(cfg, "verify", "out", "--json", *args)
    return r, json.loads(r.stdout)


def test_verify_of_a_healthy_export_is_ok(tmp_path, run_tgx, exported):
    cfg, _log = exported
    r, report = _verify(run_tgx, cfg)
    assert r.returncode == 0, r.stderr
    assert report["ok"] is True and report["problems"] == []
    assert (report["chats"], report["messages"]) == (1, 3_000)
    assert report["rendered_files"] == 2  # messages.jsonl, messages.csv


def test_verify_names_every_kind_of_damage_and_repair_leads_back_to_a_complete_export(tmp_path, run_tgx,
                                                                                      exported, baseline):
    cfg, _log = exported
    out = tmp_path / "out"
    with _db(out) as con:
        con.execute("DELETE FROM messages WHERE id BETWEEN 100 AND 109")
        con.execute("UPDATE messages SET data = ? WHERE id = 2500", (b"\xff\x00garbage",))
    (out / CHAT / "messages.csv").unlink()
    def files() -> dict[Path, bytes]:  # SQLite's -shm/-wal change on any read
        return {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and not p.name.endswith(("-shm", "-wal"))}

    untouched = files()

    r, report = _verify(run_tgx, cfg)
    assert r.returncode == ExitCode.FAILURE
    kinds = sorted({p["kind"] for p in report["problems"]})
    assert kinds == ["missing_rows", "rendered", "unreadable_row"], report["problems"]
    assert any("message 2500 does not decode" in p["detail"] for p in report["problems"])
    assert any("10 message(s) missing in ids" in p["detail"] for p in report["problems"])
    assert files() == untouched  # read-only

    human = run_tgx(cfg, "verify", "out")
    assert human.returncode == ExitCode.FAILURE
    assert "problem(s)" in human.stderr + human.stdout

    r, report = _verify(run_tgx, cfg, "--repair")
    assert r.returncode == ExitCode.FAILURE  # it found problems (and repaired them)
    assert all(p["repaired"] for p in report["problems"] if p["kind"] != "rendered")
    fixed = run_tgx(cfg, *export_args())
    assert fixed.returncode == 0, fixed.stderr
    assert_same_export(out, baseline)
    r, report = _verify(run_tgx, cfg)
    assert r.returncode == 0 and report["ok"], report["problems"]


def test_verify_names_a_truncated_media_file_and_a_missing_archive(tmp_path, run_tgx):
    from tgx.archive.store import Archive

    cfg = write_config(tmp_path / "tgx.toml", {"chats": [CHANNEL]})
    assert run_tgx(cfg, *export_args()).returncode == 0
    media = tmp_path / "out" / CHAT / "media" / "document" / "report.pdf"
    media.parent.mkdir(parents=True)
    media.write_bytes(b"x" * 10)
    with Archive.open(tmp_path / "out") as archive:
        archive.set_media(42, f"{CHAT}/media/document/report.pdf", size=1_000)
    r, report = _verify(run_tgx, cfg)
    assert r.returncode == ExitCode.FAILURE
    assert report["problems"] == [{"kind": "media", "where": f"{CHAT}/media/document/report.pdf",
                                   "detail": "10 bytes on disk, 1,000 recorded: the next export with --media "
                                             "fetches it again", "repaired": False}]
    missing = run_tgx(cfg, "verify", "nowhere")
    assert missing.returncode == ExitCode.OUTPUT
    assert "nowhere holds no tgx archive" in missing.stderr


def test_verify_hashes_finds_a_media_file_changed_in_place(tmp_path, sim_config):
    """Same size, other bytes: only the SHA-256 recorded at download time tells."""
    from tgxrun import tgx

    cfg = sim_config(seed=3, messages=40)
    assert tgx(tmp_path, "export", "@tgx_demo", "--media", "photo", "-o", "out", config=cfg).returncode == 0
    photo = next((tmp_path / "out" / "tgx_demo" / "media" / "photo").iterdir())
    assert tgx(tmp_path, "verify", "out", "--hashes", config=cfg).returncode == 0
    data = bytearray(photo.read_bytes())
    data[len(data) // 2] ^= 0xFF
    photo.write_bytes(bytes(data))
    quick = tgx(tmp_path, "verify", "out", config=cfg)
    assert quick.returncode == 0  # sizes agree: the quick check cannot see it
    full = tgx(tmp_path, "verify", "out", "--hashes", "--json", config=cfg)
    assert full.returncode == ExitCode.FAILURE
    (problem,) = json.loads(full.stdout)["problems"]
    assert problem["kind"] == "media" and "SHA-256 differs" in problem["detail"]


@pytest.mark.parametrize("data", [b"{not json", b'{"ranges": [[1]]}'], ids=["invalid-json", "short-range"])
def test_verify_reports_a_checkpoint_the_next_export_would_drop(tmp_path, run_tgx, exported, data):
    cfg, _log = exported
    with _db(tmp_path / "out") as con:
        con.execute("UPDATE checkpoints SET data = ?", (data,))
    r, report = _verify(run_tgx, cfg)
    assert r.returncode == ExitCode.FAILURE
    assert [p["kind"] for p in report["problems"]] == ["bad_checkpoint"]
    r, report = _verify(run_tgx, cfg, "--repair")
    assert report["problems"][0]["repaired"] is True
    assert run_tgx(cfg, *export_args()).returncode == 0
    r, report = _verify(run_tgx, cfg)
    assert r.returncode == 0, report
