"""One writer per output folder: an exclusive OS lock on ``OUT/.tgx/lock``.

Two processes writing one OUT fetch everything twice and overwrite each other's state files, so
every command that writes OUT (export, render, demo) holds this lock for its whole run. It is
an ``flock`` on an open file, so the kernel releases it when the holder exits in any way — a
SIGKILL included; there is no stale pid file to clean up. The holder writes its pid and command
into the file (never its arguments: they are the user's business), only so that the refused
process can name it. Read-only commands never take it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

from tgx.archive.store import STATE_DIR
from tgx.errors import ExitCode, OutputError

LOCK_NAME = "lock"
_POLL_S = 0.1


class OutputBusy(OutputError):
    """Another tgx process holds the lock on this output folder."""

    exit_code = ExitCode.BUSY


def lock_path(out: Path | str) -> Path:
    return Path(out) / STATE_DIR / LOCK_NAME


def holder(out: Path | str) -> dict[str, object] | None:
    """What the lock file says about its holder (pid, command, since), or None if unreadable."""
    try:
        doc = json.loads(lock_path(out).read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


@contextlib.contextmanager
def hold_output(out: Path | str, command: str, *, wait_s: float = 0.0) -> Iterator[Path]:
    """Hold the exclusive lock on ``out`` for the block (creating ``out/.tgx`` when needed).

    With ``wait_s`` > 0 a busy lock is retried until that many seconds have passed; then, or at
    once without it, :class:`OutputBusy` names the holder (exit code ``ExitCode.BUSY``).
    """
    path = lock_path(out)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # private, like the archive beside it
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        fh: IO[str] = os.fdopen(fd, "r+", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot lock {out} ({exc.strerror or exc}): tgx needs write access to {path.parent}",
                          hint="make the output folder writable, or copy it somewhere writable") from None
    try:
        deadline = time.monotonic() + max(wait_s, 0.0)
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy(out, wait_s) from None
                time.sleep(_POLL_S)
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "command": f"tgx {command}",
                             "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
        fh.flush()
        yield path
    finally:
        fh.close()  # closing the descriptor releases the lock


@contextlib.asynccontextmanager
async def hold_output_async(out: Path | str, command: str, *, wait_s: float = 0.0) -> AsyncIterator[Path]:
    """:func:`hold_output` for coroutines: while another process holds the lock, the event loop
    keeps running (a connected client keeps its connection alive through a long ``--wait-lock``)."""
    deadline = time.monotonic() + max(wait_s, 0.0)
    with contextlib.ExitStack() as stack:
        while True:
            try:
                path = stack.enter_context(hold_output(out, command))
                break
            except OutputBusy:
                if time.monotonic() >= deadline:
                    raise _busy(out, wait_s) from None
                await asyncio.sleep(_POLL_S)
        yield path


def prepare_out_dir(out: Path) -> Path:
    """Create OUT/ and check it is writable, before anything else happens (then lock it)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {out} is not writable")
    return out


def _busy(out: Path | str, waited: float) -> OutputBusy:
    info = holder(out) or {}
    who = f"pid {info.get('pid', '?')} ({info.get('command', 'tgx')})"
    after = f" after waiting {waited:g} s" if waited > 0 else ""
    return OutputBusy(f"{out} is being written by another tgx process: {who}{after}",
                      hint="wait for it to finish, or pass --wait-lock SECONDS to wait for it")


__all__ = ["LOCK_NAME", "OutputBusy", "hold_output", "hold_output_async", "holder", "lock_path", "prepare_out_dir"]
