"""The JSON reader in a process of its own, beside the archive writer: two cores for one import.

Why: reading a Telegram Desktop message (ijson's C parser, then mapping its dict into the model
and serializing the archive record) costs ~3x what storing it costs (compressing, SQLite), and
all of it is Python — one core. So the child (:func:`child_main`) runs the reader
(:func:`tgx.importer.tdjson.read_json_export`) and turns every message without files into its
finished archive row (:func:`tgx.archive.records.message_row`); the parent (:func:`read_json_in_process`)
gives the import stage the same :data:`~tgx.importer.source.ExportItem` stream a reader in its
own process would, except that such messages arrive as rows. Messages with files come as
:class:`~tgx.importer.source.ImportedMessage`: placing their files (hashing, copying, the media
index) is the stage's, in the parent.

The pipe carries length-prefixed pickles (the child is this very tgx, started as the decode
workers are: :func:`tgx.fetch.workers.spawn`), one frame per batch of :data:`BATCH` messages with the
warnings and the new peers read meanwhile, in order. A failure in the child — the file is not an
export, breaks off — comes back as a frame and is raised in the parent as the reader would have
raised it. The parent reads at its own pace: a full pipe blocks the child (memory stays flat:
one batch each side). A parent that stops early (an error, Ctrl-C) kills the child.

The child reads the file to its last byte (what it does not import too: the file is judged
whole, :func:`~tgx.importer.tdjson.read_json_export`): its ``done`` frame is the verdict the
import waits for before it commits (:meth:`tgx.archive.store.Archive.held`).
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from tgx.errors import TgxError, UsageError, first_line
from tgx.fetch import workers
from tgx.importer.source import ExportItem, ImportedChat, ImportedMessage, StoredRow, Warn
from tgx.model import Peer

BATCH = 1000  # messages per frame (the stage's transaction size: one frame, one commit)
PIPE_SIZE = 1 << 20  # a frame of 1,000 rows is ~0.7 MB
_HEADER = struct.Struct("<I")
CHILD_ARGV = ("-P", "-c", "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
              "import sys; from tgx.importer.process import child_main; sys.exit(child_main())")

__all__ = ["BATCH", "CHILD_ARGV", "ChildReader", "ReaderFailed", "child_main", "read_json_in_process", "two_cores"]


class ReaderFailed(Exception):
    """The child's reader raised something that is not a :class:`TgxError` (its text kept)."""


# -- the parent ----------------------------------------------------------------------------------


def _start(path: Path, chat_ids: Iterable[int]) -> subprocess.Popen[bytes]:
    """The reader process: this tgx (started like the decode workers), told which export and chats."""
    proc = workers.spawn(CHILD_ARGV, bufsize=0)
    assert proc.stdin is not None
    try:
        proc.stdin.write(pickle.dumps((str(path), sorted(set(chat_ids))), protocol=pickle.HIGHEST_PROTOCOL))
        proc.stdin.close()
    except OSError:
        _stop(proc)
        raise
    return proc


def read_json_in_process(path: Path, warn: Warn, *, chat_ids: Iterable[int] = ()) -> ChildReader:
    """What :func:`~tgx.importer.tdjson.read_json_export` yields, read in a child process; the
    messages of a chat in ``chat_ids`` (default: every chat) without files come as their archive
    rows (:data:`~tgx.importer.source.StoredRow`), the others' messages are skipped in the child.
    The child starts now — it reads ahead while the caller gets ready (a full pipe stops it) —
    OSError when it cannot (then read in this process)."""
    return ChildReader(path, warn, chat_ids)


class ChildReader:
    """The items of a reader process (an iterator); :meth:`close` stops the process, read or not."""

    def __init__(self, path: Path, warn: Warn, chat_ids: Iterable[int] = ()) -> None:
        self.proc = _start(path, chat_ids)
        assert self.proc.stdout is not None
        _widen(self.proc.stdout)
        self._items = _Frames(self.proc.stdout, warn).items()

    def __iter__(self) -> ChildReader:
        return self

    def __next__(self) -> ExportItem:
        try:
            return next(self._items)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._items.close()
        _stop(self.proc)


def two_cores() -> bool:
    """Whether this process may run on two CPUs or more (else a reader process only costs)."""
    return workers.cpus() >= 2


