"""``<chat>/messages.csv``: one row per message, RFC 4180 (``\\r\\n`` line ends, minimal quoting).

Every cell is text; empty means "none". Dates are ISO 8601 in UTC, exactly as in
``messages.jsonl``. The text cell is the message text unchanged (entities are not rendered),
except for the formula guard: a cell from the chat (text, names, file names) that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so spreadsheets
show it instead of evaluating it (OWASP's advice for CSV injection; option
``csv-formula-guard``, on by default). Columns are only ever appended, so scripts that read them
by position keep working: ``deleted_at`` and ``edits`` (the number of earlier versions the
archive kept) came last.

A channel exported with ``--comments`` also gets ``<chat>/comments.csv``: the same columns plus
``post_id`` (last), one row per comment in ascending ``(post_id, id)`` — ids, reply ids and
``sender_id`` are the discussion group's. It is created with the first comment, so a chat
without comments has none.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import IO, Any

from tgx.model import Message
from tgx.specs import RenderContext
from tgx.text import reaction_label

FILE_NAME = "messages.csv"
COLUMNS = (
    "id", "date", "edit_date", "sender_id", "sender_name", "text", "reply_to_id", "forward_from_id",
    "forward_from", "forward_date", "media_kind", "media_path", "media_file_name", "media_size",
    "action", "views", "forwards", "reactions", "grouped_id", "topic_id", "topic_title", "deleted",
    "deleted_at", "edits",  # appended (issue 15): the columns before keep their places
)
COMMENTS_FILE = "comments.csv"
COMMENT_COLUMNS = (*COLUMNS, "post_id")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def flag(value: Any, default: bool) -> bool:
    """An on/off option, whether it arrives as a bool or as text from a config file."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


class CsvWriter:
    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self.guard = flag(ctx.options.get("csv-formula-guard"), True)
        self.bom = flag(ctx.options.get("csv-bom"), True)
        self._file: IO[str] | None = None
        self._csv: Any = None
        self._comments_file: IO[str] | None = None
        self._comments_csv: Any = None

    def _open_csv(self, relpath: str, columns: Sequence[str] | None) -> tuple[IO[str], Any]:
        """``columns``: the header row to write; None when continuing a file (BOM and header are
        in) — as is a file ``ctx.open`` hands over continued (positioned past its start)."""
        raw = self.ctx.open(relpath, "wb")
        if raw.tell():
            columns = None
        encoding = "utf-8-sig" if self.bom and columns is not None else "utf-8"
        # errors="replace": a lone surrogate (never from Telegram; a damaged archive) becomes "?"
        fh = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
        out = csv.writer(fh, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        if columns is not None:
            out.writerow(columns)
        return fh, out

    def open(self) -> None:
        self._file, self._csv = self._open_csv(FILE_NAME, COLUMNS)

    def checkpoint(self) -> None:
        """Refresh capability: rows depend on their message alone; flushed for the engine's offset."""
        for fh in (self._file, self._comments_file):
            if fh is not None:
                fh.flush()
        return None

    def resume(self, state: object) -> bool:
        """Continue messages.csv where a checkpoint left it (``ctx.open`` returns it cut there)."""
        self._file, self._csv = self._open_csv(FILE_NAME, None)
        return True

    def write(self, messages: Sequence[Message]) -> None:
        self._csv.writerows([self.row(m) for m in messages])

    def write_comments(self, comments: Sequence[tuple[int, Message]]) -> None:
        """A channel's comments, ``(post_id, comment)`` in ascending order: comments.csv."""
        if not comments:
            return
        if self._comments_file is None:
            self._comments_file, self._comments_csv = self._open_csv(COMMENTS_FILE, COMMENT_COLUMNS)
        self._comments_csv.writerows([[*self.row(c), str(post_id)] for post_id, c in comments])

    def close(self) -> None:
        for fh in (self._file, self._comments_file):
            if fh is not None:
                fh.close()
        self._file = self._comments_file = None

    def abort(self) -> None:
        self.close()

    # -- one row ----------------------------------------------------------------------------

    def safe(self, value: str | None) -> str:
        """Text that came from the chat: guarded against formula injection when asked."""
        if not value:
            return ""
        if self.guard and value.startswith(FORMULA_STARTS):
            return "'" + value
        return value

    def name_of(self, peer_id: int | None) -> str:
        if peer_id is None:
            return ""
        peer = self.ctx.peer(peer_id)
        if peer is None:
            return ""
        return peer.title or (f"@{peer.username}" if peer.username else "")

    def row(self, m: Message) -> list[str]:
        fwd = m.forward
        media = m.media
        topic = self.ctx.topic(m.topic_id)  # None outside forums
        if m.sender_id is not None:
            sender = self.name_of(m.sender_id)
        elif m.chat_id != self.ctx.chat.id:  # a comment of an anonymous admin of the discussion group
            sender = m.post_author or self.name_of(m.chat_id)
        else:
            sender = m.post_author or self.ctx.chat.title
        forward_name = ""
        if fwd is not None:
            forward_name = (self.name_of(fwd.from_id) if fwd.from_id is not None else "") \
                or fwd.from_name or fwd.post_author or ""
        return [
            str(m.id),
            m.date.isoformat(),
            m.edit_date.isoformat() if m.edit_date is not None else "",
            _cell(m.sender_id),
            self.safe(sender),
            self.safe(m.text),
            _cell(m.reply_to_id),
            _cell(fwd.from_id) if fwd is not None else "",
            self.safe(forward_name),
            fwd.date.isoformat() if fwd is not None and fwd.date is not None else "",
            media.kind if media is not None else "",
            self.safe(media.path) if media is not None else "",
            self.safe(media.file_name) if media is not None else "",
            _cell(media.size) if media is not None else "",
            m.action.type if m.action is not None else "",
            _cell(m.views),
            _cell(m.forwards),
            "; ".join(f"{reaction_label(r)} {r.count}" for r in m.reactions),
            _cell(m.grouped_id),
            _cell(m.topic_id),
            self.safe(topic.title) if topic is not None else "",
            "1" if m.deleted else "0",
            m.deleted_at.isoformat() if m.deleted_at is not None else "",
            str(len(m.history)),
        ]
