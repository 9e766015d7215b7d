"""The media stage of ``tgx export``: from the archive to files on disk.

The archive is the source of truth. For each chat the stage streams its archived messages,
keeps those whose file is wanted (kind, size) and not yet downloaded, re-fetches them by id in
batches of 100 (the TL location — access hash, file reference — is not in the model, and a
fresh fetch gives fresh file references), and hands each file to ``parallel_files`` workers
that download it in parallel parts (:mod:`tgx.media.downloader`).

Dedupe: a media id is downloaded once per output, whatever the number of messages and chats
that show it; later references reuse the recorded file. Names (:mod:`tgx.media.names`) are
chosen in archive order, recorded before the download starts, and reused by the next run, so
an interrupted download resumes into the same ``.part``.

Finishing a file, in this order: fsync ``.part`` → record ``done`` in the archive →
``os.replace`` to the final name → remove the journal. A crash between any two steps is safe:
a ``done`` row whose file is missing is downloaded again (into the same name, resuming).

Videos are re-encoded beside the downloads when ``--transcode`` asks (:mod:`tgx.media.encoders`);
a failed encode keeps the original, and a missing ffmpeg is one warning, never a failure.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from telethon import utils as tl_utils
from telethon.tl import functions, types

from tgx import console
from tgx.errors import DependencyError, EncodeError, OutputError, TgxError
from tgx.fsutil import fsync_dir, sha256_file
from tgx.media.downloader import (
    RESUME_MIN_SIZE,
    FileFailed,
    FileRequester,
    PartDownloader,
    RemoteFile,
    Transfer,
    gather_or_cancel,
    remote_file,
)
from tgx.media.index import MediaIndex
from tgx.media.names import (
    JOURNAL_SUFFIX,
    PART_SUFFIX,
    FolderNames,
    MediaFolders,
    ext_for_mime,
    inside,
    safe_name,
    split_ext,
)
from tgx.media.options import VIDEO_KINDS, MediaOptions
from tgx.model import FILE_MEDIA_KINDS, Media, Message, Peer, peer_kind_of_id
from tgx.run import RunContext
from tgx.specs import EncodeJob

REFETCH_BATCH = 100  # ids per GetMessages: Telegram's maximum
ARCHIVE_BATCH = 500
MAX_FILE_WARNINGS = 10  # one line per failed file up to this many, then only the summary


@dataclass
class MediaResult:
    """What the media stage did (``present``: downloaded by an earlier run, still there)."""

    downloaded: int = 0
    bytes: int = 0
    deduped: int = 0
    skipped: int = 0
    failed: int = 0
    encoded: int = 0
    encode_failed: int = 0
    warnings: list[str] = field(default_factory=list)
    present: int = 0
    resumed_bytes: int = 0
    file_reference_refreshes: int = 0
    peak_in_flight: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(slots=True)
class _Chat:
    peer: Peer
    input_peer: Any
    channel: Any  # InputChannel for channels/supergroups, else None

    @property
    def label(self) -> str:
        return self.peer.folder_name



@dataclass(slots=True)
class _Job:
    chat: _Chat
    message_id: int
    media: Media
    media_id: int  # media.id, which a planned job always has (the dedupe key)
    kind: str
    folder: Path
    names: FolderNames
    name: str
    relpath: str  # relative to OUT/, POSIX
    transfer: Transfer

    @property
    def path(self) -> Path:
        return self.folder / self.name

    @property
    def part(self) -> Path:
        return self.folder / (self.name + PART_SUFFIX)

    @property
    def journal(self) -> Path:
        return self.folder / (self.name + JOURNAL_SUFFIX)


class MediaStage:
    def __init__(self, run: RunContext, chats: list[Peer], options: MediaOptions, *,
                 input_peers: dict[int, Any] | None = None, only: Mapping[int, Collection[int]] | None = None) -> None:
        self.archive = run.archive
        self.only = only  # chat id → the messages to look at (tgx watch: what changed); None: all
        self.client = run.client
        self.runner = run.runner
        self.chats = chats
        self.out = run.out
        self.options = options
        self.metrics = run.metrics
        self.progress = run.progress
        self.pm = run.pm
        self.config = run.config
        self.input_peers = dict(input_peers or {})
        self.result = MediaResult()
        self.index = MediaIndex(run.archive)
        self._seen: set[int] = set()
        self._folder = MediaFolders(self.out, self.index.path_taken)
        self._total = 0
        self._file_warnings = 0
        self._failed_examples: list[str] = []
        # encoding
        self._pool: Any = None
        self._ffmpeg: Any = None
        self._encodes: set[asyncio.Task[None]] = set()
        self._encode_sem: asyncio.Semaphore | None = None
        self._encoding_stopped = False

    # -- entry point

    async def run(self) -> MediaResult:
        opts = self.options
        self._setup_encoding()
        self.metrics.add_cache_source("media_dedupe", self._dedupe_stats)
        cap = opts.in_flight_cap
        self._io = ThreadPoolExecutor(max_workers=cap + 2, thread_name_prefix="tgx-media-io")
        self.requester = FileRequester(self.client, self.runner, cap=cap, metrics=self.metrics)
        self.downloader = PartDownloader(self.requester, self._io, parallel_parts=opts.parallel_parts,
                                         metrics=self.metrics, on_bytes=self.progress.media_advance)
        queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=opts.parallel_files * 4)
        ok = False
        try:
            workers = [self._worker(queue) for _ in range(opts.parallel_files)]
            await gather_or_cancel([self._plan(queue), *workers])
            if self._encodes:
                self.progress.status(f"media: waiting for {len(self._encodes)} video encode(s)")
                await asyncio.gather(*list(self._encodes))
                self.progress.status(None)
            ok = True
        finally:
            if not ok:
                for task in self._encodes:
                    task.cancel()
                if self._encodes:
                    await asyncio.gather(*self._encodes, return_exceptions=True)
            if self._pool is not None:
                pool, cancel = self._pool, not ok
                await asyncio.get_running_loop().run_in_executor(None, lambda: pool.shutdown(cancel=cancel))
            await self.requester.close()
            self._io.shutdown(wait=True)
            self.result.resumed_bytes = self.downloader.resumed_bytes
            self.result.file_reference_refreshes = self.downloader.refreshed
            self.result.peak_in_flight = self.requester.peak_in_flight
        if self.result.failed:
            first = f" (first: {self._failed_examples[0]})" if self._failed_examples else ""
            self._warn(f"{self.result.failed} media file(s) could not be downloaded{first}; "
                       "rerun the same command to retry them")
        return self.result

    # -- planning: archive → jobs

    async def _plan(self, queue: asyncio.Queue[_Job | None]) -> None:
        opts = self.options
        for peer in self.chats:
            chat: _Chat | None = None
            pending: list[tuple[int, Media, Any]] = []
            for batch in self._batches(peer.id):
                for msg in batch:
                    media = msg.media
                    if media is None or media.id is None or not media.is_file or media.kind not in opts.kinds:
                        continue
                    if opts.max_size is not None and media.size is not None and media.size > opts.max_size:
                        self.result.skipped += 1
                        continue
                    if media.id in self._seen:
                        self.result.deduped += 1
                        continue
                    self._seen.add(media.id)
                    record = self.index.record(media.id)
                    if record is not None and record.status == "done" and self._present(record.path, record.size):
                        self.result.present += 1
                        if media.kind in VIDEO_KINDS:
                            self._encode_existing(media.id, record.path)
                        continue
                    pending.append((msg.id, media, record))
                    if len(pending) >= REFETCH_BATCH:
                        chat = chat or await self._chat(peer)
                        await self._enqueue(chat, pending, queue)
                        pending = []
                await asyncio.sleep(0)  # let the workers run between archive pages
            if pending:
                chat = chat or await self._chat(peer)
                await self._enqueue(chat, pending, queue)
        for _ in range(opts.parallel_files):
            await queue.put(None)

    def _batches(self, chat_id: int) -> Iterator[list[Message]]:
        """The chat's archived messages to plan from: all of them, or only the ones asked for."""
        if self.only is None or chat_id not in self.only:
            yield from self.archive.iter_messages(chat_id, ARCHIVE_BATCH, include_deleted=False)
            return
        found = (self.archive.message(chat_id, i) for i in sorted(self.only[chat_id]))
        yield [m for m in found if m is not None and not m.deleted]

    def _present(self, relpath: str | None, size: int | None = None) -> bool:
        """Whether a downloaded file is still there whole: one ``stat`` per file and rerun, so a
        file truncated (or replaced) on disk since is fetched again instead of kept forever."""
        if not relpath:
            return False
        path = self.out / relpath
        try:
            st = path.lstat()
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        if size is not None and st.st_size != size:
            self._warn(f"{relpath} is {st.st_size:,} bytes on disk, {size:,} when downloaded: fetching it again")
            return False
        return True

    async def _chat(self, peer: Peer) -> _Chat:
        input_peer = self.input_peers.get(peer.id)
        if input_peer is None:
            try:
                input_peer = await self.client.get_input_entity(peer.id)
            except (ValueError, TypeError) as exc:
                raise TgxError(f"media: cannot address chat {peer.folder_name} to re-fetch its files ({exc})",
                               hint="rerun the export; the archive and downloaded files are intact") from None
        channel = None
        if peer_kind_of_id(peer.id) == "channel":
            channel = tl_utils.get_input_channel(input_peer)
        return _Chat(peer, input_peer, channel)

    async def _get_messages(self, chat: _Chat, ids: list[int]) -> dict[int, Any]:
        wanted = [types.InputMessageID(i) for i in ids]
        if chat.channel is not None:
            request: Any = functions.channels.GetMessagesRequest(chat.channel, wanted)
        else:
            request = functions.messages.GetMessagesRequest(wanted)
        answer = await self.runner(request, stage="download", chat=chat.label)
        return {m.id: m for m in getattr(answer, "messages", ()) if isinstance(m, types.Message)}

    async def _enqueue(self, chat: _Chat, pending: list[tuple[int, Media, Any]],
                       queue: asyncio.Queue[_Job | None]) -> None:
        found = await self._get_messages(chat, [message_id for message_id, _, _ in pending])
        for message_id, media, record in pending:
            tl = found.get(message_id)
            remote = remote_file(tl.media) if tl is not None and tl.media is not None else None
            if remote is None or remote.media_id != media.id:
                self._file_failed(f"{chat.label}/{message_id}", "no longer available on Telegram")
                self._seen.discard(media.id)  # another message showing it may still have it
                continue
            job = self._make_job(chat, message_id, media, record, remote)
            self._total += remote.size or 0
            self.progress.media_total(self._total)
            await queue.put(job)

    def _make_job(self, chat: _Chat, message_id: int, media: Media, record: Any, remote: RemoteFile) -> _Job:
        kind = media.kind
        folder = names = name = None
        if record is not None and record.path:
            reldir, _, recorded = record.path.rpartition("/")
            parts = reldir.split("/")
            if (len(parts) == 3 and parts[0] not in ("", ".", "..") and parts[1] == "media"
                    and parts[2] in FILE_MEDIA_KINDS and recorded == safe_name(recorded, recorded)):
                folder, names = self._folder(reldir)
                if names.keep(recorded, media.id):
                    name = recorded
        if name is None:
            reldir = f"{chat.peer.folder_name}/media/{kind}"
            folder, names = self._folder(reldir)
            fallback = f"{media.id}{ext_for_mime(media.mime_type, kind)}"
            wanted = fallback if kind == "photo" else safe_name(media.file_name, fallback)
            name = names.claim(wanted, media.id)
        assert folder is not None and names is not None and media.id is not None
        relpath = f"{reldir}/{name}"
        self.index.start(media.id, relpath, remote.size)
        transfer = Transfer(remote, refresh=lambda: self._refetch(chat, message_id))
        return _Job(chat, message_id, media, media.id, kind, folder, names, name, relpath, transfer)

    async def _refetch(self, chat: _Chat, message_id: int) -> RemoteFile:
        found = await self._get_messages(chat, [message_id])
        tl = found.get(message_id)
        remote = remote_file(tl.media) if tl is not None and tl.media is not None else None
        if remote is None:
            raise FileFailed("the message or its file is gone")
        return remote

    # -- downloading

    async def _worker(self, queue: asyncio.Queue[_Job | None]) -> None:
        while (job := await queue.get()) is not None:
            await self._download(job)

    async def _download(self, job: _Job) -> None:
        started = perf_counter()
        path = inside(job.folder, job.name)
        try:
            size = await self.downloader.download(job.transfer, job.part, job.journal)
        except FileFailed as exc:
            if (job.transfer.remote.size or 0) < RESUME_MIN_SIZE:
                await self._in_io(_unlink, job.part)
            self.index.failed(job.media_id, job.relpath, job.transfer.remote.size)
            self.metrics.count_error("download")
            self._file_failed(f"{job.chat.label}/{job.message_id} ({job.name})", str(exc))
            return
        digest = await self._in_io(sha256_file, job.part)  # for `tgx verify --hashes`
        self.index.done(job.media_id, job.relpath, size, sha256=digest)
        try:
            await self._in_io(_finish_file, job.part, path, job.journal)
        except OSError as exc:
            self.index.failed(job.media_id, job.relpath, size)
            raise OutputError(f"cannot move {job.part.name} into place: {exc.strerror or exc}") from None
        self.metrics.record("download", perf_counter() - started, items=1, nbytes=size)
        self.metrics.incr("media_files")
        self.metrics.incr("media_bytes", size)
        self.result.downloaded += 1
        self.result.bytes += size
        if job.kind in VIDEO_KINDS:
            self._schedule_encode(job.media_id, path, job.relpath, job.names)

    async def _in_io(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    # -- encoding

    def _setup_encoding(self) -> None:
        mode = self.options.transcode
        if mode == "never" or not (self.options.kinds & VIDEO_KINDS):
            return
        from tgx import ffmpeg
        from tgx.media.encoders import EncodePool, EncoderChain

        chain = EncoderChain.from_plugins(self.pm, self.config, self.options.encoder, warn=self._warn)
        if self.options.encoder:
            chain.select()  # a pinned encoder that is unknown or unavailable ends the export (exit 8)
        try:
            info = ffmpeg.find_ffmpeg(getattr(self.config, "env", None))
            if info is None:
                raise DependencyError(f"ffmpeg not found ({ffmpeg.INSTALL_HINT})")
            chain.select()
        except DependencyError as exc:
            self._warn(f"--transcode {mode} ignored: {exc}; videos are kept as downloaded")
            return
        self._ffmpeg = info
        self._pool = EncodePool(chain)
        self._encode_sem = asyncio.Semaphore(self._pool.workers)
        self.metrics.add_cache_source("encoders", lambda: _flat_encoder_stats(chain))

    def _encode_existing(self, media_id: int, relpath: str | None) -> None:
        """A video downloaded by an earlier run that was never considered for re-encoding."""
        if self._pool is None or not relpath or self.index.encode(media_id) is not None:
            return
        reldir, _, name = relpath.rpartition("/")
        try:
            folder, names = self._folder(reldir)
            path = inside(folder, name)
        except OutputError as exc:
            self._warn(f"not re-encoding {relpath}: {exc}")
            return
        self._schedule_encode(media_id, path, relpath, names)

    def _schedule_encode(self, media_id: int, source: Path, relpath: str, names: FolderNames) -> None:
        if self._pool is None or self._encoding_stopped:
            return
        task = asyncio.get_running_loop().create_task(self._encode(media_id, source, relpath, names))
        self._encodes.add(task)
        task.add_done_callback(self._encodes.discard)

    async def _encode(self, media_id: int, source: Path, relpath: str, names: FolderNames) -> None:
        from tgx.ffmpeg import probe_media
        from tgx.media.encoders import needs_transcode

        assert self._encode_sem is not None
        async with self._encode_sem:
            if self._encoding_stopped:
                return
            loop = asyncio.get_running_loop()
            started = perf_counter()
            reldir = relpath.rpartition("/")[0]
            dest_name: str | None = None
            try:
                info = await loop.run_in_executor(None, probe_media, source, self._ffmpeg)
                if not needs_transcode(info, self.options.transcode):
                    self.index.set_encode(media_id, None, None, "compatible")
                    return
                stem, ext = split_ext(source.name)
                wanted = f"{stem}.mp4" if ext.lower() != ".mp4" else f"{stem}.h264.mp4"
                dest_name = names.claim(wanted, ("encode", media_id), tag=str(media_id))
                dest = inside(source.parent, dest_name)
                job = EncodeJob(source=source, dest=dest, crf=self.options.crf)
                encoder = await asyncio.wrap_future(self._pool.submit(job))
            except DependencyError as exc:
                self._encoding_stopped = True
                self._warn(f"re-encoding stopped: {exc}; remaining videos are kept as downloaded")
                return
            except EncodeError as exc:
                self.result.encode_failed += 1
                self.metrics.count_error("encode")
                self.index.set_encode(media_id, None, None, "failed")
                if dest_name is not None:
                    names.release(dest_name, ("encode", media_id))
                self._file_warning(f"{relpath}: {exc}")
                return
            size = dest.stat().st_size
            self.metrics.record("encode", perf_counter() - started, items=1, nbytes=size)
            self.result.encoded += 1
            dest_rel = f"{reldir}/{dest_name}"
            if not self.options.replace_originals:
                self.index.set_encode(media_id, dest_rel, encoder, "done")
                return
            if source.suffix.lower() == ".mp4":  # x.h264.mp4 takes x.mp4's place, atomically
                await loop.run_in_executor(None, os.replace, dest, source)
                self.index.done(media_id, relpath, size)
                self.index.set_encode(media_id, relpath, encoder, "replaced")
                names.release(dest_name, ("encode", media_id))
            else:
                self.index.done(media_id, dest_rel, size)
                self.index.set_encode(media_id, dest_rel, encoder, "replaced")
                await loop.run_in_executor(None, _unlink, source)

    # -- reporting

    def _warn(self, message: str) -> None:
        self.result.warnings.append(message)
        self.metrics.incr("warnings")
        console.warn(message)

    def _file_warning(self, message: str) -> None:
        self._file_warnings += 1
        if self._file_warnings <= MAX_FILE_WARNINGS:
            self._warn(message)

    def _file_failed(self, what: str, why: str) -> None:
        self.result.failed += 1
        if len(self._failed_examples) < MAX_FILE_WARNINGS:
            self._failed_examples.append(f"{what}: {why}")

    def _dedupe_stats(self) -> dict[str, Any]:
        r = self.result
        hits = r.deduped + r.present
        lookups = hits + r.downloaded + r.failed
        return {"hits": hits, "misses": r.downloaded + r.failed, "size": len(self._seen),
                "hit_rate": round(hits / lookups, 4) if lookups else 0.0}


def _flat_encoder_stats(chain: Any) -> dict[str, Any]:
    from tgx.media.encoders import encoder_stats_for_metrics

    return dict(encoder_stats_for_metrics(chain))


def _finish_file(part: Path, final: Path, journal: Path) -> None:
    """Rename into place (the part is fsynced already), drop the journal, persist the rename."""
    if final.is_symlink():
        raise OSError(f"{final.name} became a symbolic link")
    os.replace(part, final)
    _unlink(journal)
    fsync_dir(final.parent)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


async def run_media_stage(run: RunContext, chats: list[Peer], options: MediaOptions, *,
                          input_peers: dict[int, Any] | None = None,
                          only: Mapping[int, Collection[int]] | None = None) -> MediaResult:
    """Download (and re-encode) the media of ``chats`` from the archive; see the module doc.

    ``input_peers`` (marked id → InputPeer, optional) saves asking Telethon's entity cache;
    ``only`` (chat id → message ids) limits a chat to those messages (``tgx watch``: the new ones).
    Raises :class:`~tgx.errors.OutputError` on a full disk or an unsafe output tree, and what
    the request runner raises (network, auth); a single file's failure only counts in
    ``MediaResult.failed``.
    """
    if not options.kinds:
        return MediaResult()
    stage = MediaStage(run, chats, options, input_peers=input_peers, only=only)
    return await stage.run()


__all__ = ["MediaResult", "MediaStage", "run_media_stage"]
