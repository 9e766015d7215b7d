"""Decoding history pages: raw ``messages.GetHistory`` answers → archive rows, in worker
processes when that pays.

Why: parsing TL with Telethon's generated readers and normalizing the result is most of an
export's CPU (~40 of ~60 µs a message, measured: docs/performance.md), and one Python process
runs it on one core. So the fetcher asks Telethon for the answer's *bytes* (:func:`keep_raw`:
the request's ``read_result`` keeps them instead of parsing) and a :class:`PageDecoder` turns
them into a :class:`DecodedPage` — archive rows (:func:`tgx.archive.records.message_row`), the peers,
what paging needs — with the same function, :func:`decode_page`, inline or in workers.

Workers are child processes (:func:`worker_main`, started by :mod:`tgx.fetch.workers`) fed over
pipes: frames of a 4-byte little-endian length and a pickle, written and read only by this module
on both ends. One by default on two CPUs or more (:func:`tgx.fetch.workers.default_workers`;
``--decode-workers N``, 0 = never). ``tgx export`` starts them with the command (their Telethon
import, ~0.3 s, overlaps tgx's own start-up) and hands them over as :class:`~tgx.fetch.workers.Spares`;
otherwise they start when the export has enough left to fetch to repay their start-up
(:data:`POOL_MIN_MESSAGES`). Until a worker says it is ready, and after it dies, pages are decoded
inline: a worker can cost speed, never a message (each page's bytes stay with the fetcher until its
rows come back). Workers ignore Ctrl-C (the parent decides), exit when their input closes, and on
Linux die with the parent (``PR_SET_PDEATHSIG``).

An answer that is already a TL object (a client plugin that wraps requests, e.g. Telethon's
``receive_updates=False`` adds ``InvokeWithoutUpdates``, whose ``read_result`` parses) is
decoded inline by the same code: correct, just not offloaded.
"""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from telethon.extensions import BinaryReader
from telethon.tl.alltlobjects import tlobjects as _TL_OBJECTS

from tgx import console
from tgx.archive.records import MessageRow, message_row
from tgx.fetch import workers as _workers
from tgx.fetch.normalize import convert_message, convert_peers, generated_class
from tgx.model import Peer

POOL_MIN_MESSAGES = 5_000  # messages left to fetch (all chats of an export) that start the workers
WORKER_GC_THRESHOLD = 20_000  # allocations between young-generation collections
PIPE_BUFFER = 1 << 20  # bytes, each way (Linux)
STOP_TIMEOUT = 2.0  # seconds a worker gets to exit after its input closes, before it is killed

_HEAD = struct.Struct("<I")
_READY = -1  # task id of the frame a worker sends once its imports are done
_PICKLE = pickle.HIGHEST_PROTOCOL
STOP_POLL = 0.01  # seconds between checks that a stopping worker has exited

__all__ = ["DecodedPage", "POOL_MIN_MESSAGES", "PageDecoder", "decode_page", "keep_raw"]


@dataclass(slots=True)
class DecodedPage:
    """One ``GetHistory`` answer, decoded."""

    raw_count: int = 0  # messages in the answer, MessageEmpty included: paging decides on these
    min_id: int | None = None  # lowest/highest id among them
    max_id: int | None = None
    count: int | None = None  # the chat's message count per the server (None: messages.Messages)
    rows: list[MessageRow] = field(default_factory=list)  # archive rows, in the answer's order
    peers: list[Peer] = field(default_factory=list)  # the answer's users and chats, normalized
    entities: list[Any] = field(default_factory=list)  # the same as TL objects, for Telethon's session
    seconds: float = 0.0  # CPU seconds the decode took (metrics: the normalize stage)
    pts: int | None = None  # messages.ChannelMessages: the channel's pts when the page was read (tgx.sync)


def keep_raw(request: Any) -> Any:
    """Make Telethon resolve ``request`` with the answer's bytes instead of parsing them.

    Telethon's sender calls ``request.read_result(reader)`` on the RPC result's body; an
    instance attribute takes the class's place, so only this request object is affected.
    """
    request.read_result = _read_raw
    return request


def _read_raw(reader: Any) -> bytes:
    return reader.read()


_INT = struct.Struct("<i").unpack_from
_UINT = struct.Struct("<I").unpack_from
_LONG = struct.Struct("<q").unpack_from
_ULONG = struct.Struct("<Q").unpack_from


