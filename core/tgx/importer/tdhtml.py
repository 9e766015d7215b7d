"""Reader of Telegram Desktop's HTML export ("Export chat history" → HTML).

Three shapes (all written by ``export_output_html.cpp`` of Telegram Desktop):

* one chat: a folder with ``messages.html``, ``messages2.html``, … (1000 messages a page);
* an account: ``export_results.html``, ``lists/chats.html`` linking each chat's
  ``chats/chat_NN/messages.html``, ``lists/contacts.html``;
* a page itself: ``messages.html`` names its chat's folder; any other page name is read alone.

Pages are parsed one block at a time (:mod:`tgx.importer.tdhtml_markup`), chats one after the
other, so memory stays flat in the number of pages. What HTML carries and lacks is listed in
docs/import.md; the decisions that shape the stream:

* **Chat ids.** HTML names a chat, never its id: the caller gives it (``chat_id`` for a one-chat
  export, ``chat_ids`` by chat folder for an account — see :func:`list_html_chats`); a chat
  without one stops the read before anything is yielded (:class:`tgx.errors.UsageError`).
* **Senders.** Names only: ``sender_id`` stays None and the name is ``Message.extra["from"]``.
* **Dates.** Titles are the exporter's wall-clock time, since Telegram Desktop 4.0 (2022) with
  the offset it had (``UTC+02:00``). Telegram Desktop writes its zone's *standard* offset (Qt's
  ``displayName(StandardTime, OffsetName)``), so in a daylight-saving season that offset is an
  hour off; ``zone`` (the exporting machine's zone) reads the wall clock exactly. Titles without
  an offset (older exports) are read as UTC unless ``zone`` is given; the reader warns once.
* **Contacts** with Telegram Desktop's ``ID: …`` tooltip become peers; personal information has
  no id and is not imported (a warning says so).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from itertools import chain
from pathlib import Path, PurePosixPath

from tgx.errors import UsageError
from tgx.model import Peer, peer_kind_of_id

from .source import ExportItem, ImportedChat, ImportedMessage, Warn
from .tdhtml_markup import Node, iter_blocks
from .tdhtml_message import PageContext, flush_pending, read_block

__all__ = ["HtmlChat", "list_html_chats", "read_html_export"]

SINGLE_CHAT = "."  # the key of a one-chat export's chat in ``chat_ids``
_HTML_KINDS = {"private": "user", "bot": "bot", "channel": "channel"}


@dataclass(frozen=True, slots=True)
class HtmlChat:
    """A chat as an HTML export lists it: enough for a person to give it its id."""

    folder: str  # relative to the export root, POSIX: "chats/chat_01" ("." for a one-chat export)
    name: str
    td_type: str  # the list's word: private, bot, group, channel, unknown ("" for a one-chat export)
    left: bool  # listed among the chats the account left
    first_page: Path


def read_html_export(path: Path, warn: Warn, *, chat_id: int | None = None,
                     chat_ids: Mapping[str, int] | None = None, zone: tzinfo | None = None) -> Iterator[ExportItem]:
    """The :mod:`tgx.importer.source` stream of an HTML export: contacts first, then each chat.

    ``chat_id`` is the marked id of a one-chat export's chat; ``chat_ids`` maps an account's
    chat folders (:attr:`HtmlChat.folder`) to theirs. ``zone`` is the exporting machine's time
    zone, when known. Raises :class:`UsageError` (one line naming the file) for a path that is
    not an HTML export, and for a chat with no id, before anything is yielded.
    """
    root, chats = _shape(path, warn)
    ids = dict(chat_ids or {})
    if chat_id is not None:
        ids.setdefault(SINGLE_CHAT, chat_id)
    lacking = [c for c in chats if c.folder not in ids]
    if lacking:
        shown = ", ".join(f"{c.folder} ({c.name})" for c in lacking[:3])
        more = f" and {len(lacking) - 3} more" if len(lacking) > 3 else ""
        raise UsageError(f"{lacking[0].first_page}: an HTML export does not name its chats' ids: {shown}{more}",
                         hint="give each chat's id (--chat-id); `tgx chats` or the chat's t.me link shows it")
    if chats[0].folder != SINGLE_CHAT:
        yield from _contacts(root, warn)
        _personal_info(root, warn)
    for chat in chats:
        yield _chat(root, chat, ids[chat.folder], warn, zone)


def list_html_chats(path: Path, warn: Warn) -> list[HtmlChat]:
    """The chats of an HTML export (one for a one-chat export), in the export's order; only those
    with exported messages (a chat listed without a page has nothing to import)."""
    return _shape(path, warn)[1]


# ---------------------------------------------------------------------------------------------
# shapes


def _shape(path: Path, warn: Warn) -> tuple[Path, list[HtmlChat]]:
    """(export root, its chats) for any of the three shapes; UsageError for anything else."""
    if path.is_file():
        if path.name == "export_results.html":
            return _account(path.parent, warn)
        if path.suffix == ".html" and path.name.startswith("messages"):
            return path.parent, [HtmlChat(SINGLE_CHAT, "", "", False, path)]
        raise UsageError(f"{path}: not a Telegram Desktop HTML export (expected messages.html or a folder)")
    if (path / "messages.html").is_file() or any(path.glob("messages*.html")):
        return path, [HtmlChat(SINGLE_CHAT, "", "", False, path / "messages.html")]
    if (path / "lists" / "chats.html").is_file() or (path / "export_results.html").is_file():
        return _account(path, warn)
    if path.is_dir():
        raise UsageError(f"{path}: not a Telegram Desktop HTML export (no messages.html, no lists/chats.html)")
    raise UsageError(f"{path}: no such file or folder")


def _account(root: Path, warn: Warn) -> tuple[Path, list[HtmlChat]]:
    """An account export's chats from ``lists/chats.html`` (its second list: the chats left)."""
    listing = root / "lists" / "chats.html"
    if not listing.is_file():
        raise UsageError(f"{listing}: missing: this account export holds no chats")
    chats: list[HtmlChat] = []
    lists = 0
    for node in iter_blocks(listing, _is_list_part, warn):
        if node.has("page_about"):
            lists += 1
            continue
        link = node.attrs.get("href", "").partition("#")[0]
        if node.tag != "a" or not link:
            continue  # a chat with no exported messages: no page
        page = PurePosixPath("lists", link)
        folder = str(PurePosixPath(*_normal(page.parent.parts)))
        name_node, type_node = node.find("name"), node.find("info")
        chats.append(HtmlChat(folder, name_node.text() if name_node else "", type_node.text() if type_node else "",
                              lists > 1, root / folder / page.name))
    if not chats:
        raise UsageError(f"{listing}: not a Telegram Desktop chat list (no chat entries)")
    return root, chats


