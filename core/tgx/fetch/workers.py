"""Starting the decode worker processes of :mod:`tgx.fetch.pages`, cheaply enough to do it first.

Why a module of its own: a worker needs ~0.3 s to import Telethon before it can parse a page,
and an export's first page arrives ~0.2 s after ``tgx export``'s command starts (measured:
docs/performance.md). Imported from here — the standard library only — the CLI starts the
workers at the top of the command (:func:`prestart`), so their imports run on another core
while tgx imports its own engine, connects and resolves, and the first pages already go to a
ready worker. An export that turns out small stops them unused (what that costs: one Telethon
import on a core that was idle, ~50 MB for under a second).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# Not ``-m tgx.fetch.pages``: that would make the module ``__main__`` in the worker and its pickles
# name ``__main__.DecodedPage``. ``-P``: the working directory is not put on sys.path. Ctrl-C is
# ignored first thing: it reaches the terminal's whole process group, and the parent decides.
WORKER_ARGV = ("-P", "-c", "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
               "import sys; from tgx.fetch.pages import worker_main; sys.exit(worker_main())")

__all__ = ["WORKER_ARGV", "Spares", "cpus", "default_workers", "prestart", "spawn"]


def default_workers() -> int:
    """One worker when this process may run on two CPUs or more, else none.

    One is enough: it parses ~25,000 messages/s, more than Telegram sends one account, and
    the main process (network, SQLite) is the next limit in any case. Each worker costs ~50 MB
    (its own Telethon), so memory stays bounded whatever the machine; ``--decode-workers N``
    asks for more.
    """
    return 1 if cpus() >= 2 else 0


def cpus() -> int:
    """The CPUs this process may run on (its affinity where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def spawn(argv: Sequence[str] | None = None, *, bufsize: int = -1) -> subprocess.Popen[bytes]:
    """One worker process of this tgx (``argv``: the interpreter's arguments, a decode worker by
    default; tgx.importer.process starts its own the same way), its stdin and stdout pipes
    (raises OSError when it cannot)."""
    env = dict(os.environ)
    # The child must import this very tgx, even when it runs from a checkout (sys.path edits).
    root = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return subprocess.Popen([sys.executable, *(argv or WORKER_ARGV)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, bufsize=bufsize)


class Spares:
    """Worker processes started ahead of need; :class:`tgx.fetch.pages.PageDecoder` takes them.
    Those never taken are killed by :meth:`close`."""

    def __init__(self, procs: list[subprocess.Popen[bytes]] | None = None) -> None:
        self._procs = list(procs or [])

    def __len__(self) -> int:
        return len(self._procs)

    def take(self) -> list[subprocess.Popen[bytes]]:
        procs, self._procs = self._procs, []
        return procs

    def close(self) -> None:
        for proc in self.take():
            kill(proc)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill and reap a worker (it holds nothing: its pages are still with the fetcher)."""
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    proc.wait()


@contextmanager
def prestart(workers: int | None) -> Iterator[Spares]:
    """Start ``workers`` decode workers now (None: :func:`default_workers`); on exit kill those
    no decoder took. A worker that cannot start is simply not there: the decoder decodes inline."""
    procs = []
    for _ in range(default_workers() if workers is None else max(0, workers)):
        try:
            procs.append(spawn())
        except OSError:
            break
    spares = Spares(procs)
    try:
        yield spares
    finally:
        spares.close()
