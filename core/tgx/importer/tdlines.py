"""A single chat's messages in Telegram Desktop's own layout, a line at a time, each parsed by orjson.

Telegram Desktop writes ``result.json`` pretty-printed: each message of the ``messages`` array
opens on a line of its own (``  {``), its inner lines indented deeper, and closes on a line
``  }`` / ``  },`` (tools and tgx's benchmark write a whole message per line instead: both are
read here). A JSON string holds no raw newline, so in such a file these lines are exactly the
array's item boundaries; each message's bytes then go to orjson, which builds the dict about
three times faster than ijson builds it from its parser's events — the larger part of an
import's reading.

This is a fast path, never the judge: anything it does not expect (another layout, a compact
file, a message orjson refuses, the file ending inside the array, anything but the closing ``}``
after it) raises :class:`Layout` with the number of messages already given, and the reader goes
on with ijson from that message (:meth:`tgx.importer.tdjson._Reader.objects_at`), which then
reads what is there or says, in its words, what is wrong — so a file this path reads to its end
is one ijson would have read whole, to its last byte. The one thing orjson accepts that ijson
refuses, an integer beyond 64 bits (orjson reads it as a float), is looked for in each message's
bytes (a run of 19 digits, a C scan: custom emoji ids have 19); a message with one is checked by
ijson's own parser and, refused there, handed to ijson as above.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import ijson  # type: ignore[import-untyped]
import orjson

try:
    BACKEND = ijson.get_backend("yajl2_c")  # the C backend: several times the pure-Python one (the reader's)
except ImportError:  # pragma: no cover - a wheel built without yajl: the best one ijson has
    BACKEND = ijson

BLOCK = 1 << 18  # bytes read at a time
LONGEST = 1 << 20  # a line longer than this is no line of this layout (a compact file is one line)

__all__ = ["BACKEND", "Layout", "messages"]

_DIGITS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))  # every digit "0", the rest " "
_LONG_RUN = b"0" * 19  # 19 digits: an integer that may not fit in 64 bits (ijson refuses those)


class Layout(Exception):
    """The file is not (or no longer) in the layout this path reads; ``count`` messages were given."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


class _LongLine(Exception):
    pass


def _lines(fh: IO[bytes]) -> Iterator[bytes]:
    """The file's lines, never one longer than :data:`LONGEST` held (memory stays flat)."""
    rest = b""
    while True:
        block = fh.read(BLOCK)
        if not block:
            if rest:
                yield rest
            return
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        if len(rest) > LONGEST:
            raise _LongLine
        yield from lines


def messages(path: Path) -> Iterator[dict[str, Any]]:
    """Every message object of the single-chat export at ``path``, in file order (see the module doc)."""
    with path.open("rb") as fh:
        lines = _lines(fh)
        try:
            for line in lines:  # the header: "{", then name/type/id, one key per line, up to the array
                key = line.strip()
                if key.startswith(b'"messages"'):
                    opened = key[len(b'"messages"'):].lstrip()
                    array = opened[1:].strip() if opened.startswith(b":") else b""
                    if array == b"[":
                        break
                    if array.replace(b" ", b"") == b"[]":
                        if not _closes(b"]", lines):
                            raise Layout(0)
                        return  # no messages
                    raise Layout(0)
            else:
                raise Layout(0)
        except _LongLine:
            raise Layout(0) from None
        yield from _items(lines)


def _items(lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    given = [0]
    try:
        yield from _read_items(lines, given)
    except _LongLine:
        raise Layout(given[0]) from None


def _read_items(lines: Iterator[bytes], given: list[int]) -> Iterator[dict[str, Any]]:
    count = 0
    comma = True  # a message may follow (the array just opened, or the last one ended with ",")
    start = b""
    for line in lines:
        line = line.rstrip(b"\r")
        if not start:  # the first line of the array sets the layout: its indentation
            body = line.lstrip(b" ")
            if not body:
                continue
            if body.rstrip() in (b"]", b"]}"):
                if not _closes(body.rstrip(), lines):
                    raise Layout(count)
                return  # an empty array
            if not body.startswith(b"{"):
                raise Layout(count)
            start = line[: len(line) - len(body)] + b"{"
            ends = (start[:-1] + b"}", start[:-1] + b"},")
        if line.startswith(start):
            if line == start:  # a message over several lines, up to its closing line
                parts = [line]
                for inner in lines:
                    inner = inner.rstrip(b"\r")
                    parts.append(inner)
                    if inner in ends:
                        break
                else:
                    raise Layout(count)  # the file ends inside it
                chunk = b"\n".join(parts)
            else:
                chunk = line.rstrip()
            if not comma:
                raise Layout(count)  # two messages without a comma between them: not JSON
            comma = chunk.endswith(b",")
            if comma:
                chunk = chunk[:-1]
            try:
                obj = orjson.loads(chunk)
            except orjson.JSONDecodeError:
                raise Layout(count) from None
            if not _fits(chunk):
                raise Layout(count)
            if type(obj) is not dict:
                raise Layout(count)
            yield obj
            count += 1
            given[0] = count
        elif line.strip() in (b"]", b"]}") and not comma:
            if not _closes(line.strip(), lines):
                raise Layout(count)  # something follows the array: ijson reads (or refuses) it
            return  # the array's end, the root's end, the file's end
        elif line.strip():
            raise Layout(count)
    raise Layout(count)  # the file ends inside the array


def _closes(end: bytes, lines: Iterator[bytes]) -> bool:
    """Whether the array's closing line ``end`` and the lines after it close the root object
    and end the file (Telegram Desktop writes nothing after a chat's messages)."""
    closed = end == b"]}"
    for line in lines:
        rest = line.strip()
        if not rest:
            continue
        if closed or rest != b"}":
            return False
        closed = True
    return closed


def _fits(chunk: bytes) -> bool:
    """Whether ijson would read every integer of this message (orjson reads any): only a
    message with a run of 19 digits somewhere may hold one beyond 64 bits, and only that one
    is parsed again, by ijson's own parser, to know."""
    if _LONG_RUN not in chunk.translate(_DIGITS):
        return True
    try:
        for _event in BACKEND.basic_parse(io.BytesIO(chunk), use_float=True):
            pass
    except Exception:  # noqa: BLE001 - whatever ijson refuses: ijson then says it, in its words
        return False
    return True
