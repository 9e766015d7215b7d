"""``<chat>/messages.txt``: a transcript that reads like the chat and greps well.

Layout: the first line is the chat; ``--- YYYY-MM-DD ---`` starts each UTC day; a message
starts with ``[YYYY-MM-DD HH:MM:SS UTC]`` at the beginning of a line, and every further line
of it starts with four spaces: first the rest of its text (CR/CRLF become LF, nothing else is
changed), then bracketed annotations (media, poll options, reactions, edit time, deletion);
an edited message's earlier versions are ``was (time): text`` lines after its edit time.
Reply and forward notes come in brackets before the text on the first line. For reading and
grepping; the machine-readable formats are jsonl, csv and sqlite.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import IO, Any

from tgx.model import Action, Media, Message, Version
from tgx.specs import RenderContext
from tgx.text import human_size, reaction_label, sender_name, utc_stamp

FILE_NAME = "messages.txt"
INDENT = "    "
EXCERPT_CHARS = 60
MAX_NAMES = 20


def one_line(text: str) -> str:
    return " ".join(text.split())


def text_lines(text: str) -> list[str]:
    """A text's lines, CR and CRLF read as LF (nothing else is changed)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n") if text else []


def was_lines(version: Version, msg: Message) -> list[str]:
    """An earlier version: ``was (when it was made): first line``, further lines four spaces
    deeper, so a version's text can never look like a message or a note of its own."""
    made = version.edit_date if version.edit_date is not None else msg.date
    lines = text_lines(version.text)
    first = lines.pop(0) if lines else ""
    if version.media is not None:
        first = " ".join(x for x in (describe_media(version.media)[0], first) if x)
    return [f"was ({utc_stamp(made)} UTC): {first}".rstrip(), *(INDENT + line for line in lines)]


def describe_media(media: Media) -> list[str]:
    """Bracketed annotation lines for a message's media."""
    kind = media.kind
    if media.is_file:
        about = kind
        if media.file_name:
            about += f' "{one_line(media.file_name)}"'
        if media.size is not None:
            about += f", {human_size(media.size)}"
        return [f"[{about}: {media.path}]" if media.path else f"[{about}, not downloaded]"]
    extra = media.extra or {}
    if kind == "poll":
        lines = [f"[poll: {one_line(str(extra.get('question') or ''))}]"]
        for answer in extra.get("answers") or ():
            text = str(answer.get("text", "")) if isinstance(answer, dict) else str(answer)
            voters = answer.get("voters") if isinstance(answer, dict) else None
            lines.append(f"[- {one_line(text)}" + (f": {voters}]" if voters is not None else "]"))
        return lines
    if kind in ("geo", "venue"):
        where = ", ".join(one_line(str(x)) for x in (extra.get("title"), extra.get("address")) if x)
        lat, lon = extra.get("latitude"), extra.get("longitude")
        at = f"{lat}, {lon}" if lat is not None and lon is not None else ""
        return [f"[{'venue' if kind == 'venue' else 'location'}: {', '.join(x for x in (where, at) if x)}]"]
    if kind == "contact":
        name = " ".join(str(x) for x in (extra.get("first_name"), extra.get("last_name")) if x)
        parts = (name, str(extra.get("phone_number") or ""))
        return [f"[contact: {one_line(', '.join(x for x in parts if x))}]"]
    if kind == "webpage":
        title = one_line(str(extra.get("title") or ""))
        url = one_line(str(extra.get("url") or ""))
        return [f"[link preview: {' '.join(x for x in (title, f'<{url}>' if url else '') if x)}]"]
    if kind == "dice":
        return [f"[dice {extra.get('emoticon') or media.emoji or ''} {extra.get('value', '')}]"]
    named = media.title or extra.get("title")
    return [f"[{kind}{': ' + one_line(str(named)) if named else ''}]"]


def describe_action(action: Action, actor: str, actor_id: int | None, name_of: Callable[[Any], str]) -> str:
    """A service message in words."""
    data = action.data
    title = data.get("title")
    alone = list(data.get("members") or ()) == [actor_id]

    def names() -> str:
        ids = list(data.get("members") or ())
        shown = ", ".join(name_of(x) for x in ids[:MAX_NAMES])
        return shown + (f" and {len(ids) - MAX_NAMES} more" if len(ids) > MAX_NAMES else "")

    words = {
        "create_group": f"created the group «{title}»",
        "create_channel": f"created the channel «{title}»",
        "join_group_by_link": "joined via an invite link",
        "join_group_by_request": "was accepted into the group",
        "edit_group_title": f"changed the title to «{title}»",
        "edit_group_photo": "changed the group photo",
        "delete_group_photo": "removed the group photo",
        "migrate_to_supergroup": "converted this group to a supergroup",
        "migrate_from_group": f"created this supergroup from the group «{title}»",
        "topic_created": f"created the topic «{title}»",
        "group_call": "started a video chat",
        "joined_telegram": "joined Telegram",
    }
    kind = action.type
    if kind in words:
        return f"{actor} {words[kind]}"
    if kind == "invite_members":
        return f"{actor} joined" if alone else f"{actor} added {names()}"
    if kind == "remove_members":
        return f"{actor} left" if alone else f"{actor} removed {names()}"
    if kind == "pin_message":
        return f"{actor} pinned a message" + (f" (#{data['message_id']})" if data.get("message_id") else "")
    if kind == "topic_edit":
        return f"{actor} edited the topic" + (f" «{title}»" if title else "")
    if kind == "phone_call":
        return f"{actor} called" + (f" ({data['duration']} s)" if data.get("duration") else "")
    if kind == "clear_history":
        return "History was cleared"
    if kind == "custom_action":
        return str(data.get("text") or "")
    return f"{actor}: {kind.replace('_', ' ')}"


