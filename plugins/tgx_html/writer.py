"""``<chat>/messages.html``, ``messages2.html``, ...: a static archive that opens from disk.

Messages stream in id order; each batch becomes a list of small view objects that one Jinja2
template renders and the writer writes at once, so memory holds one batch and a few words of
state: the open page, the current day (for date separators), the open album (consecutive
messages with the same ``grouped_id`` share one block) and the previous sender (consecutive
messages from one person within 15 minutes are "joined" under one name). A page holds
``html-page-size`` messages; message ``n`` (0-based, in id order) is on page ``n // size``,
which is how reply links find their target page through ``ctx.message_index`` without reading
anything back.

Channel comments (``tgx export --comments``): a post with archived comments is followed by its
thread, ``<details class="comments" id="comments<post id>">`` (collapsed; its ``<summary>`` says
how many), streamed from ``ctx.comments(post_id)`` and written every ``COMMENT_FLUSH`` comments,
so a post with 100,000 comments costs no more memory than a batch. Comments are views like
messages (the same template, the same escaping), anchored ``id="c<comment id>"``; a comment
answering another comment of the thread links to it (``#c<id>``), and the thread links back to
its post (``#message<post id>``). A post in an album gets its thread after the album block.

Forums: the main pages hold the whole forum, as before; in addition, ``close()`` writes
``topics/index.html`` (every topic, by id, with its marks and how many messages the archive
holds) and, per topic with messages, ``topics/<topic id>/messages.html``, ``messages2.html`` ...
paged like the main pages, streamed from ``ctx.topic_messages``. A reply inside the same topic
links within the topic's pages; any other goes to the main pages (``../../messagesN.html``).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from typing import IO, Any

import jinja2
from markupsafe import Markup
from tgx.errors import UsageError
from tgx.model import Message, Topic
from tgx.specs import RenderContext

from . import DEFAULT_PAGE_SIZE, PAGE_SIZE_OPTION  # the package holds the option's names
from .entities import render_text
from .safety import clean_text, encode_utf8
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
    version_views,
)

STYLE_FILE = "style.css"
# No scripts, no network, no inline styles; the page's own folder for CSS and media.
CSP = Markup("default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
             "base-uri 'none'; form-action 'none'")
JOIN_SECONDS = 15 * 60
NAV_RADIUS = 3  # page links shown before the current page
LATEST_FILE = "newest.html"  # redirects to the newest page: rewritten by every render
_ALBUM_CLOSE = Markup("</div></div></div>\n")
_THREAD_OPEN = Markup('<details class="comments" id="comments{post}">\n<summary>{count} {noun}</summary>\n'
                      '<div class="thread">\n<div class="thread-post"><a href="#message{post}">&#8593; '
                      'Comments on this post</a></div>\n')
_THREAD_CLOSE = Markup("</div>\n</details>\n")
COMMENT_FLUSH = 200  # comment views rendered and written at once
RECENT_COMMENTS = 256  # per thread: replied-to comments whose sender and excerpt are remembered
TOPICS_DIR = "topics"
TOPICS_INDEX = f"{TOPICS_DIR}/index.html"
GENERAL_TOPIC = 1
# Telegram's six topic icon colours -> .topic-colour1 ... 6 (0: any other)
TOPIC_COLOURS = {0x6FB9F0: 1, 0xFFD67E: 2, 0xCB86DB: 3, 0x8EEE98: 4, 0xFF93B2: 5, 0xFB6F5F: 6}


def topic_of(msg: Message) -> int:
    """The forum topic a message is in: its ``topic_id``; General (1) when it has none, except a
    ``topic_created`` message, which opens its own topic (the archive's rule)."""
    if msg.topic_id is not None:
        return msg.topic_id
    if msg.action is not None and msg.action.type == "topic_created":
        return msg.id
    return GENERAL_TOPIC


def topic_dir(topic_id: int) -> str:
    """``topics/<id>/``: where a topic's pages go (ids are ints: always a safe name)."""
    return f"{TOPICS_DIR}/{int(topic_id)}/"


def page_file(page: int) -> str:
    """0-based page number -> its file name (Telegram Desktop's naming)."""
    return "messages.html" if page == 0 else f"messages{page + 1}.html"


def clean_title(text: str) -> str:
    """A topic title on one line (titles are untrusted: escaped by the templates)."""
    return " ".join(clean_text(text).split())


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


def navigation(page: int, has_next: bool) -> dict[str, Any]:
    """First, previous, the NAV_RADIUS pages before this one, next and newest: nothing that
    depends on how many pages there are, so a page's bytes depend only on its own messages and
    on whether a page follows it (a refresh rewrites the pages that changed, not every page)."""
    shown = sorted({0, *range(max(0, page - NAV_RADIUS), page + 1)})
    items: list[NavItem] = []
    previous = -1
    for p in shown:
        if p - previous > 1:
            items.append(NavItem(0, None))
        items.append(NavItem(p + 1, page_file(p), p == page))
        previous = p
    return {
        "page": page + 1,
        "multi": page > 0 or has_next,
        "first": page_file(0) if page > 0 else None,
        "prev": page_file(page - 1) if page > 0 else None,
        "next": page_file(page + 1) if has_next else None,
        "latest": LATEST_FILE if has_next else None,
        "items": items,
    }


def latest_page(target: str) -> bytes:
    """``newest.html``: a redirect to the newest page (the only file that knows it)."""
    return encode_utf8(Markup(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" content="{csp}">\n<meta name="referrer" content="no-referrer">\n'
        '<meta http-equiv="refresh" content="0; url={target}">\n<title>Newest page</title>\n</head>\n'
        '<body>\n<p><a href="{target}">Newest page</a></p>\n</body>\n</html>\n').format(csp=CSP, target=target))


@dataclass(slots=True)
class TopicView:
    """One line of ``topics/index.html``."""

    id: int
    title: str
    count: int  # messages archived in it
    href: str | None  # its first page; None when the archive holds none of its messages
    colour: int = 0
    icon: str = "\u25cf"
    icon_title: str = ""
    marks: list[tuple[str, str]] = field(default_factory=list)  # (symbol, tooltip)
    closed: bool = False
    hidden: bool = False


def topic_view(topic_id: int, topic: Topic | None, title: str, count: int) -> TopicView:
    view = TopicView(topic_id, title, count, f"{int(topic_id)}/{page_file(0)}" if count else None)
    if topic_id == GENERAL_TOPIC:
        view.icon = "#"
    if topic is None:
        return view
    view.colour = TOPIC_COLOURS.get(topic.icon_color or -1, 0)
    if topic.icon_emoji_id:  # a custom emoji: its picture is not in the archive, the emoji it stands for may be
        view.icon, view.icon_title = topic.icon_emoji or "\u2726", f"custom emoji {topic.icon_emoji_id}"
    if topic.pinned:
        view.marks.append(("\U0001F4CC", "pinned"))
    if topic.closed:
        view.marks.append(("\U0001F512", "closed"))
    if topic.hidden:
        view.marks.append(("\u2298", "hidden from the topic list"))
    view.closed, view.hidden = topic.closed, topic.hidden
    return view


class _Thread:
    """What one post's thread remembers while it streams: the ids so far (ascending, 8 bytes
    each, for links between comments) and the last few comments' sender and excerpt."""

    __slots__ = ("ids", "last", "recent")

    def __init__(self) -> None:
        self.ids = array("q")
        self.recent: OrderedDict[int, tuple[str, str]] = OrderedDict()
        self.last: tuple[int, datetime] | None = None  # for joining consecutive comments

    def has(self, comment_id: int) -> bool:
        i = bisect_left(self.ids, comment_id)
        return i < len(self.ids) and self.ids[i] == comment_id

    def add(self, comment_id: int, sender: str, quote: str) -> None:
        if not self.ids or self.ids[-1] < comment_id:
            self.ids.append(comment_id)
        self.recent[comment_id] = (sender, quote)
        if len(self.recent) > RECENT_COMMENTS:
            self.recent.popitem(last=False)

    def link(self, comment_id: int) -> str | None:
        return f"#c{comment_id}" if isinstance(comment_id, int) and self.has(comment_id) else None


class HtmlWriter:
    """Streams one chat into paged HTML files plus ``style.css`` (and a forum's topic pages).

    The same class writes a topic's page set: ``base`` is the folder of its files
    (``topics/<id>/``), ``root`` the way back to the chat folder (``../../``), ``topic_title``
    its title and ``count`` how many messages it will get.
    """

    def __init__(self, ctx: RenderContext, *, base: str = "", root: str = "", topic_title: str | None = None,
                 count: int | None = None):
        self.ctx = ctx
        self.page_size = page_size(ctx.options)
        self._base = base
        self._root = root
        self._topic_title = topic_title
        self._count = count  # set from the context in open() when not given
        self._topic_ids: array | None = array("q") if topic_title is not None else None
        self._forum = False  # the main pages of a forum (open() knows)
        self._topic_counts: dict[int, int] = {}
        self._channel = False  # a channel: posts may have comments
        self._pending_threads: list[tuple[int, int]] = []  # album posts' threads, after the album
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
        # the refresh capability: [first index, first id, ids on other pages its replies quote]
        self._parts: list[list[Any]] = []
        self._refresh = False

    # -- FormatWriter -------------------------------------------------------------------------
    def open(self) -> None:
        if not self._base and not self._refresh:  # a topic's pages share the chat's stylesheet
            with self.ctx.open(STYLE_FILE, "wb") as fh:
                fh.write(stylesheet())
        chat = self.ctx.chat
        if self._count is None:
            self._count = self.ctx.message_count
        self._forum = bool(chat.forum) and self._topic_title is None
        self._channel = chat.kind == "channel"
        self._pages = max(1, -(-self._count // self.page_size))

    def write(self, messages: Sequence[Message]) -> None:
        for msg in messages:
            page = self._written // self.page_size
            if page != self._page:
                self._end_page()
                self._start_page(page)
                self._parts.append([self._written, msg.id, []])
            view = self._view(msg)
            self._items.append(view)
            self._written += 1
            if self._topic_ids is not None and (not self._topic_ids or self._topic_ids[-1] < msg.id):
                self._topic_ids.append(msg.id)
            if self._forum:
                key = topic_of(msg)
                self._topic_counts[key] = self._topic_counts.get(key, 0) + 1
            if self._channel:
                n = self.ctx.comment_count(msg.id)
                if n:
                    if view.mode == "single":
                        self._thread(msg.id, n)
                    else:
                        self._pending_threads.append((msg.id, n))
        self._flush()

    def close(self) -> None:
        if self._page < 0 and not self._refresh:
            self._start_page(0)
            self._items.append(Markup('<div class="empty">No messages.</div>\n'))
        self._end_page()
        if self._pages > 1:  # one page: nothing to jump to
            with self.ctx.open(self._base + LATEST_FILE, "wb") as fh:
                fh.write(latest_page(page_file(self._pages - 1)))
        if self._forum:
            self._write_topics()

    # -- the paged refresh capability (docs/plugins.md) -----------------------------------------
    def parts(self) -> list[list[Any]]:
        """One part per page: its first index and id, and the ids on other pages it quotes."""
        return self._parts

    def reopen(self, parts: list[list[Any]], dirty: list[int]) -> bool:
        """Instead of open(): only the pages ``dirty`` (and newest.html) are written again; in a
        forum also the topic index and the page sets of ``ctx.changed_topics`` (each in full)."""
        if self.ctx.chat.forum and getattr(self.ctx, "changed_topics", None) is None:
            return False
        self._refresh = True
        self.open()
        return True

    def seek(self, index: int) -> None:
        """The next message written is the chat's ``index``-th (the first of a page)."""
        self._end_page()
        self._written = index
        self._page = -1

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
        self._file = self.ctx.open(self._base + page_file(page), "wb")
        chat = self.ctx.chat
        chat_title = peer_title(chat, fallback=chat.folder_name)
        if self._topic_title is None:
            title, kind_label, username = chat_title, CHAT_KIND_LABELS.get(chat.kind, ""), chat.username or ""
            links = [("Topics", TOPICS_INDEX)] if self._forum else []
        else:
            title, kind_label, username = self._topic_title, f"Topic in {chat_title}", ""
            links = [("All topics", "../index.html"),
                     ("Whole chat", f"{self._root}{page_file(0)}")]
        self._items.append(Markup(self._head.render(
            csp=CSP, title=title, chat_initials=initials(title), chat_colour=colour(chat.id),
            kind_label=kind_label, username=username, root=self._root, links=links,
            **navigation(page, page + 1 < self._pages))))

    def _end_page(self) -> None:
        if self._file is None:
            return
        self._close_album()
        self._items.append(Markup(self._foot.render(**navigation(self._page, self._page + 1 < self._pages))))
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
        if self._pending_threads:
            pending, self._pending_threads = self._pending_threads, []
            for post_id, n in pending:
                self._thread(post_id, n)

    # -- a post's comments --------------------------------------------------------------------
    def _thread(self, post_id: int, count: int) -> None:
        """The post's comments, collapsed under it: streamed, written every COMMENT_FLUSH."""
        items = self._items
        items.append(_THREAD_OPEN.format(post=post_id, count=f"{count:,}",
                                         noun="comment" if count == 1 else "comments"))
        thread = _Thread()
        for comment in self.ctx.comments(post_id):
            items.append(self._comment_view(comment, thread))
            if len(items) >= COMMENT_FLUSH:
                self._flush()
        items.append(_THREAD_CLOSE)
        self._last = None  # the next post shows its sender again

    def _comment_view(self, msg: Message, thread: _Thread) -> MessageView:
        view = MessageView(msg.id, prefix="c", comment=True)
        view.full_time = full_time(msg.date)
        view.iso = f"{view.full_time[:10]}T{view.full_time[11:19]}Z"
        view.time = view.full_time[:16]  # comments come days later: the date too
        if msg.sender_id is not None:
            sender, name = msg.sender_id, self.name(msg.sender_id)
        else:  # an anonymous admin of the discussion group
            sender = msg.chat_id
            name = peer_title(self.ctx.peer(msg.chat_id), fallback="Discussion group")
        if msg.action is not None:
            view.service = True
            view.service_html = service_html(msg, name, self.name, thread.link)
            thread.last = None
            thread.add(msg.id, name, excerpt(msg))
            return view
        last = thread.last
        view.joined = (last is not None and last[0] == sender and msg.forward is None
                       and msg.via_bot_id is None and (msg.date - last[1]).total_seconds() < JOIN_SECONDS)
        thread.last = (sender, msg.date)
        self._fill(view, msg, name, sender)
        view.reply = self._comment_reply(msg, thread)
        thread.add(msg.id, name, excerpt(msg))
        return view

    @staticmethod
    def _comment_reply(msg: Message, thread: _Thread) -> ReplyView | None:
        """A comment answering another comment links to it; one answering the post (the thread's
        root) needs no quote: the thread is under the post."""
        rid = msg.reply_to_id
        if rid is None:
            return None
        if msg.reply_to_peer_id is not None and msg.reply_to_peer_id != msg.chat_id:
            return ReplyView(None, "", "", note="In reply to a message in another chat")
        if thread.has(rid):
            seen = thread.recent.get(rid)
            if seen is None:
                return ReplyView(f"#c{rid}", "", "", note="In reply to this comment")
            return ReplyView(f"#c{rid}", seen[0], seen[1] or "Message")
        if msg.reply_to_top_id is not None and rid != msg.reply_to_top_id:
            return ReplyView(None, "", "", note="In reply to a comment that is not in this archive")
        return None

    # -- a forum's topics ---------------------------------------------------------------------
    def _topic_name(self, topic_id: int, topic: Topic | None) -> str:
        if topic is not None and topic.title.strip():
            return clean_title(topic.title)
        if topic_id == GENERAL_TOPIC:
            return "General"
        start = self.ctx.message(topic_id)  # a topic never listed: its topic_created message
        if start is not None and start.action is not None and start.action.type == "topic_created":
            title = clean_title(str(start.action.data.get("title") or ""))
            if title.strip():
                return title
        return f"Topic {topic_id}"

    def _write_topics(self) -> None:
        """``topics/index.html`` and every topic's own pages, after the main pages (a refresh: the
        pages of the topics that changed; the counts from the archive, it saw only some pages)."""
        listed = {t.id: t for t in self.ctx.topics()}
        counts = self.ctx.topic_counts() if self._refresh else self._topic_counts
        redo = self.ctx.changed_topics if self._refresh else None
        views = []
        for topic_id in sorted(set(listed) | set(counts)):
            topic = listed.get(topic_id)
            title = self._topic_name(topic_id, topic)
            count = counts.get(topic_id, 0)
            views.append(topic_view(topic_id, topic, title, count))
            if count and (redo is None or topic_id in redo):
                self._write_topic(topic_id, title, count)
        chat = self.ctx.chat
        chat_title = peer_title(chat, fallback=chat.folder_name)
        nav = navigation(0, False)
        head = self._head.render(csp=CSP, title=f"Topics \u2014 {chat_title}", chat_initials=initials(chat_title),
                                 chat_colour=colour(chat.id), kind_label=f"{len(views):,} topics",
                                 username=chat.username or "", root="../",
                                 links=[("Whole chat", f"../{page_file(0)}")], **nav)
        body = environment().get_template("topics.html").render(topics=views)
        with self.ctx.open(TOPICS_INDEX, "wb") as fh:
            fh.write(encode_utf8(head + body + self._foot.render(**nav)))

    def _write_topic(self, topic_id: int, title: str, count: int) -> None:
        pages = HtmlWriter(self.ctx, base=topic_dir(topic_id), root="../../", topic_title=title, count=count)
        pages.open()
        batch: list[Message] = []
        for msg in self.ctx.topic_messages(topic_id):
            batch.append(msg)
            if len(batch) >= 1000:
                pages.write(batch)
                batch = []
        if batch:
            pages.write(batch)
        pages.close()

    # -- lookups ------------------------------------------------------------------------------
    def name(self, peer_id: int) -> str:
        chat = self.ctx.chat
        if peer_id == chat.id:
            return peer_title(chat, fallback=chat.folder_name)
        return peer_title(self.ctx.peer(peer_id))  # the engine caches peers

    def link_to(self, message_id: int) -> str | None:
        """``messagesN.html#messageID`` for a message of this chat, None when not archived. On a
        topic's pages: within them for an earlier message of the topic, else the main pages."""
        ids = self._topic_ids
        if ids is not None:
            i = bisect_left(ids, message_id)
            if i < len(ids) and ids[i] == message_id:
                return f"{page_file(i // self.page_size)}#message{message_id}"
        rank = self.ctx.message_index(message_id)
        if rank is None:
            return None
        return f"{self._root}{page_file(rank // self.page_size)}#message{message_id}"

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
        self._fill(view, msg, self.name(sender), sender)
        if msg.reply_to_id is not None:
            view.reply = self._reply(msg)
        return view

    def _fill(self, view: MessageView, msg: Message, name: str, sender: int) -> None:
        """What a message and a comment show alike: sender, forward, media, text, reactions."""
        view.sender = name
        view.initials = initials(view.sender)
        view.colour = colour(sender)
        if msg.edit_date is not None:
            view.edited = full_time(msg.edit_date)
        self._forward(view, msg)
        if msg.via_bot_id is not None:
            bot = self.ctx.peer(msg.via_bot_id)
            view.via_bot = f"@{bot.username}" if bot is not None and bot.username else self.name(msg.via_bot_id)
        view.author = msg.post_author or ""
        if msg.media is not None:
            view.media = media_view(msg.media, self._root)
        view.text_html = render_text(msg.text, msg.entities)
        view.reactions = [reaction_view(r) for r in msg.reactions]
        view.views = msg.views
        view.forwards = msg.forwards
        view.deleted = msg.deleted
        if msg.deleted_at is not None:
            view.deleted_at = full_time(msg.deleted_at)
        if msg.history:
            view.versions = version_views(msg)

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
        rank = self.ctx.message_index(msg.reply_to_id)
        if self._parts and (rank is None or rank // self.page_size != self._page):
            self._parts[-1][2].append(msg.reply_to_id)  # its quote changes when that message does
        target = self.ctx.message(msg.reply_to_id)
        if target is None:
            return ReplyView(href, "", "", note="In reply to this message")
        target_sender = target.sender_id if target.sender_id is not None else self.ctx.chat.id
        return ReplyView(href, self.name(target_sender), excerpt(target))
