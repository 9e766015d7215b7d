"""One Telegram Desktop HTML message block → :class:`tgx.model.Message` (+ the files it names).

The blocks are the ones ``HtmlWriter::Wrap::pushMessage`` / ``pushServiceMessage`` write
(``export_output_html.cpp``). HTML names people, never their ids: a sender is ``sender_id=None``
with the shown name in ``Message.extra["from"]`` (a service message's actor too), a bot a message
came via is ``extra["via_bot"]`` (its username). A ``joined`` block (same sender within 15
minutes) omits the name: it carries over from the block before, as Telegram Desktop drew it.
Service messages carry no time in HTML: such a message takes the time of the message before it
on the same day (else the one after) and says so in ``extra["date_inferred"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from posixpath import join, normpath, relpath
from typing import Any

from tgx.model import Action, Forward, Media, Message, Reaction

from .source import ImportedMessage, SourceFile, Warn
from .tdhtml_markup import Node
from .tdhtml_text import formatted_text, parse_title_date

# Telegram Desktop's NoFileDescription: the file exists but was not exported
MISSING_NOTES = ("Unavailable, please try again later.",
                 "Exceeds maximum size, change data exporting settings to download.",
                 "Not included, change data exporting settings to download.")
_BODY_PARTS = frozenset({"date", "from_name", "forwarded", "userpic_wrap", "reply_to", "media_wrap", "text",
                         "bot_buttons_table", "signature", "reactions"})
_GENERIC_MEDIA = {"media_photo": "photo", "media_video": "video", "media_voice_message": "voice",
                  "media_audio_file": "audio", "media_file": "document", "media_contact": "contact",
                  "media_location": "geo", "media_live_location": "geo", "media_venue": "venue",
                  "media_game": "game", "media_invoice": "invoice", "media_call": "call"}
_TITLED_KINDS = {"Animation": "animation", "Video file": "video", "Video message": "round", "Sticker": "sticker",
                 "Photo": "photo", "Self-destructing photo": "photo", "Self-destructing video": "video"}
UNSUPPORTED = "This message is not supported by this version of Telegram Desktop. Please update the application."


@dataclass(slots=True)
class PageContext:
    """What a chat's blocks need from around them: where files are, how dates read, and what a
    ``joined`` block inherits from the block before it."""

    source: str  # the page, for messages
    root: str  # the export's folder: absolute, POSIX
    page_dir: str  # the page's folder: absolute, POSIX
    warn: Warn
    zone: tzinfo | None
    undated_titles: int = 0
    sender: str | None = None
    via: str | None = None
    forward_name: str | None = None
    last_date: datetime | None = None
    day_changed: bool = False
    pending: list[ImportedMessage] = field(default_factory=list)  # service messages awaiting a date

    def reset_join(self) -> None:
        self.sender = self.via = self.forward_name = None

    def relpath(self, href: str) -> str:
        """``href`` (relative to the page) as a path from the export root, worked out lexically:
        nothing is looked up on disk, and a path that leaves the root keeps its ``..`` (the stage
        refuses it)."""
        return relpath(normpath(join(self.page_dir, href)), self.root)


def message_id(node: Node) -> int | None:
    raw = node.attrs.get("id", "")
    if not raw.startswith("message"):
        return None
    try:
        return int(raw[len("message"):])
    except ValueError:
        return None


def read_block(node: Node, chat_id: int, ctx: PageContext) -> list[ImportedMessage]:
    """The messages one block completes: usually the block's own, plus the service messages
    before it once it gives them a date."""
    mid = message_id(node)
    if mid is None:
        ctx.warn("unknown block", f"{ctx.source}: a message block without an id")
        return []
    if mid < 0:  # a date separator ("5 March 2024"): the day changes
        if ctx.last_date is not None:
            ctx.day_changed = True
        ctx.reset_join()
        return []
    if node.has("service"):
        ctx.reset_join()
        item = _service(node, chat_id, mid, ctx)
        if ctx.last_date is not None and not ctx.day_changed:
            item.message.date = ctx.last_date
            return [item]
        ctx.pending.append(item)
        return []
    if not node.has("default"):
        ctx.warn("unknown block", f"{ctx.source}: message block of class {node.attrs.get('class', '')!r}")
        ctx.reset_join()
        return []
    dated = _default(node, chat_id, mid, ctx)
    if dated is None:
        return []
    ctx.last_date = dated.message.date
    ctx.day_changed = False
    done = flush_pending(ctx, dated.message.date)
    done.append(dated)
    return done


def flush_pending(ctx: PageContext, date: datetime | None) -> list[ImportedMessage]:
    """The waiting service messages, dated ``date`` (or the last date seen); dropped with a
    warning when the chat has no dated message at all."""
    when = date or ctx.last_date
    done = []
    for item in ctx.pending:
        if when is None:
            ctx.warn("no date", f"{ctx.source}: service message {item.message.id} has no date near it; skipped")
            continue
        item.message.date = when
        done.append(item)
    ctx.pending.clear()
    return done


# ---------------------------------------------------------------------------------------------
# service messages


def _service(node: Node, chat_id: int, mid: int, ctx: PageContext) -> ImportedMessage:
    body = node.child("body") or node
    text = body.text()
    msg = Message(chat_id, mid, datetime.min, extra={"date_inferred": True})
    if text == UNSUPPORTED:
        msg.media = Media("unsupported")
        return ImportedMessage(msg)
    action, actor = _action(text, body)
    msg.action = action
    if actor:
        msg.extra = {**(msg.extra or {}), "from": actor}
    target_key = _TARGET_KEYS.get(action.type)
    if target_key is not None:
        action.data[target_key] = _link_target(body)
    files = []
    photo = node.find("userpic_link")
    if photo is not None and photo.attrs.get("href"):
        files.append(SourceFile("file", ctx.relpath(photo.attrs["href"])))
    return ImportedMessage(msg, files)


# (phrase after the actor's name, action type, what follows the phrase)
_ACTOR_PHRASES = (
    (" created group «", "create_group", "title"), (" changed group title to «", "edit_group_title", "title"),
    (" changed group photo", "edit_group_photo", None), (" removed group photo", "delete_group_photo", None),
    (" invited ", "invite_members", "members"), (" removed ", "remove_members", "members"),
    (" joined group by link from ", "join_group_by_link", "inviter"),
    (" joined group by request", "join_group_by_request", None),
    (" converted this group to a supergroup", "migrate_to_supergroup", None),
    (" converted a basic group to this supergroup «", "migrate_from_group", "title"),
    (" pinned ", "pin_message", None), (" scored ", "score_in_game", "score"),
    (" took a screenshot", "take_screenshot", None), (" joined Telegram", "joined_telegram", None),
    (" created topic «", "topic_created", "title"), (" changed topic ", "topic_edit", None),
    (" started voice chat", "group_call", None), (" scheduled a voice chat for ", "group_call_scheduled", None),
    (" suggests to use this photo", "suggest_profile_photo", None),
    (" boosted the group ", "boost_apply", None),
)
_TARGET_KEYS = {"pin_message": "message_id", "score_in_game": "game_message_id",
                "send_payment": "invoice_message_id"}  # the message the sentence links to
_FIXED = {"History cleared": "clear_history", "Channel photo changed": "edit_group_photo",
          "Channel photo removed": "delete_group_photo"}


def _action(text: str, body: Node) -> tuple[Action, str | None]:
    """The action a service text names (Telegram Desktop writes only the sentence), its data as
    far as the sentence has it, and the actor's name. Unknown sentences are ``custom_action``."""
    if text in _FIXED:
        return Action(_FIXED[text], {}), None
    if text.startswith("Channel «") and text.endswith("» created"):
        return Action("create_channel", {"title": text[len("Channel «"):-len("» created")]}), None
    if text.startswith("Channel title changed to «") and text.endswith("»"):
        return Action("edit_group_title", {"title": text[len("Channel title changed to «"):-1]}), None
    for phrase, kind, rest in _ACTOR_PHRASES:
        at = text.find(phrase)
        if at <= 0:
            continue
        actor, tail = text[:at], text[at + len(phrase):]
        data: dict[str, Any] = {}
        if rest == "title":
            if "»" not in tail:
                continue
            data["title"], tail = tail.split("»", 1)
            if kind == "create_group" and tail.startswith(" with members "):
                data["members"] = _names(tail[len(" with members "):])
        elif rest == "members":
            data["members"] = _names(tail)
        elif rest == "inviter":
            data["inviter"] = tail
        elif rest == "score":
            score = tail.split(" ", 1)[0]
            if score.isdigit():
                data["score"] = int(score)
        return Action(kind, data), actor
    return Action("custom_action", {"text": text}), None