class _Reader(BinaryReader):
    """Telethon's reader with the methods its generated TL parsers call ~20 times a message
    written as straight-line code (precompiled structs, no per-call checks beyond slicing): the
    same values, ~20 % less parse time. Anything unusual (bools, vectors, core objects, unknown
    constructors) goes to Telethon's own code."""

    position: int
    stream: bytes

    def read_int(self, signed: bool = True) -> int:
        pos = self.position
        self.position = pos + 4
        return (_INT if signed else _UINT)(self.stream, pos)[0]

    def read_long(self, signed: bool = True) -> int:
        pos = self.position
        self.position = pos + 8
        return (_LONG if signed else _ULONG)(self.stream, pos)[0]

    def tgread_bytes(self) -> bytes:
        stream, pos = self.stream, self.position
        length = stream[pos]
        if length == 254:
            length = stream[pos + 1] | stream[pos + 2] << 8 | stream[pos + 3] << 16
            start = pos + 4
        else:
            start = pos + 1
        data = stream[start:start + length]
        if len(data) != length:
            raise BufferError(f"No more data left to read (need {length}, got {len(data)})")
        self.position = start + length + (-(start - pos + length) % 4)  # padded to 4 bytes
        return data

    def tgread_string(self) -> str:
        return self.tgread_bytes().decode("utf-8", "replace")

    def tgread_object(self) -> Any:
        pos = self.position
        cls = _TL_OBJECTS.get(_UINT(self.stream, pos)[0])
        if cls is None:
            return super().tgread_object()
        self.position = pos + 4
        return cls.from_reader(self)


def decode_page(answer: Any, chat_id: int, self_id: int | None = None) -> DecodedPage:
    """A ``messages.Messages``/``ChannelMessages``/``MessagesSlice`` answer (its TL bytes, or
    the parsed object) → :class:`DecodedPage`. Pure: runs the same in a worker or inline."""
    started = time.process_time()
    if isinstance(answer, bytes | bytearray | memoryview):
        answer = _Reader(bytes(answer)).tgread_object()
    msgs = getattr(answer, "messages", None) or ()
    rows = []
    lo = hi = None
    for raw in msgs:
        i = raw.id
        if lo is None or i < lo:
            lo = i
        if hi is None or i > hi:
            hi = i
        m = convert_message(raw, chat_id, self_id)
        if m is not None:
            rows.append(message_row(chat_id, m))
    users = getattr(answer, "users", None) or []
    chats = getattr(answer, "chats", None) or []
    entities = [*users, *chats]
    return DecodedPage(len(msgs), lo, hi, getattr(answer, "count", None), rows, convert_peers(entities),
                       entities, time.process_time() - started, getattr(answer, "pts", None))


# ---------------------------------------------------------------------------------------------
# the parent's side


class _WorkerGone(Exception):
    """The worker exited (or its pipe broke) before answering."""


class _DecodeFailed(Exception):
    """decode_page raised in the worker; the page is decoded inline to raise the real error."""


