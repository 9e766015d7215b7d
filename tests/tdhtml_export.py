"""A Telegram Desktop HTML export, written from tgx messages the way Telegram Desktop writes one.

A test-side port of ``export_output_html.cpp`` (github:telegramdesktop/tdesktop): the same tag
layout (``HtmlContext::pushTag``: a block tag on its own line, indented by depth, attributes in
``std::map`` order), the same joins (``messageNeedsWrap``: same sender within 900 s, same day),
date separators, 1000 messages a page with "Previous/Next messages" links, reply links into
earlier pages, the same media blocks and text markup (``FormatText``), and for an account
``lists/chats.html`` and ``lists/contacts.html``. It writes what tgx's model gives it; where
Telegram Desktop draws pictures (userpic colours, photo thumbnails) it writes plausible ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from tgx.model import Message, Peer
from tgx_json.text import flat_parts

PAGE = 1000
JOIN_WITHIN = 900
MISSING_NOTE = "Not included, change data exporting settings to download."


def serialize(value: str) -> str:
    """``SerializeString``: markup characters escaped, newlines as ``<br>``, control characters
    as character references."""
    out = []
    for ch in value:
        if ch in "\n\u2028\u2029":
            out.append("<br>")
        elif ch == '"':
            out.append("&quot;")
        elif ch == "&":
            out.append("&amp;")
        elif ch == "'":
            out.append("&apos;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ord(ch) < 32:
            out.append(f"&#x{ord(ch):02X};")
        else:
            out.append(ch)
    return "".join(out)


class Context:
    """``HtmlContext``: open tags and their indentation."""

    def __init__(self) -> None:
        self.tags: list[tuple[str, bool]] = []

    def push(self, tag: str, attrs: Mapping[str, str] | None = None, *, inline: bool = False,
             empty: bool = False) -> str:
        inner = "".join(f' {k}="{serialize(v)}"' for k, v in sorted((attrs or {}).items()))
        block = not inline
        text = ("\n" + " " * len(self.tags) if block else "") + f"<{tag}{inner}{'/' if empty else ''}>" \
            + ("\n" if block else "")
        if not empty:
            self.tags.append((tag, block))
        return text

    def div(self, classes: str, style: str = "") -> str:
        return self.push("div", {"class": classes, **({"style": style} if style else {})})

    def pop(self) -> str:
        tag, block = self.tags.pop()
        return ("\n" + " " * len(self.tags) if block else "") + f"</{tag}>" + ("\n" if block else "")


def name_of(peer: Peer | None, empty: str = "Deleted Account") -> str:
    """``ComposeName``: first + " " + last for a user, the title (+ " ") for a chat."""
    if peer is None:
        return empty
    if peer.kind in ("user", "bot", "self"):
        first, last = peer.first_name or "", peer.last_name or ""
        return empty if not first and not last else f"{first} {last}"
    return f"{peer.title} " if peer.title else empty


def hidden_name(full: str | None) -> str:
    """A hidden sender's name as ``FillUserpicNames(data, full)`` + ``ComposeName`` redraw it."""
    words = (full or "").split(" ")
    first, last = words[0], " ".join(w for w in words[1:] if w)
    return "Deleted Account" if not first and not last else f"{first} {last}"


