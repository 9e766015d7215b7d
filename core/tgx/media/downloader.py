"""Parallel, resumable part downloads with ``upload.GetFile``.

Why not ``client.download_media``: it asks for one part at a time, so a download takes
(parts x round trip) — at 50 ms, a 32 MB file in 128 KiB parts needs 256 sequential round
trips. Here up to ``parallel_parts`` parts of one file are in flight at once (and a global cap
bounds all files together), each written at its offset with ``os.pwrite``.

Telegram's rules for ``upload.getFile`` (non-precise): ``limit`` divisible by 4 KiB, 1 MiB
divisible by ``limit``, ``offset`` divisible by 4 KiB, and one request must not cross a 1 MiB
boundary. Part sizes here are powers of two from 128 KiB to 512 KiB at offsets that are
multiples of the part size, which satisfies all of them.

Resume (files of :data:`RESUME_MIN_SIZE` or more): beside ``NAME.part`` lives an append-only
journal ``NAME.part.journal``: a header line (media id, size, part size), then one line per
completed part. A line is appended only after that part's bytes were written *and* fsynced,
and the journal is fsynced after each line, so whatever instant the process dies, every
journaled part is on disk; a torn last line (no newline) is ignored. The next run reads the
journal and fetches only the missing parts. Smaller files simply restart.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telethon import errors as tl_errors
from telethon.tl import functions, types

from tgx.errors import OutputError, TgxError
from tgx.media.names import open_nofollow
from tgx.telegram import adapter
from tgx.telegram.runner import RequestRunner

KIB = 1024
MIB = 1024 * KIB
MIN_PART = 128 * KIB
MAX_PART = 512 * KIB
RESUME_MIN_SIZE = 4 * MIB  # smaller files restart from zero; not worth a journal
MAX_REFRESHES = 3  # file-reference refreshes per file before giving up on it
JOURNAL_MAGIC = "tgx-parts 1"

_REF_ERRORS = (tl_errors.FileReferenceExpiredError, tl_errors.FilerefUpgradeNeededError,
               tl_errors.FileReferenceInvalidError)
_DISK_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}  # EFBIG: a file-size limit
_fdatasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


class FileFailed(Exception):
    """This one file cannot be downloaded now (gone, invalid, refused); others go on."""


@dataclass(slots=True)
class RemoteFile:
    """Where a file is on Telegram: what GetFile needs, and how big it is."""

    media_id: int
    location: Any  # InputDocumentFileLocation | InputPhotoFileLocation
    dc_id: int | None
    size: int | None
    inline: bytes | None = None  # a PhotoCachedSize: the bytes came with the message


def _photo_best(sizes: Iterable[Any]) -> tuple[str, int, bytes | None] | None:
    """(type, bytes, inline) of the largest real size — the same choice as tgx.fetch.normalize."""
    best: tuple[str, int, bytes | None] | None = None
    for s in sizes or ():
        cls = type(s)
        item: tuple[str, int, bytes | None]
        if cls is types.PhotoSize:
            item = (s.type, s.size, None)
        elif cls is types.PhotoSizeProgressive:
            item = (s.type, max(s.sizes) if s.sizes else 0, None)
        elif cls is types.PhotoCachedSize:
            item = (s.type, len(s.bytes), bytes(s.bytes))
        else:  # stripped / path / empty sizes are previews
            continue
        if best is None or item[1] >= best[1]:
            best = item
    return best


def remote_file(media: Any) -> RemoteFile | None:
    """The downloadable file of a TL ``MessageMedia*`` (or Photo/Document), or None."""
    if isinstance(media, types.MessageMediaPhoto):
        media = media.photo
    elif isinstance(media, types.MessageMediaDocument):
        media = media.document
    if isinstance(media, types.Photo):
        best = _photo_best(media.sizes)
        if best is None:
            return None
        thumb, size, inline = best
        location = types.InputPhotoFileLocation(id=media.id, access_hash=media.access_hash,
                                                file_reference=media.file_reference, thumb_size=thumb)
        return RemoteFile(media.id, location, media.dc_id, size, inline)
    if isinstance(media, types.Document):
        location = types.InputDocumentFileLocation(id=media.id, access_hash=media.access_hash,
                                                   file_reference=media.file_reference, thumb_size="")
        return RemoteFile(media.id, location, media.dc_id, media.size)
    return None


def part_size_for(size: int | None, parallel_parts: int) -> int:
    """The smallest power of two in [128 KiB, 512 KiB] that splits ``size`` into at most
    ``parallel_parts`` parts (so a small file still goes out in one round of requests)."""
    if size is None:
        return MAX_PART
    target = -(-size // max(1, parallel_parts))
    part = MIN_PART
    while part < target and part < MAX_PART:
        part *= 2
    return part


def part_count(size: int, part_size: int) -> int:
    return -(-size // part_size)


# ---------------------------------------------------------------------------------------------
# Sending GetFile to the right data center


class _ExportedSenderClient:
    """What :class:`RequestRunner` needs of a client, for one borrowed sender of another DC,
    so other-DC downloads get the same flood-wait, retry and reconnect handling."""

    flood_sleep_threshold = 0

    def __init__(self, client: Any, sender: Any, dc_id: int) -> None:
        self._client = client
        self._sender = sender
        self.dc_id = dc_id

    async def __call__(self, request: Any) -> Any:
        return await adapter.call_via(self._client, self._sender, request)

    def is_connected(self) -> bool:
        return bool(self._sender.is_connected())

    async def connect(self) -> None:
        if not self._sender.is_connected():
            await adapter.reconnect_sender(self._client, self._sender, self.dc_id)


class FileRequester:
    """Sends ``upload.GetFile`` to the file's DC through a :class:`RequestRunner`, at most
    ``cap`` requests in flight overall. Other DCs use Telethon's exported senders (borrowed
    once, returned by :meth:`close`); their runners share the home runner's flood gate."""

    def __init__(self, client: Any, runner: RequestRunner, *, cap: int, metrics: Any = None) -> None:
        self.client = client
        self.runner = runner
        self.metrics = metrics
        self.home_dc = getattr(getattr(client, "session", None), "dc_id", None)
        self._sem = asyncio.Semaphore(cap)
        self._dc: dict[int, tuple[RequestRunner, Any]] = {}
        self._dc_lock = asyncio.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests = 0

    async def _runner_for(self, dc_id: int | None) -> RequestRunner:
        if dc_id is None or dc_id == self.home_dc:
            return self.runner
        entry = self._dc.get(dc_id)
        if entry is not None:
            return entry[0]
        async with self._dc_lock:
            entry = self._dc.get(dc_id)
            if entry is None:
                try:
                    sender = await adapter.borrow_sender(self.client, dc_id)
                except tl_errors.DcIdInvalidError:  # "another" DC that is in fact ours
                    return self.runner
                except (TimeoutError, tl_errors.RPCError, ConnectionError, OSError) as exc:
                    raise FileFailed(f"cannot connect to DC {dc_id} ({_rpc_name(exc)})") from None
                base = self.runner
                proxy = _ExportedSenderClient(self.client, sender, dc_id)
                runner = RequestRunner(proxy, metrics=base.metrics, status=base.status,
                                       max_flood_wait=base.max_flood_wait,
                                       max_reconnects=base.max_reconnects, backoff=base.backoff)
                runner.gate = base.gate  # one rate limit per request type, whatever the DC
                entry = self._dc[dc_id] = (runner, sender)
        return entry[0]

    async def get_file(self, remote: RemoteFile, offset: int, limit: int) -> bytes:
        request = functions.upload.GetFileRequest(remote.location, offset=offset, limit=limit)
        async with self._sem:
            self.in_flight += 1
            if self.in_flight > self.peak_in_flight:
                self.peak_in_flight = self.in_flight
            if self.metrics is not None:
                self.metrics.gauge("getfile_in_flight", self.in_flight)
            try:
                runner = await self._runner_for(remote.dc_id)
                self.requests += 1
                result = await runner(request, stage="download")
            finally:
                self.in_flight -= 1
                if self.metrics is not None:
                    self.metrics.gauge("getfile_in_flight", self.in_flight)
        if not isinstance(result, types.upload.File):  # a CDN redirect: we never ask for one
            raise FileFailed(f"unexpected answer {type(result).__name__}")
        return result.bytes

    async def close(self) -> None:
        dcs, self._dc = self._dc, {}
        for _runner, sender in dcs.values():
            try:
                await adapter.return_sender(self.client, sender)
            except Exception:  # noqa: BLE001 - a bookkeeping failure must not hide the real outcome
                pass


