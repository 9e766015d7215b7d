"""The media stage in-process against the simulated Telegram: exact bytes, dedupe, other DCs,
expired file references, parallel parts, resume from the journal, disk full, transcoding.

Histories are archived with tgx's own fetcher first (the stage reads the archive), then the
stage runs with real Telethon clients talking to the simulated server.
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telethon.tl import types
from tgx.archive.store import Archive
from tgx.config import Config
from tgx.errors import DependencyError, ExitCode, OutputError
from tgx.fetch.history import HistoryFetcher
from tgx.host.manager import get_plugin_manager
from tgx.media import MediaOptions, MediaResult, attach_paths, run_media_stage
from tgx.media.downloader import (
    MAX_PART,
    FileRequester,
    PartDownloader,
    Transfer,
    journal_header,
    part_count,
    part_size_for,
    read_journal,
    remote_file,
)
from tgx.metrics.collector import Metrics
from tgx.metrics.progress import ExportProgress
from tgx.model import FILE_MEDIA_KINDS, Peer
from tgx.run import RunContext
from tgx.telegram.runner import RequestRunner
from tgx.testing import SimulatedTelegram

ALL = frozenset(FILE_MEDIA_KINDS)


def world_of(**kwargs: Any) -> SimulatedTelegram:
    kwargs.setdefault("messages", 60)
    kwargs.setdefault("big_file_mb", 8)
    return SimulatedTelegram(seed=3, **kwargs)


def peer_of(world: SimulatedTelegram, key: str) -> Peer:
    spec = world.chat(key)
    kind = {"private": "user", "group": "group"}.get(spec.kind, spec.kind)
    return Peer(spec.marked_id, kind, spec.title, spec.username)


@dataclass
class Run:
    result: MediaResult
    metrics: dict[str, Any]
    out: Path


async def _archive(world: SimulatedTelegram, client: Any, runner: RequestRunner, archive: Archive,
                   keys: list[str]) -> list[Peer]:
    peers = []
    for key in keys:
        peer = peer_of(world, key)
        archive.set_chat(peer)
        await HistoryFetcher(RunContext.for_stage(runner, archive), peer.id, world.chat(key).input_peer()).run()
        peers.append(peer)
    return peers


def run_stage(world: SimulatedTelegram, out: Path, keys: list[str], options: MediaOptions | None = None,
              *, config: Config | None = None) -> Run:
    """Archive ``keys`` (if not yet) and run the media stage once; returns result + metrics report."""
    options = options or MediaOptions(kinds=ALL)
    config = config or Config(env={"PATH": os.environ.get("PATH", "")})

    async def main() -> Run:
        client = world.client()
        await client.connect()
        archive = Archive.open(out)
        metrics = Metrics(resources=False, interval=0)
        metrics.start()
        try:
            runner = RequestRunner(client, metrics=metrics, backoff=0.01)
            peers = await _archive(world, client, runner, archive, keys)
            run = RunContext.for_stage(runner, archive, config=config, pm=get_plugin_manager(config),
                                       metrics=metrics, progress=ExportProgress(quiet=True))
            result = await run_media_stage(run, peers, options,
                                           input_peers={p.id: world.chat(p.id).input_peer() for p in peers})
            return Run(result, metrics.finish(), out)
        finally:
            archive.close()
            await client.disconnect()

    return asyncio.run(main())


def media_messages(out: Path, keys_world: SimulatedTelegram, key: str):
    """(message id, media) of every file message archived for chat ``key``."""
    archive = Archive.open(out)
    try:
        chat_id = keys_world.chat(key).marked_id
        return [(m.id, m.media) for batch in archive.iter_messages(chat_id) for m in batch
                if m.media is not None and m.media.is_file]
    finally:
        archive.close()


def recorded_path(out: Path, media_id: int) -> str | None:
    archive = Archive.open(out)
    try:
        return archive.media_path(media_id)
    finally:
        archive.close()


def getfiles(world: SimulatedTelegram, media_id: int | None = None) -> list[dict[str, Any]]:
    return [r for r in world.log.of_type("GetFileRequest") if media_id is None or r["media_id"] == media_id]


# ---------------------------------------------------------------------------------------------


def test_every_file_byte_exact_deduped_and_linked(tmp_path: Path) -> None:
    world = world_of()
    keys = ["tgx_demo", "tgx_forum", "group"]
    run = run_stage(world, tmp_path, keys)
    result = run.result
    assert result.failed == 0 and result.downloaded > 20

    references: Counter[int] = Counter()
    for key in keys:
        for message_id, media in media_messages(tmp_path, world, key):
            references[media.id] += 1
            path = recorded_path(tmp_path, media.id)
            assert path is not None, (key, message_id, media.kind)
            assert (tmp_path / path).read_bytes() == world.expected_file(key, message_id), path
    shared = [mid for mid, n in references.items() if n > 1]
    assert shared, "precondition: the world shares some stickers between messages"
    assert result.downloaded == len(references)  # one download per media id, whatever the references
    assert result.deduped == sum(references.values()) - len(references)
    assert run.metrics["caches"]["media_dedupe"]["hits"] == result.deduped
    assert run.metrics["totals"]["media_files"] == result.downloaded
    files = [p for p in tmp_path.rglob("*") if p.is_file() and "media" in p.parts]
    assert len(files) == len(references)
    assert not [p for p in files if p.name.endswith((".part", ".journal"))]

    # Links: relative to each chat's folder, through ../ when another chat downloaded the file.
    archive = Archive.open(tmp_path)
    try:
        crossed = 0
        for key in keys:
            peer = peer_of(world, key)
            for batch in archive.iter_messages(peer.id):
                for m in attach_paths(archive, peer, batch):
                    if m.media is not None and m.media.is_file:
                        assert m.media.path is not None
                        assert (tmp_path / peer.folder_name / m.media.path).resolve().is_file()
                        crossed += m.media.path.startswith("../")
        assert crossed >= 1  # a sticker first downloaded for another chat
    finally:
        archive.close()

    # A second run finds everything in place: no GetFile at all.
    before = len(getfiles(world))
    again = run_stage(world, tmp_path, keys).result
    assert again.downloaded == 0 and again.present == len(references) and again.failed == 0
    assert len(getfiles(world)) == before


def test_other_dc_files_go_through_an_exported_sender(tmp_path: Path) -> None:
    world = world_of()
    other = world.find("tgx_demo", "doc_other_dc")
    media_id = world.facts("tgx_demo", other).media.media_id
    run_stage(world, tmp_path, ["tgx_demo"], MediaOptions(kinds=frozenset({"document"})))
    requests = getfiles(world, media_id)
    assert requests and {r["dc"] for r in requests} == {world.other_dc}
    assert all(r["error"] is None for r in requests)
    assert world.request_counts().get("ImportAuthorizationRequest", 0) >= 1
    path = recorded_path(tmp_path, media_id)
    assert path and (tmp_path / path).read_bytes() == world.expected_file("tgx_demo", other)


def test_file_migrate_switches_to_the_files_dc(tmp_path: Path) -> None:
    world = world_of()
    message_id = world.find("tgx_demo", "doc_other_dc")

    async def main() -> tuple[bytes, int]:
        client = world.client()
        await client.connect()
        try:
            msg = await client.get_messages(world.chat("tgx_demo").input_peer(), ids=message_id)
            remote = remote_file(msg.media)
            remote.dc_id = world.home_dc  # as if we did not know: Telegram answers FILE_MIGRATE_2
            requester = FileRequester(client, RequestRunner(client), cap=4)
            with _executor() as io:
                downloader = PartDownloader(requester, io)
                await downloader.download(Transfer(remote), tmp_path / "f.part", tmp_path / "f.part.journal")
            await requester.close()
            return (tmp_path / "f.part").read_bytes(), downloader.migrated
        finally:
            await client.disconnect()

    data, migrated = asyncio.run(main())
    assert migrated == 1
    assert data == world.expected_file("tgx_demo", message_id)
    assert any((r["error"] or "").endswith("FILE_MIGRATE_2") for r in getfiles(world))


def test_expired_file_references_are_renewed_transparently(tmp_path: Path) -> None:
    world = world_of()
    world.faults.file_reference_expired(after=6)  # every reference handed out so far expires
    run = run_stage(world, tmp_path, ["tgx_demo"])
    assert run.result.failed == 0
    assert run.result.file_reference_refreshes >= 1
    assert run.metrics["counters"]["file_reference_refreshes"] == run.result.file_reference_refreshes
    assert any((r["error"] or "").endswith("FILE_REFERENCE_EXPIRED") for r in getfiles(world))
    for message_id, media in media_messages(tmp_path, world, "tgx_demo"):
        path = recorded_path(tmp_path, media.id)
        assert path and (tmp_path / path).read_bytes() == world.expected_file("tgx_demo", message_id)


def test_parts_of_one_file_are_in_flight_together_within_the_cap(tmp_path: Path) -> None:
    world = world_of(latency=0.02, big_file_mb=16)
    big = world.find("tgx_demo", "big_video")
    run = run_stage(world, tmp_path, ["tgx_demo"],
                    MediaOptions(kinds=frozenset({"video"}), parallel_files=1, parallel_parts=6))
    assert run.result.peak_in_flight == 6  # one file at a time: all in flight are its parts
    assert run.metrics["gauges"]["getfile_in_flight"]["max"] == 6
    media_id = world.facts("tgx_demo", big).media.media_id
    assert len(getfiles(world, media_id)) == 16 * 1024 * 1024 // MAX_PART  # no extra request at EOF
    assert (tmp_path / recorded_path(tmp_path, media_id)).read_bytes() == world.expected_file("tgx_demo", big)

    capped = run_stage(world_of(latency=0.01), tmp_path / "capped", ["tgx_demo"],
                       MediaOptions(kinds=ALL, parallel_files=4, parallel_parts=4, max_in_flight=3))
    assert 1 < capped.result.peak_in_flight <= 3


def test_an_interrupted_large_download_resumes_from_its_journal(tmp_path: Path) -> None:
    world = world_of(big_file_mb=8)
    big = world.find("tgx_demo", "big_video")
    media_id = world.facts("tgx_demo", big).media.media_id
    total_parts = 8 * 1024 * 1024 // MAX_PART
    options = MediaOptions(kinds=frozenset({"video"}), parallel_files=1)
    # The 10th GetFile of the big file fails for good (as if the process stopped there); the
    # videos before it (one file at a time, in archive order) need `before` requests.
    before = sum(part_count(m.size, part_size_for(m.size, 4)) for i in world.expected_ids("tgx_demo")
                 if i < big and world.facts("tgx_demo", i).kind in ("video", "album_video")
                 for m in [world.facts("tgx_demo", i).media])
    world.faults.rpc_error("GetFileRequest", 400, "FILE_ID_INVALID", after=before + 9)
    first = run_stage(world, tmp_path, ["tgx_demo"], options)
    assert first.result.failed >= 1
    archive = Archive.open(tmp_path)
    record = archive.media(media_id)
    archive.close()
    assert record is not None and record.status == "failed" and record.path
    part = tmp_path / (record.path + ".part")
    journal = tmp_path / (record.path + ".part.journal")
    state = read_journal(journal, media_id, 8 * 1024 * 1024)
    assert part.exists() and state is not None and state[1], "some parts were journaled"
    done_parts = len(state[1])
    with journal.open("ab") as fh:
        fh.write(b"1")  # a torn last line (no newline) is ignored, not trusted

    world.faults.clear()
    world.log.clear()
    second = run_stage(world, tmp_path, ["tgx_demo"], options)
    assert second.result.failed == 0
    fetched = len(getfiles(world, media_id))
    assert fetched == total_parts - done_parts < total_parts
    assert second.result.resumed_bytes == done_parts * MAX_PART
    final = tmp_path / record.path
    assert final.read_bytes() == world.expected_file("tgx_demo", big)
    assert not part.exists() and not journal.exists()


def test_a_journal_for_another_file_or_size_is_not_trusted(tmp_path: Path) -> None:
    journal = tmp_path / "x.part.journal"
    journal.write_bytes(journal_header(5, 8 * 1024 * 1024, MAX_PART) + b"0\n1\n2\n")
    assert read_journal(journal, 5, 8 * 1024 * 1024) == (MAX_PART, {0, 1, 2})
    assert read_journal(journal, 6, 8 * 1024 * 1024) is None
    assert read_journal(journal, 5, 9 * 1024 * 1024) is None
    journal.write_bytes(b"garbage\n0\n")
    assert read_journal(journal, 5, 8 * 1024 * 1024) is None


def test_disk_full_stops_cleanly_and_keeps_what_is_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell which file a descriptor is")
    world = world_of()
    real_pwrite = os.pwrite

    def pwrite(fd: int, data: Any, offset: int) -> int:
        if "big-video" in os.readlink(f"/proc/self/fd/{fd}") and offset >= 2 * MAX_PART:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    with pytest.raises(OutputError) as info:
        run_stage(world, tmp_path, ["tgx_demo"], MediaOptions(kinds=frozenset({"video"}), parallel_files=1))
    message = str(info.value)
    assert message.startswith("disk full while writing big-video.mp4") and "rerun" in message
    monkeypatch.setattr(os, "pwrite", real_pwrite)
    archive = Archive.open(tmp_path)  # the archive is intact and says what is done
    try:
        assert archive.integrity_check() == []
        done = [m for _, m in media_messages(tmp_path, world, "tgx_demo")
                if m.kind == "video" and archive.media_path(m.id)]
        assert done and all((tmp_path / archive.media_path(m.id)).is_file() for m in done)
    finally:
        archive.close()
    rerun = run_stage(world, tmp_path, ["tgx_demo"], MediaOptions(kinds=frozenset({"video"}), parallel_files=1))
    assert rerun.result.failed == 0 and rerun.result.downloaded >= 1


def test_kinds_and_max_size_select_files(tmp_path: Path) -> None:
    world = world_of()
    run = run_stage(world, tmp_path, ["tgx_demo"], MediaOptions(kinds=frozenset({"photo"}), max_size=200_000))
    wanted = skipped = 0
    for _, media in media_messages(tmp_path, world, "tgx_demo"):
        path = recorded_path(tmp_path, media.id)
        if media.kind == "photo" and media.size <= 200_000:
            wanted += 1
            assert path is not None and path.startswith("tgx_demo/media/photo/")
        else:
            skipped += media.kind == "photo"
            assert path is None
    assert wanted and skipped and run.result.skipped == skipped
    assert {p.name for p in (tmp_path / "tgx_demo" / "media").iterdir()} == {"photo"}


# ---------------------------------------------------------------------------------------------
# transcoding


def _executor():
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(4)


def test_missing_ffmpeg_is_one_warning_and_downloads_go_on(tmp_path: Path) -> None:
    config = Config(env={"TGX_FFMPEG": str(tmp_path / "no-such-ffmpeg"), "PATH": ""})
    run = run_stage(world_of(), tmp_path, ["tgx_demo"],
                    MediaOptions(kinds=frozenset({"video", "round"}), transcode="incompatible"), config=config)
    assert run.result.downloaded >= 2 and run.result.failed == 0
    assert run.result.encoded == 0 and run.result.encode_failed == 0
    assert len(run.result.warnings) == 1
    assert "--transcode incompatible ignored" in run.result.warnings[0]
    assert "TGX_FFMPEG" in run.result.warnings[0]


@pytest.fixture(scope="module")
def real_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A tiny real video that Telegram clients cannot play inline (MPEG-4 Part 2 in AVI)."""
    from tgx.ffmpeg import find_ffmpeg

    info = find_ffmpeg()
    if info is None:
        pytest.skip("no ffmpeg")
    out = tmp_path_factory.mktemp("clip") / "clip.avi"
    subprocess.run([info.path, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10", "-t", "1",
                    "-c:v", "mpeg4", "-y", str(out)], check=True, timeout=60)
    return out.read_bytes()


