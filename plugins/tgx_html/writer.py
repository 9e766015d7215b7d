"""``<chat>/messages.html``, ``messages2.html``, ...: a static archive that opens from disk.

Messages stream in id order; each batch becomes a list of small view objects that one Jinja2
template renders and the writer writes at once, so memory holds one batch and a few words of
state: the open page, the current day (for date separators), the open album (consecutive
messages with the same ``grouped_id`` share one block) and the previous sender (consecutive
messages from one person within 15 minutes are "joined" under one name). A page holds
``html-page-size`` messages; message ``n`` (0-based, in id order) is on page ``n // size``,
which is how reply links find their target page through ``ctx.message_index`` without reading
anything back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from typing import IO, Any

import jinja2
from markupsafe import Markup
from tgx.errors import UsageError
from tgx.model import Message
from tgx.specs import RenderContext

from . import DEFAULT_PAGE_SIZE, PAGE_SIZE_OPTION  # the package holds the option's names
from .entities import render_text
from .safety import encode_utf8
from .view import (
    CHAT_KIND_LABELS,
    MessageView,
    ReplyView,
    colour,
    day_label,
    excerpt,
    full_time,
    initials,
    media_view,
    peer_title,
    reaction_view,
    service_html,
)

STYLE_FILE = "style.css"
# No scripts, no network, no inline styles; the page's own folder for CSS and media.
CSP = Markup("default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
             "base-uri 'none'; form-action 'none'")
JOIN_SECONDS = 15 * 60
NAV_RADIUS = 3  # page links shown either side of the current page
_ALBUM_CLOSE = Markup("</div></div></div>\n")


def page_file(page: int) -> str:
    """0-based page number -> its file name (Telegram Desktop's naming)."""
    return "messages.html" if page == 0 else f"messages{page + 1}.html"


def page_size(options: Mapping[str, Any]) -> int:
    raw = options.get(PAGE_SIZE_OPTION)
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise UsageError(f"--{PAGE_SIZE_OPTION} must be a whole number, not {raw!r}") from None
    if size < 1:
        raise UsageError(f"--{PAGE_SIZE_OPTION} must be at least 1, not {size}")
    return size


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tgx_html", "templates"),
        autoescape=True,
        auto_reload=False,  # templates are package data: no stat() per render
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["thousands"] = lambda n: f"{n:,}"
    return env


@lru_cache(maxsize=1)
def stylesheet() -> bytes:
    return resources.files("tgx_html").joinpath(STYLE_FILE).read_bytes()


@dataclass(frozen=True, slots=True)
class NavItem:
    number: int  # 1-based, as shown
    href: str | None  # None: a gap ("...")
    current: bool = False


def navigation(page: int, pages: int) -> dict[str, Any]:
    """Prev/next and a window of page numbers (first, last, and NAV_RADIUS around the current
    one), so a 1000-page chat does not repeat 1000 links on every page."""
    shown = sorted({0, pages - 1, *range(max(0, page - NAV_RADIUS), min(pages, page + NAV_RADIUS + 1))})
    items: list[NavItem] = []
    previous = -1
    for p in shown:
        if p - previous > 1:
            items.append(NavItem(0, None))
        items.append(NavItem(p + 1, page_file(p), p == page))
        previous = p
    return {
        "page": page + 1,
        "pages": pages,
        "prev": page_file(page - 1) if page > 0 else None,
        "next": page_file(page + 1) if page + 1 < pages else None,
        "items": items,
    }


class HtmlWriter:
    """Streams one chat into paged HTML files plus ``style.css``."""

    def __init__(self, ctx: RenderContext):
        self.ctx = ctx
        self.page_size = page_size(ctx.options)
        env = environment()
        self._head = env.get_template("page_head.html")
        self._foot = env.get_template("page_foot.html")
        self._history = env.get_template("history.html")
        self._pages = 1
        self._page = -1
        self._file: IO[bytes] | None = None
        self._items: list[MessageView | Markup] = []  # rendered and written once per batch
        self._written = 0
        self._day: date | None = None
        self._album: int | None = None
        self._last: tuple[int, datetime] | None = None  # previous sender, date (for joining)

    # -- FormatWriter -------------------------------------------------------------------------
    def open(self) -> None:
        with self.ctx.open(STYLE_FILE, "wb") as fh:
            fh.write(stylesheet())
        self._pages = max(1, -(-self.ctx.message_count // self.page_size))

    def write(self, messages: Sequence[Message]) -> None:
        for msg in messages:
            page = self._written // self.page_size
            if page != self._page:
                self._end_page()
                self._start_page(page)
            self._items.append(self._view(msg))
            self._written += 1
        self._flush()

    def close(self) -> None:
        if self._page < 0:
            self._start_page(0)
            self._items.append(Markup('<div class="empty">No messages.</div>\n'))
        self._end_page()

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- pages --------------------------------------------------------------------------------
    def _start_page(self, page: int) -> None:
        self._page = page
        self._pages = max(self._pages, page + 1)
        self._day = None
        self._album = None
        self._last = None
        self._file = self.ctx.open(page_file(page), "wb")
        chat = self.ctx.chat
        title = peer_title(chat, fallback=chat.folder_name)
        self._items.append(Markup(self._head.render(
            csp=CSP, title=title, chat_initials=initials(title), chat_colour=colour(chat.id),
            kind_label=CHAT_KIND_LABELS.get(chat.kind, ""), username=chat.username or "",
            **navigation(page, self._pages))))

    def _end_page(self) -> None:
        if self._file is None:
            return
        self._close_album()
        self._items.append(Markup(self._foot.render(**navigation(self._page, self._pages))))
        self._flush()
        self._file.close()
        self._file = None

    def _flush(self) -> None:
        if self._items and self._file is not None:
            self._file.write(encode_utf8(self._history.render(items=self._items)))
        self._items.clear()

    def _close_album(self) -> None:
        if self._album is not None:
            self._items.append(_ALBUM_CLOSE)
            self._album = None

    # -- lookups ------------------------------------------------------------------------------
    def name(self, peer_id: int) -> str:
        chat = self.ctx.chat
        if peer_id == chat.id:
            return peer_title(chat, fallback=chat.folder_name)
        return peer_title(self.ctx.peer(peer_id))  # the engine caches peers

    def link_to(self, message_id: int) -> str | None:
        """``messagesN.html#messageID`` for a message of this chat, None when not archived."""
        rank = self.ctx.message_index(message_id)
        if rank is None:
            return None
        return f"{page_file(rank // self.page_size)}#message{message_id}"

    # -- one message --------------------------------------------------------------------------
    def _view(self, msg: Message) -> MessageView:
        view = MessageView(msg.id)
        day = msg.date.date()
        if day != self._day:
            self._close_album()
            view.separator = day_label(msg.date)
            self._day = day
            self._last = None
        view.full_time = full_time(msg.date)  # "2024-03-01 09:30:00 UTC"
        view.iso = f"{view.full_time[:10]}T{view.full_time[11:19]}Z"
        view.time = view.full_time[11:16]
        sender = msg.sender_id if msg.sender_id is not None else self.ctx.chat.id

        if msg.action is not None:
            self._close_album()
            self._last = None
            view.service = True
            view.service_html = service_html(msg, self.name(sender), self.name, self.link_to)
            return view

        if msg.grouped_id is not None and msg.grouped_id == self._album:
            view.mode = "album_item"
        else:
            self._close_album()
            if msg.grouped_id is not None:
                view.mode = "album_first"
                self._album = msg.grouped_id
            last = self._last
            view.joined = (last is not None and last[0] == sender and msg.forward is None
                           and msg.via_bot_id is None and (msg.date - last[1]).total_seconds() < JOIN_SECONDS)
        self._last = (sender, msg.date)

        view.sender = self.name(sender)
        view.initials = initials(view.sender)
        view.colour = colour(sender)
        if msg.edit_date is not None:
            view.edited = full_time(msg.edit_date)
        self._forward(view, msg)
        if msg.via_bot_id is not None:
            bot = self.ctx.peer(msg.via_bot_id)
            view.via_bot = f"@{bot.username}" if bot is not None and bot.username else self.name(msg.via_bot_id)
        view.author = msg.post_author or ""
        if msg.reply_to_id is not None:
            view.reply = self._reply(msg)
        if msg.media is not None:
            view.media = media_view(msg.media)
        view.text_html = render_text(msg.text, msg.entities)
        view.reactions = [reaction_view(r) for r in msg.reactions]
        view.views = msg.views
        view.forwards = msg.forwards
        view.deleted = msg.deleted
        return view

    def _forward(self, view: MessageView, msg: Message) -> None:
        fwd = msg.forward
        if fwd is None:
            return
        if fwd.from_id is not None:
            peer = self.ctx.peer(fwd.from_id)
            view.forwarded = peer_title(peer, fallback=fwd.from_name or "Unknown")
        elif fwd.from_name:
            view.forwarded = fwd.from_name
        if fwd.date is not None:
            view.forwarded_time = full_time(fwd.date)
        if fwd.saved_from_peer is not None:
            view.saved_from = self.name(fwd.saved_from_peer)

    def _reply(self, msg: Message) -> ReplyView:
        assert msg.reply_to_id is not None
        if msg.reply_to_peer_id is not None and msg.reply_to_peer_id != self.ctx.chat.id:
            return ReplyView(None, "", "", note="In reply to a message in another chat")
        href = self.link_to(msg.reply_to_id)
        if href is None:
            return ReplyView(None, "", "", note="In reply to a message that is not in this archive")
        target = self.ctx.message(msg.reply_to_id)
        if target is None:
            return ReplyView(href, "", "", note="In reply to this message")
        target_sender = target.sender_id if target.sender_id is not None else self.ctx.chat.id
        return ReplyView(href, self.name(target_sender), excerpt(target))