# ---------------------------------------------------------------------------------------------
# The file on disk: NAME.part + NAME.part.journal


def read_journal(path: Path, media_id: int, size: int) -> tuple[int, set[int]] | None:
    """(part size, completed part indexes) from a journal that matches this file, else None."""
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except (FileNotFoundError, OutputError):
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: empty, or a torn line that never completed
    if not lines:
        return None
    head = lines[0].decode("ascii", errors="replace").split()
    fields = dict(item.split("=", 1) for item in head[2:] if "=" in item)
    if " ".join(head[:2]) != JOURNAL_MAGIC:
        return None
    try:
        if int(fields["media"]) != media_id or int(fields["size"]) != size:
            return None
        part_size = int(fields["part"])
    except (KeyError, ValueError):
        return None
    if part_size < 4 * KIB or part_size > MIB or MIB % part_size:
        return None
    count = part_count(size, part_size)
    done: set[int] = set()
    for line in lines[1:]:
        try:
            index = int(line)
        except ValueError:
            return None  # not ours after all: start over
        if 0 <= index < count:
            done.add(index)
    return part_size, done


def journal_header(media_id: int, size: int, part_size: int) -> bytes:
    return f"{JOURNAL_MAGIC} media={media_id} size={size} part={part_size}\n".encode("ascii")


