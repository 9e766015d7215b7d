"""Incremental refresh of a rendered chat (``tgx watch``): bring ``OUT/<chat>/`` up to date
given the ids of the messages that are new, edited or deleted since its last render.

The contract: whatever path a format takes, the files equal what :func:`render_chat` would
write for the same archive, byte for byte. A format that cannot refresh incrementally is
rendered in full.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tgx.archive.store import Archive
from tgx.render.engine import DEFAULT_BATCH_SIZE, RenderResult, render_chat
from tgx.specs import FormatSpec

__all__ = ["refresh_chat"]


def refresh_chat(archive: Archive, chat_id: int, out_dir: Path | str, formats: Mapping[str, FormatSpec],
                 options: Mapping[str, Mapping[str, Any]] | None = None, *, changed: Iterable[int] = (),
                 batch_size: int = DEFAULT_BATCH_SIZE) -> RenderResult:
    """Bring ``OUT/<chat>/`` up to date with the archive; ``changed``: the ids of the chat's
    messages that are new, edited or deleted since its last render. Byte-identical to
    :func:`render_chat`; for now every format is rendered in full."""
    del changed
    return render_chat(archive, chat_id, out_dir, formats, options, batch_size=batch_size)