def _names(listed: str) -> list[str]:
    """Telegram Desktop's "A, B and C" back to names (a name holding ", " or " and " splits)."""
    head, sep, last = listed.rpartition(" and ")
    names = head.split(", ") if sep else []
    return [*names, last] if sep else [listed]


def _link_target(node: Node) -> int | None:
    for a in _links(node):
        target = _go_to(a.attrs.get("href", ""))
        if target is not None:
            return target
    return None


def _links(node: Node) -> list[Node]:
    found = []
    for c in node.elements():
        if c.tag == "a":
            found.append(c)
        found.extend(_links(c))
    return found


def _go_to(href: str) -> int | None:
    """``#go_to_message12`` or ``messages3.html#go_to_message12`` → 12."""
    _, hash_, anchor = href.partition("#go_to_message")
    return int(anchor) if hash_ and anchor.isdigit() else None


# ---------------------------------------------------------------------------------------------
# ordinary messages


def _default(node: Node, chat_id: int, mid: int, ctx: PageContext) -> ImportedMessage | None:
    body = node.child("body")
    date_node = body.child("date") if body is not None else None
    if body is None or date_node is None:
        ctx.warn("unknown block", f"{ctx.source}: message {mid} has no body or date; skipped")
        return None
    date, had_offset = parse_title_date(date_node.attrs.get("title", ""), ctx.zone)
    if date is None:
        ctx.warn("unreadable date", f"{ctx.source}: message {mid}: {date_node.attrs.get('title', '')!r}; skipped")
        return None
    if not had_offset and ctx.zone is None:
        ctx.undated_titles += 1
    msg = Message(chat_id, mid, date)
    extra: dict[str, Any] = {}
    files: list[SourceFile] = []

    joined = node.has("joined")
    name_node = body.child("from_name")
    if name_node is not None:
        ctx.sender, ctx.via = _name_and_via(name_node)
        ctx.forward_name = None
    elif not joined:
        ctx.sender = ctx.via = None
    if ctx.sender is not None:
        extra["from"] = ctx.sender
    if ctx.via is not None:
        extra["via_bot"] = ctx.via

    content = body
    forwarded = body.child("forwarded", "body")
    if forwarded is not None:
        content = forwarded
        msg.forward = _forward(forwarded, ctx, extra)
    _unknown_parts(body, ctx, extra, mid)
    if forwarded is not None:
        _unknown_parts(forwarded, ctx, extra, mid)

    reply = content.child("reply_to")
    if reply is not None:
        target = _link_target(reply)
        if target is not None:
            msg.reply_to_id = target
        else:
            extra["reply_to_other_chat"] = True  # "In reply to a message in another chat": no ids
    wrap = content.child("media_wrap")
    if wrap is not None:
        _media(wrap, msg, files, ctx, extra)
    text = content.child("text")
    if text is not None:
        msg.text, msg.entities = formatted_text(text, ctx.warn)
    buttons = content.child("bot_buttons_table")
    if buttons is not None:
        extra["inline_bot_buttons"] = _buttons(buttons)
    signature = content.child("signature")
    if signature is not None:
        msg.post_author = signature.text()
    reactions = body.child("reactions")
    if reactions is not None:
        msg.reactions = _reactions(reactions, ctx, extra)
    msg.extra = extra or None
    return ImportedMessage(msg, files)


