"""Ctrl-C and SIGTERM for long commands: stop soon, keep everything committed, say how to resume.

What happens (``tgx export``, see docs/reliability.md):

* **First** SIGINT/SIGTERM: a note on stderr, then the running command's task is cancelled.
  Requests in flight are cancelled; every page already fetched is committed (a page and its
  checkpoint go into the archive in one transaction, so there is nothing half-done to save);
  the media stage and the render are skipped; the metrics report is written with status
  ``interrupted``. Then ``interrupted; run the same command again to resume`` and exit 130.
  During a render (synchronous code the event loop cannot cancel) the signal raises
  KeyboardInterrupt right there: the render engine aborts the writers, deletes their temp
  files and leaves the previously rendered files as they were — never a half-written one.
* **Second** signal: exit 130 at once (``os._exit``). Still safe: SQLite rolls back an
  unfinished transaction, the next render removes stale ``*.tgx-tmp`` files and the media stage
  resumes ``.part`` files from their journal.

The same module maps a full disk during rendering (ENOSPC, EDQUOT, EFBIG) to one clear
:class:`~tgx.errors.OutputError` (exit 7) instead of a per-format failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from tgx.errors import ExitCode, Interrupted, OutputError

T = TypeVar("T")

RESUME_HINT = "interrupted; run the same command again to resume"
FIRST_NOTE = ("tgx: interrupted: stopping (what was fetched is committed); "
              "press Ctrl-C again to quit at once\n")
SECOND_NOTE = "tgx: interrupted again: quitting now; committed work is kept, rerun to resume\n"
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})

_active: _Guard | None = None


class CommandInterrupted(Interrupted):
    """Raised by :func:`run_interruptible` after a signal stopped the command (exit 130)."""


class _Guard:
    """The signal handler of one command run."""

    def __init__(self) -> None:
        self.count = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        self.sync_depth = 0

    def handler(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count >= 2:
            _note(SECOND_NOTE)
            os._exit(ExitCode.INTERRUPTED)
        _note(FIRST_NOTE)
        loop, task = self.loop, self.task
        if self.sync_depth > 0 or loop is None or task is None or task.done() or loop.is_closed():
            # Blocking code (a render) or no loop yet: unwind right here, through try/finally.
            raise KeyboardInterrupt
        loop.call_soon_threadsafe(task.cancel)

    @contextlib.contextmanager
    def sync(self) -> Iterator[None]:
        self.sync_depth += 1
        try:
            yield
        finally:
            self.sync_depth -= 1


def _note(text: str) -> None:
    try:
        os.write(2, text.encode())  # not sys.stderr: a signal may arrive mid-write there
    except OSError:
        pass


def interrupted() -> bool:
    """True once a signal asked the running command to stop."""
    return _active is not None and _active.count > 0


def run_interruptible(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion with the signal handling described in the module doc.

    :raises CommandInterrupted: a signal stopped it (after the coroutine unwound).
    Outside the main thread (signals cannot be caught there) it is a plain ``asyncio.run``.
    """
    global _active
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(coro)
    guard = _Guard()

    async def main() -> T:
        guard.loop = asyncio.get_running_loop()
        guard.task = asyncio.current_task()
        return await coro

    sigs = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {sig: signal.getsignal(sig) for sig in sigs}
    outer, _active = _active, guard
    try:
        for sig in sigs:
            signal.signal(sig, guard.handler)
        try:
            with asyncio.Runner() as runner:
                return runner.run(main())
        except (KeyboardInterrupt, asyncio.CancelledError):
            if guard.count == 0:
                raise
            raise CommandInterrupted(RESUME_HINT) from None
    finally:
        # Restored even after a signal: another Ctrl-C while the CLI prints its last line is a
        # plain KeyboardInterrupt, which the CLI reports as "interrupted" (exit 130).
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _active = outer


@contextlib.contextmanager
def sync_section() -> Iterator[None]:
    """Blocking code inside the command's coroutine: a first signal unwinds it at once."""
    guard = _active
    if guard is None:
        yield
        return
    with guard.sync():
        yield


def run_cli(coro: Coroutine[Any, Any, T]) -> T:
    """:func:`run_interruptible` for a CLI command: an interrupt prints how to resume, exit 130."""
    import typer

    from tgx import console

    try:
        return run_interruptible(coro)
    except CommandInterrupted:
        console.info(RESUME_HINT)
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def disk_full_cause(exc: BaseException | None) -> OSError | None:
    """The ENOSPC/EDQUOT/EFBIG ``OSError`` behind ``exc`` (itself, its cause or context), if any."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def guarded_render(render: Callable[..., Any]) -> Callable[..., Any]:
    """``render`` (the engine's ``render_chat``) made interruptible, with a full disk as one error.

    A format that failed because the disk is full is not a plugin's fault and the next format
    would fail the same way: the export stops with exit 7, the archive and the files rendered
    before are intact (the engine only replaces files after a writer finished).
    """

    def render_chat(archive: Any, chat_id: int, out_dir: Any, *args: Any, **kwargs: Any) -> Any:
        with sync_section():
            result = render(archive, chat_id, out_dir, *args, **kwargs)
        for name, fmt in getattr(result, "formats", {}).items():
            full = disk_full_cause(getattr(fmt, "exception", None))
            if full is not None and full.errno is not None:
                where = getattr(result, "chat_dir", out_dir)
                raise OutputError(
                    f"disk full while rendering {name} into {where} ({os.strerror(full.errno)})",
                    hint="free some space and run the same command again (or `tgx render`); "
                         "the archive and the files rendered before are intact")
        return result

    return render_chat


__all__ = ["CommandInterrupted", "RESUME_HINT", "disk_full_cause", "guarded_render", "interrupted",
           "run_cli", "run_interruptible", "sync_section"]
