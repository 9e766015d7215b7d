"""What the templates show, computed from a message: names, times, media, service text.

The templates only lay things out; every decision (which link is safe, what a service action
says, what a file size reads as) is made here, in plain Python that tests can reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup
from tgx.model import Media, Message, Peer, bare_id
from tgx.text import human_size, safe_href, utc_stamp

from .entities import render_text
from .safety import clean_text, media_href

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
USERPIC_COLOURS = 7  # Telegram's palette size; the CSS defines .userpic1 ... .userpic7

KIND_LABELS = {
    "photo": "Photo", "video": "Video", "voice": "Voice message", "audio": "Audio", "document": "File",
    "sticker": "Sticker", "animation": "GIF", "round": "Video message", "poll": "Poll",
    "geo": "Location", "venue": "Venue", "contact": "Contact", "webpage": "Link preview", "dice": "Dice",
    "game": "Game", "invoice": "Invoice", "story": "Story", "unsupported": "Unsupported message",
}
CHAT_KIND_LABELS = {"user": "Private chat", "bot": "Bot", "self": "Saved messages", "channel": "Channel",
                    "supergroup": "Group", "group": "Group"}


def initials(name: str) -> str:
    words = name.split()
    if not words:
        return "?"
    first = words[0][0]
    last = words[-1][0] if len(words) > 1 else ""
    return (first + last).upper()


def colour(peer_id: int) -> int:
    """A userpic colour class index, stable for a peer across pages and exports."""
    return bare_id(peer_id) % USERPIC_COLOURS + 1


def day_label(value: datetime) -> str:
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def full_time(value: datetime) -> str:
    """``2024-03-01 09:30:00 UTC``."""
    return utc_stamp(value) + " UTC"


def human_duration(seconds: float | None) -> str:
    if not seconds:
        return ""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def excerpt(msg: Message | None, limit: int = 90) -> str:
    """One line that recognisably quotes a message: its text, else what its media is."""
    if msg is None:
        return ""
    text = " ".join(clean_text(msg.text).split())
    if text:
        return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"
    if msg.media is not None:
        return media_label(msg.media)
    if msg.action is not None:
        return "Service message"
    return "Message"


def media_label(media: Media) -> str:
    """A few words for a media item: a reply's excerpt, or an earlier version's media."""
    label = KIND_LABELS.get(media.kind, "Media")
    if media.kind == "sticker" and media.emoji:
        return f"{media.emoji} {label}"
    if media.kind == "poll" and media.extra:
        return f"{label}: {media.extra.get('question') or ''}"
    if media.kind == "document" and media.file_name:
        return media.file_name
    return label


@dataclass(slots=True)
class MediaView:
    kind: str
    label: str
    href: str | None = None  # None: not downloaded (or an unsafe path)
    poster: str | None = None
    name: str = ""
    size: str = ""
    duration: str = ""
    mime: str = ""
    width: int | None = None
    height: int | None = None
    spoiler: bool = False
    emoji: str = ""
    performer: str = ""
    title: str = ""
    as_image: bool = False  # a sticker/animation that an <img> can show
    as_video: bool = False  # a sticker that is a webm video
    extra: dict[str, Any] = field(default_factory=dict)


def _under(root: str, href: str | None) -> str | None:
    return root + href if href is not None and root else href


def media_view(media: Media, root: str = "") -> MediaView:
    """What the templates show of a file or poll. ``root`` leads from the page's folder to the
    chat folder (``"../../"`` for a forum topic's pages): media paths are chat-relative."""
    kind = media.kind
    mime = media.mime_type or ""
    view = MediaView(
        kind=kind, label=KIND_LABELS.get(kind, "Media"), href=_under(root, media_href(media.path)),
        poster=_under(root, media_href(media.thumbnail_path)), name=media.file_name or "",
        size=human_size(media.size) if media.size else "",  # no "0 B": an unknown size shows nothing
        duration=human_duration(media.duration), mime=mime, width=media.width or None,
        height=media.height or None, spoiler=media.spoiler, emoji=media.emoji or "",
        performer=media.performer or "", title=media.title or "", extra=dict(media.extra or {}),
    )
    if kind == "sticker":
        view.as_video = mime == "video/webm"
        view.as_image = not view.as_video and mime != "application/x-tgsticker"
    elif kind == "animation":
        view.as_image = mime == "image/gif"
    if view.width is None or view.height is None:
        view.width = view.height = None
    if kind == "webpage":
        view.extra["href"] = safe_href(view.extra.get("url"))
    elif kind == "poll":
        answers = view.extra.get("answers") or []
        votes = [int(a.get("voters") or 0) for a in answers]
        total = sum(votes)
        view.extra["rows"] = [
            {"text": a.get("text") or "", "voters": n, "chosen": bool(a.get("chosen")),
             "percent": round(100 * n / total) if total else 0}
            for a, n in zip(answers, votes, strict=True)]
    return view


@dataclass(slots=True)
class ReplyView:
    href: str | None
    sender: str
    excerpt: str
    note: str = ""  # why there is no link


@dataclass(slots=True)
class ReactionView:
    label: str
    count: int
    chosen: bool
    title: str


@dataclass(slots=True)
class VersionView:
    """One earlier version of an edited message, in its ``<details class="versions">``."""

    label: str  # "Original" or "Edited"
    full_time: str  # when this version was made: the message's date for the original
    iso: str
    text_html: Markup  # escaped and rendered exactly as a message's text
    media: str = ""  # a short label of the version's media


def version_views(msg: Message) -> list[VersionView]:
    """The message's earlier versions, oldest first (empty without history)."""
    views = []
    for version in msg.history:
        made = version.edit_date if version.edit_date is not None else msg.date
        when = full_time(made)
        views.append(VersionView(
            "Original" if version.edit_date is None else "Edited", when, f"{when[:10]}T{when[11:19]}Z",
            render_text(version.text, version.entities),
            clean_text(media_label(version.media)) if version.media is not None else ""))
    return views


@dataclass(slots=True)
class MessageView:
    id: int
    prefix: str = "message"  # the anchor is prefix + id: "message12", or "c345" for a comment
    mode: str = "single"  # single | album_first | album_item
    service: bool = False
    service_html: Markup = Markup("")
    separator: str = ""  # the day, when this message starts one
    joined: bool = False
    sender: str = ""
    initials: str = ""
    colour: int = 1
    time: str = ""
    iso: str = ""
    full_time: str = ""
    edited: str = ""  # full time of the last edit
    forwarded: str = ""
    forwarded_time: str = ""
    saved_from: str = ""
    via_bot: str = ""
    author: str = ""
    reply: ReplyView | None = None
    media: MediaView | None = None
    text_html: Markup = Markup("")
    reactions: list[ReactionView] = field(default_factory=list)
    views: int | None = None
    forwards: int | None = None
    deleted: bool = False
    deleted_at: str = ""  # full time tgx learned of the deletion, when it knows
    versions: list[VersionView] = field(default_factory=list)  # earlier versions, oldest first
    comment: bool = False  # one of a channel post's comments (in its thread, under the post)


def reaction_view(reaction: Any) -> ReactionView:
    if reaction.type == "emoji":
        label, title = reaction.emoji or "?", reaction.emoji or ""
    elif reaction.type == "custom_emoji":
        label, title = "\u2726", f"custom emoji {reaction.document_id}"
    elif reaction.type == "paid":
        label, title = "\u2b50", "paid reaction"
    else:
        label, title = "?", reaction.type
    return ReactionView(label, reaction.count, reaction.chosen, title)


# ---------------------------------------------------------------------------------------------
# service messages


def _quoted(value: Any) -> Markup:
    return Markup("\u00ab{}\u00bb").format(value)


def service_html(msg: Message, actor: str, name_of: Any, link_to: Any) -> Markup:
    """What a service message says, e.g. "Alice pinned <a>this message</a>".

    ``name_of(peer_id)`` gives a display name, ``link_to(message_id)`` a href or None.
    """
    action = msg.action
    assert action is not None
    data = action.data
    who = Markup('<span class="actor">{}</span>').format(actor)
    kind = action.type
    title = data.get("title") or ""

    def people(key: str = "members") -> Markup:
        names = [name_of(v) if isinstance(v, int) else str(v) for v in data.get(key) or ()]
        return Markup(", ").join(Markup('<span class="actor">{}</span>').format(n) for n in names)

    if kind == "create_group":
        return Markup("{} created the group {}").format(who, _quoted(title))
    if kind == "create_channel":
        return Markup("{} created the channel {}").format(who, _quoted(title))
    if kind == "edit_group_title":
        return Markup("{} changed the title to {}").format(who, _quoted(title))
    if kind == "edit_group_photo":
        return Markup("{} changed the group photo").format(who)
    if kind == "delete_group_photo":
        return Markup("{} removed the group photo").format(who)
    if kind == "invite_members":
        return Markup("{} invited {}").format(who, people())
    if kind == "remove_members":
        return Markup("{} removed {}").format(who, people())
    if kind == "join_group_by_link":
        return Markup("{} joined the group via an invite link").format(who)
    if kind == "join_group_by_request":
        return Markup("{} was accepted into the group").format(who)
    if kind == "migrate_to_supergroup":
        return Markup("{} converted this group to a supergroup").format(who)
    if kind == "migrate_from_group":
        return Markup("{} converted the basic group {} to this supergroup").format(who, _quoted(title))
    if kind == "pin_message":
        target = data.get("message_id")
        href = link_to(target) if isinstance(target, int) else None
        if href is None:
            return Markup("{} pinned a message").format(who)
        return Markup('{} pinned <a href="{}">this message</a>').format(who, href)
    if kind == "topic_created":
        return Markup("{} created the topic {}").format(who, _quoted(title))
    if kind == "topic_edit":
        if title:
            return Markup("{} renamed the topic to {}").format(who, _quoted(title))
        return Markup("{} changed the topic").format(who)
    if kind == "phone_call":
        duration = human_duration(data.get("duration"))
        what = "video call" if data.get("video") else "call"
        if duration:
            return Markup("{} made a {} ({})").format(who, what, duration)
        reason = str(data.get("discard_reason") or "")
        return Markup("{} made a {}{}").format(who, what, f" ({reason})" if reason else "")
    if kind == "group_call":
        duration = human_duration(data.get("duration"))
        if duration:
            return Markup("{} ended a voice chat ({})").format(who, duration)
        return Markup("{} started a voice chat").format(who)
    if kind == "invite_to_group_call":
        return Markup("{} invited {} to the voice chat").format(who, people())
    if kind == "clear_history":
        return Markup("History cleared")
    if kind == "take_screenshot":
        return Markup("{} took a screenshot").format(who)
    if kind == "joined_telegram":
        return Markup("{} joined Telegram").format(who)
    if kind == "custom_action" and data.get("text"):
        return Markup("{}").format(data["text"])
    if kind == "set_messages_ttl":
        period = data.get("period") or 0
        if period:
            return Markup("{} set messages to auto-delete after {}").format(who, human_duration(period))
        return Markup("{} disabled auto-delete").format(who)
    if kind == "boost_apply":
        return Markup("{} boosted the group").format(who)
    return Markup("{} \u2014 {}").format(who, kind.replace("_", " "))


def peer_title(peer: Peer | None, fallback: str = "Unknown") -> str:
    if peer is None:
        return fallback
    title = clean_text(peer.title)
    if title.strip():
        return title
    return ("@" + peer.username) if peer.username else fallback