def _widen(pipe: IO[bytes]) -> None:
    """A pipe that holds a whole frame (Linux: up to ``/proc/sys/fs/pipe-max-size``, 1 MiB by
    default): the child writes a frame at once and the parent reads it in one call."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
    except (ImportError, OSError):
        pass


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdout is not None:
        proc.stdout.close()
    if proc.poll() is None:
        proc.kill()
    proc.wait()


class _Frames:
    """The child's frames back into items; one chat's messages are read while the stage asks."""

    def __init__(self, stream: IO[bytes], warn: Warn):
        self.fd = stream.fileno()
        self.warn = warn
        self._open: _ChatFrames | None = None

    def _exactly(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = os.read(self.fd, min(size, PIPE_SIZE))
            if not chunk:
                break
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def read(self) -> tuple[Any, ...]:
        header = self._exactly(_HEADER.size)
        if len(header) < _HEADER.size:
            raise ReaderFailed("the reader process ended without a word")
        (size,) = _HEADER.unpack(header)
        frame: tuple[Any, ...] = pickle.loads(self._exactly(size))
        for kind, detail in frame[-1]:  # every frame ends with the warnings said before it
            self.warn(kind, detail)
        if frame[0] == "error":
            _, cls, message, hint, _warns = frame
            if cls is None:
                raise ReaderFailed(message)
            raise UsageError(message, hint=hint)  # the reader's own one line (ExportError is a UsageError)
        return frame

    def items(self) -> Generator[ExportItem, None, None]:
        while True:
            if self._open is not None:
                self._open.drain()  # the stage moved on: the rest of that chat is skipped
                self._open = None
            frame = self.read()
            tag = frame[0]
            if tag == "done":
                return
            if tag == "peer":
                yield frame[1]
            elif tag == "chat":
                _, peer, td_type, left, source, _warns = frame
                frames = _ChatFrames(self)
                chat = frames.chat = ImportedChat(peer, td_type, frames.messages(), frames.peers, left=left,
                                                  source=Path(source) if source else None)
                self._open = frames
                yield chat
            else:  # pragma: no cover - the child speaks this module's protocol only
                raise ReaderFailed(f"unexpected frame {tag!r}")


class _ChatFrames:
    def __init__(self, frames: _Frames):
        self.frames = frames
        self.peers: dict[int, Peer] = {}
        self.chat: ImportedChat | None = None
        self.done = False

    def messages(self) -> Iterator[ImportedMessage | StoredRow]:
        while not self.done:
            frame = self.frames.read()
            if frame[0] == "end":
                _, peers, missing, _warns = frame
                self._learn(peers)
                if self.chat is not None:
                    self.chat.missing += missing
                self.done = True
                return
            _, items, peers, missing, _warns = frame
            self._learn(peers)
            if self.chat is not None:
                self.chat.missing += missing
            yield from items

    def _learn(self, peers: list[Peer]) -> None:
        for peer in peers:
            self.peers[peer.id] = peer

    def drain(self) -> None:
        for _item in self.messages():
            pass


# -- the children ----------------------------------------------------------------------------------


def child_main() -> int:
    """Read the export named on stdin, write its frames to stdout (see the module doc)."""
    from tgx.archive.records import message_row
    from tgx.importer.source import note_missing
    from tgx.importer.tdjson import read_json_export

    path, wanted = pickle.loads(sys.stdin.buffer.read())
    wanted = set(wanted)
    out = sys.stdout.buffer
    warns: list[tuple[str, str]] = []

    def send(*frame: Any) -> None:
        data = pickle.dumps((*frame, warns[:]), protocol=pickle.HIGHEST_PROTOCOL)
        warns.clear()
        out.write(_HEADER.pack(len(data)))
        out.write(data)

    def warn(kind: str, detail: str) -> None:
        warns.append((kind, detail))

    try:
        for item in read_json_export(Path(path), warn, rows=True):
            if isinstance(item, Peer):
                send("peer", item)
                continue
            send("chat", item.peer, item.td_type, item.left, str(item.source) if item.source else None)
            chat_id = item.peer.id
            sent: set[int] = set()
            batch: list[ImportedMessage | StoredRow] = []

            def new_peers() -> list[Peer]:
                fresh = [p for pid, p in item.peers.items() if pid not in sent]  # noqa: B023
                sent.update(p.id for p in fresh)  # noqa: B023
                return fresh

            if wanted and chat_id not in wanted:
                for _m in item.messages:  # read through (the file must be whole), nothing sent
                    pass
            else:
                missing = 0
                for imported in item.messages:
                    if type(imported) is tuple:  # the reader made its row already
                        batch.append(imported)
                    elif not isinstance(imported, ImportedMessage):  # pragma: no cover - the contract
                        raise TypeError(f"a reader gave {type(imported).__name__}")
                    elif (files := imported.files) and (imported.message.media is None
                                                        or any(f.relpath is not None for f in files)):
                        batch.append(imported)  # files to place (or to warn of): the stage's
                    else:
                        m = imported.message
                        for f in files:  # only the export's notes that it left the file out
                            note_missing(m.media, f.role, f.missing or "not in the export")  # type: ignore[arg-type]
                        missing += len(files)
                        m.chat_id = chat_id
                        batch.append(message_row(chat_id, m))
                    if len(batch) >= BATCH:
                        send("batch", batch, new_peers(), missing)
                        batch, missing = [], 0
                if batch or missing:
                    send("batch", batch, new_peers(), missing)
            send("end", new_peers(), item.missing)  # the files its rows record as left out
        send("done")
    except TgxError as exc:
        send("error", type(exc).__name__, exc.message, exc.hint)
    except (BrokenPipeError, KeyboardInterrupt):  # the parent stopped reading: nothing to say
        return 1
    except Exception as exc:  # noqa: BLE001 - whatever a reader of untrusted input raises: its text
        send("error", None, first_line(exc), None)
    try:
        out.flush()
    except BrokenPipeError:
        return 1
    return 0
