"""Helpers for format authors: entity offsets, overlapping entities, link targets, small text rules.

Public API for plugins (the built-in formats use it, so each rule exists once):

* **UTF-16 offsets.** Telegram counts entity offsets and lengths in UTF-16 code units; Python
  strings count code points. The two differ at astral characters (most emoji: two units, one
  index). :func:`utf16_index_map` converts; :func:`entity_slices` gives every entity as Python
  indices, clamped to the text. An offset that falls inside a surrogate pair (Telegram never
  sends one, a tampered archive might) snaps forward to the end of that character, so a slice
  always holds whole characters.
* **Overlaps.** Entities may nest or cross. :func:`covering_runs` cuts the text at every entity
  boundary and lists the entities covering each run; :func:`nested_runs` says, run by run, which
  open tags to close and which to open so the output stays well-formed (``<b>ab<i>c</b>d</i>``
  becomes ``<b>ab<i>c</i></b><i>d</i>``).
* **Links.** :func:`safe_href` decides whether an untrusted URL may become a link target.
* **Names.** :func:`peer_name` and :func:`sender_name`: who a peer is and who sent a message
  (anonymous posts: the signature, else the chat's title), the same way in every format.
* **Conventions.** :func:`utc_stamp`, :func:`human_size`, :func:`human_seconds`, :func:`reaction_label`,
  :func:`scrub_surrogates`: how the built-in text formats write times, sizes and reactions, and
  how they repair lone surrogates (only a damaged archive has them) before encoding UTF-8.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from tgx.model import Entity, Message, Peer, Reaction

__all__ = [
    "LINK_SCHEMES", "EntitySlice", "covering_runs", "entity_slices", "human_seconds", "human_size", "nested_runs",
    "peer_name",
    "reaction_label", "safe_href", "scrub_surrogates", "sender_name", "url_scheme", "utc_stamp", "utf16_index_map",
    "utf16_len",
]

EntitySlice = tuple[int, int, Entity]  # (start, end, entity): Python string indices, start < end

_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")

# ---------------------------------------------------------------------------------------------
# UTF-16 offsets


def _astral_ends(text: str) -> list[int]:
    """The UTF-16 offset just after each astral character, ascending (empty for most texts)."""
    if text.isascii():  # O(1) in CPython: the common case pays nothing
        return []
    return [m.start() + i + 2 for i, m in enumerate(_ASTRAL.finditer(text))]


def utf16_len(text: str) -> int:
    """``text``'s length in UTF-16 code units, as Telegram counts it (a lone surrogate is one)."""
    return len(text) + len(_astral_ends(text))


def utf16_index_map(text: str) -> Callable[[int], int]:
    """A function from a UTF-16 offset into ``text`` to the Python index of the same place.

    Offsets are clamped to the text (negative -> 0, past the end -> ``len(text)``); an offset
    inside a surrogate pair maps to the index just after that character. Build it once per
    text and call it for every offset: the text is scanned once.
    """
    ends = _astral_ends(text)
    length = len(text)
    if not ends:
        return lambda offset: min(max(0, offset), length)
    length16 = length + len(ends)

    def index(offset: int) -> int:
        # astral characters that end at or before ``offset`` each took one unit more than an index
        offset = min(max(0, offset), length16)
        return offset - bisect_right(ends, offset)

    return index


def entity_slices(text: str, entities: Sequence[Entity]) -> list[EntitySlice]:
    """``(start, end, entity)`` for every entity, in Python indices, clamped to the text.

    Entities that cover nothing (zero or negative length, outside the text, or half of one
    astral character) are left out. The rest keep the message's order, so a stable sort keeps
    Telegram's order as the tie-breaker.
    """
    if not text or not entities:
        return []
    ends = _astral_ends(text)  # what utf16_index_map does, inlined: this runs for every message
    length16 = len(text) + len(ends)
    slices = []
    for entity in entities:
        start = max(0, entity.offset)
        end = min(length16, entity.offset + entity.length)
        if end <= start:
            continue
        if ends:
            start, end = start - bisect_right(ends, start), end - bisect_right(ends, end)
            if end <= start:
                continue
        slices.append((start, end, entity))
    return slices


# ---------------------------------------------------------------------------------------------
# overlapping entities


def _bounds(slices: Sequence[EntitySlice], start: int, end: int) -> list[int]:
    bounds = sorted({start, end, *(s[0] for s in slices), *(s[1] for s in slices)})
    if bounds[0] < start or bounds[-1] > end:
        bounds = [p for p in bounds if start <= p <= end]
    return bounds


def covering_runs(slices: Sequence[EntitySlice], start: int,
                  end: int) -> Iterator[tuple[int, int, list[EntitySlice]]]:
    """Cut ``[start, end)`` at every slice boundary inside it: ``(a, b, covering)`` per run, in
    text order, where ``covering`` lists the slices that cover all of ``[a, b)``, in the order of
    ``slices`` (runs that no slice covers come with an empty list)."""
    bounds = _bounds(slices, start, end)
    for a, b in zip(bounds, bounds[1:], strict=False):
        yield a, b, [s for s in slices if s[0] <= a and s[1] >= b]