class _Worker:
    """One worker process seen from the parent: its pipes on the event loop, its pending pages."""

    def __init__(self, proc: subprocess.Popen[bytes], on_exit: Any = None) -> None:
        self.proc = proc
        self.on_exit = on_exit or (lambda _worker: None)  # called once it is gone, whatever the cause
        self.ready = False
        self.alive = True
        self.waiting: dict[int, asyncio.Future[DecodedPage]] = {}
        self.writer: asyncio.StreamWriter | None = None
        self.reader: asyncio.Task[None] | None = None

    @classmethod
    async def attach(cls, proc: subprocess.Popen[bytes], on_exit: Any = None) -> _Worker:
        """Put ``proc``'s pipes on the running loop and start reading its frames."""
        worker = cls(proc, on_exit)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=PIPE_BUFFER)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), proc.stdout)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, proc.stdin)
        worker.writer = asyncio.StreamWriter(transport, protocol, None, loop)
        worker.reader = asyncio.ensure_future(worker._read(reader))
        return worker

    @property
    def usable(self) -> bool:
        return self.ready and self.alive

    async def submit(self, task_id: int, answer: bytes, chat_id: int, self_id: int | None) -> DecodedPage:
        data = pickle.dumps((task_id, answer, chat_id, self_id), protocol=_PICKLE)
        future: asyncio.Future[DecodedPage] = asyncio.get_running_loop().create_future()
        self.waiting[task_id] = future
        try:
            writer = self.writer
            assert writer is not None
            writer.write(_HEAD.pack(len(data)))
            writer.write(data)
            await writer.drain()
        except (ConnectionError, OSError, RuntimeError) as exc:
            self.waiting.pop(task_id, None)
            self.alive = False
            raise _WorkerGone(str(exc)) from None
        try:
            return await future
        finally:
            self.waiting.pop(task_id, None)

    async def _read(self, stream: asyncio.StreamReader) -> None:
        try:
            while True:
                (size,) = _HEAD.unpack(await stream.readexactly(_HEAD.size))
                task_id, ok, value = pickle.loads(await stream.readexactly(size))
                if task_id == _READY:
                    self.ready = True
                    continue
                future = self.waiting.get(task_id)
                if future is None or future.done():
                    continue  # its fetch was cancelled meanwhile
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(_DecodeFailed(value))
        except (asyncio.IncompleteReadError, ConnectionError, OSError, pickle.UnpicklingError, EOFError):
            pass
        finally:
            self.alive = False
            for future in self.waiting.values():
                if not future.done():
                    future.set_exception(_WorkerGone("the decode worker exited"))
            self.on_exit(self)

    async def stop(self) -> None:
        """Close its input (it exits at EOF); kill it if it does not within STOP_TIMEOUT — at once
        when it is still importing (it holds nothing, and a small export must not wait for it)."""
        proc = self.proc
        try:
            if self.writer is not None and not self.writer.is_closing():
                self.writer.close()
            if self.ready:
                deadline = time.monotonic() + STOP_TIMEOUT
                while proc.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(STOP_POLL)
            if proc.poll() is None:
                _workers.kill(proc)
            proc.wait()
        finally:
            if self.reader is not None:
                self.reader.cancel()
                await asyncio.gather(self.reader, return_exceptions=True)


class PageDecoder:
    """Decodes pages inline or in worker processes (see the module doc). One per export, shared
    by every chat's fetcher; :meth:`aclose` when done.

    With ``spares`` (workers started ahead, :func:`tgx.fetch.workers.prestart`) it must be made
    inside the event loop: it takes them at once and uses them from the first page."""

    def __init__(self, workers: int | None = None, *, min_messages: int = POOL_MIN_MESSAGES,
                 warn: Any = None, metrics: Any = None, spares: _workers.Spares | None = None) -> None:
        self.workers = _workers.default_workers() if workers is None else max(0, int(workers))
        self.min_messages = min_messages
        self.warn = warn or console.warn  # one line for the user when workers fail
        self.metrics = metrics  # counters decode.pages_in_workers / pages_inline / lost_workers
        self.started_workers = 0
        self.pages_in_workers = 0
        self.pages_inline = 0
        self.lost_workers = 0
        self._pool: list[_Worker] = []
        self._starting: asyncio.Future[None] | None = None
        self._closed = False
        self._task_ids = 0
        self._expected = 0  # messages the export's chats announced they have left to fetch
        self._spares = spares.take() if spares is not None else []
        if self._spares:
            self._starting = asyncio.get_running_loop().create_task(self._start())

    @property
    def started(self) -> bool:
        return self._starting is not None

    def expect(self, messages: int) -> None:
        """A chat has about ``messages`` left to fetch: start the workers once the export's chats
        together have enough to repay them (many small chats count as much as one big one)."""
        self._expected += max(0, messages)
        if (self.workers and self._starting is None and not self._closed
                and self._expected >= self.min_messages):
            self._starting = asyncio.ensure_future(self._start())

    async def _start(self) -> None:
        spares, self._spares = self._spares, []
        for _ in range(self.workers):
            if spares:
                proc = spares.pop()
            else:
                try:
                    proc = _workers.spawn()
                except OSError as exc:  # no fork/exec here: decode inline
                    self.warn(f"cannot start decode workers ({exc}); decoding in this process")
                    break
            if self._closed:
                _workers.kill(proc)
                continue
            try:
                self._pool.append(await _Worker.attach(proc, self._gone))
            except (OSError, ValueError) as exc:
                _workers.kill(proc)
                self.warn(f"cannot start decode workers ({exc}); decoding in this process")
                break
            self.started_workers += 1
        for proc in spares:  # more were started ahead than --decode-workers asks for
            _workers.kill(proc)
        if self.metrics is not None:
            self.metrics.gauge("decode.workers", self.started_workers)

    def _pick(self) -> _Worker | None:
        best = None
        for w in self._pool:
            if w.usable and (best is None or len(w.waiting) < len(best.waiting)):
                best = w
        return best

    async def decode(self, answer: Any, chat_id: int, self_id: int | None = None) -> DecodedPage:
        worker = self._pick() if isinstance(answer, bytes) else None
        if worker is not None:
            self._task_ids += 1
            try:
                page = await worker.submit(self._task_ids, answer, chat_id, self_id)
                self.pages_in_workers += 1
                return page
            except _WorkerGone:
                self._gone(worker)
            except _DecodeFailed:
                pass  # decoded inline below, which raises the real error with its own type
        self.pages_inline += 1
        return decode_page(answer, chat_id, self_id)

    def _gone(self, worker: _Worker) -> None:
        """A worker exited or broke its pipe (not at :meth:`aclose`): drop it, say so once."""
        if self._closed or worker not in self._pool:
            return
        self._pool.remove(worker)
        self.lost_workers += 1
        if worker.ready:
            self.warn("a decode worker exited; decoding its pages in this process")
        else:  # e.g. a frozen app whose executable is not a Python interpreter
            self.warn("a decode worker did not start; decoding in this process")

    async def aclose(self) -> None:
        """Stop the workers (idempotent); report the counts to the metrics once."""
        if self._closed:
            return
        self._closed = True
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
        for proc in self._spares:
            _workers.kill(proc)
        self._spares = []
        pool, self._pool = self._pool, []
        await asyncio.gather(*(w.stop() for w in pool), return_exceptions=True)
        if self.metrics is not None:
            self.metrics.incr("decode.pages_in_workers", self.pages_in_workers)
            self.metrics.incr("decode.pages_inline", self.pages_inline)
            if self.lost_workers:
                self.metrics.incr("decode.lost_workers", self.lost_workers)


