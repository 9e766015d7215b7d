"""Message text as Telegram Desktop's flat ``text`` / ``text_entities`` parts.

Telegram counts entity offsets in UTF-16 code units; Python strings count code points. The
two differ only at astral characters (most emoji), which are found once per message with one
regex scan; an offset that falls inside a surrogate pair (Telegram never sends
one, a hostile archive might) snaps forward to the end of that character, so every part is
whole characters and the parts always concatenate to the original text.

Telegram Desktop gives each run of text exactly one type. Where entities overlap or nest, it
keeps the first and drops the rest. tgx instead splits the text at every entity boundary and
gives each run one owner: an entity that carries data (link, mention, code, custom emoji, ...)
beats pure formatting (bold, italic, underline, strikethrough, spoiler, blockquote); within a
tier the innermost (shortest) entity wins, then the earliest. Adjacent runs with the same owner
merge back together. Without overlaps this is exactly Telegram Desktop's output.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from tgx.model import Entity

# Pure formatting loses to entities that carry a target, an id or a meaning of their own.
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")
FORMATTING = frozenset({"bold", "italic", "underline", "strikethrough", "spoiler", "blockquote"})

Part = tuple[str, str, Entity | None]  # (type, text, the entity or None for plain)


def entity_spans(text: str, entities: Sequence[Entity]) -> list[tuple[int, int, int, Entity]]:
    """``(start, end, order, entity)`` in Python string indices, clamped to the text, empty
    spans dropped. ``order`` is the entity's position in the message (the final tie-breaker).

    Each astral character is two UTF-16 units and one string index, so UTF-16 offset ``o`` is
    string index ``o - (astral characters that end at or before o)``; an offset inside a pair
    lands just after its character.
    """
    if not text or not entities:
        return []
    ends = [m.start() + i + 2 for i, m in enumerate(_ASTRAL.finditer(text))]  # UTF-16 end of each
    length16 = len(text) + len(ends)
    spans = []
    for order, entity in enumerate(entities):
        start16 = max(0, entity.offset)
        end16 = min(length16, entity.offset + entity.length)
        if end16 <= start16:
            continue
        if ends:
            start, end = start16 - bisect_right(ends, start16), end16 - bisect_right(ends, end16)
        else:
            start, end = start16, end16
        if end > start:
            spans.append((start, end, order, entity))
    return spans


def _owner_key(span: tuple[int, int, int, Entity]) -> tuple[int, int, int, int]:
    start, end, order, entity = span
    return (0 if entity.type in FORMATTING else 1, start - end, -start, -order)


def flat_parts(text: str, entities: Sequence[Entity]) -> list[Part]:
    """The text split into runs that cover it exactly, each with one type (``plain`` or an
    entity type). Empty text gives no parts."""
    if not text:
        return []
    spans = entity_spans(text, entities)
    if not spans:
        return [("plain", text, None)]
    spans.sort(key=lambda s: (s[0], -s[1], s[2]))
    overlapping = any(spans[i][0] < spans[i - 1][1] for i in range(1, len(spans)))
    parts: list[Part] = []
    if not overlapping:
        pos = 0
        for start, end, _order, entity in spans:
            if start > pos:
                parts.append(("plain", text[pos:start], None))
            parts.append((entity.type, text[start:end], entity))
            pos = end
        if pos < len(text):
            parts.append(("plain", text[pos:], None))
        return parts

    bounds = sorted({0, len(text), *(s[0] for s in spans), *(s[1] for s in spans)})
    owners: list[tuple[int, int, tuple[int, int, int, Entity] | None]] = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        covering = [s for s in spans if s[0] <= a and s[1] >= b]
        owner = max(covering, key=_owner_key) if covering else None
        if owners and owners[-1][2] is owner:
            owners[-1] = (owners[-1][0], b, owner)
        else:
            owners.append((a, b, owner))
    for a, b, owner in owners:
        if owner is None:
            parts.append(("plain", text[a:b], None))
        else:
            parts.append((owner[3].type, text[a:b], owner[3]))
    return parts


def part_object(kind: str, text: str, entity: Entity | None) -> dict[str, Any]:
    """One ``{type, text, ...}`` object, with the entity's extra key as Telegram Desktop names it."""
    obj: dict[str, Any] = {"type": kind, "text": text}
    if entity is None:
        return obj
    if kind == "text_link":
        obj["href"] = entity.url or ""
    elif kind == "mention_name":
        if entity.user_id is not None:
            obj["user_id"] = entity.user_id
    elif kind == "custom_emoji":
        if entity.document_id is not None:
            obj["document_id"] = str(entity.document_id)
    elif kind == "pre":
        obj["language"] = entity.language or ""
    return obj


def text_fields(text: str, entities: Sequence[Entity]) -> tuple[Any, list[dict[str, Any]]]:
    """``(text, text_entities)`` exactly as Telegram Desktop shapes them: ``text`` is a string
    when the whole text is one plain run (or empty), else a list of strings and objects."""
    parts = flat_parts(text, entities)
    text_entities = [part_object(kind, run, entity) for kind, run, entity in parts]
    if not parts:
        return "", text_entities
    if len(parts) == 1 and parts[0][0] == "plain":
        return parts[0][1], text_entities
    mixed = [run if kind == "plain" else obj
             for (kind, run, _entity), obj in zip(parts, text_entities, strict=True)]
    return mixed, text_entities