def _name_and_via(node: Node) -> tuple[str, str | None]:
    """``Name via @bot`` → ("Name", "bot")."""
    shown = node.text(own=True)
    name, sep, bot = shown.rpartition(" via @")
    if sep and bot and all(c.isalnum() or c == "_" for c in bot):
        return name.strip(), bot
    return shown, None


def _forward(node: Node, ctx: PageContext, extra: dict[str, Any]) -> Forward:
    """A forward shows the original sender's name and the original date (a joined forward of
    the same sender shows neither: the name carries over, its date is not in the page)."""
    name_node = node.child("from_name")
    if name_node is None:
        return Forward(from_name=ctx.forward_name)
    name, via = _name_and_via(name_node)
    if via is not None:
        extra["via_bot"] = ctx.via = via
    ctx.forward_name = name
    date_node = name_node.child("date")
    date = None
    if date_node is not None:
        date, _ = parse_title_date(date_node.attrs.get("title", ""), ctx.zone)
    return Forward(from_name=name, date=date)


def _unknown_parts(container: Node, ctx: PageContext, extra: dict[str, Any], mid: int) -> None:
    for part in container.elements():
        if part.classes.isdisjoint(_BODY_PARTS) and part.tag != "br":
            label = part.attrs.get("class") or part.tag
            ctx.warn("unknown block", f"{ctx.source}: {label!r} in message {mid}")
            extra.setdefault("unknown_html", []).append({"class": label, "text": part.text()})