class PartFile:
    """``NAME.part`` (and its journal) open for parallel ``pwrite`` from I/O threads.

    Closing waits for writes still running in a thread: a descriptor closed under a running
    ``pwrite`` could be reused by another open() and receive the bytes.
    """

    def __init__(self, path: Path, journal: Path | None, header: bytes | None, fresh: bool) -> None:
        self.path = path
        self.journal = journal
        self._lock = threading.Lock()
        self._seek_lock = threading.Lock()
        self._busy = 0
        self._closing = False
        flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if fresh else 0)
        self.fd = open_nofollow(path, flags, 0o644)
        self.jfd: int | None = None
        if journal is not None:
            try:
                jflags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if fresh else 0)
                self.jfd = open_nofollow(journal, jflags, 0o644)
                if fresh and header is not None:
                    os.write(self.jfd, header)
                    os.fsync(self.jfd)
            except BaseException:
                os.close(self.fd)
                raise

    def write_part(self, index: int, offset: int, data: bytes) -> None:
        """Write one part, make it durable, then journal it (runs in an I/O thread)."""
        with self._lock:
            if self._closing:
                raise RuntimeError("part file already closed")
            self._busy += 1
        try:
            _pwrite_all(self.fd, data, offset, self._seek_lock)
            if self.jfd is not None:
                _fdatasync(self.fd)
                os.write(self.jfd, f"{index}\n".encode("ascii"))  # O_APPEND: one atomic line
                _fdatasync(self.jfd)
        finally:
            with self._lock:
                self._busy -= 1
                if self._closing and self._busy == 0:
                    self._close_fds()

    def finish(self, size: int | None) -> int:
        """fsync, check the size, return it (runs in an I/O thread)."""
        if size is not None and os.fstat(self.fd).st_size > size:
            os.ftruncate(self.fd, size)
        os.fsync(self.fd)
        return os.fstat(self.fd).st_size

    def close(self) -> None:
        with self._lock:
            self._closing = True
            if self._busy == 0:
                self._close_fds()

    def _close_fds(self) -> None:
        for fd in (self.fd, self.jfd):
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fd = self.jfd = -1


