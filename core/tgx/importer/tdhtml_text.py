"""The inside of Telegram Desktop's ``div.text`` → text + entities, and its date titles → instants.

``FormatText`` in ``export_output_html.cpp`` writes each run of text with one tag (``<strong>``,
``<em>``, ``<u>``, ``<s>``, ``<code>``, ``<pre>``, ``<blockquote>``, a spoiler ``<span>``, or an
``<a>`` whose ``href``/``onclick`` says which kind of link it is) and every newline as ``<br>``;
the reader takes the tags back to entities with UTF-16 offsets. Nested tags (other tools, later
versions) nest the entities. What the markup cannot say stays unsaid: a ``pre``'s language,
the user of a ``mention_name``, a custom emoji's document, a bank card (written as plain text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from tgx.model import Entity
from tgx.text import url_scheme, utf16_len

from .source import Warn
from .tdhtml_markup import Node

INTERNAL_LINKS = "https://t.me/"  # Telegram Desktop's internalLinksDomain: mention links point here

_TAG_ENTITIES = {"strong": "bold", "b": "bold", "em": "italic", "i": "italic", "u": "underline",
                 "s": "strikethrough", "code": "code", "pre": "pre", "blockquote": "blockquote"}
_ONCLICK_ENTITIES = (("ShowHashtag", "hashtag"), ("ShowBotCommand", "bot_command"), ("ShowCashtag", "cashtag"),
                     ("ShowMentionName", "mention_name"), ("ShowNotLoadedEmoji", "custom_emoji"),
                     ("ShowNotAvailableEmoji", "custom_emoji"), ("ShowSpoiler", "spoiler"))


@dataclass(slots=True)
class _Builder:
    parts: list[str] = field(default_factory=list)
    length16: int = 0
    entities: list[Entity] = field(default_factory=list)

    def add(self, text: str) -> None:
        if text:
            self.parts.append(text)
            self.length16 += utf16_len(text)


def formatted_text(node: Node, warn: Warn) -> tuple[str, list[Entity]]:
    """``div.text`` (or any element with Telegram Desktop's inline markup) as text + entities."""
    out = _Builder()
    _walk(_without_closing_indent(node), out, warn)
    out.entities.sort(key=lambda e: (e.offset, -e.length))
    return "".join(out.parts), out.entities


def _without_closing_indent(node: Node) -> Node:
    """Telegram Desktop writes ``"\\n" + blanks`` before a block's end tag: layout, not text."""
    last = node.children[-1] if node.children else None
    if isinstance(last, str) and "\n" in last and last[last.rindex("\n") + 1:].strip(" ") == "":
        return Node(node.tag, node.attrs, [*node.children[:-1], last[:last.rindex("\n")]])
    return node


def _walk(node: Node, out: _Builder, warn: Warn) -> None:
    for child in node.children:
        if isinstance(child, str):
            out.add(child.replace("\n", ""))  # a raw newline is layout: the text's own are <br>
            continue
        if child.tag == "br":
            out.add("\n")
            continue
        kind, url = _entity_of(child, warn)
        start = out.length16
        _walk(child, out, warn)
        if kind is not None and out.length16 > start:
            out.entities.append(Entity(kind, start, out.length16 - start, url=url))


def _entity_of(node: Node, warn: Warn) -> tuple[str | None, str | None]:
    """The entity type an inline element stands for (None: none), and a text link's target."""
    if node.tag in _TAG_ENTITIES:
        return _TAG_ENTITIES[node.tag], None
    if node.tag == "span":
        if node.has("spoiler"):
            return "spoiler", None
        return None, None  # the spoiler's inner aria-hidden span, or a style span
    if node.tag != "a":
        warn("unknown markup", f"<{node.tag}> in a message text")
        return None, None
    onclick = node.attrs.get("onclick", "")
    for marker, kind in _ONCLICK_ENTITIES:
        if marker in onclick:
            return kind, None
    href = node.attrs.get("href", "")
    text = node.text()
    if href.startswith("mailto:") and href[7:] == text:
        return "email", None
    if href.startswith("tel:") and href[4:] == text:
        return "phone", None
    if href == text:
        return "link", None
    if text.startswith("@") and href == INTERNAL_LINKS + text[1:]:
        return "mention", None
    if href and url_scheme(href) is None and not href.startswith(("#", "/")) and "." in href.rsplit("/", 1)[-1]:
        return "custom_emoji", None  # an exported custom emoji links to its file, relative to the page
    if not href:
        return None, None
    return "text_link", href


# ---------------------------------------------------------------------------------------------
# dates


def parse_title_date(title: str, zone: tzinfo | None) -> tuple[datetime | None, bool]:
    """``dd.mm.yyyy hh:mm:ss[ UTC±hh:mm]`` → (UTC instant, whether the title said its offset).

    The wall-clock time is Telegram Desktop's local time when it exported. With ``zone`` (the
    exporting machine's time zone) it is read in that zone; else by the offset the title names
    (Telegram Desktop 4.x+); a title without one (older exports) is read as UTC.
    """
    parts = title.split()
    if len(parts) < 2:
        return None, False
    try:
        wall = datetime.strptime(f"{parts[0]} {parts[1]}", "%d.%m.%Y %H:%M:%S")
    except ValueError:
        return None, False
    offset = _offset(parts[2]) if len(parts) > 2 else None
    if zone is not None:
        return wall.replace(tzinfo=zone).astimezone(UTC), offset is not None
    if offset is None:
        return wall.replace(tzinfo=UTC), False
    return wall.replace(tzinfo=offset).astimezone(UTC), True


def _offset(label: str) -> tzinfo | None:
    if label == "UTC":
        return UTC
    if not label.startswith("UTC") or len(label) != 9 or label[3] not in "+-" or label[6] != ":":
        return None
    try:
        hours, minutes = int(label[4:6]), int(label[7:9])
    except ValueError:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if label[3] == "-" else delta)