def _buttons(table: Node) -> list[list[dict[str, str]]]:
    """Inline buttons: each row's buttons as their label and, for a URL button, its link; for
    the others Telegram Desktop's "Data: … | Type: …" line."""
    rows = []
    for row in _all(table, lambda n: n.tag == "td"):
        buttons = []
        for button in _all(row, lambda n: n.has("bot_button")):
            a = button.find_tag("a")
            entry = {"text": button.text()}
            if a is not None and a.attrs.get("href"):
                entry["url"] = a.attrs["href"]
            elif a is not None and "ShowTextCopied('" in a.attrs.get("onclick", ""):
                entry["details"] = a.attrs["onclick"].split("ShowTextCopied('", 1)[1].rsplit("');", 1)[0]
            buttons.append(entry)
        rows.append(buttons)
    return rows


def _all(node: Node, match: Any) -> list[Node]:
    found = []
    for c in node.elements():
        if match(c):
            found.append(c)
        else:
            found.extend(_all(c, match))
    return found


def _reactions(node: Node, ctx: PageContext, extra: dict[str, Any]) -> list[Reaction]:
    """Each reaction's emoji (or custom emoji, or the paid star), its count (written only when
    more reacted than the pictures show) and whether "me" chose it (``active``); the names of the
    recent reactors go to ``extra["reactions_recent"]``."""
    out = []
    for r in node.elements():
        if not r.has("reaction"):
            continue
        emoji_node, count_node, users = r.child("emoji"), r.child("count"), r.child("userpics")
        names = [i.attrs.get("title", "") for i in _all(users, lambda n: n.has("initials"))] if users else []
        count_text = count_node.text() if count_node is not None else ""
        count = int(count_text) if count_text.isdigit() else len(names)
        chosen = r.has("active")
        link = emoji_node.find_tag("a") if emoji_node is not None else None
        if r.has("paid"):
            reaction = Reaction("paid", count, chosen=chosen)
        elif link is not None:
            tail = link.attrs.get("href", "").rsplit("/", 1)[-1]
            reaction = Reaction("custom_emoji", count, document_id=int(tail) if tail.isdigit() else None,
                                chosen=chosen)
        elif emoji_node is not None:
            reaction = Reaction("emoji", count, emoji=emoji_node.text(), chosen=chosen)
        else:
            ctx.warn("unknown reaction", f"{ctx.source}: a reaction without an emoji")
            continue
        out.append(reaction)
        if names:
            extra.setdefault("reactions_recent", []).append({"index": len(out) - 1, "from": names})
    return out


# ---------------------------------------------------------------------------------------------
# media


def _media(wrap: Node, msg: Message, files: list[SourceFile], ctx: PageContext, extra: dict[str, Any]) -> None:
    inner = next(wrap.elements(), None)
    if inner is None:
        return
    href = inner.attrs.get("href", "")
    if inner.has("photo_wrap"):
        msg.media = Media("photo")
        files.append(SourceFile("file", ctx.relpath(href)))
    elif inner.has("sticker_wrap"):
        msg.media = Media("sticker")
        files.append(SourceFile("file", ctx.relpath(href)))
    elif inner.has("animated_wrap") or inner.has("video_file_wrap"):
        msg.media = Media("animation" if inner.has("animated_wrap") else "video")
        duration = inner.child("video_duration")
        if duration is not None:
            msg.media.duration = _duration(duration.text())
        files.append(SourceFile("file", ctx.relpath(href)))
        thumb = inner.find_tag("img")
        if thumb is not None and thumb.attrs.get("src"):
            files.append(SourceFile("thumbnail", ctx.relpath(thumb.attrs["src"])))
    elif inner.has("media_poll"):
        msg.media = _poll(inner, ctx)
    elif inner.has("media_giveaway"):
        msg.media = Media("unsupported", extra={"type": "giveaway", "text": inner.text()})
    elif inner.has("media"):
        _generic(inner, msg, files, ctx, extra)
    else:
        ctx.warn("unknown media", f"{ctx.source}: {inner.attrs.get('class', inner.tag)!r} in message {msg.id}")
        extra.setdefault("unknown_html", []).append({"class": inner.attrs.get("class", ""), "text": inner.text()})