def date_title(value: datetime, tz: tzinfo) -> str:
    """``FormatDateTime(date, true)``: local wall clock + the zone's *standard* offset."""
    local = value.astimezone(tz)
    offset = (local.utcoffset() or timedelta()) - (local.dst() or timedelta())
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{local:%d.%m.%Y %H:%M:%S} UTC{sign}{minutes // 60:02}:{minutes % 60:02}"


def duration_text(seconds: float | None) -> str:
    """``Ui::FormatDurationText``."""
    s = int(seconds or 0)
    return f"{s // 3600}:{s // 60 % 60:02}:{s % 60:02}" if s >= 3600 else f"{s // 60}:{s % 60:02}"


def size_text(size: int | None) -> str:
    value = float(size or 0)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


_TAGS = {"bold": "strong", "italic": "em", "underline": "u", "strikethrough": "s", "code": "code", "pre": "pre",
         "blockquote": "blockquote"}
_ONCLICK = {"hashtag": "ShowHashtag", "bot_command": "ShowBotCommand", "cashtag": "ShowCashtag"}


def format_text(text: str, entities: Sequence) -> str:
    """``FormatText``: one tag per run of Telegram Desktop's flat parts."""
    out = []
    for kind, run, entity in flat_parts(text, entities):
        t = serialize(run)
        if kind in ("plain", "bank_card"):
            out.append(t)
        elif kind in _TAGS:
            out.append(f"<{_TAGS[kind]}>{t}</{_TAGS[kind]}>")
        elif kind == "mention":
            out.append(f'<a href="https://t.me/{t[1:]}">{t}</a>')
        elif kind in _ONCLICK:
            quoted = serialize(f'"{run[1:]}"')
            out.append(f'<a href="" onclick="return {_ONCLICK[kind]}({quoted})">{t}</a>')
        elif kind == "link":
            out.append(f'<a href="{t}">{t}</a>')
        elif kind == "email":
            out.append(f'<a href="mailto:{t}">{t}</a>')
        elif kind == "phone":
            out.append(f'<a href="tel:{t}">{t}</a>')
        elif kind == "text_link":
            out.append(f'<a href="{serialize(entity.url or "")}">{t}</a>')
        elif kind == "mention_name":
            out.append(f'<a href="" onclick="return ShowMentionName()">{t}</a>')
        elif kind == "spoiler":
            out.append('<span class="spoiler hidden" onclick="ShowSpoiler(this)">'
                       f'<span aria-hidden="true">{t}</span></span>')
        elif kind == "custom_emoji":
            out.append(f'<a href="" onclick="return ShowNotLoadedEmoji();">{t}</a>')
        else:
            raise ValueError(kind)
    return "".join(out)


@dataclass
class Info:
    """``MessageInfo``: what the next block compares itself with."""

    service: bool
    from_id: int | None
    via: int | None
    date: datetime
    fwd_id: int | None = None
    fwd_name: str | None = None
    fwd_date: datetime | None = None
    forwarded: bool = False


MediaPath = Callable[[Message], "str | None"]


@dataclass
class ChatWriter:
    """Writes one chat's pages (``writeDialogStart`` … ``writeDialogEnd``)."""

    folder: Path
    chat: Peer
    peers: Mapping[int, Peer]
    tz: tzinfo = UTC
    media_path: MediaPath = lambda m: None
    base: str = ""  # "../../" inside an account export
    list_path: str | None = None  # lists/chats.html, for the header's back link
    rel_folder: str = ""  # "chats/chat_01/" inside an account export
    pages: list[Path] = field(default_factory=list)
    _last_ids: list[int] = field(default_factory=list)
    _date_id: int = 0

    def __post_init__(self) -> None:
        self.peers = {**self.peers, self.chat.id: self.chat}  # a channel's posts are from the channel

    def write(self, messages: Iterable[Message]) -> int:
        ctx, out, previous, previous_id, count = Context(), None, None, 0, 0
        for message in messages:
            index = count // PAGE
            if out is None or index != len(self.pages) - 1:
                if out is not None:
                    self._last_ids.append(previous_id)
                    out.write(ctx.push("a", {"class": "pagination block_link", "href": self._file(index)}) +
                              "Next messages" + ctx.pop())
                    self._close(out, ctx)
                ctx, previous = Context(), None
                out = self._open(index, ctx)
            if previous is None or previous.date.astimezone(self.tz).date() != message.date.astimezone(self.tz).date():
                self._date_id -= 1
                out.write(self._service_block(ctx, self._date_id, self._day(message.date)))
            info, block = self._message(ctx, message, previous)
            out.write(block)
            previous, previous_id = info, message.id
            count += 1
        if out is not None:
            self._close(out, ctx)
        return count

    def _file(self, index: int) -> str:
        return "messages.html" if index == 0 else f"messages{index + 1}.html"

    def _open(self, index: int, ctx: Context):  # noqa: ANN202 - a text file
        path = self.folder / self._file(index)
        self.pages.append(path)
        out = path.open("w", encoding="utf-8", newline="")
        out.write("<!DOCTYPE html>" + ctx.push("html") + ctx.push("head") +
                  ctx.push("meta", {"charset": "utf-8"}, empty=True) + ctx.push("title", inline=True) +
                  "Exported Data" + ctx.pop() +
                  ctx.push("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1.0"},
                           empty=True) +
                  ctx.push("link", {"href": self.base + "css/style.css", "rel": "stylesheet"}, empty=True) +
                  ctx.push("script", {"src": self.base + "js/script.js", "type": "text/javascript"}) + ctx.pop() +
                  ctx.pop() + ctx.push("body", {"onload": "CheckLocation();"}) + ctx.div("page_wrap"))
        name = name_of(self.chat, "Deleted Account").strip() if self.chat.kind in ("user", "bot") \
            else self.chat.title
        out.write(ctx.div("page_header") +
                  (ctx.push("a", {"class": "content block_link", "href": self.base + self.list_path,
                                  "onclick": "return GoBack(this)"}) if self.list_path else ctx.div("content")) +
                  ctx.div("text bold") + serialize(name) + ctx.pop() + ctx.pop() + ctx.pop())
        out.write(ctx.div("page_body chat_page") + ctx.div("history"))
        if index > 0:
            out.write(ctx.push("a", {"class": "pagination block_link", "href": self._file(index - 1)}) +
                      "Previous messages" + ctx.pop())
        return out

    def _close(self, out, ctx: Context) -> None:  # noqa: ANN001
        while ctx.tags:
            out.write(ctx.pop())
        out.close()

    def _day(self, value: datetime) -> str:
        local = value.astimezone(self.tz)
        return f"{local.day} {local:%B} {local.year}"

    def _service_block(self, ctx: Context, mid: int, text: str) -> str:
        return (ctx.push("div", {"class": "message service", "id": f"message{mid}"}) + ctx.div("body details") +
                text + ctx.pop() + ctx.pop())

    def _link(self, target: int | None, text: str) -> str:
        """``wrapMessageLink``: into an earlier page by its name, else an anchor on this one."""
        for index, last in enumerate(self._last_ids):
            if target is not None and target <= last:
                return f'<a href="{self._file(index)}#go_to_message{target}">{text}</a>'
        return f'<a href="#go_to_message{target}" onclick="return GoToMessage({target})">{text}</a>'

    def _peer_name(self, peer_id: int | None) -> str:
        peer = self.peers.get(peer_id) if peer_id is not None else None
        return serialize(name_of(peer, "").strip() or "Deleted") if peer else "Deleted"

    def _names(self, ids: Sequence[int]) -> str:
        names = [serialize(name_of(self.peers.get(i), "").strip() or "Deleted Account") for i in ids]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    def _service_text(self, m: Message) -> str:
        a = m.action
        assert a is not None
        who = self._peer_name(m.sender_id if m.sender_id is not None else self.chat.id)
        channel = self.chat.kind == "channel"
        data = a.data
        texts: dict[str, Callable[[], str]] = {
            "create_channel": lambda: f"Channel &laquo;{serialize(data['title'])}&raquo; created",
            "create_group": lambda: f"{who} created group &laquo;{serialize(data['title'])}&raquo;" + (
                f" with members {self._names(data['members'])}" if data.get("members") else ""),
            "edit_group_title": lambda: f"Channel title changed to &laquo;{serialize(data['title'])}&raquo;"
            if channel else f"{who} changed group title to &laquo;{serialize(data['title'])}&raquo;",
            "invite_members": lambda: f"{who} invited {self._names(data['members'])}",
            "remove_members": lambda: f"{who} removed {self._names(data['members'])}",
            "pin_message": lambda: f"{who} pinned {self._link(data.get('message_id'), 'this message')}",
            "clear_history": lambda: "History cleared",
            "topic_created": lambda: f"{who} created topic &laquo;{serialize(data['title'])}&raquo;",
            "joined_telegram": lambda: f"{who} joined Telegram",
            "take_screenshot": lambda: f"{who} took a screenshot",
            "custom_action": lambda: serialize(data.get("text", "")),
        }
        return texts[a.type]()

    def _message(self, ctx: Context, m: Message, previous: Info | None) -> tuple[Info, str]:
        from_id = m.sender_id if m.sender_id is not None else self.chat.id  # a post is the channel's
        fwd = m.forward
        info = Info(m.action is not None, from_id, m.via_bot_id, m.date, fwd.from_id if fwd else None,
                    fwd.from_name if fwd else None, fwd.date if fwd else None, fwd is not None)
        if m.action is not None:
            return info, self._service_block(ctx, m.id, self._service_text(m))
        wrap = self._needs_wrap(info, previous)
        block = ctx.push("div", {"class": "message default clearfix" + ("" if wrap else " joined"),
                                 "id": f"message{m.id}"})
        sender = self.peers.get(from_id)
        if wrap:
            block += ctx.div("pull_left userpic_wrap") + self._userpic(ctx, sender) + ctx.pop()
        block += ctx.div("body")
        block += ctx.push("div", {"class": "pull_right date details", "title": date_title(m.date, self.tz)})
        block += f"{m.date.astimezone(self.tz):%H:%M}" + ctx.pop()
        via_peer = self.peers.get(m.via_bot_id) if m.via_bot_id is not None else None
        via = serialize(via_peer.username) if via_peer is not None and via_peer.username else ""
        if wrap:
            block += ctx.div("from_name") + serialize(name_of(sender)) + (f" via @{via}" if via and not fwd else "")
            block += ctx.pop()
        if fwd is not None:
            original = self.peers.get(fwd.from_id) if fwd.from_id is not None else None
            fwd_name = name_of(original) if fwd.from_id is not None else hidden_name(fwd.from_name)
            fwd_wrap = wrap or previous is None or fwd.from_id is None or fwd.from_id != previous.fwd_id \
                or fwd.from_id <= 0 or previous.fwd_date is None or fwd.date is None \
                or abs((fwd.date - previous.fwd_date).total_seconds()) > JOIN_WITHIN
            if fwd_wrap:
                block += ctx.div("pull_left forwarded userpic_wrap") + self._userpic(ctx, original) + ctx.pop()
            block += ctx.div("forwarded body")
            if fwd_wrap:
                block += ctx.div("from_name") + serialize(fwd_name) + (f" via @{via}" if via else "")
                stamp = fwd.date or m.date
                block += ctx.push("span", {"class": "date details", "title": date_title(stamp, self.tz)}, inline=True)
                block += f" {stamp.astimezone(self.tz):%d.%m.%Y %H:%M:%S}" + ctx.pop() + ctx.pop()
        if m.reply_to_id is not None:
            block += ctx.div("reply_to details")
            block += "In reply to a message in another chat" if m.reply_to_peer_id is not None else \
                "In reply to " + self._link(m.reply_to_id, "this message")
            block += ctx.pop()
        block += self._media(ctx, m)
        text = format_text(m.text, m.entities)
        if text:
            block += ctx.div("text") + text + ctx.pop()
        if m.post_author:
            block += ctx.div("signature details") + serialize(m.post_author) + ctx.pop()
        if fwd is not None:
            block += ctx.pop()
        if m.reactions:
            block += ctx.push("span", {"class": "reactions"})
            for r in m.reactions:
                classes = "reaction" + (" active" if r.chosen else "") + (" paid" if r.type == "paid" else "")
                block += ctx.push("span", {"class": classes}) + ctx.push("span", {"class": "emoji"})
                if r.type == "emoji":
                    block += serialize(r.emoji or "")
                elif r.type == "custom_emoji":
                    block += f'<a href = "{self.base}{r.document_id}">\U0001F44B</a>'
                else:
                    block += "\u2b50"
                block += ctx.pop() + ctx.push("span", {"class": "count"}) + str(r.count) + ctx.pop() + ctx.pop()
            block += ctx.pop()
        block += ctx.pop() + ctx.pop()
        return info, block

    def _needs_wrap(self, info: Info, previous: Info | None) -> bool:
        if previous is None or previous.service or info.from_id is None or previous.from_id != info.from_id:
            return True
        if info.via != previous.via:
            return True
        if previous.date.astimezone(self.tz).date() != info.date.astimezone(self.tz).date():
            return True
        if (info.forwarded, info.fwd_id, info.fwd_name) != (previous.forwarded, previous.fwd_id, previous.fwd_name):
            return True
        limit = 1 if info.fwd_id or info.fwd_name else JOIN_WITHIN
        return abs((info.date - previous.date).total_seconds()) > limit

    def _userpic(self, ctx: Context, peer: Peer | None) -> str:
        name = name_of(peer, "").split(" ")
        initials = "".join(part[:1] for part in (name[0], " ".join(name[1:]).strip()))
        return (ctx.div("userpic userpic1", "width: 42px; height: 42px") +
                ctx.div("initials", "line-height: 42px") + serialize(initials) + ctx.pop() + ctx.pop())

    # -- media (pushMedia) -------------------------------------------------------------------------
    def _rel(self, path: str) -> str:
        return self.base + self.rel_folder + path

    def _media(self, ctx: Context, m: Message) -> str:
        media = m.media
        if media is None or media.kind in ("webpage", "dice", "story", "unsupported"):
            return ""
        path = self.media_path(m) if media.is_file else None
        kind = media.kind
        if kind == "photo" and path:
            return (ctx.div("media_wrap clearfix") +
                    ctx.push("a", {"class": "photo_wrap clearfix pull_left", "href": self._rel(path)}) +
                    ctx.push("img", {"class": "photo", "src": self._rel(path + "_thumb.jpg"),
                                     "style": "width: 260px; height: 195px"}, empty=True) + ctx.pop() + ctx.pop())
        if kind == "sticker" and path:
            return (ctx.div("media_wrap clearfix") +
                    ctx.push("a", {"class": "sticker_wrap clearfix pull_left", "href": self._rel(path)}) +
                    ctx.push("img", {"class": "sticker", "src": self._rel(path + "_thumb.png"),
                                     "style": "width: 192px; height: 192px"}, empty=True) + ctx.pop() + ctx.pop())
        if kind in ("animation", "video") and path:
            wrap = "animated_wrap" if kind == "animation" else "video_file_wrap"
            block = ctx.div("media_wrap clearfix") + ctx.push("a", {"class": f"{wrap} clearfix pull_left",
                                                                     "href": self._rel(path)})
            block += ctx.div("video_play_bg") + ctx.div("gif_play" if kind == "animation" else "video_play")
            block += ("GIF" if kind == "animation" else "") + ctx.pop() + ctx.pop()
            if kind == "video":
                block += ctx.div("video_duration") + duration_text(media.duration) + ctx.pop()
            block += ctx.push("img", {"class": "animated" if kind == "animation" else "video_file",
                                      "src": self._rel(path + "_thumb.jpg"), "style": "width: 260px; height: 146px"},
                              empty=True)
            return block + ctx.pop() + ctx.pop()
        if kind == "poll":
            return self._poll(ctx, media.extra or {})
        title, description, status, classes, link, thumb = "", "", "", "", path or "", ""
        missing = MISSING_NOTE if media.is_file and not path else ""
        size = f", {size_text(media.size)}" if missing else ""
        if kind == "photo":
            title, classes, status = "Photo", "media_photo", f"{media.width}x{media.height}{size}"
        elif kind == "sticker":
            title, classes = "Sticker", "media_photo"
            status = ", ".join(filter(None, [media.emoji or "", size_text(media.size) if missing else ""]))
        elif kind == "animation":
            title, classes, status = "Animation", "media_video", size_text(media.size)
        elif kind == "video":
            title, classes, status = "Video file", "media_video", duration_text(media.duration) + size
        elif kind == "round":
            title, classes, status = "Video message", "media_video", duration_text(media.duration) + size
            thumb = path + "_thumb.jpg" if path else ""
        elif kind == "voice":
            title, classes, status = "Voice message", "media_voice_message", duration_text(media.duration) + size
        elif kind == "audio":
            title = f"{media.performer} \u2013 {media.title}" if media.performer and media.title else \
                media.file_name or "Audio file"
            classes, status = "media_audio_file", duration_text(media.duration) + size
        elif kind == "document":
            title, classes, status = media.file_name or "File", "media_file", size_text(media.size)
        elif kind == "contact":
            extra = media.extra or {}
            title = f"{extra.get('first_name') or ''} {extra.get('last_name') or ''}"
            classes, status = "media_contact", extra.get("phone_number") or ""
        elif kind in ("geo", "venue"):
            extra = media.extra or {}
            lat, lon = extra.get("latitude"), extra.get("longitude")
            classes = "media_location" if kind == "geo" else "media_venue"
            title = "Location" if kind == "geo" else extra.get("title") or ""
            description = extra.get("address") or "" if kind == "venue" else ""
            if lat is not None:
                status = f"{lat}, {lon}" if kind == "geo" else ""
                link = f"https://maps.google.com/maps?q={lat},{lon}&ll={lat},{lon}&z=16"
        elif kind == "game":
            extra = media.extra or {}
            title, description, classes = extra.get("title") or "", extra.get("description") or "", "media_game"
        elif kind == "invoice":
            extra = media.extra or {}
            title, description, classes = extra.get("title") or "", extra.get("description") or "", "media_invoice"
            status = f"{extra.get('total_amount')} {extra.get('currency')}"
        description = description or missing
        block = ctx.div("media_wrap clearfix")
        if link:
            href = link if link.startswith("https://") else self._rel(link)
            block += ctx.push("a", {"class": f"media clearfix pull_left block_link {classes}", "href": href})
        else:
            block += ctx.div(f"media clearfix pull_left {classes}")
        if thumb:
            block += ctx.push("img", {"class": "thumb pull_left", "src": self._rel(thumb)}, empty=True)
        else:
            block += ctx.div("fill pull_left") + ctx.pop()
        block += ctx.div("body")
        for value, cls in ((title, "title bold"), (description, "description"), (status, "status details")):
            if value:
                block += ctx.div(cls) + serialize(value) + ctx.pop()
        return block + ctx.pop() + ctx.pop() + ctx.pop()

    def _poll(self, ctx: Context, poll: Mapping) -> str:
        def votes(n: int) -> str:
            return f"{n} votes" if n > 1 else "1 vote" if n == 1 else "No votes"

        block = ctx.div("media_wrap clearfix") + ctx.div("media_poll") + ctx.div("question bold")
        block += serialize(poll.get("question") or "") + ctx.pop()
        block += ctx.div("details") + ("Final results" if poll.get("closed") else "Anonymous poll") + ctx.pop()
        for answer in poll.get("answers") or ():
            n = answer.get("voters") or 0
            chosen = ", chosen vote" if answer.get("chosen") else ""
            details = f' <span class="details">{votes(n)}{chosen}</span>' if n else ""
            block += ctx.div("answer") + "- " + serialize(answer.get("text") or "") + details + ctx.pop()
        block += ctx.div("total details\t") + votes(poll.get("total_voters") or 0) + ctx.pop()
        return block + ctx.pop() + ctx.pop()