def _normal(parts: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for part in parts:
        if part == "..":
            if out:
                out.pop()
            else:
                out.append(part)
        elif part != ".":
            out.append(part)
    return out


def _is_list_part(tag: str, classes: frozenset[str]) -> bool:
    return "entry" in classes or "page_about" in classes


# ---------------------------------------------------------------------------------------------
# account-wide peers


def _contacts(root: Path, warn: Warn) -> Iterator[Peer]:
    """Contacts whose entry carries Telegram Desktop's ``ID: 123`` tooltip (4.x exports)."""
    listing = root / "lists" / "contacts.html"
    if not listing.is_file():
        return
    without = 0
    for node in iter_blocks(listing, lambda tag, classes: "entry" in classes, warn):
        initials = node.find("initials")
        tooltip = initials.attrs.get("title", "") if initials is not None else ""
        bare = tooltip.removeprefix("ID: ")
        name_node = node.find("name")
        if not tooltip.startswith("ID: ") or not bare.isdigit() or name_node is None:
            without += 1
            continue
        yield Peer(int(bare), "user", name_node.text())
    if without:
        warn("peer without id", f"{listing}: {without} contact(s) without an id were not imported")


def _personal_info(root: Path, warn: Warn) -> None:
    summary = root / "export_results.html"
    if summary.is_file() and any(True for _ in iter_blocks(summary, lambda t, c: "personal_info" in c, warn)):
        warn("peer without id", f"{summary}: personal information names no user id; not imported")


# ---------------------------------------------------------------------------------------------
# chats


def _chat(root: Path, chat: HtmlChat, chat_id: int, warn: Warn, zone: tzinfo | None) -> ImportedChat:
    pages = _pages(chat.first_page, warn)
    blocks = iter_blocks(pages[0], _is_page_part, warn)
    header = next(blocks, None)
    if header is None or not (header.has("page_header") or header.has("message")):
        raise UsageError(f"{pages[0]}: not a Telegram Desktop HTML export page (no page header, no messages)")
    title = (header.find("text") or header).text() if header.has("page_header") else chat.name
    peer = Peer(chat_id, _kind(chat_id, chat.td_type, title), title or chat.name)
    first = [] if header.has("page_header") else [header]
    return ImportedChat(peer, chat.td_type, _messages(root, pages, first, blocks, chat_id, warn, zone),
                        left=chat.left, source=pages[0])


def _kind(chat_id: int, td_type: str, title: str) -> str:
    """The peer kind the export's words allow: the list's type, else the id's shape (a ``-100…``
    chat of a one-chat export reads as a channel: HTML does not tell a supergroup from one)."""
    by_id = peer_kind_of_id(chat_id)
    if td_type == "private" and title == "Saved messages":
        return "self"
    if td_type == "group" and by_id == "channel":
        return "supergroup"
    return _HTML_KINDS.get(td_type, by_id)


def _pages(first: Path, warn: Warn) -> list[Path]:
    """A chat's pages in order: ``messages.html``, ``messages2.html``, …; a gap in the numbers
    (the first page too) is a missing page: warned, the other pages still read. A page other
    than ``messages.html`` named on its own is read alone."""
    if first.name != "messages.html":
        return [first]
    numbered = {1: first} if first.is_file() else {}
    for page in first.parent.glob("messages*.html"):
        number = page.stem[len("messages"):]
        if number.isdigit() and int(number) >= 2:
            numbered[int(number)] = page
    if not numbered:
        raise UsageError(f"{first}: missing: not a Telegram Desktop HTML export")
    for n in range(1, max(numbered) + 1):
        if n not in numbered:
            name = "messages.html" if n == 1 else f"messages{n}.html"
            warn("missing page", f"{first.parent / name}: missing; the messages on it are not imported")
    return [numbered[n] for n in sorted(numbered)]


def _is_page_part(tag: str, classes: frozenset[str]) -> bool:
    return tag == "div" and ("message" in classes or "page_header" in classes) or "pagination" in classes


def _messages(root: Path, pages: list[Path], first: list[Node], blocks: Iterator[Node], chat_id: int,
              warn: Warn, zone: tzinfo | None) -> Iterator[ImportedMessage]:
    ctx = PageContext(str(pages[0]), root.absolute().as_posix(), pages[0].parent.absolute().as_posix(), warn, zone)
    for index, page in enumerate(pages):
        ctx.source = str(page)
        ctx.reset_join()
        if index:
            blocks = iter_blocks(page, _is_page_part, warn)
            first = []
        next_link = None
        for node in chain(first, blocks):
            if node.has("pagination"):
                if node.text() == "Next messages":
                    next_link = node.attrs.get("href")
                continue
            if node.has("page_header"):
                continue
            yield from read_block(node, chat_id, ctx)
        if next_link and not (page.parent / next_link).is_file():
            warn("missing page", f"{page.parent / next_link}: missing; the messages on it are not imported")
    yield from flush_pending(ctx, None)
    if ctx.undated_titles:
        warn("date without offset", f"{pages[0].parent}: {ctx.undated_titles} message date(s) name no UTC offset; "
                                    "read as UTC (give the exporter's time zone to read them exactly)")