def _generic(node: Node, msg: Message, files: list[SourceFile], ctx: PageContext, extra: dict[str, Any]) -> None:
    """``pushGenericMedia``: an icon, a title, a description and a status line."""
    kind = next((k for c, k in _GENERIC_MEDIA.items() if node.has(c)), None)
    title_node, desc_node, status_node = node.find("title"), node.find("description"), node.find("status")
    title = title_node.text() if title_node is not None else ""
    description = desc_node.text() if desc_node is not None else ""
    status = status_node.text() if status_node is not None else ""
    href = node.attrs.get("href", "") if node.tag == "a" else ""
    if kind in ("photo", "video"):
        kind = _TITLED_KINDS.get(title, kind)
    if kind is None:
        ctx.warn("unknown media", f"{ctx.source}: {node.attrs.get('class', '')!r} in message {msg.id}")
        extra.setdefault("unknown_html", []).append({"class": node.attrs.get("class", ""), "text": node.text()})
        return
    if kind == "call":
        msg.action = Action("phone_call", {"text": status})
        return
    media = Media(kind)
    msg.media = media
    if kind in ("photo", "video", "voice", "audio", "document", "sticker", "animation", "round"):
        if description in MISSING_NOTES:
            files.append(SourceFile("file", None, missing=description))
        elif href:
            files.append(SourceFile("file", ctx.relpath(href)))
        thumb = node.find("thumb")
        if thumb is not None and thumb.attrs.get("src"):
            files.append(SourceFile("thumbnail", ctx.relpath(thumb.attrs["src"])))
        lead = status.split(", ", 1)[0]
        if kind in ("voice", "audio", "round", "video"):
            media.duration = _duration(lead)
        if kind == "photo" and "x" in lead:
            width, _, height = lead.partition("x")
            if width.isdigit() and height.isdigit():
                media.width, media.height = int(width), int(height)
        if kind == "sticker" and lead and not lead[0].isdigit():
            media.emoji = lead
        if kind == "document" and title != "File":
            media.file_name = title
        if kind == "audio" and title != "Audio file":
            performer, sep, song = title.partition(" \u2013 ")
            if sep:
                media.performer, media.title = performer, song
            else:
                media.file_name = title
        if title.startswith("Self-destructing"):
            extra["self_destructing"] = status
        return
    if kind == "contact":
        first, _, last = title.partition(" ")
        phone, vcard, _ = status.partition(" - vCard")
        media.extra = {"first_name": first, "last_name": last.strip(), "phone_number": phone}
        if vcard and href:
            files.append(SourceFile("file", ctx.relpath(href)))
    elif kind in ("geo", "venue"):
        media.extra = _coordinates(href)
        if kind == "venue":
            media.title = title
            media.extra.update({"title": title, "address": description})
        elif node.has("media_live_location"):
            media.extra["live"] = True
    elif kind == "game":
        media.title = title
        media.extra = {"title": title, "description": description, "link": href or None}
    elif kind == "invoice":
        media.title = title or None
        media.extra = {"title": title, "description": description, "amount": status}


def _coordinates(link: str) -> dict[str, Any]:
    """``https://maps.google.com/maps?q=LAT,LON&ll=…`` → latitude, longitude (None without a link)."""
    query = link.partition("?q=")[2].partition("&")[0]
    lat, _, lon = query.partition(",")
    try:
        return {"latitude": float(lat), "longitude": float(lon)}
    except ValueError:
        return {"latitude": None, "longitude": None}


def _duration(text: str) -> float | None:
    """``Ui::FormatDurationText``: ``m:ss`` or ``h:mm:ss`` → seconds."""
    fields = text.strip().split(":")
    if not 2 <= len(fields) <= 3 or not all(f.isdigit() for f in fields):
        return None
    seconds = 0
    for f in fields:
        seconds = seconds * 60 + int(f)
    return float(seconds)


def _poll(node: Node, ctx: PageContext) -> Media:
    question = node.child("question")
    details = node.child("details")
    kind = details.text() if details is not None else ""
    answers = []
    for answer in node.elements():
        if not answer.has("answer"):
            continue
        votes = answer.child("details")
        text = answer.text(own=True).removeprefix("- ").strip()
        said = votes.text() if votes is not None else ""
        count = said.split(" ", 1)[0]
        answers.append({"text": text, "voters": int(count) if count.isdigit() else 0,
                        "chosen": said.endswith(", chosen vote")})
    question_text = formatted_text(question, ctx.warn)[0] if question is not None else ""
    if kind == "To-do List":
        return Media("unsupported", extra={"type": "todo_list", "title": question_text,
                                           "items": [a["text"] for a in answers]})
    total = node.child("total")
    said = total.text() if total is not None else ""
    count = said.split(" ", 1)[0]
    return Media("poll", extra={"question": question_text, "closed": kind == "Final results",
                                "total_voters": int(count) if count.isdigit() else 0, "answers": answers})
