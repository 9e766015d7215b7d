"""Durable small-file writes, shared by the core and plugins (public: plugins may import it).

A reader — or the next run after a crash — sees the previous file or the new one, never a mix:
the data goes to a temporary file beside the target, is fsynced, renamed over the target, and
the directory is fsynced so the rename itself survives a power loss.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path | str) -> None:
    """Make renames inside ``path`` durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    """The file's SHA-256 (hex), read in 1 MiB pieces (memory stays flat for any size)."""
    import hashlib  # not at import: every start-up imports this module

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def temp_beside(path: Path | str, *, suffix: str = ".tmp", mode: int | None = None) -> Path:
    """Create a new, empty temporary file next to ``path`` with a unique name and return it.

    The name is ``.NAME.<random>SUFFIX`` (``tempfile.mkstemp``): two processes or threads never
    share one, it starts with a dot and ends in ``suffix``, so globbing collectors (node_exporter's
    ``*.prom``) and the target's own pattern never pick it up. Permission bits are ``mode``, or
    those a plain ``open(path, "w")`` would give (0666 less the umask) — not mkstemp's 0600.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, (0o666 & ~_umask()) if mode is None else mode)
    finally:
        os.close(fd)
    return Path(name)


def private_file(path: Path | str) -> Path:
    """Make sure ``path`` exists as a file only its owner may read (0600) in a folder only its
    owner may enter (0700): for session files, which are as good as a logged-in phone. A new
    file is created empty with that mode (no moment where it is world-readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.chmod(path, 0o600)
    return path


def write_atomic(path: Path | str, data: bytes | str, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically; the new file gets permission bits ``mode``.

    The data goes to :func:`temp_beside`'s unique temp file, is fsynced and renamed over
    ``path``. On failure the temp file is removed and the old file is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = temp_beside(path, mode=mode)
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
