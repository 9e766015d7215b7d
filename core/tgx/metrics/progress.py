"""Progress for long work: a rich live display on a terminal, plain log lines otherwise.

One bar per chat (messages done / the server's count), one for media bytes, and a status line
for waits ("waiting 12 s: Telegram rate limit"). When stderr is not a terminal (CI, pipes,
`tgx export ... 2>log`) the same information arrives as occasional plain lines, and ``--quiet``
silences both. Everything goes to stderr so stdout stays clean for ``--json``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from tgx.console import printable

MIB = 1024 * 1024


class ExportProgress:
    def __init__(self, *, quiet: bool = False, console: Console | None = None, plain_every: float = 5.0,
                 atomic: bool = False):
        """``atomic``: the work counts only as a whole (``tgx import``): plain lines start after
        ``plain_every`` seconds and a failed end prints none — an import refused early says its
        one line alone."""
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.live = not quiet and self.console.is_terminal
        self.plain_every = plain_every
        self.atomic = atomic
        self._chats: dict[str, dict[str, Any]] = {}
        self._last_plain = time.monotonic() if atomic else 0.0
        self._progress: Progress | None = None
        self._media_task: TaskID | None = None
        self._status_task: TaskID | None = None
        self._finished = False
        if self.live:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                console=self.console, transient=False,
            )

    def __enter__(self) -> ExportProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        if exc_type is not None and self.atomic and self._progress is None:
            self._finished = True  # nothing of it counts: no last state to print
        self.finish()

    def finish(self) -> None:
        """The bars' last state, shown once (a watch calls it when its export is done); idempotent."""
        if self._finished:
            return
        self._finished = True
        if self._progress is not None:
            self._progress.stop()
        elif not self.quiet:
            for name in self._chats:
                self._plain(name, force=True)

    # -- chats -----------------------------------------------------------------------------------
    def add_chat(self, name: str, archived: int = 0) -> None:
        """A bar for chat ``name`` (again: the same bar, e.g. a chat fetched after a re-resolution),
        starting at the ``archived`` messages already committed; no total until Telegram says."""
        if name in self._chats:
            return
        state = {"done": archived, "total": None, "new": 0, "started": time.monotonic(), "task": None}
        if self._progress is not None:
            state["task"] = self._progress.add_task(printable(name), total=None, completed=archived, rate="")
        self._chats[name] = state

    def advance(self, name: str, n: int, total: int | None = None) -> None:
        """``n`` more messages are *committed* to the archive (the fetcher reports after each
        transaction, so a bar never shows what a disk-full error or a kill then lost; an
        ``atomic`` import's are written into its one transaction). ``total``:
        the chat's message count per Telegram, shown only while it is not below what is done
        (private chats and basic groups have no count until their last page)."""
        state = self._chats[name]
        state["done"] += n
        state["new"] += n
        if total is not None:
            state["total"] = total
        if state["total"] is not None and state["total"] < state["done"]:
            state["total"] = None
        if self._progress is not None:
            elapsed = max(1e-6, time.monotonic() - state["started"])
            self._progress.update(state["task"], completed=state["done"], total=state["total"],
                                  rate=f"{state['new'] / elapsed:,.0f} msg/s")
        else:
            self._plain(name)

    def _plain(self, name: str, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not force and now - self._last_plain < self.plain_every:
            return
        self._last_plain = now
        state = self._chats[name]
        total = f"/{state['total']}" if state["total"] is not None else ""
        self.console.print(printable(f"tgx: {name}: {state['done']}{total} messages"), highlight=False, markup=False)

    # -- media -----------------------------------------------------------------------------------
    def media_total(self, nbytes: int) -> None:
        """The media bar counts MiB, so the shared "done/total" column reads naturally."""
        if self._progress is not None:
            total = max(1, round(nbytes / MIB))
            if self._media_task is None:
                self._media_started = time.monotonic()
                self._media_done = 0
                self._media_task = self._progress.add_task("media (MiB)", total=total, rate="")
            else:
                self._progress.update(self._media_task, total=total)

    def media_advance(self, nbytes: int) -> None:
        if self._progress is not None and self._media_task is not None:
            self._media_done += nbytes
            elapsed = max(1e-6, time.monotonic() - self._media_started)
            self._progress.update(self._media_task, completed=round(self._media_done / MIB),
                                  rate=f"{self._media_done / MIB / elapsed:,.1f} MiB/s")

    # -- status ----------------------------------------------------------------------------------
    def status(self, message: str | None) -> None:
        """A transient line such as a flood wait; None clears it."""
        if self.quiet:
            return
        if self._progress is not None:
            if message is None:
                if self._status_task is not None:
                    self._progress.remove_task(self._status_task)
                    self._status_task = None
            elif self._status_task is None:
                self._status_task = self._progress.add_task(printable(message), total=None, rate="")
            else:
                self._progress.update(self._status_task, description=printable(message))
        elif message:
            self.console.print(printable(f"tgx: {message}"), highlight=False, markup=False)

    def stage(self, message: str) -> None:
        if not self.quiet:
            self.console.print(printable(f"tgx: {message}"), highlight=False, markup=False)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
