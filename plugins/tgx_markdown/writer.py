"""``<chat>/markdown/``: an Obsidian vault of one note per day (or month), plus an index note.

The vault root is the chat folder (``OUT/<chat>/``), so embeds name media the way the archive
stores them (``![[media/...]]``) and links name notes by their vault path
(``[[markdown/2024/2024-05-01#^m123|Alice]]``): open ``OUT/<chat>/`` as the vault.

Memory stays flat: a note's body is written to a spooled temporary file (in memory up to
``SPOOL_BYTES``, on disk beyond) because its front matter, which comes first, carries the
message count and the last id; when the note is complete, front matter, body and navigation
are copied into place. Only one note is open at a time; the index note is streamed.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any

from tgx.model import Message, Peer
from tgx.specs import RenderContext
from tgx.text import utc_stamp

from .describe import alias, describe_action, media_md, reactions_md
from .text import escape_inline, render_text, wrap_lines

VAULT_DIR = "markdown"
INDEX_NOTE = f"{VAULT_DIR}/index"
SPOOL_BYTES = 4 << 20
EXCERPT_CHARS = 80
_YAML_PLAIN = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
                         r"\U00010000-\U0010ffff]*")


def yaml_str(value: str) -> str:
    """A YAML double-quoted scalar: quotes, backslashes, line breaks and anything a YAML
    reader might refuse (control characters, BOM, line separators) are escaped."""
    if _YAML_PLAIN.fullmatch(value):
        return f'"{value}"'
    out = ['"']
    for ch in value:
        if _YAML_PLAIN.fullmatch(ch):
            out.append(ch)
        elif ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(f"\\u{ord(ch):04X}")
    out.append('"')
    return "".join(out)


def yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return yaml_str(str(value))


def _option(options: Any, name: str, default: str) -> str:
    value = options.get(name) if options else None
    return str(value) if value else default


class MarkdownWriter:
    """One note per UTC day (``markdown-split=day``) or month (``month``), in year folders."""

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self.split = _option(ctx.options, "markdown-split", "day")
        if self.split not in ("day", "month"):
            self.split = "day"
        self.chat: Peer = ctx.chat
        self.title = self.chat.title or self.chat.folder_name
        self._index: IO[str] | None = None
        self._index_year: str | None = None
        self._period: str | None = None
        self._prev_period: str | None = None
        self._body: IO[str] | None = None
        self._count = 0
        self._first_id: int | None = None
        self._last_id: int | None = None
        self._day: str | None = None
        self._topics: dict[int, str] = {}

    # -- paths ------------------------------------------------------------------------------

    def period_of(self, date: datetime) -> str:
        return utc_stamp(date)[:10 if self.split == "day" else 7]

    @staticmethod
    def note_target(period: str) -> str:
        """A note's vault path without ``.md``: what wikilinks name."""
        return f"{VAULT_DIR}/{period[:4]}/{period}"

    def _open_text(self, relpath: str) -> IO[str]:
        raw = self.ctx.open(relpath, "wb")
        return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="\n")

    # -- FormatWriter -----------------------------------------------------------------------

    def open(self) -> None:
        self._index = self._open_text(f"{INDEX_NOTE}.md")
        chat = self.chat
        self._index.write(
            "---\n"
            f"chat: {yaml_str(self.title)}\n"
            f"chat_id: {chat.id}\n"
            f"username: {yaml_value(chat.username)}\n"
            f"message_count: {self.ctx.message_count}\n"
            f"split: {self.split}\n"
            "---\n\n"
            f"# {escape_inline(self.title)}\n"
        )

    def write(self, messages: Sequence[Message]) -> None:
        for msg in messages:
            period = self.period_of(msg.date)
            if period != self._period:
                self._finish_note(next_period=period)
                self._start_note(period)
            self._add(msg)

    def close(self) -> None:
        self._finish_note(next_period=None)
        if self._index is not None:
            if self._period is None and self._prev_period is None:
                self._index.write("\nNo messages.\n")
            self._index.close()
            self._index = None

    def abort(self) -> None:
        for fh in (self._body, self._index):
            if fh is not None:
                fh.close()
        self._body = self._index = None

    # -- notes ------------------------------------------------------------------------------

    def _start_note(self, period: str) -> None:
        self._period = period
        self._body = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed in _finish_note
            max_size=SPOOL_BYTES, mode="w+", encoding="utf-8", errors="replace", newline="\n")
        self._count = 0
        self._first_id = self._last_id = None
        self._day = None

    def _finish_note(self, next_period: str | None) -> None:
        body, period = self._body, self._period
        if body is None or period is None:
            return
        self._body = None
        out = self._open_text(self.note_target(period) + ".md")
        try:
            out.write(
                "---\n"
                f"chat: {yaml_str(self.title)}\n"
                f"chat_id: {self.chat.id}\n"
                f"username: {yaml_value(self.chat.username)}\n"
                f"date: {period if self.split == 'day' else yaml_str(period)}\n"
                f"message_count: {self._count}\n"
                f"first_message_id: {self._first_id}\n"
                f"last_message_id: {self._last_id}\n"
                "---\n\n"
                f"# {escape_inline(self.title)} · {period}\n\n"
            )
            body.seek(0)
            shutil.copyfileobj(body, out)
            nav = []
            if self._prev_period:
                nav.append(f"← [[{self.note_target(self._prev_period)}|{self._prev_period}]]")
            nav.append(f"[[{INDEX_NOTE}|Index]]")
            if next_period:
                nav.append(f"[[{self.note_target(next_period)}|{next_period}]] →")
            out.write("---\n\n" + " · ".join(nav) + "\n")
        finally:
            body.close()
            out.close()
        self._write_index_entry(period)
        self._prev_period = period

    def _write_index_entry(self, period: str) -> None:
        assert self._index is not None
        year = period[:4]
        if year != self._index_year:
            self._index.write(f"\n## {year}\n\n")
            self._index_year = year
        noun = "message" if self._count == 1 else "messages"
        self._index.write(f"- [[{self.note_target(period)}|{period}]] · {self._count} {noun}\n")

    # -- messages ---------------------------------------------------------------------------

    def name_of(self, peer_id: Any) -> str:
        """A peer's display name; its id when the archive does not know it (the engine caches)."""
        if not isinstance(peer_id, int):
            return str(peer_id)
        peer = self.ctx.peer(peer_id)
        return (peer.title or peer.username or str(peer_id)) if peer is not None else str(peer_id)

    def sender_name(self, msg: Message) -> str:
        if msg.sender_id is None:
            return msg.post_author or self.title
        return self.name_of(msg.sender_id)

    def _topic_title(self, topic_id: int) -> str:
        title = self._topics.get(topic_id)
        if title is None:
            start = self.ctx.message(topic_id)
            title = ""
            if start is not None and start.action is not None:
                title = str(start.action.data.get("title") or "")
            self._topics[topic_id] = title or f"topic {topic_id}"
            title = self._topics[topic_id]
        return title

    def message_link(self, msg_id: int, label: str) -> str | None:
        target = self.ctx.message(msg_id)
        if target is None:
            return None
        return f"[[{self.note_target(self.period_of(target.date))}#^m{msg_id}|{alias(label)}]]"

    def _reply_line(self, msg: Message) -> str:
        reply_id = msg.reply_to_id
        assert reply_id is not None
        if msg.reply_to_peer_id is not None and msg.reply_to_peer_id != msg.chat_id:
            return f"> ↩ Reply to message {reply_id} in another chat"
        target = self.ctx.message(reply_id)
        if target is None:
            return f"> ↩ Reply to message {reply_id} (not in the archive)"
        name = self.sender_name(target)
        link = f"[[{self.note_target(self.period_of(target.date))}#^m{reply_id}|{alias(name)}]]"
        excerpt = " ".join(target.text.split())
        if len(excerpt) > EXCERPT_CHARS:
            excerpt = excerpt[:EXCERPT_CHARS].rstrip() + "…"
        if not excerpt and target.media is not None:
            excerpt = f"({target.media.kind})"
        return f"> ↩ Reply to {link}" + (f": {escape_inline(excerpt)}" if excerpt else "")

    def _forward_line(self, msg: Message) -> str:
        fwd = msg.forward
        assert fwd is not None
        if fwd.from_id is not None:
            name = self.name_of(fwd.from_id)
        else:
            name = fwd.from_name or fwd.post_author or "a hidden user"
        when = f" · {utc_stamp(fwd.date)} UTC" if fwd.date is not None else ""
        return f"> ↪ Forwarded from {escape_inline(name)}{when}"

    def _header(self, msg: Message, when: str) -> str:
        parts = [f"**{when[11:]}**"]
        if msg.action is not None:
            actor = self.sender_name(msg)
            link = None
            if msg.action.type == "pin_message" and isinstance(msg.action.data.get("message_id"), int):
                link = self.message_link(msg.action.data["message_id"], "a message")
            if link is not None:  # a wikilink stays outside the emphasis: Obsidian keeps it a link
                parts.append(wrap_lines("italic", escape_inline(f"{actor} pinned"), " ", None) + " " + link)
            else:
                words = describe_action(msg.action, actor, msg.sender_id, self.name_of) or msg.action.type
                parts.append(wrap_lines("italic", escape_inline(words), " ", None))
        else:
            parts.append(escape_inline(self.sender_name(msg)))
        if msg.via_bot_id is not None:
            parts.append("via " + escape_inline(self.name_of(msg.via_bot_id)))
        if msg.topic_id is not None and self.chat.forum:
            parts.append("in " + escape_inline(self._topic_title(msg.topic_id)))
        if msg.edit_date is not None:
            parts.append("*edited*")
        if msg.deleted:
            parts.append("*deleted*")
        return " · ".join(parts) + f" ^m{msg.id}"

    def _add(self, msg: Message) -> None:
        assert self._body is not None
        when = utc_stamp(msg.date)
        chunks: list[str] = []
        if self.split == "month":
            day = when[:10]
            if day != self._day:
                chunks.append(f"## {day}")
                self._day = day
        chunks.append(self._header(msg, when))
        quote = []
        if msg.forward is not None:
            quote.append(self._forward_line(msg))
        if msg.reply_to_id is not None:
            quote.append(self._reply_line(msg))
        if quote:
            chunks.append("\n>\n".join(quote))
        if msg.text:
            body = render_text(msg.text, msg.entities)
            if body.strip():
                chunks.append(body)
        if msg.media is not None:
            chunks.append(media_md(msg.media, depth=2))
        if msg.reactions:
            chunks.append(reactions_md(msg.reactions))
        self._body.write("\n\n".join(chunks) + "\n\n")
        self._count += 1
        if self._first_id is None:
            self._first_id = msg.id
        self._last_id = msg.id
