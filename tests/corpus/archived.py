"""Format tests through the real engine: messages stored in a real archive, then rendered.

Shared by the format test files so each says only what its format does: ``message_maker`` builds
a chat's messages tersely, ``render_archived`` stores them with their peers and renders one
format (asserting it succeeded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tgx.archive.store import Archive
from tgx.model import Message, Peer
from tgx.render.engine import RenderResult, render_chat
from tgx.specs import FormatSpec


def message_maker(chat: Peer, t0: datetime, sender: Peer) -> Callable[..., Message]:
    """``msg(id, hours=None, **fields)``: a message of ``chat`` from ``sender`` (unless the fields
    say otherwise), dated ``t0`` plus ``hours`` (default: as many hours as its id)."""

    def msg(message_id: int, hours: float | None = None, **fields: Any) -> Message:
        fields.setdefault("sender_id", sender.id)
        offset = timedelta(hours=message_id if hours is None else hours)
        return Message(chat.id, message_id, t0 + offset, **fields)

    return msg


def render_archived(out: Path, chat: Peer, messages: Iterable[Message], peers: Iterable[Peer],
                    spec: FormatSpec, options: Mapping[str, Any] | None = None, *,
                    batch_size: int = 1000) -> RenderResult:
    """Archive ``messages`` and ``peers`` under ``out``, render ``spec``'s format into
    ``out/<chat>/`` and return the result (the format has succeeded)."""
    with Archive.open(out) as archive:
        archive.set_chat(chat)
        archive.upsert_batch(chat.id, list(messages), list(peers))
        result = render_chat(archive, chat.id, out, {spec.name: spec}, {spec.name: options or {}},
                             batch_size=batch_size)
    assert result.ok, result.errors
    return result
