"""End-to-end: ``tgx export --media ...`` through the real CLI against the simulated Telegram."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from tgx.archive.store import Archive
from tgx.errors import ExitCode
from tgx.media.downloader import MAX_PART, read_journal
from tgx.testing import SimulatedTelegram
from tgxrun import read_jsonl, tgx, tgx_popen

SCENARIO: dict[str, Any] = {"seed": 3, "messages": 60, "big_file_mb": 8}


def world_of(scenario: dict[str, Any]) -> SimulatedTelegram:
    return SimulatedTelegram.from_scenario({k: v for k, v in scenario.items() if k not in ("request_log", "faults")})


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.endswith("}")]


def check_files(out: Path, world: SimulatedTelegram, key: str) -> dict[int, str]:
    """Every archived file message of ``key`` has its exact bytes on disk; returns media id → path."""
    archive = Archive.open(out)
    try:
        paths: dict[int, str] = {}
        for batch in archive.iter_messages(world.chat(key).marked_id):
            for m in batch:
                if m.media is not None and m.media.is_file:
                    path = archive.media_path(m.media.id)
                    assert path is not None, (key, m.id, m.media.kind)
                    assert (out / path).read_bytes() == world.expected_file(key, m.id), path
                    paths[m.media.id] = path
        return paths
    finally:
        archive.close()


def test_export_media_all_exact_bytes_other_dc_parallel_links_and_rerun(tmp_path: Path, sim_config) -> None:
    log = tmp_path / "requests.jsonl"
    scenario = {**SCENARIO, "latency_ms": 10}
    cfg = sim_config(**scenario, request_log=str(log))
    first = tgx(tmp_path, "export", "@tgx_demo", "@tgx_forum", "--media", "all", "-o", "out", config=cfg)
    assert first.returncode == 0, first.stderr
    world = world_of(scenario)
    out = tmp_path / "out"
    paths = check_files(out, world, "tgx_demo")
    paths.update(check_files(out, world, "tgx_forum"))
    on_disk = [p for p in out.rglob("*") if p.is_file() and "media" in p.relative_to(out).parts]
    assert sorted(str(p.relative_to(out)) for p in on_disk) == sorted(set(paths.values()))  # dedupe: once each

    report = json.loads((out / "export_metrics.json").read_text())
    assert report["totals"]["media_files"] == len(set(paths.values()))
    assert report["gauges"]["getfile_in_flight"]["max"] > 1  # parts and files in flight together

    other = world.facts("tgx_demo", world.find("tgx_demo", "doc_other_dc")).media.media_id
    dcs = {r["dc"] for r in read_log(log) if r["type"] == "GetFileRequest" and r["media_id"] == other}
    assert dcs == {world.other_dc}

    for key in ("tgx_demo", "tgx_forum"):  # the rendered jsonl links every file, chat-relative
        for line in read_jsonl(out / key / "messages.jsonl"):
            media = line["media"]
            if media and media["kind"] in ("photo", "video", "document", "voice", "audio", "sticker",
                                           "animation", "round"):
                assert media["path"] and (out / key / media["path"]).is_file()

    getfiles = sum(1 for r in read_log(log) if r["type"] == "GetFileRequest")
    again = tgx(tmp_path, "export", "@tgx_demo", "@tgx_forum", "--media", "all", "-o", "out", config=cfg)
    assert again.returncode == 0, again.stderr
    assert sum(1 for r in read_log(log) if r["type"] == "GetFileRequest") == getfiles  # nothing again


def test_rendered_jsonl_links_downloaded_files(tmp_path: Path, sim_config) -> None:
    cfg = sim_config(**SCENARIO)
    result = tgx(tmp_path, "export", "@tgx_demo", "--media", "photo", "-o", "out", config=cfg)
    assert result.returncode == 0, result.stderr
    linked = [line["media"] for line in read_jsonl(tmp_path / "out" / "tgx_demo" / "messages.jsonl")
              if line["media"] and line["media"]["kind"] == "photo"]
    assert linked and all(m["path"].startswith("media/photo/") for m in linked)
    assert all((tmp_path / "out" / "tgx_demo" / m["path"]).is_file() for m in linked)


def test_media_kinds_max_size_and_none(tmp_path: Path, sim_config) -> None:
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(**SCENARIO, request_log=str(log))
    world = world_of(SCENARIO)
    result = tgx(tmp_path, "export", "@tgx_demo", "--media", "photo", "--max-size", "200KB", "-o", "photos",
                 config=cfg)
    assert result.returncode == 0, result.stderr
    media_root = tmp_path / "photos" / "tgx_demo" / "media"
    assert [p.name for p in media_root.iterdir()] == ["photo"]
    files = sorted(p.name for p in (media_root / "photo").iterdir())
    expected = sorted(f"{m.media_id}.jpg" for i in world.expected_ids("tgx_demo")
                      if (m := world.facts("tgx_demo", i).media) is not None and m.kind == "photo"
                      and m.size <= 200_000)
    assert files == expected and files
    assert all((media_root / "photo" / name).stat().st_size <= 200_000 for name in files)

    before = sum(1 for r in read_log(log) if r["type"] == "GetFileRequest")
    none = tgx(tmp_path, "export", "@tgx_demo", "--media", "none", "-o", "nomedia", config=cfg)
    assert none.returncode == 0, none.stderr
    assert not (tmp_path / "nomedia" / "tgx_demo" / "media").exists()
    assert sum(1 for r in read_log(log) if r["type"] == "GetFileRequest") == before


@pytest.mark.parametrize(("args", "message"), [
    (["--media", "bogus"], "tgx: error: --media: unknown media kind 'bogus'"),
    (["--media", "photo", "--max-size", "12XB"], "tgx: error: --max-size '12XB' is not a size"),
])
def test_bad_media_flags_are_usage_errors(tmp_path: Path, sim_config, args: list[str], message: str) -> None:
    result = tgx(tmp_path, "export", "@tgx_demo", *args, "-o", "out", config=sim_config(**SCENARIO))
    assert result.returncode == ExitCode.USAGE
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_expired_file_references_are_recovered(tmp_path: Path, sim_config) -> None:
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(**SCENARIO, request_log=str(log), faults=[{"type": "file_reference_expired", "after": 4}])
    result = tgx(tmp_path, "export", "@tgx_demo", "--media", "photo,document,video", "-o", "out", config=cfg)
    assert result.returncode == 0, result.stderr
    world = world_of(SCENARIO)
    archive = Archive.open(tmp_path / "out")
    try:
        wanted = [(m.id, m.media) for b in archive.iter_messages(world.chat("tgx_demo").marked_id) for m in b
                  if m.media is not None and m.media.kind in ("photo", "document", "video")]
        for message_id, media in wanted:
            path = archive.media_path(media.id)
            assert path and (tmp_path / "out" / path).read_bytes() == world.expected_file("tgx_demo", message_id)
    finally:
        archive.close()
    records = read_log(log)
    assert any((r["error"] or "").endswith("FILE_REFERENCE_EXPIRED") for r in records)
    report = json.loads((tmp_path / "out" / "export_metrics.json").read_text())
    assert report["counters"]["file_reference_refreshes"] >= 1


def test_sigkill_during_a_large_download_then_rerun_resumes(tmp_path: Path, sim_config) -> None:
    log = tmp_path / "requests.jsonl"
    scenario = {**SCENARIO, "big_file_mb": 32, "latency_ms": 50}
    cfg = sim_config(**scenario, request_log=str(log))
    world = world_of(scenario)
    big_message = world.find("tgx_demo", "big_video")
    big = world.facts("tgx_demo", big_message).media.media_id
    total_parts = 32 * 1024 * 1024 // MAX_PART

    def big_requests() -> list[dict[str, Any]]:
        return [r for r in read_log(log) if r["type"] == "GetFileRequest" and r["media_id"] == big]

    proc = tgx_popen(tmp_path, "export", "@tgx_demo", "--media", "video", "--parallel-files", "1", "-o", "out",
                     "-q", config=cfg)
    deadline = time.monotonic() + 120
    while len(big_requests()) < total_parts // 3:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    served_before_kill = len(big_requests())
    assert served_before_kill < total_parts, "the kill came too late to interrupt the download"

    archive = Archive.open(tmp_path / "out")
    record = archive.media(big)
    archive.close()
    assert record is not None and record.status == "partial" and record.path
    journal = tmp_path / "out" / (record.path + ".part.journal")
    state = read_journal(journal, big, 32 * 1024 * 1024)
    assert state is not None and state[1], "completed parts were journaled"
    done = len(state[1])

    rerun = tgx(tmp_path, "export", "@tgx_demo", "--media", "video", "-o", "out", config=cfg)
    assert rerun.returncode == 0, rerun.stderr
    refetched = len(big_requests()) - served_before_kill
    assert refetched == total_parts - done < total_parts
    final = tmp_path / "out" / record.path
    assert final.read_bytes() == world.expected_file("tgx_demo", big_message)
    assert not journal.exists() and not (tmp_path / "out" / (record.path + ".part")).exists()


def test_a_truncated_media_file_is_fetched_again_on_rerun(tmp_path: Path, sim_config) -> None:
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(**SCENARIO, request_log=str(log))
    assert tgx(tmp_path, "export", "@tgx_demo", "--media", "all", "-o", "out", config=cfg).returncode == 0
    world = world_of(SCENARIO)
    out = tmp_path / "out"
    paths = check_files(out, world, "tgx_demo")
    victim = out / max(paths.values(), key=lambda p: (out / p).stat().st_size)  # the biggest file
    whole = victim.read_bytes()
    with victim.open("r+b") as fh:
        fh.truncate(1_000)
    logged = len(read_log(log))

    again = tgx(tmp_path, "export", "@tgx_demo", "--media", "all", "-o", "out", config=cfg)
    assert again.returncode == 0, again.stderr
    assert victim.read_bytes() == whole
    assert f"{victim.relative_to(out).as_posix()} is 1,000 bytes on disk" in again.stderr
    check_files(out, world, "tgx_demo")
    refetched = {r["media_id"] for r in read_log(log)[logged:] if r["type"] == "GetFileRequest"}
    assert len(refetched) == 1  # only the damaged file
