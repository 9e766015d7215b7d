"""Message text as Telegram Desktop's flat ``text`` / ``text_entities`` parts.

Entity offsets count UTF-16 code units; :func:`tgx.text.entity_slices` turns them into string
indices (an offset inside a surrogate pair snaps forward), so every part is whole characters and
the parts always concatenate to the original text.

Telegram Desktop gives each run of text exactly one type. Where entities overlap or nest, it
keeps the first and drops the rest. tgx instead splits the text at every entity boundary and
gives each run one owner: an entity that carries data (link, mention, code, custom emoji, ...)
beats pure formatting (bold, italic, underline, strikethrough, spoiler, blockquote); within a
tier the innermost (shortest) entity wins, then the earliest. Adjacent runs with the same owner
merge back together. Without overlaps this is exactly Telegram Desktop's output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tgx.model import Entity
from tgx.text import EntitySlice, covering_runs, entity_slices

# Pure formatting loses to entities that carry a target, an id or a meaning of their own.
FORMATTING = frozenset({"bold", "italic", "underline", "strikethrough", "spoiler", "blockquote"})

Part = tuple[str, str, Entity | None]  # (type, text, the entity or None for plain)


def _owner_key(span: EntitySlice) -> tuple[int, int, int]:
    """Data beats formatting, then the innermost, then the earliest start; ``max`` keeps the
    first of equal keys, which is the entity listed first in the message."""
    start, end, entity = span
    return (0 if entity.type in FORMATTING else 1, start - end, -start)


def flat_parts(text: str, entities: Sequence[Entity]) -> list[Part]:
    """The text split into runs that cover it exactly, each with one type (``plain`` or an
    entity type). Empty text gives no parts."""
    if not text:
        return []
    spans = entity_slices(text, entities)
    if not spans:
        return [("plain", text, None)]
    spans.sort(key=lambda s: (s[0], -s[1]))  # stable: equal ranges stay in the message's order
    overlapping = any(spans[i][0] < spans[i - 1][1] for i in range(1, len(spans)))
    parts: list[Part] = []
    if not overlapping:
        pos = 0
        for start, end, entity in spans:
            if start > pos:
                parts.append(("plain", text[pos:start], None))
            parts.append((entity.type, text[start:end], entity))
            pos = end
        if pos < len(text):
            parts.append(("plain", text[pos:], None))
        return parts

    owners: list[tuple[int, int, EntitySlice | None]] = []
    for a, b, covering in covering_runs(spans, 0, len(text)):
        owner = max(covering, key=_owner_key) if covering else None
        if owners and owners[-1][2] is owner:
            owners[-1] = (owners[-1][0], b, owner)
        else:
            owners.append((a, b, owner))
    for a, b, owner in owners:
        if owner is None:
            parts.append(("plain", text[a:b], None))
        else:
            parts.append((owner[2].type, text[a:b], owner[2]))
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
