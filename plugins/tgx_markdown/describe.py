"""Everything in a note that is not message text: media, polls, reactions, service actions.

Functions here return Markdown that is already escaped; names and titles come in raw.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from tgx.model import Action, Media, Reaction
from tgx.text import human_size, reaction_label

from .text import escape_inline, escape_plain, safe_url

# Obsidian embeds these inline (images, audio, video, PDF); other files get a plain link.
EMBEDDABLE = frozenset({
    "png", "jpg", "jpeg", "gif", "bmp", "svg", "webp", "avif", "mp3", "webm", "wav", "m4a", "ogg",
    "oga", "opus", "3gp", "flac", "mp4", "ogv", "mov", "mkv", "pdf",
})
_WIKILINK_UNSAFE = re.compile(r"[\[\]|#^\n\r\\]")
_ALIAS_TABLE = str.maketrans({"[": "(", "]": ")", "|": "/", "\n": " ", "\r": " ", "\\": "/"})
MAX_NAMES = 20  # members listed in one service message before "and N more"


def alias(text: str) -> str:
    """Text after ``|`` in a wikilink: brackets and pipes would end the link."""
    return text.translate(_ALIAS_TABLE).strip() or "…"


def file_link(path: str, label: str, depth: int, embed: bool) -> str:
    """A link to a file under the chat folder (the vault root), from a note ``depth`` folders deep.

    A wikilink when the path can be one (Obsidian resolves ``media/...`` from the vault root);
    otherwise a Markdown link with a percent-encoded path relative to the note.
    """
    bang = "!" if embed else ""
    if not _WIKILINK_UNSAFE.search(path) and not path.startswith("/"):
        return f"{bang}[[{path}]]" if embed else f"[[{path}|{alias(label)}]]"
    rel = "../" * depth + quote(path, safe="/-._~")
    return f"{bang}[{escape_inline(label)}]({rel})"


def media_md(media: Media, depth: int) -> str:
    """The media of one message as Markdown lines (embed, link or a description)."""
    kind = media.kind
    if media.is_file:
        label = media.file_name or kind
        size = human_size(media.size)
        about = ", ".join(x for x in (kind, media.file_name, size) if x)
        if media.path:
            ext = media.path.rsplit(".", 1)[-1].lower() if "." in media.path else ""
            link = file_link(media.path, label, depth, embed=ext in EMBEDDABLE)
            if kind in ("photo", "sticker", "animation", "video", "round"):
                return link
            return f"{link}\n📎 {escape_inline(about)}"
        return f"📎 {escape_inline(about)} (not downloaded)"
    extra = media.extra or {}
    if kind == "poll":
        lines = [f"📊 Poll: {escape_inline(str(extra.get('question') or ''))}", ""]
        for answer in extra.get("answers") or ():
            text = str(answer.get("text", "")) if isinstance(answer, dict) else str(answer)
            voters = answer.get("voters") if isinstance(answer, dict) else None
            item, _ = escape_plain(" ".join(text.split()))
            lines.append(f"- {item}" + (f" — {voters}" if voters is not None else ""))
        total = extra.get("total_voters")
        if total is not None:
            lines += ["", f"{total} votes" + (" (closed)" if extra.get("closed") else "")]
        return "\n".join(lines)
    if kind in ("geo", "venue"):
        lat, lon = extra.get("latitude"), extra.get("longitude")
        where = escape_inline(", ".join(str(x) for x in (extra.get("title"), extra.get("address")) if x))
        if lat is None or lon is None:
            return f"📍 {where or 'location'}"
        url = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=16/{lat}/{lon}"
        return f"📍 {where + ' ' if where else ''}[{lat}, {lon}]({url})"
    if kind == "contact":
        name = " ".join(str(x) for x in (extra.get("first_name"), extra.get("last_name")) if x)
        return "👤 " + escape_inline(", ".join(x for x in (name, str(extra.get("phone_number") or "")) if x))
    if kind == "webpage":
        target = safe_url(extra.get("url"))
        label = escape_inline(str(extra.get("title") or extra.get("url") or "link"))
        return f"🔗 [{label}]({target})" if target else f"🔗 {label}"
    if kind == "dice":
        emoticon = extra.get("emoticon") or media.emoji or "🎲"
        return escape_inline(f"{emoticon} {extra.get('value', '')}".strip())
    named = media.title or extra.get("title")
    return escape_inline(f"({kind}{': ' + str(named) if named else ''})")


def reactions_md(reactions: Sequence[Reaction]) -> str:
    return escape_inline(" · ".join(f"{reaction_label(r)} {r.count}" for r in reactions))


def describe_action(action: Action, actor: str, actor_id: int | None, name_of: Callable[[Any], str]) -> str:
    """A service message in words (plain text, not escaped)."""
    data = action.data
    title = data.get("title")
    alone = list(data.get("members") or ()) == [actor_id]  # someone adding or removing themself

    def names(key: str = "members") -> str:
        ids = list(data.get(key) or ())
        shown = [name_of(x) for x in ids[:MAX_NAMES]]
        more = f" and {len(ids) - MAX_NAMES} more" if len(ids) > MAX_NAMES else ""
        return ", ".join(shown) + more

    kind = action.type
    if kind == "create_group":
        return f"{actor} created the group «{title}»"
    if kind == "create_channel":
        return f"{actor} created the channel «{title}»"
    if kind == "invite_members":
        return f"{actor} joined" if alone else f"{actor} added {names()}"
    if kind == "remove_members":
        return f"{actor} left" if alone else f"{actor} removed {names()}"
    if kind == "join_group_by_link":
        return f"{actor} joined via an invite link"
    if kind == "join_group_by_request":
        return f"{actor} was accepted into the group"
    if kind == "pin_message":
        return f"{actor} pinned a message"
    if kind == "edit_group_title":
        return f"{actor} changed the title to «{title}»"
    if kind == "edit_group_photo":
        return f"{actor} changed the group photo"
    if kind == "delete_group_photo":
        return f"{actor} removed the group photo"
    if kind == "migrate_to_supergroup":
        return f"{actor} converted this group to a supergroup"
    if kind == "migrate_from_group":
        return f"{actor} created this supergroup from the group «{title}»"
    if kind == "topic_created":
        return f"{actor} created the topic «{title}»"
    if kind == "topic_edit":
        return f"{actor} edited the topic" + (f" «{title}»" if title else "")
    if kind == "phone_call":
        duration = data.get("duration")
        return f"{actor} called" + (f" ({duration} s)" if duration else "")
    if kind == "group_call":
        return f"{actor} started a video chat"
    if kind == "clear_history":
        return "History was cleared"
    if kind == "custom_action":
        return str(data.get("text") or "")
    if kind == "joined_telegram":
        return f"{actor} joined Telegram"
    return f"{actor}: {kind.replace('_', ' ')}"