def write_chat(folder: Path, chat: Peer, messages: Iterable[Message], peers: Mapping[int, Peer], *,
               tz: tzinfo = UTC, media_path: MediaPath = lambda m: None) -> list[Path]:
    """A one-chat export in ``folder``: its pages, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = ChatWriter(folder, chat, peers, tz, media_path)
    writer.write(messages)
    return writer.pages


def write_account(root: Path, chats: Sequence[tuple[Peer, Sequence[Message], str]], peers: Mapping[int, Peer],
                  contacts: Sequence[Peer] = (), *, tz: tzinfo = UTC, left: Sequence[tuple[Peer, str]] = ()) -> None:
    """An account export: ``lists/chats.html`` (the chats, then ``left`` ones with no pages) with
    each chat's pages under ``chats/chat_NN/``, and ``lists/contacts.html`` with ids (4.x).
    ``chats`` are (chat, messages, the list's type word)."""
    (root / "lists").mkdir(parents=True, exist_ok=True)
    entries = []
    for number, (chat, messages, kind) in enumerate(chats, 1):
        rel = f"chats/chat_{number:02}/"
        writer = ChatWriter(root / rel, chat, peers, tz, base="../../", list_path="lists/chats.html", rel_folder=rel)
        (root / rel).mkdir(parents=True, exist_ok=True)
        count = writer.write(messages)
        entries.append((chat, kind, count, rel + "messages.html" if count else ""))
    ctx = Context()
    page = ["<!DOCTYPE html>", ctx.push("html"), ctx.push("body"), ctx.div("page_wrap"), ctx.div("page_header"),
            ctx.div("content"), ctx.div("text bold"), "Chats", ctx.pop(), ctx.pop(), ctx.pop(),
            ctx.div("page_body list_page"), ctx.div("page_about details"), "Chats", ctx.pop(), ctx.div("entry_list")]
    for chat, kind, count, link in entries:
        page.append(_entry(ctx, name_of(chat, "Deleted Account"), f"{count} messages", kind, link and "../" + link))
    if left:
        page += [ctx.pop(), ctx.div("page_about details"), "Left chats", ctx.pop(), ctx.div("entry_list")]
        for chat, kind in left:
            page.append(_entry(ctx, name_of(chat), "No messages", kind, ""))
    while ctx.tags:
        page.append(ctx.pop())
    (root / "lists" / "chats.html").write_text("".join(page), encoding="utf-8")
    ctx = Context()
    page = ["<!DOCTYPE html>", ctx.push("html"), ctx.push("body"), ctx.div("page_body list_page"),
            ctx.div("entry_list")]
    for contact in contacts:
        page += [ctx.div("entry clearfix"), ctx.div("pull_left userpic_wrap"), ctx.div("userpic userpic1"),
                 ctx.push("div", {"class": "initials", "title": f"ID: {contact.id}"}), contact.title[:1], ctx.pop(),
                 ctx.pop(), ctx.pop(), ctx.div("body"), ctx.div("name bold"), serialize(name_of(contact)), ctx.pop(),
                 ctx.pop(), ctx.pop()]
    while ctx.tags:
        page.append(ctx.pop())
    (root / "lists" / "contacts.html").write_text("".join(page), encoding="utf-8")
    (root / "export_results.html").write_text(
        '<!DOCTYPE html><html><body><div class="page_wrap"></div></body></html>', encoding="utf-8")


def _entry(ctx: Context, name: str, details: str, info: str, link: str) -> str:
    """``pushGenericListEntry``."""
    head = ctx.push("a", {"class": "entry block_link clearfix", "href": link + "#allow_back"}) if link \
        else ctx.div("entry clearfix")
    return (head + ctx.div("pull_left userpic_wrap") + ctx.div("userpic userpic1") + ctx.pop() + ctx.pop() +
            ctx.div("body") + ctx.div("pull_right info details") + serialize(info) + ctx.pop() +
            ctx.div("name bold") + serialize(name) + ctx.pop() + ctx.div("details_entry details") + details +
            ctx.pop() + ctx.pop() + ctx.pop())