# ---------------------------------------------------------------------------------------------
# the worker's side


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (a SIGKILLed tgx leaves no workers)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # the closed pipe still ends it at the next read
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(0)


def _lean_messages() -> None:
    """(worker only) Parse messages into Telethon's generated TL class instead of its custom
    ``Message`` wrapper, whose set-up tgx does not need: ~13 % of the parse. Not for
    ``MessageService``, whose generated class lacks the attributes tgx.fetch.normalize reads on every
    message (the wrapper gives it ``edit_date``, ``views``...: rare, so not worth a second path);
    never in the parent, where Telethon's own code relies on the wrapper."""
    from telethon.tl import alltlobjects, types

    for cls in (types.Message, types.MessageEmpty):
        alltlobjects.tlobjects[cls.CONSTRUCTOR_ID] = generated_class(cls)


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _send(out: BinaryIO, frame: tuple[Any, ...]) -> None:
    data = pickle.dumps(frame, protocol=_PICKLE)
    out.write(_HEAD.pack(len(data)))
    out.write(data)
    out.flush()


def serve(inp: BinaryIO, out: BinaryIO) -> int:
    """Decode frames from ``inp`` until EOF, answering each on ``out``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    _die_with_parent()
    _lean_messages()
    # Pages allocate thousands of short-lived objects and hold none: keep the collector off the
    # imported modules (frozen) and out of the way (what tgx.fetch.history.quiet_gc does in the parent).
    gc.freeze()
    gc.set_threshold(WORKER_GC_THRESHOLD, *gc.get_threshold()[1:])
    _send(out, (_READY, True, None))
    while True:
        head = _read_exact(inp, _HEAD.size)
        if head is None:
            return 0
        body = _read_exact(inp, _HEAD.unpack(head)[0])
        if body is None:
            return 0
        task_id, answer, chat_id, self_id = pickle.loads(body)
        try:
            frame: tuple[Any, ...] = (task_id, True, decode_page(answer, chat_id, self_id))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which decodes it again
            frame = (task_id, False, f"{type(exc).__name__}: {exc}")
        _send(out, frame)


def _widen_pipe(fd: int) -> None:
    """Linux: a 1 MiB pipe instead of 64 KiB, so a worker can run several pages ahead of a busy
    parent instead of blocking on its write (a page's rows are ~60 KB pickled)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BUFFER)
    except (ImportError, OSError):
        pass  # not Linux, or above /proc/sys/fs/pipe-max-size: the default pipe works too


def worker_main() -> int:
    """The worker process's entry point (see :data:`tgx.fetch.workers.WORKER_ARGV`)."""
    _widen_pipe(sys.stdout.fileno())
    _widen_pipe(sys.stdin.fileno())
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print() must not corrupt the frames
    try:
        return serve(sys.stdin.buffer, out)
    except (BrokenPipeError, KeyboardInterrupt):
        return 0