@pytest.mark.parametrize("replace", [False, True])
def test_transcode_beside_downloads_keeps_originals_of_failed_encodes(tmp_path: Path, real_clip: bytes,
                                                                      replace: bool) -> None:
    world = world_of()
    options = MediaOptions(kinds=frozenset({"video", "round"}))
    first = run_stage(world, tmp_path, ["tgx_demo"], options)
    videos = [(i, m) for i, m in media_messages(tmp_path, world, "tgx_demo") if m.kind in ("video", "round")]
    assert first.result.downloaded == len(videos) >= 2
    # Make one downloaded "video" a real (incompatible) clip; the others stay random bytes.
    good_id, good = next((i, m) for i, m in videos if m.kind == "video")
    good_path = tmp_path / recorded_path(tmp_path, good.id)
    good_path.write_bytes(real_clip)
    with Archive.open(tmp_path) as archive:  # as if Telegram had served that clip (a rerun checks sizes)
        archive.set_media(good.id, recorded_path(tmp_path, good.id), size=len(real_clip))

    second = run_stage(world, tmp_path, ["tgx_demo"],
                       MediaOptions(kinds=options.kinds, transcode="incompatible", encoder="cpu",
                                    replace_originals=replace))
    result = second.result
    assert result.downloaded == 0 and result.present == len(videos)
    assert result.encoded == 1
    assert result.encode_failed == len(videos) - 1  # random bytes: probe fails, original kept
    for _, m in videos:
        if m.id != good.id:
            assert (tmp_path / recorded_path(tmp_path, m.id)).is_file()
    encoded = good_path.with_name(good_path.stem + ".h264.mp4")
    archive = Archive.open(tmp_path)
    try:
        peer = peer_of(world, "tgx_demo")
        msg = archive.message(peer.id, good_id)
        linked = attach_paths(archive, peer, [msg])[0].media.path
    finally:
        archive.close()
    if replace:
        assert not encoded.exists()
        assert good_path.read_bytes()[4:8] == b"ftyp"  # the original's name now holds the H.264 MP4
        assert linked == "media/video/" + good_path.name
    else:
        assert good_path.read_bytes() == real_clip
        assert encoded.read_bytes()[4:8] == b"ftyp"
        assert linked == "media/video/" + encoded.name
    third = run_stage(world, tmp_path, ["tgx_demo"],
                      MediaOptions(kinds=options.kinds, transcode="incompatible", encoder="cpu",
                                   replace_originals=replace))
    assert third.result.encoded == 0 and third.result.encode_failed == 0  # decided once, remembered


def test_the_photo_location_asks_for_the_largest_size() -> None:
    world = world_of()
    photo_id = world.find("tgx_demo", "photo")
    msg = world.tl_message("tgx_demo", photo_id)
    remote = remote_file(msg.media)
    assert isinstance(remote.location, types.InputPhotoFileLocation)
    assert remote.location.thumb_size == "y"
    assert remote.size == len(world.expected_file("tgx_demo", photo_id))
    doc = remote_file(world.tl_message("tgx_demo", world.find("tgx_demo", "document")).media)
    assert isinstance(doc.location, types.InputDocumentFileLocation) and doc.location.thumb_size == ""


def test_a_pinned_encoder_that_does_not_exist_ends_the_stage_before_downloading(tmp_path: Path) -> None:
    world = world_of()
    with pytest.raises(DependencyError, match="unknown encoder 'nope'") as info:
        run_stage(world, tmp_path, ["tgx_demo"],
                  MediaOptions(kinds=frozenset({"video"}), transcode="always", encoder="nope"))
    assert info.value.exit_code == ExitCode.DEPENDENCY
    assert not getfiles(world)
