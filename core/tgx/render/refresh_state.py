"""What an incremental refresh needs to know about a chat's last render, per format, kept in
``OUT/.tgx/refresh/<chat id>.json`` so that it survives a restart.

Every format's entry says how many messages its last render wrote and the last id (so that a
refresh with nothing changed writes nothing). For a *resumable* writer (``checkpoint()`` /
``resume()``, see :class:`tgx.specs.FormatWriter`) the engine records checkpoints while it
streams: after ``open()`` and after every batch, how many messages were written (``index``), the
last id written (``after``), the byte offset of each file the writer has open (``offsets``) and
the writer's own state. A refresh resumes from the last checkpoint before the first changed id.
The entry also holds a fingerprint of what decides the bytes (format, options, writer class, tgx
version) and each file's ``(size, mtime_ns, inode)`` when the render finished: any difference —
a file edited or removed by the user, other options, a full render since, a refresh killed mid-
write (its entry is dropped before it touches a file) — means the format is rendered in full
instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

import tgx
from tgx.archive.store import STATE_DIR
from tgx.fsutil import write_atomic

REFRESH_DIR = "refresh"

__all__ = ["REFRESH_DIR", "file_stats", "fingerprint", "load_state", "save_state", "valid_entry"]


def _path(out_dir: Path, chat_id: int) -> Path:
    return Path(out_dir) / STATE_DIR / REFRESH_DIR / f"{int(chat_id)}.json"


def load_state(out_dir: Path, chat_id: int) -> dict[str, Any]:
    """Format name → its entry (``{}`` when none is readable)."""
    try:
        state = orjson.loads(_path(out_dir, chat_id).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return state if isinstance(state, dict) else {}


def save_state(out_dir: Path, chat_id: int, state: Mapping[str, Any]) -> None:
    """Atomically; a state that cannot be written only costs the next refresh a full render."""
    try:
        write_atomic(_path(out_dir, chat_id), orjson.dumps(dict(state)), mode=0o600)
    except OSError:
        pass


def fingerprint(format_name: str, writer: object, options: Mapping[str, Any]) -> str:
    """What decides a format's bytes besides the archive: a change means a full render."""
    kind = type(writer)
    try:
        opts = orjson.dumps(dict(options), option=orjson.OPT_SORT_KEYS, default=repr).decode()
    except TypeError:
        opts = repr(sorted(options.items()))
    return f"{tgx.__version__}|{format_name}|{kind.__module__}.{kind.__qualname__}|{opts}"


def file_stats(chat_dir: Path, relpaths: list[str]) -> dict[str, list[int]] | None:
    """``relpath → [size, mtime_ns, inode]``; None when one of them is missing."""
    stats: dict[str, list[int]] = {}
    for rel in relpaths:
        try:
            st = os.stat(chat_dir / rel)
        except OSError:
            return None
        stats[rel] = [st.st_size, st.st_mtime_ns, st.st_ino]
    return stats


def valid_entry(entry: Any, chat_dir: Path, fp: str) -> bool:
    """The entry was written by the last render of this format, with these options, and its
    files are still exactly as that render left them."""
    if not isinstance(entry, dict) or entry.get("fingerprint") != fp:
        return False
    files = entry.get("files")
    if not isinstance(files, dict) or not isinstance(entry.get("checkpoints"), list):
        return False
    return file_stats(chat_dir, list(files)) == files
