"""An example tgx output format, ``urls``: every link in a chat, one per line.

``tgx export CHAT --format urls`` (or ``tgx render OUT --format urls``) writes
``OUT/<chat>/urls.tsv``: a header, then one row per link, in message order::

    message_id	date	url
    2	2024-05-01T14:34:56+00:00	https://example.org/a
    2	2024-05-01T14:34:56+00:00	https://example.org/b

Links come from the text (``link`` entities: the URL as written; ``text_link``: the hidden
target) and from link previews. ``--urls-domain example.org`` keeps only links to that domain
and its subdomains.

What a format plugin has to get right, shown here:

* register with ``@tgx.hookimpl def tgx_register_formats()`` returning a ``FormatSpec``;
* create files only through ``ctx.open()`` (the core moves them into place when you are done);
* write as batches arrive and keep nothing: memory stays flat on million-message chats;
* entity offsets count UTF-16 code units, not Python characters (emoji are two units);
* deterministic output: nothing about the run (time, paths) goes into the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, Any
from urllib.parse import urlsplit

import tgx
from tgx.model import Message
from tgx.specs import FormatSpec, OptionSpec, RenderContext

FILE_NAME = "urls.tsv"


def utf16_slice(text: str, offset: int, length: int) -> str:
    """``text[offset:offset+length]`` where offset and length count UTF-16 code units."""
    units = text.encode("utf-16-le", "surrogatepass")
    part = units[max(0, offset) * 2:max(0, offset + length) * 2]
    return part.decode("utf-16-le", "ignore")  # "ignore": never half an emoji


def links_of(message: Message) -> Iterator[str]:
    """Every URL in one message, in the order they appear."""
    for entity in message.entities:
        if entity.type == "link":
            yield utf16_slice(message.text, entity.offset, entity.length)
        elif entity.type == "text_link" and entity.url:
            yield entity.url
    media = message.media
    if media is not None and media.kind == "webpage" and media.extra and media.extra.get("url"):
        yield str(media.extra["url"])


def on_domain(url: str, domain: str) -> bool:
    try:
        host = (urlsplit(url if "://" in url else "http://" + url).hostname or "").lower()
    except ValueError:  # a malformed URL in a message is data, not an error
        return False
    domain = domain.lower().lstrip(".")
    return host == domain or host.endswith("." + domain)


def clean(value: str) -> str:
    """One TSV field: tabs and line breaks would split it."""
    return " ".join(value.split())


class UrlsWriter:
    """The ``FormatWriter``: ``open()``, ``write()`` per batch (ascending ids), ``close()``."""

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self.domain: str | None = ctx.options.get("urls-domain") or None
        self.out: IO[Any] | None = None

    def open(self) -> None:
        self.out = self.ctx.open(FILE_NAME, "w")
        self.out.write("message_id\tdate\turl\n")

    def write(self, messages: Sequence[Message]) -> None:
        assert self.out is not None
        rows = []
        for message in messages:
            for url in links_of(message):
                if self.domain is None or on_domain(url, self.domain):
                    rows.append(f"{message.id}\t{message.date.isoformat()}\t{clean(url)}\n")
        self.out.write("".join(rows))

    def close(self) -> None:
        if self.out is not None:
            self.out.close()

    def abort(self) -> None:  # called instead of close() when rendering fails
        self.close()


@tgx.hookimpl
def tgx_register_formats() -> FormatSpec:
    return FormatSpec(
        name="urls",
        factory=UrlsWriter,
        description="urls.tsv: every link in the chat, one per line (example plugin)",
        options=(OptionSpec("urls-domain", "only links to this domain and its subdomains"),),
    )
