"""``<chat>/markdown/``: an Obsidian vault of one note per day (or month), plus an index note.

The vault root is the chat folder (``OUT/<chat>/``), so embeds name media the way the archive
stores them (``![[media/...]]``) and links name notes by their vault path
(``[[markdown/2024/2024-05-01#^m123|Alice]]``): open ``OUT/<chat>/`` as the vault.

Memory stays flat: a note's body is written to a spooled temporary file (in memory up to
``SPOOL_BYTES``, on disk beyond) because its front matter, which comes first, carries the
message count and the last id; when the note is complete, front matter, body and navigation
are copied into place. Only one note is open at a time; the index note is streamed.

Channel comments (``tgx export --comments``): a post with archived comments is followed, in its
note, by ``💬 **Comments (N)**`` and each comment as a block quote (time, sender, reply and
forward quotes, text, media, reactions) with its own block id ``^c<comment id>`` on the line
after it, so a comment answering another links to it (``[[note#^c<id>|name]]``). Comments stream
from ``ctx.comments(post_id)`` into the note's spool: memory stays flat.

Forums: the notes above hold the whole forum; ``close()`` then writes one folder per topic,
``markdown/topics/<topic id>/`` — its own day (or month) notes and index note, the same layout
one level down, streamed from ``ctx.topic_messages`` — and ``markdown/topics/index.md`` linking
every topic. A reply within a topic links to the topic's note; any other, to the main notes.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any

from tgx.model import Message, Peer, Topic
from tgx.specs import RenderContext
from tgx.text import utc_stamp

from .describe import alias, describe_action, media_md, reactions_md
from .text import escape_inline, render_text, wrap_lines

VAULT_DIR = "markdown"
INDEX_NOTE = f"{VAULT_DIR}/index"
SPOOL_BYTES = 4 << 20
EXCERPT_CHARS = 80
TOPICS_DIR = f"{VAULT_DIR}/topics"
TOPICS_INDEX = f"{TOPICS_DIR}/index"
GENERAL_TOPIC = 1
RECENT_COMMENTS = 256  # per thread: replied-to comments whose sender and excerpt are remembered
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


def topic_of(msg: Message) -> int:
    """The forum topic a message is in: its ``topic_id``; General (1) when it has none, except a
    ``topic_created`` message, which opens its own topic (the archive's rule)."""
    if msg.topic_id is not None:
        return msg.topic_id
    if msg.action is not None and msg.action.type == "topic_created":
        return msg.id
    return GENERAL_TOPIC


def one_line(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A message text as a one-line excerpt (raw: escape it where it goes)."""
    excerpt = " ".join(text.split())
    return excerpt if len(excerpt) <= limit else excerpt[:limit].rstrip() + "…"


def edit_marks(msg: Message) -> list[str]:
    """``*edited*``, ``*deleted*`` (with the time tgx learned of it, when known) for a header."""
    marks = ["*edited*"] if msg.edit_date is not None else []
    if msg.deleted:
        marks.append(f"*deleted {utc_stamp(msg.deleted_at)} UTC*" if msg.deleted_at is not None else "*deleted*")
    return marks


def quoted(block: str) -> str:
    """``block`` as a block quote: every line, blank ones too, so nothing ends it early."""
    return "\n".join(f"> {line}" if line else ">" for line in block.split("\n"))


class _Thread:
    """One post's thread while it streams: its comment ids so far (ascending, 8 bytes each) and
    the last few comments' sender and excerpt, for reply quotes."""

    __slots__ = ("ids", "recent")

    def __init__(self) -> None:
        self.ids = array("q")
        self.recent: OrderedDict[int, tuple[str, str]] = OrderedDict()

    def has(self, comment_id: int) -> bool:
        i = bisect_left(self.ids, comment_id)
        return i < len(self.ids) and self.ids[i] == comment_id

    def add(self, comment_id: int, sender: str, excerpt: str) -> None:
        if not self.ids or self.ids[-1] < comment_id:
            self.ids.append(comment_id)
        self.recent[comment_id] = (sender, excerpt)
        if len(self.recent) > RECENT_COMMENTS:
            self.recent.popitem(last=False)


class MarkdownWriter:
    """One note per UTC day (``markdown-split=day``) or month (``month``), in year folders.

    The same class writes a forum topic's folder: ``folder`` is ``markdown/topics/<id>``,
    ``topic`` its ``(id, title)`` and ``count`` how many messages it will get.
    """

    def __init__(self, ctx: RenderContext, *, folder: str = VAULT_DIR, topic: tuple[int, str] | None = None,
                 count: int | None = None) -> None:
        self.ctx = ctx
        self.folder = folder
        self.index_note = f"{folder}/index"
        self.depth = folder.count("/") + 2  # folders from the chat folder down to a note
        self.topic = topic
        self._message_count = count  # from the context in open() when not given
        self._forum = bool(ctx.chat.forum) and topic is None  # the main notes of a forum
        self._topic_counts: dict[int, int] = {}
        self._refreshing = False  # reopen(): a refresh, only some notes and topic folders
        self._channel = ctx.chat.kind == "channel"
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
        # the paged refresh capability: [first index, first id, ids in other notes it quotes, period, count]
        self._parts: list[list[Any]] = []
        self._old: list[list[Any]] | None = None  # a refresh: the parts of the last render
        self._written = 0
        self._dirty: set[int] = set()  # a refresh: the first indices of the old parts written again

    # -- paths ------------------------------------------------------------------------------

    def period_of(self, date: datetime) -> str:
        return utc_stamp(date)[:10 if self.split == "day" else 7]

    def note_target(self, period: str, folder: str | None = None) -> str:
        """A note's vault path without ``.md``: what wikilinks name."""
        return f"{folder or self.folder}/{period[:4]}/{period}"

    def note_of(self, msg: Message) -> str:
        """The note that holds ``msg``: this topic's, when it is in it, else the main notes."""
        folder = self.folder if self.topic is None or topic_of(msg) == self.topic[0] else VAULT_DIR
        return self.note_target(self.period_of(msg.date), folder)

    def _open_text(self, relpath: str) -> IO[str]:
        raw = self.ctx.open(relpath, "wb")
        return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="\n")

    # -- FormatWriter -----------------------------------------------------------------------

    def open(self) -> None:
        self._index = self._open_text(f"{self.index_note}.md")
        if self._message_count is None:
            self._message_count = self.ctx.message_count
        chat = self.chat
        topic = ""
        heading = escape_inline(self.title)
        if self.topic is not None:
            topic = f"topic: {yaml_str(self.topic[1])}\ntopic_id: {self.topic[0]}\n"
            heading += " · " + escape_inline(self.topic[1])
        self._index.write(
            "---\n"
            f"chat: {yaml_str(self.title)}\n"
            f"chat_id: {chat.id}\n"
            f"username: {yaml_value(chat.username)}\n"
            f"{topic}"
            f"message_count: {self._message_count}\n"
            f"split: {self.split}\n"
            "---\n\n"
            f"# {heading}\n"
        )
        if self._forum:
            self._index.write(f"\n[[{TOPICS_INDEX}|Topics]]: one folder of notes per topic\n")
        elif self.topic is not None:
            self._index.write(f"\n[[{TOPICS_INDEX}|Topics]] · [[{INDEX_NOTE}|the whole chat]]\n")

    def write(self, messages: Sequence[Message]) -> None:
        for msg in messages:
            period = self.period_of(msg.date)
            if period != self._period:
                self._finish_note(next_period=period)
                self._start_note(period)
                self._parts.append([self._written, msg.id, [], period, 0])
            self._add(msg)
            self._written += 1
            if self._forum:
                key = topic_of(msg)
                self._topic_counts[key] = self._topic_counts.get(key, 0) + 1
            if self._channel:
                n = self.ctx.comment_count(msg.id)
                if n:
                    self._add_comments(msg, n)

    def close(self) -> None:
        self._finish_note(next_period=None)
        if self._old is not None and self._index is not None:  # a refresh: the index from every note
            kept = [p for p in self._old if p[0] not in self._dirty]  # as the engine merges them
            for part in sorted(kept + self._parts, key=lambda p: p[0]):
                self._write_index_entry(part[3], part[4])
        if self._index is not None:
            if self._period is None and self._prev_period is None:
                self._index.write("\nNo messages.\n")
            self._index.close()
            self._index = None
        if self._forum:
            self._write_topics()

    # -- the paged refresh capability (docs/plugins.md) -----------------------------------------
    def parts(self) -> list[list[Any]]:
        """One part per note: its first index and id, the ids in other notes its replies quote,
        its period and message count (what the index note lists)."""
        return self._parts

    def reopen(self, parts: list[list[Any]], dirty: list[int]) -> bool:
        """Instead of open(): only the notes ``dirty`` and the index note are written again (the
        index from every part: O(notes)); in a forum also the topics index and the folders of
        ``ctx.changed_topics`` (each in full)."""
        if self.ctx.chat.forum and getattr(self.ctx, "changed_topics", None) is None:
            return False
        self._refreshing = True
        self._old = [list(p) for p in parts]
        self._dirty = {self._old[k][0] for k in dirty}
        self.open()
        return True

    def seek(self, index: int) -> None:
        """The next message written is the chat's ``index``-th, the first of an old note."""
        assert self._old is not None
        by_index = {p[0]: k for k, p in enumerate(self._old)}
        after = by_index.get(self._written)
        self._finish_note(next_period=self._old[after][3] if self._period is not None and after is not None
                          else None)
        k = by_index[index]
        self._prev_period = self._old[k - 1][3] if k > 0 else None
        self._period = None
        self._written = index

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
                f"{self._topic_front_matter()}"
                "---\n\n"
                f"# {escape_inline(self.title)}{self._topic_heading()} · {period}\n\n"
            )
            body.seek(0)
            shutil.copyfileobj(body, out)
            nav = []
            if self._prev_period:
                nav.append(f"← [[{self.note_target(self._prev_period)}|{self._prev_period}]]")
            nav.append(f"[[{self.index_note}|Index]]")
            if next_period:
                nav.append(f"[[{self.note_target(next_period)}|{next_period}]] →")
            out.write("---\n\n" + " · ".join(nav) + "\n")
        finally:
            body.close()
            out.close()
        if self._parts:
            self._parts[-1][4] = self._count
        if self._old is None:  # a refresh writes the index note from every part in close()
            self._write_index_entry(period, self._count)
        self._prev_period = period

    def _topic_front_matter(self) -> str:
        if self.topic is None:
            return ""
        return f"topic: {yaml_str(self.topic[1])}\ntopic_id: {self.topic[0]}\n"

    def _topic_heading(self) -> str:
        return "" if self.topic is None else " · " + escape_inline(self.topic[1])

    def _write_index_entry(self, period: str, count: int) -> None:
        assert self._index is not None
        year = period[:4]
        if year != self._index_year:
            self._index.write(f"\n## {year}\n\n")
            self._index_year = year
        noun = "message" if count == 1 else "messages"
        self._index.write(f"- [[{self.note_target(period)}|{period}]] · {count} {noun}\n")

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
        return f"[[{self.note_of(target)}#^m{msg_id}|{alias(label)}]]"

    def _reply_line(self, msg: Message) -> str:
        reply_id = msg.reply_to_id
        assert reply_id is not None
        if msg.reply_to_peer_id is not None and msg.reply_to_peer_id != msg.chat_id:
            return f"> ↩ Reply to message {reply_id} in another chat"
        target = self.ctx.message(reply_id)
        if target is None:
            return f"> ↩ Reply to message {reply_id} (not in the archive)"
        name = self.sender_name(target)
        note = self.note_of(target)
        if self._parts and note != self.note_target(self._parts[-1][3]):
            self._parts[-1][2].append(reply_id)  # its quote changes when that message does
        link = f"[[{note}#^m{reply_id}|{alias(name)}]]"
        excerpt = one_line(target.text)
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
        parts.extend(edit_marks(msg))
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
        self._content(msg, chunks)
        self._body.write("\n\n".join(chunks) + "\n\n")
        self._count += 1
        if self._first_id is None:
            self._first_id = msg.id
        self._last_id = msg.id

    def _content(self, msg: Message, chunks: list[str]) -> None:
        """A message's (or comment's) text, media and reactions, each a block of ``chunks``."""
        if msg.text:
            body = render_text(msg.text, msg.entities)
            if body.strip():
                chunks.append(body)
        if msg.media is not None:
            chunks.append(media_md(msg.media, depth=self.depth))
        if msg.reactions:
            chunks.append(reactions_md(msg.reactions))
        if msg.history:
            chunks.append(self._versions(msg))

    def _versions(self, msg: Message) -> str:
        """Earlier versions, oldest first, in a folded callout: each its time, text and media,
        escaped as message text is and quoted line by line, so no version can end the callout."""
        blocks = []
        for version in msg.history:
            made = version.edit_date if version.edit_date is not None else msg.date
            label = "Original" if version.edit_date is None else "Edited"
            parts = [f"**{label}** · {utc_stamp(made)} UTC"]
            body = render_text(version.text, version.entities) if version.text else ""
            if body.strip():
                parts.append(body)
            if version.media is not None:
                parts.append(media_md(version.media, depth=self.depth))
            if len(parts) == 1:
                parts.append("*no text*")
            blocks.append("\n\n".join(parts))
        return quoted(f"[!note]- Earlier versions ({len(msg.history)})\n" + "\n\n".join(blocks))

    # -- a post's comments ------------------------------------------------------------------

    def _add_comments(self, post: Message, count: int) -> None:
        """The post's comments under it, each a block quote with a block id after it."""
        assert self._body is not None
        self._body.write(f"💬 **Comments ({count})**\n\n")
        note = self.note_target(self.period_of(post.date))
        thread = _Thread()
        for comment in self.ctx.comments(post.id):
            name = self._comment_sender(comment)
            chunks = [self._comment_header(comment, name)]
            quote = []
            if comment.forward is not None:
                quote.append(self._forward_line(comment))
            reply = self._comment_reply(comment, thread, note)
            if reply:
                quote.append(reply)
            if quote:
                chunks.append("\n>\n".join(quote))
            if comment.action is None:
                self._content(comment, chunks)
            self._body.write(quoted("\n\n".join(chunks)) + f"\n\n^c{comment.id}\n\n")
            excerpt = one_line(comment.text) or (f"({comment.media.kind})" if comment.media is not None else "")
            thread.add(comment.id, name, excerpt)

    def _comment_sender(self, comment: Message) -> str:
        if comment.sender_id is not None:
            return self.name_of(comment.sender_id)
        group = self.ctx.peer(comment.chat_id)  # an anonymous admin of the discussion group
        return comment.post_author or (group.title if group is not None and group.title else "Discussion group")

    def _comment_header(self, comment: Message, name: str) -> str:
        parts = [f"**{utc_stamp(comment.date)}**"]
        if comment.action is not None:
            words = describe_action(comment.action, name, comment.sender_id, self.name_of) or comment.action.type
            parts.append(wrap_lines("italic", escape_inline(words), " ", None))
        else:
            parts.append(escape_inline(name))
        if comment.via_bot_id is not None:
            parts.append("via " + escape_inline(self.name_of(comment.via_bot_id)))
        parts.extend(edit_marks(comment))
        return " · ".join(parts)

    @staticmethod
    def _comment_reply(comment: Message, thread: _Thread, note: str) -> str | None:
        """A comment answering another links to it; one answering the post needs no quote."""
        rid = comment.reply_to_id
        if rid is None:
            return None
        if comment.reply_to_peer_id is not None and comment.reply_to_peer_id != comment.chat_id:
            return f"> ↩ Reply to message {rid} in another chat"
        if thread.has(rid):
            name, excerpt = thread.recent.get(rid, ("a comment", ""))
            link = f"[[{note}#^c{rid}|{alias(name)}]]"
            return f"> ↩ Reply to {link}" + (f": {escape_inline(excerpt)}" if excerpt else "")
        if comment.reply_to_top_id is not None and rid != comment.reply_to_top_id:
            return f"> ↩ Reply to comment {rid} (not in the archive)"
        return None

    # -- a forum's topics -------------------------------------------------------------------

    def _topic_name(self, topic_id: int, topic: Topic | None) -> str:
        if topic is not None and topic.title.strip():
            return " ".join(topic.title.split())
        if topic_id == GENERAL_TOPIC:
            return "General"
        return self._topic_title(topic_id)  # never listed: its topic_created message's title

    def _write_topics(self) -> None:
        """A folder of notes per topic with messages, and ``markdown/topics/index.md``."""
        listed = {t.id: t for t in self.ctx.topics()}
        counts = self.ctx.topic_counts() if self._refreshing else self._topic_counts
        redo = self.ctx.changed_topics if self._refreshing else None
        ids = sorted(set(listed) | set(counts))
        index = self._open_text(f"{TOPICS_INDEX}.md")
        try:
            index.write(
                "---\n"
                f"chat: {yaml_str(self.title)}\n"
                f"chat_id: {self.chat.id}\n"
                f"username: {yaml_value(self.chat.username)}\n"
                f"topic_count: {len(ids)}\n"
                "---\n\n"
                f"# {escape_inline(self.title)} · Topics\n\n"
                f"[[{INDEX_NOTE}|The whole chat]]\n\n"
            )
            if not ids:
                index.write("No topics.\n")
            for topic_id in ids:
                topic = listed.get(topic_id)
                title = self._topic_name(topic_id, topic)
                count = counts.get(topic_id, 0)
                if count:
                    if redo is None or topic_id in redo:
                        self._write_topic(topic_id, title, count)
                    entry = f"[[{TOPICS_DIR}/{int(topic_id)}/index|{alias(title)}]]"
                else:
                    entry = escape_inline(title) or "…"
                marks = []
                if topic is not None:
                    marks += ["📌 pinned"] * topic.pinned + ["🔒 closed"] * topic.closed + ["hidden"] * topic.hidden
                noun = "message" if count == 1 else "messages"
                index.write(" · ".join([f"- {entry}", *marks, f"{count} {noun}"]) + "\n")
        finally:
            index.close()

    def _write_topic(self, topic_id: int, title: str, count: int) -> None:
        notes = MarkdownWriter(self.ctx, folder=f"{TOPICS_DIR}/{int(topic_id)}", topic=(topic_id, title),
                               count=count)
        notes.open()
        batch: list[Message] = []
        for msg in self.ctx.topic_messages(topic_id):
            batch.append(msg)
            if len(batch) >= 1000:
                notes.write(batch)
                batch = []
        if batch:
            notes.write(batch)
        notes.close()
