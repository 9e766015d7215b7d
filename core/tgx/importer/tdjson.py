"""Telegram Desktop's JSON export (``result.json``), streamed into :mod:`tgx.importer.source` items.

Two shapes: a single chat (``{name, type, id, messages}``) and the whole account (``about``,
``personal_information``, ``contacts``, ``frequent_contacts``, ``chats.list[]``,
``left_chats.list[]``, ...). The file is streamed with ``ijson`` (its C backend when built):
only the message being built is in memory, so a 2 GB export reads in flat memory. The
structure is walked event by event; a single chat's messages, the rest of its file, are built by
ijson's C code from a second handle (~2.3x the time ijson alone needs, against ~5x building them
from events in Python, which an account export's chats still do).

Account-wide peers are yielded as they are met (Telegram Desktop writes them before the chats):
the logged-in user (``self``), contacts with a ``user_id`` and frequent contacts — names only,
never a phone number. Each chat is yielded when its ``messages`` array begins
(Telegram Desktop writes ``name``, ``type``, ``id`` first) with a lazy iterator over it; asking
for the next item skips whatever the consumer left unread of the chat.

Message fields are mapped in :mod:`tgx.importer.tdfields` (dates: ``date_unixtime``; older
exports without it have ``date`` in the exporter's local time, read as UTC), text in
:mod:`tgx.importer.tdtext`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ijson.common import IncompleteJSONError, JSONError, ObjectBuilder  # type: ignore[import-untyped]

from tgx.errors import UsageError, first_line
from tgx.importer import tdlines
from tgx.model import Peer

from .source import ExportItem, ImportedChat, ImportedMessage, StoredRow, Warn
from .tdfields import CHAT_TYPES, ChatMessages, mark

_backend = tdlines.BACKEND  # ijson's C backend where built (chosen once, for both paths)

FILE_NAME = "result.json"
SINGLE_CHAT_MESSAGES = "messages.item"  # ijson's prefix of a single-chat export's messages
# What a Telegram Desktop export's root object may start with (anything else: not an export).
_ROOT_KEYS = frozenset({"about", "personal_information", "name", "type", "id", "messages", "profile_pictures",
                        "contacts", "frequent_contacts", "chats", "left_chats"})
_PEER_LISTS = ("contacts", "frequent_contacts")
_CHAT_LISTS = ("chats", "left_chats")
_FREQUENT_KINDS = {"people": "user", "inline_bots": "bot", "calls": "user"}

Event = tuple[str, str, Any]


class ExportError(UsageError):
    """The file is not a Telegram Desktop JSON export, or it breaks off (exit code 2)."""


def find_result_json(path: Path) -> Path:
    """``path`` itself, or the ``result.json`` in the folder ``path`` names."""
    if path.is_dir():
        path = path / FILE_NAME
    if not path.is_file():
        raise ExportError(f"{path}: no such file", hint="pass a Telegram Desktop export folder or its result.json")
    return path


def read_json_export(path: Path, warn: Warn, *, rows: bool = False) -> Iterator[ExportItem]:
    """Every peer and chat of the export at ``path`` (a ``result.json`` or its folder), in file order.
    ``rows``: the commonest messages come as their finished archive rows
    (:meth:`~tgx.importer.tdfields.ChatMessages.row`, what the import stores), the others as
    :class:`~tgx.importer.source.ImportedMessage`; else all of them as the latter.

    The file is judged whole: a reader whose items (and every chat's messages) were read to the
    end has read valid JSON to its last byte, or it raised :class:`ExportError` — which is how
    ``tgx import`` knows it may commit (what reading one message finds is warned, never raised)."""
    file = find_result_json(path)
    with file.open("rb") as fh:
        yield from _Reader(file, fh, warn, rows=rows).items()


class _Reader:
    """One pass over the events of one file; chats share it with their message iterators."""

    def __init__(self, file: Path, fh: IO[bytes], warn: Warn, *, rows: bool = False):
        self.file = file
        self.fh = fh
        self.warn = warn
        self.rows = rows
        self.events = _backend.parse(fh, use_float=True)
        self.where = "the start"  # for an error line: what was read last
        self.last: tuple[Any, str] | None = None  # (id, chat title) of the last message read, once past it
        self.self_id: int | None = None
        self.self_peer: Peer | None = None
        self._open: _ChatStream | None = None

    # -- events --------------------------------------------------------------------------------
    def next(self) -> Event:
        try:
            return next(self.events)
        except StopIteration:
            raise self.error("the file ends early") from None
        except IncompleteJSONError as exc:
            raise self.error(_reason(exc)) from None
        except (JSONError, UnicodeDecodeError, ValueError) as exc:
            raise self.error(f"unreadable JSON ({exc})") from None

    def error(self, reason: str, fh: IO[bytes] | None = None) -> ExportError:
        where = self.where if self.last is None else f"message {self.last[0]} of chat {self.last[1]!r}"
        return ExportError(f"{self.file}: {reason}, after {where} (byte ~{_offset(fh or self.fh)})",
                           hint="is the export complete? Telegram Desktop writes result.json last")

    def objects_at(self, prefix: str) -> Iterator[Any]:
        """Every value at ``prefix``, built by ijson's C code from a second handle on the file:
        several times faster than building from events in Python. For a single-chat export,
        whose messages are the rest of the file. Its messages come by the faster path of
        Telegram Desktop's own layout (:mod:`tgx.importer.tdlines`) as far as the file follows
        it, the rest from ijson."""
        given = 0
        if prefix == SINGLE_CHAT_MESSAGES:
            try:
                for obj in tdlines.messages(self.file):
                    yield obj
                    given += 1
                return
            except tdlines.Layout as stop:
                given = stop.count
        with self.file.open("rb") as fh:
            values = _backend.items(fh, prefix, use_float=True)
            while True:
                try:
                    value = next(values)
                except StopIteration:
                    return
                except IncompleteJSONError as exc:
                    raise self.error(_reason(exc), fh) from None
                except (JSONError, UnicodeDecodeError, ValueError) as exc:
                    raise self.error(f"unreadable JSON ({exc})", fh) from None
                if given:  # the fast path gave it already: read again, not given twice
                    given -= 1
                    continue
                yield value

    def value(self, event: str, value: Any) -> Any:
        """The whole value that starts with this event (a scalar, or the map/array it opens)."""
        if event not in ("start_map", "start_array"):
            return value
        builder = ObjectBuilder()
        builder.event(event, value)
        depth = 1
        while depth:
            _, event, value = self.next()
            builder.event(event, value)
            if event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
        return builder.value

    def skip(self, event: str) -> None:
        """Past the value that starts with this event, building nothing."""
        if event not in ("start_map", "start_array"):
            return
        depth = 1
        while depth:
            event = self.next()[1]
            if event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1

    def keys(self) -> Iterator[tuple[str, str, Any]]:
        """``(key, event, value)`` for each key of the map just opened, its value's first event."""
        while True:
            _, event, key = self.next()
            if event == "end_map":
                return
            _, event, value = self.next()
            yield key, event, value

    def array(self) -> Iterator[tuple[str, Any]]:
        """``(event, value)``: the first event of each item of the array just opened."""
        while True:
            _, event, value = self.next()
            if event == "end_array":
                return
            yield event, value

    # -- the root ------------------------------------------------------------------------------
    def items(self) -> Iterator[ExportItem]:
        _, event, _value = self.next()
        if event != "start_map":
            raise ExportError(f"{self.file}: not a Telegram Desktop export (its root is not an object)")
        header: dict[str, Any] = {}
        shape = None
        for key, event, value in self.keys():
            if shape is None:
                if key not in _ROOT_KEYS:
                    raise ExportError(f"{self.file}: not a Telegram Desktop export (it starts with {key!r})")
                shape = "chat" if key in ("name", "type", "id", "messages") else "account"
            self.where, self.last = f"the key {key!r}", None
            if shape == "chat" and key in ("name", "type", "id"):
                header[key] = self.value(event, value)
            elif shape == "chat" and key == "messages":
                yield self._chat(header, event, left=False, prefix=SINGLE_CHAT_MESSAGES)
                self._close_open()  # its messages are the rest of the file, read to its end
                return
            elif key == "personal_information":
                peer = self._personal(self.value(event, value))
                if peer is not None:
                    yield peer
            elif key in _PEER_LISTS and event == "start_map":
                yield from self._peer_list(key)
            elif key in _CHAT_LISTS and event == "start_map":
                yield from self._chat_list(key)
            else:
                self.skip(event)
        if shape is None:
            raise ExportError(f"{self.file}: not a Telegram Desktop export (an empty object)")
        self.where, self.last = "the end of the export", None
        self._end()

    def _end(self) -> None:
        """The root object closed: nothing but whitespace may follow it."""
        try:
            next(self.events)
        except StopIteration:
            return
        except IncompleteJSONError as exc:
            raise self.error(_reason(exc)) from None
        except (JSONError, UnicodeDecodeError, ValueError) as exc:
            raise self.error(f"unreadable JSON ({exc})") from None
        raise self.error("a second value follows the export's root object")

    def _close_open(self) -> None:
        """The consumer moved on: skip what it left of the last chat's messages."""
        if self._open is not None:
            self._open.drain()
            self._open = None

    # -- account-wide peers ----------------------------------------------------------------------
    def _personal(self, info: Any) -> Peer | None:
        if not isinstance(info, dict) or not isinstance(info.get("user_id"), int):
            self.warn("bad personal information", "no user_id")
            return None
        first, last = _name(info.get("first_name")), _name(info.get("last_name"))
        username = info.get("username")
        username = username.lstrip("@") or None if isinstance(username, str) else None
        self.self_id = info["user_id"]
        self.self_peer = Peer(info["user_id"], "self", _full_name(first, last), username, first, last)
        return self.self_peer

    def _section_list(self) -> Iterator[tuple[str, Any]]:
        """The first event of each item of the section's ``list`` (its ``about`` is skipped)."""
        for key, event, _value in self.keys():
            if key == "list" and event == "start_array":
                yield from self.array()
            else:
                self.skip(event)

    def _peer_list(self, section: str) -> Iterator[Peer]:
        for n, (event, value) in enumerate(self._section_list()):
            self.where, self.last = f"{section}.list[{n}]", None
            entry = self.value(event, value)
            peer = _contact(entry) if section == "contacts" else _frequent(entry)
            if peer is not None:
                yield peer

    # -- chats ---------------------------------------------------------------------------------
    def _chat_list(self, section: str) -> Iterator[ImportedChat]:
        for n, (event, _value) in enumerate(self._section_list()):
            self.where, self.last = f"{section}.list[{n}]", None
            if event != "start_map":
                self.skip(event)
                continue
            header: dict[str, Any] = {}
            for key, cevent, cvalue in self.keys():
                if key in ("name", "type", "id"):
                    header[key] = self.value(cevent, cvalue)
                elif key == "messages":
                    yield self._chat(header, cevent, left=section == "left_chats")
                    self._close_open()
                else:
                    self.skip(cevent)

    def _chat(self, header: dict[str, Any], event: str, *, left: bool, prefix: str | None = None) -> ImportedChat:
        """The chat whose ``messages`` array just opened; ``prefix``: read them from there by
        :meth:`objects_at` instead of from this reader's events."""
        td_type, bare, name = header.get("type"), header.get("id"), header.get("name")
        if event != "start_array":
            raise self.error("'messages' is not an array")
        if not isinstance(bare, int) or isinstance(bare, bool) or td_type not in CHAT_TYPES:
            raise self.error(f"a chat whose type/id are unreadable or come after its messages "
                             f"(type={td_type!r}, id={bare!r})")
        kind, how = CHAT_TYPES[td_type]
        chat_id = mark(bare, how)
        title = name if isinstance(name, str) else ""
        if kind == "self" and self.self_peer is not None:
            peer = Peer(chat_id, "self", self.self_peer.title, self.self_peer.username, self.self_peer.first_name,
                        self.self_peer.last_name)
        else:
            peer = Peer(chat_id, kind, title, public=str(td_type).startswith("public_"))
        stream = _ChatStream(self, ChatMessages(peer, {}, self.warn, self.self_id or _self_of(peer)), title, prefix)
        self._open = stream
        stream.imported = ImportedChat(peer, str(td_type), stream.messages(), stream.chat.peers, left=left,
                                       source=self.file)
        return stream.imported


class _ChatStream:
    """The lazy ``messages`` of one chat: the rest of its array, one message object at a time."""

    def __init__(self, source: _Reader, chat: ChatMessages, title: str, prefix: str | None):
        self.source = source
        self.chat = chat
        self.title = title
        self.prefix = prefix
        self.done = False  # the array is consumed (read to its end, or skipped by drain)
        self._objs: Iterator[Any] | None = None  # the message objects, once asked for
        self.imported: ImportedChat | None = None  # the chat this stream is the messages of

    def messages(self) -> Iterator[ImportedMessage | StoredRow]:
        """Each message (the commonest as its archive row where the reader was asked for rows)."""
        source, chat = self.source, self.chat
        rows = source.rows
        if self.done:  # the consumer asked only after moving on: nothing of this chat is left
            return
        self._objs = self._objects()
        for obj in self._objs:
            if not isinstance(obj, dict):
                chat.warn("bad message", f"a message that is a {type(obj).__name__}")
                continue
            source.last = (obj.get("id"), self.title)  # the error line's words only when one is needed
            row = chat.row(obj) if rows else None
            if row is not None:
                yield row
                if self.done:
                    return
                continue
            imported = chat.read(obj)
            if imported is not None:
                yield imported
            if self.done:  # drained by the reader meanwhile: the stream is elsewhere now
                return
        self.done = True
        if self.imported is not None:  # the files its rows record as left out (ChatMessages.row)
            self.imported.missing += chat.missing

    def _objects(self) -> Iterator[Any]:
        if self.prefix is not None:
            yield from self.source.objects_at(self.prefix)
            return
        for event, value in self.source.array():
            yield self.source.value(event, value)

    def drain(self) -> None:
        """Past what the consumer left of the chat: skipped, but read (the file is judged whole)."""
        if not self.done:
            self.done = True
            if self.prefix is not None:  # on from where the consumer stopped (or from the start)
                for _obj in self._objs if self._objs is not None else self.source.objects_at(self.prefix):
                    pass
            else:
                for event, _value in self.source.array():
                    self.source.skip(event)


def _offset(fh: IO[bytes]) -> int:
    try:
        return fh.tell()
    except (OSError, ValueError):
        return 0


def _reason(exc: Exception) -> str:
    text = first_line(exc)
    if "premature EOF" in text or "incomplete" in text.lower():
        return "the file breaks off (truncated)"
    return f"invalid JSON ({text[:80]})"


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _full_name(first: str | None, last: str | None) -> str:
    return " ".join(p for p in (first, last) if p)


def _contact(entry: Any) -> Peer | None:
    """A saved contact with a Telegram account: a user peer (its phone number is left out)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("user_id"), int) or not entry["user_id"]:
        return None
    first, last = _name(entry.get("first_name")), _name(entry.get("last_name"))
    return Peer(entry["user_id"], "user", _full_name(first, last), None, first, last)


def _frequent(entry: Any) -> Peer | None:
    """A frequent contact: a user, bot or chat by its Telegram Desktop type and bare id."""
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), int) or not _name(entry.get("name")):
        return None
    td_type = entry.get("type")
    if td_type == "user":
        kind = _FREQUENT_KINDS.get(entry.get("category"), "user")  # type: ignore[arg-type]
        return Peer(entry["id"], kind, entry["name"])
    if td_type in CHAT_TYPES:
        kind, how = CHAT_TYPES[td_type]
        return Peer(mark(entry["id"], how), kind, entry["name"])
    return None


def _self_of(peer: Peer) -> int | None:
    return peer.id if peer.kind == "self" else None


__all__ = ["ExportError", "find_result_json", "read_json_export"]
