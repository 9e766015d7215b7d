"""Render messages with a format plugin the way ``tgx render`` does, for the plugin's own tests.

A format author's test needs no archive or engine internals: give the spec your plugin registers,
some :class:`tgx.model.Message` objects and a folder; the messages go through a real archive and
the real render engine (temp files, atomic moves, lookups), so what the test sees is what users get.

    from tgx.testing import render_messages
    rendered = render_messages(tgx_register_formats(), messages, chat=CHAT, out=tmp_path)
    assert rendered.ok, rendered.error
    text = rendered.read_text("links.tsv")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tgx.model import Message, Peer
from tgx.specs import FormatSpec


@dataclass
class Rendered:
    """What one format wrote for one chat."""

    ok: bool
    error: str | None  # one line, when the writer failed
    chat_dir: Path  # OUT/<chat>/
    files: list[str] = field(default_factory=list)  # chat-relative POSIX paths the writer created

    def read_text(self, relpath: str) -> str:
        return (self.chat_dir / relpath).read_text(encoding="utf-8")

    def read_bytes(self, relpath: str) -> bytes:
        return (self.chat_dir / relpath).read_bytes()


def render_messages(spec: FormatSpec, messages: Sequence[Message], *, chat: Peer, out: Path | str,
                    options: Mapping[str, Any] | None = None, peers: Sequence[Peer] = ()) -> Rendered:
    """Archive ``messages`` (and the senders in ``peers``) of ``chat`` in ``out`` and render them
    with ``spec``; ``options`` are the format's options as the CLI would pass them."""
    from tgx.archive.store import Archive
    from tgx.render.engine import render_chat

    out = Path(out)
    with Archive.open(out) as archive:
        archive.set_chat(chat)
        if peers:
            archive.upsert_peers(peers)
        archive.upsert_batch(chat.id, list(messages))
        result = render_chat(archive, chat.id, out, {spec.name: spec}, {spec.name: dict(options or {})})
    fmt = result.formats[spec.name]
    return Rendered(fmt.ok, fmt.error, result.chat_dir, list(fmt.files))


__all__ = ["Rendered", "render_messages"]