class TxtWriter:
    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self.chat = ctx.chat
        self.title = one_line(self.chat.title) or self.chat.folder_name
        self._out: IO[str] | None = None
        self._day: str | None = None

    def _header(self) -> str:
        chat = self.chat
        handle = f" (@{chat.username})" if chat.username else ""
        count = self.ctx.message_count
        return f"{self.title}{handle}, id {chat.id}, {count} message{'' if count == 1 else 's'}\n"

    def open(self) -> None:
        self._out = io.TextIOWrapper(self.ctx.open(FILE_NAME, "wb"), encoding="utf-8", errors="replace",
                                     newline="\n")
        self._out.write(self._header())

    def checkpoint(self) -> dict[str, Any]:
        """Refresh capability: the day of the last message (the next one may open a new day) and
        the header's length (it counts the messages: rewritten in place on resume)."""
        if self._out is not None:
            self._out.flush()
        return {"day": self._day, "header": len(self._header().encode("utf-8", "replace"))}

    def resume(self, state: Any) -> bool:
        """Continue messages.txt where a checkpoint left it; the header is rewritten in place when
        its length is unchanged, else False (the engine renders the file in full)."""
        if not isinstance(state, dict):
            return False
        header = self._header().encode("utf-8", "replace")
        if len(header) != state.get("header"):
            return False
        raw = self.ctx.open(FILE_NAME, "wb")  # positioned at the checkpoint
        end = raw.tell()
        raw.seek(0)
        raw.write(header)
        raw.seek(end)
        self._day = state.get("day")
        self._out = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="\n")
        return True

    def write(self, messages: Sequence[Message]) -> None:
        out = self._out
        assert out is not None
        write = out.write
        for msg in messages:
            when = utc_stamp(msg.date)
            day = when[:10]
            if day != self._day:
                write(f"\n--- {day} ---\n")
                self._day = day
            write(self.format_message(msg, when))

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def abort(self) -> None:
        self.close()

    # -- one message ------------------------------------------------------------------------

    def name_of(self, peer_id: Any) -> str:
        if not isinstance(peer_id, int):
            return str(peer_id)
        peer = self.ctx.peer(peer_id)
        if peer is None:
            return str(peer_id)
        return one_line(peer.title) or (f"@{peer.username}" if peer.username else str(peer_id))

    def sender_name(self, msg: Message) -> str:
        return one_line(sender_name(msg, self.ctx.chat, self.ctx.peer)) or self.title

    def _reply(self, msg: Message) -> str:
        reply_id = msg.reply_to_id
        if msg.reply_to_peer_id is not None and msg.reply_to_peer_id != msg.chat_id:
            return f"[reply to message #{reply_id} in another chat]"
        target = self.ctx.message(reply_id) if reply_id is not None else None
        if target is None:
            return f"[reply to message #{reply_id}]"
        excerpt = one_line(target.text)
        if len(excerpt) > EXCERPT_CHARS:
            excerpt = excerpt[:EXCERPT_CHARS].rstrip() + "…"
        if not excerpt and target.media is not None:
            excerpt = f"({target.media.kind})"
        return f"[reply to {self.sender_name(target)}" + (f': "{excerpt}"]' if excerpt else "]")

    def _forward(self, msg: Message) -> str:
        fwd = msg.forward
        assert fwd is not None
        if fwd.from_id is not None:
            name = self.name_of(fwd.from_id)
        else:
            name = one_line(fwd.from_name or fwd.post_author or "") or "a hidden user"
        when = f", {utc_stamp(fwd.date)} UTC" if fwd.date is not None else ""
        return f"[forwarded from {name}{when}]"

    def format_message(self, msg: Message, when: str) -> str:
        head_stamp = f"[{when} UTC]"
        if msg.action is not None:
            words = describe_action(msg.action, self.sender_name(msg), msg.sender_id, self.name_of)
            head = f"{head_stamp} * {one_line(words)}"
            lines: list[str] = []
        else:
            prefix = []
            if msg.forward is not None:
                prefix.append(self._forward(msg))
            if msg.reply_to_id is not None:
                prefix.append(self._reply(msg))
            lines = text_lines(msg.text)
            first = lines.pop(0) if lines else ""
            head = f"{head_stamp} {self.sender_name(msg)}:" + "".join(" " + p for p in prefix)
            if first:
                head += " " + first
        if msg.media is not None:
            lines.extend(describe_media(msg.media))
        if msg.reactions:
            counts = ", ".join(f"{reaction_label(r)} {r.count}" for r in msg.reactions)
            lines.append(f"[reactions: {counts}]")
        if msg.edit_date is not None:
            lines.append(f"[edited {utc_stamp(msg.edit_date)} UTC]")
        for version in msg.history:
            lines.extend(was_lines(version, msg))
        if msg.deleted:
            lines.append(f"[deleted {utc_stamp(msg.deleted_at)} UTC]" if msg.deleted_at is not None else "[deleted]")
        if not lines:
            return head + "\n"
        return head + "\n" + "".join(f"{INDENT}{line}\n" for line in lines)