def _pwrite_all(fd: int, data: bytes, offset: int, lock: threading.Lock) -> None:
    view = memoryview(data)
    done = 0
    pwrite = getattr(os, "pwrite", None)
    if pwrite is not None:
        while done < len(view):
            done += pwrite(fd, view[done:], offset + done)
        return
    with lock:  # no pwrite (Windows): seek + write, one writer at a time
        os.lseek(fd, offset, os.SEEK_SET)
        while done < len(view):
            done += os.write(fd, view[done:])


def disk_full(path: Path) -> OutputError:
    return OutputError(f"disk full while writing {path.name}; completed files and the archive are intact; "
                       "free space and rerun", hint="the next run resumes where this one stopped")


# ---------------------------------------------------------------------------------------------
# One file


Refresh = Callable[[], Awaitable[RemoteFile]]


@dataclass(slots=True)
class Transfer:
    """One file being downloaded: its remote location (refreshed when it expires)."""

    remote: RemoteFile
    refresh: Refresh | None = None
    refreshes: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class PartDownloader:
    """Downloads files into ``NAME.part`` with parallel parts; see the module doc."""

    def __init__(self, requester: FileRequester, executor: Executor, *, parallel_parts: int = 4,
                 metrics: Any = None, on_bytes: Callable[[int], None] | None = None) -> None:
        self.requester = requester
        self.executor = executor
        self.parallel_parts = max(1, parallel_parts)
        self.metrics = metrics
        self.on_bytes = on_bytes or (lambda _n: None)
        self.refreshed = 0  # file-reference refreshes, all files
        self.migrated = 0  # FILE_MIGRATE answers followed
        self.resumed_bytes = 0  # bytes not fetched again thanks to a journal

    async def _io(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def download(self, transfer: Transfer, part: Path, journal: Path) -> int:
        """Fetch the whole file into ``part``; returns its size. The caller renames it.

        Raises :class:`FileFailed` (this file only), :class:`OutputError` (disk full, unsafe
        path) and whatever the request runner raises (network, auth: stop the stage).
        """
        remote = transfer.remote
        try:
            if remote.inline is not None:
                return await self._io(_write_whole, part, remote.inline)
            if remote.size is None:
                return await self._sequential(transfer, part)
            return await self._parallel(transfer, part, journal)
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise disk_full(part) from None
            raise OutputError(f"cannot write {part}: {exc.strerror or exc}") from None

    async def _parallel(self, transfer: Transfer, part: Path, journal: Path) -> int:
        size = transfer.remote.size
        assert size is not None
        resumable = size >= RESUME_MIN_SIZE
        state = read_journal(journal, transfer.remote.media_id, size) if resumable else None
        if state is not None and not _part_covers(part, state[0], state[1], size):
            state = None
        if state is None:
            part_size, done, fresh = part_size_for(size, self.parallel_parts), set(), True
        else:
            part_size, done, fresh = state[0], state[1], False
        count = part_count(size, part_size) if size else 0
        header = journal_header(transfer.remote.media_id, size, part_size) if resumable else None
        if not resumable:
            _unlink(journal)
        sink = await self._io(PartFile, part, journal if resumable else None, header, fresh)
        try:
            if done:
                resumed = sum(min(part_size, size - i * part_size) for i in done)
                self.resumed_bytes += resumed
                self.on_bytes(resumed)
            todo = iter([i for i in range(count) if i not in done])

            async def lane() -> None:
                for index in todo:
                    offset = index * part_size
                    expected = min(part_size, size - offset)
                    data = await self._fetch(transfer, offset, part_size, expected)
                    await self._io(sink.write_part, index, offset, data)
                    self.on_bytes(len(data))

            await gather_or_cancel([lane() for _ in range(min(self.parallel_parts, count - len(done)))])
            written = await self._io(sink.finish, size)
        finally:
            sink.close()
        if written != size:
            raise FileFailed(f"size mismatch: got {written} bytes, expected {size}")
        return written

    async def _sequential(self, transfer: Transfer, part: Path) -> int:
        """Size unknown: one part after another until a short one."""
        sink = await self._io(PartFile, part, None, None, True)
        try:
            offset = 0
            while True:
                data = await self._fetch(transfer, offset, MAX_PART, None)
                if data:
                    await self._io(sink.write_part, offset // MAX_PART, offset, data)
                    self.on_bytes(len(data))
                    offset += len(data)
                if len(data) < MAX_PART:
                    break
            return await self._io(sink.finish, None)
        finally:
            sink.close()

    async def _fetch(self, transfer: Transfer, offset: int, limit: int, expected: int | None) -> bytes:
        while True:
            remote = transfer.remote
            location, dc_id = remote.location, remote.dc_id
            try:
                data = await self.requester.get_file(remote, offset, limit)
            except _REF_ERRORS as exc:
                await self._refresh(transfer, location, exc)
                continue
            except tl_errors.FileMigrateError as exc:
                if dc_id == exc.new_dc:
                    raise FileFailed(f"Telegram keeps redirecting to DC {exc.new_dc}") from None
                if remote.dc_id != exc.new_dc:  # parallel parts learn it once
                    remote.dc_id = exc.new_dc
                    self.migrated += 1
                continue
            except (tl_errors.FileIdInvalidError, tl_errors.LocationInvalidError) as exc:
                raise FileFailed(_rpc_name(exc)) from None
            except tl_errors.RPCError as exc:
                raise FileFailed(_rpc_name(exc)) from None
            if expected is not None and len(data) != expected:
                raise FileFailed(f"Telegram sent {len(data)} bytes at offset {offset}, expected {expected}")
            return data

    async def _refresh(self, transfer: Transfer, stale: Any, exc: Exception) -> None:
        """New file reference from a re-fetched message; parallel parts refresh once."""
        async with transfer.lock:
            if transfer.remote.location is not stale:
                return  # another part already refreshed it
            if transfer.refresh is None or transfer.refreshes >= MAX_REFRESHES:
                raise FileFailed(f"{_rpc_name(exc)} (file reference could not be renewed)")
            transfer.refreshes += 1
            self.refreshed += 1
            if self.metrics is not None:
                self.metrics.incr("file_reference_refreshes")
            fresh = await transfer.refresh()
            if fresh.media_id != transfer.remote.media_id:
                raise FileFailed("the message now carries another file")
            transfer.remote.location = fresh.location
            if fresh.dc_id is not None:
                transfer.remote.dc_id = fresh.dc_id


def _rpc_name(exc: BaseException) -> str:
    return getattr(exc, "message", None) or type(exc).__name__


def _part_covers(part: Path, part_size: int, done: set[int], size: int) -> bool:
    """The .part file still holds every journaled part (nobody truncated or replaced it)."""
    try:
        st = os.lstat(part)
    except FileNotFoundError:
        return not done
    if not os.path.isfile(part) or os.path.islink(part):
        return False
    end = max((min(size, (i + 1) * part_size) for i in done), default=0)
    return st.st_size >= end


def _write_whole(path: Path, data: bytes) -> int:
    fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        done = 0
        while done < len(view):
            done += os.write(fd, view[done:])
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(data)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


async def gather_or_cancel(coros: Iterable[Awaitable[Any]]) -> list[Any]:
    """Run all; on the first exception cancel the rest, wait for them, and raise it unwrapped
    (no ExceptionGroup: callers catch :class:`TgxError` and ``FileFailed`` directly)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not tasks:
        return []
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    if pending:
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    first: BaseException | None = None
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception() is not None:
            exc = t.exception()
            # Prefer what stops everything (disk full, network) over a one-file failure.
            if first is None or (isinstance(exc, TgxError) and not isinstance(first, TgxError)):
                first = exc
    if first is not None:
        raise first
    return [t.result() for t in tasks]


__all__ = [
    "MAX_PART", "MIN_PART", "RESUME_MIN_SIZE", "FileFailed", "FileRequester", "PartDownloader", "PartFile",
    "RemoteFile", "Transfer", "gather_or_cancel", "journal_header", "part_count", "part_size_for",
    "read_journal", "remote_file",
]