def nested_runs(slices: Sequence[EntitySlice], start: int,
                end: int) -> Iterator[tuple[int, int, int, list[EntitySlice]]]:
    """How to render overlapping entities as properly nested tags, run by run.

    ``slices`` must be sorted outermost first (at least by ``(start, -end)``; add your own
    tie-breakers for equal ranges). For each run ``(a, b, keep, opened)``: close every open
    slice but the first ``keep`` (innermost first), open the slices in ``opened`` (outermost
    first), then emit ``text[a:b]``. After the last run, close what is still open. A slice that
    crosses another is closed where the other ends and opened again, so the output is always
    well-formed.
    """
    bounds = _bounds(slices, start, end)
    still_open: list[EntitySlice] = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        active = [s for s in slices if s[0] <= a and s[1] >= b]
        keep = 0
        while keep < len(still_open) and keep < len(active) and still_open[keep] is active[keep]:
            keep += 1
        yield a, b, keep, active[keep:]
        still_open = active


# ---------------------------------------------------------------------------------------------
# links

LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel", "tg"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f]")


def url_scheme(url: str) -> str | None:
    """The scheme ``url`` starts with (RFC 3986 syntax), lowercased; None when it has none."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match is not None else None


def safe_href(url: str | None, schemes: Collection[str] = LINK_SCHEMES, *,
              default_scheme: str = "http") -> str | None:
    """``url`` if it may be a link target, ``default_scheme://`` + it when it has no scheme
    (Telegram detects bare ``example.com`` links), else None: show the text without a link.

    Refused: a scheme not in ``schemes`` (compared lowercased, so ``JaVaScRiPt:`` is
    ``javascript:``; ``data:``, ``vbscript:``, ``file:`` ... are never in the default set), any
    whitespace or control character inside the URL (browsers drop tabs and newlines, so
    ``java\\tscript:`` *is* ``javascript:``), and a scheme-less URL that starts with ``/`` or
    ``\\`` (protocol-relative or rooted: it would point outside the export). ``name.tld:8080``
    is a host and a port, not a scheme. Surrounding whitespace is stripped first.
    """
    if not url:
        return None
    url = url.strip()
    if not url or _CONTROL_OR_SPACE.search(url):
        return None
    scheme = url_scheme(url)
    if scheme is not None:
        if scheme in schemes:
            return url
        if "." not in scheme:  # a real scheme we do not allow
            return None
    if url.startswith(("/", "\\")):
        return None
    return f"{default_scheme}://{url}"


# ---------------------------------------------------------------------------------------------
# conventions of the built-in formats


def scrub_surrogates(value: Any) -> Any:
    """Lone surrogates (not encodable as UTF-8; never from Telegram, only from a damaged archive)
    become U+FFFD, in a string or recursively in dicts (keys too), lists and tuples (as lists).
    A pair of surrogates that happen to be adjacent decodes to its character."""
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, dict):
        return {scrub_surrogates(k): scrub_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_surrogates(v) for v in value]
    return value


def utc_stamp(value: datetime, sep: str = " ") -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC (a naive datetime is taken as UTC). ``isoformat`` is
    several times cheaper than ``strftime``, which matters once per message."""
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat(sep, "seconds")[:19]


def human_size(size: int | None) -> str:
    """``512 B``, ``1.5 KB``, ``12.0 MB``, ``3.2 GB`` (units of 1024; GB is the largest);
    empty for an unknown size."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def human_seconds(seconds: int) -> str:
    """A wait as people read it: ``45 s``, ``900 s (~15 min)``, ``86400 s (~24.0 h)``."""
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds} s (~{round(seconds / 60)} min)"
    return f"{seconds} s (~{seconds / 3600:.1f} h)"


def reaction_label(reaction: Reaction) -> str:
    """A reaction in plain text: its emoji, ``custom:<document id>``, or ``⭐`` for a paid one."""
    if reaction.type == "paid":
        return "⭐"
    if reaction.type == "custom_emoji":
        return f"custom:{reaction.document_id}" if reaction.document_id is not None else "custom"
    return reaction.emoji or "?"


# ---------------------------------------------------------------------------------------------
# Names


def peer_name(peer: Peer | None, peer_id: int | None = None) -> str:
    """A peer's display name: its title, else ``@username``, else its id (``peer_id`` when the
    archive does not know the peer); ``""`` when there is nothing to name."""
    if peer is not None:
        return peer.title or (f"@{peer.username}" if peer.username else str(peer.id))
    return str(peer_id) if peer_id is not None else ""


def sender_name(message: Message, chat: Peer, peer: Callable[[int | None], Peer | None]) -> str:
    """Who sent ``message``, as the built-in formats say it: the sender's :func:`peer_name`; for an
    anonymous post (no sender: a channel post, an anonymous admin) the post's signature, else the
    name its source gave without an id (a Telegram Desktop HTML import: ``extra["from"]``), else
    the chat's title. ``chat`` and ``peer`` are ``RenderContext.chat`` and ``RenderContext.peer``."""
    if message.sender_id is None:
        named = message.extra.get("from") if message.extra else None
        return message.post_author or (named if isinstance(named, str) and named else chat.title)
    return peer_name(peer(message.sender_id), message.sender_id)
