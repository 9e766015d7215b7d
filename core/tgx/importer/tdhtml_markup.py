"""Telegram Desktop's HTML pages as a stream of small element trees.

A page is fed to the stdlib :class:`html.parser.HTMLParser` in chunks; only the blocks a caller
asks for (a message, the page header, a list entry) are kept as :class:`Node` trees, each handed
out as soon as its end tag arrives, so memory holds one block, not one page. Bytes that are not
UTF-8 are decoded with U+FFFD and reported once per file.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from tgx.errors import UsageError

from .source import Warn

CHUNK = 1 << 16
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                  "track", "wbr"})


@dataclass(slots=True)
class Node:
    """One element: its tag, attributes and children (elements and text runs, in order)."""

    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> frozenset[str]:
        return frozenset(self.attrs.get("class", "").split())

    def has(self, *names: str) -> bool:
        """Whether every class in ``names`` is on this element."""
        return self.classes.issuperset(names)

    def elements(self) -> Iterator[Node]:
        return (c for c in self.children if isinstance(c, Node))

    def child(self, *names: str) -> Node | None:
        """The first direct child element with all of ``names`` as classes."""
        return next((c for c in self.elements() if c.has(*names)), None)

    def find(self, *names: str) -> Node | None:
        """The first descendant (depth first) with all of ``names`` as classes."""
        for c in self.elements():
            if c.has(*names):
                return c
            hit = c.find(*names)
            if hit is not None:
                return hit
        return None

    def find_tag(self, tag: str) -> Node | None:
        for c in self.elements():
            if c.tag == tag:
                return c
            hit = c.find_tag(tag)
            if hit is not None:
                return hit
        return None

    def text(self, *, own: bool = False) -> str:
        """The text as a reader sees it: ``<br>`` is a line break, the newlines and indentation
        Telegram Desktop writes around block tags are dropped (its own newlines are ``<br>``),
        surrounding blanks stripped. ``own``: this element's text runs only, not its children's."""
        out: list[str] = []
        _collect(self, out, own)
        return "".join(out).strip(" \t\r")


def _collect(node: Node, out: list[str], own: bool) -> None:
    for c in node.children:
        if isinstance(c, str):
            out.append(c.replace("\n", ""))
        elif c.tag == "br":
            out.append("\n")
        elif not own:
            _collect(c, out, own)


class _BlockParser(HTMLParser):
    """Keeps the subtree of every element ``wanted(tag, classes)`` answers True for (outside
    another kept one) and appends it to ``done`` when it closes."""

    def __init__(self, wanted: Callable[[str, frozenset[str]], bool]):
        super().__init__(convert_charrefs=True)
        self.wanted = wanted
        self.done: list[Node] = []
        self._open: list[Node] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        if self._open:
            self._open[-1].children.append(node)
        elif not self.wanted(tag, node.classes):
            return
        if tag in VOID:
            if not self._open:
                self.done.append(node)
            return
        self._open.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        if self._open:
            self._open[-1].children.append(node)
        elif self.wanted(tag, node.classes):
            self.done.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, -1, -1):  # an unclosed inner tag closes with its parent
            if self._open[depth].tag == tag:
                root = self._open[0]
                del self._open[depth:]
                if not self._open:
                    self.done.append(root)
                return

    def handle_data(self, data: str) -> None:
        if self._open:
            kids = self._open[-1].children
            if kids and isinstance(kids[-1], str):
                kids[-1] += data
            else:
                kids.append(data)


def iter_blocks(path: Path, wanted: Callable[[str, frozenset[str]], bool], warn: Warn) -> Iterator[Node]:
    """The kept blocks of one page, in document order, read in chunks."""
    parser = _BlockParser(wanted)
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        while True:
            chunk = handle.read(CHUNK)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError:
                pending = decoder.getstate()[0]  # the bytes before this chunk that await their rest
                decoder = codecs.getincrementaldecoder("utf-8")("replace")
                warn("not utf-8", f"{path}: bytes that are not UTF-8 were read as U+FFFD")
                text = decoder.decode(pending + chunk, final=not chunk)
            parser.feed(text)
            if parser.done:
                yield from parser.done
                parser.done.clear()
            if not chunk:
                break
    parser.close()
    yield from parser.done
