"""Telegram Desktop's ``text`` / ``text_entities`` parts back into a text and its entities.

Telegram Desktop writes a message's text as consecutive runs, each ``plain`` or of one entity
type; the runs concatenate to the text. Reading them back, every entity's offset is the UTF-16
length of the runs before it (:func:`tgx.text.utf16_len`), as Telegram counts it. Overlapping
entities were flattened by the exporter (one type per run), so they come back flattened: what
the export holds, no more.

``text_entities`` (Telegram Desktop 3.x and later) is read when present; older exports have
only ``text``: a string, or a list of strings (plain runs) and ``{type, text, ...}`` objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tgx.model import ENTITY_TYPES, Entity
from tgx.text import utf16_len

_KNOWN_TYPES = frozenset(ENTITY_TYPES)
# The one extra key Telegram Desktop writes for a type; an entity type without one has none.
_EXTRA_KEY = {"text_link": "href", "mention_name": "user_id", "pre": "language", "custom_emoji": "document_id"}
_PLAIN_TYPES = _KNOWN_TYPES - _EXTRA_KEY.keys()  # an entity that is only its type and its run
# Known keys that tgx has no field for, kept in the message's extra without a warning.
_KEPT_KEYS = {("blockquote", "collapsed")}


@dataclass(slots=True)
class ParsedText:
    text: str = ""
    entities: list[Entity] = field(default_factory=list)
    # runs whose type or keys tgx does not know: ``{type, offset, length, ...their other keys}``
    unknown: list[dict[str, Any]] = field(default_factory=list)


def _int(value: Any) -> int | None:
    """Ids are numbers in some Telegram Desktop versions and strings in others."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _entity(kind: str, offset: int, length: int, part: dict[str, Any]) -> Entity | None:
    """The entity of one run, or None when its extra key cannot be read as tgx stores it."""
    entity = Entity(kind, offset, length)
    key = _EXTRA_KEY.get(kind)
    if key is None or key not in part:
        return entity
    value = part[key]
    if kind == "text_link":
        entity.url = value if isinstance(value, str) else None
    elif kind == "pre":
        entity.language = value or None if isinstance(value, str) else None
    elif kind == "mention_name":
        entity.user_id = _int(value)
        return entity if entity.user_id is not None else None
    else:  # custom_emoji
        entity.document_id = _int(value)
        return entity if entity.document_id is not None else None
    return entity


def parse_text(message: dict[str, Any], warn: Callable[[str, str], None]) -> ParsedText:
    """The message's text, entities and the runs tgx could not map (``warn`` names each)."""
    parts = message.get("text_entities")
    if not isinstance(parts, list):
        raw = message.get("text", "")
        parts = raw if isinstance(raw, list) else [raw]
    out = ParsedText()
    entities = out.entities
    chunks: list[str] = []
    offset = 0
    for part in parts:
        # the common run first, in as few steps as possible (a million messages pass here):
        # {"type": ..., "text": "..."} and nothing else, of a type without an extra key
        if type(part) is dict:
            try:  # Telegram Desktop writes both keys, always
                run, kind = part["text"], part["type"]
            except KeyError:
                run, kind = part.get("text", ""), part.get("type", "plain")
            if type(run) is not str:
                warn("bad text", f"a text run is {type(run).__name__}")
                run = str(run)
        elif isinstance(part, str):
            run, kind, part = part, "plain", None
        else:
            warn("bad text", f"a text part is {type(part).__name__}")
            continue
        if not run:
            continue
        length = len(run) if run.isascii() else utf16_len(run)
        chunks.append(run)
        if kind != "plain":
            if type(kind) is str and kind in _PLAIN_TYPES and len(part) == 2:
                entities.append(Entity(kind, offset, length))
            else:
                _add(out, kind, offset, length, part or {}, warn)
        offset += length
    out.text = "".join(chunks)
    return out


def plain_runs(message: dict[str, Any]) -> tuple[str, list[dict[str, Any]]] | None:
    """:func:`parse_text`'s text and entities (as their records, :meth:`Entity.to_dict`) for the
    commonest ``text_entities`` — ``{type, text}`` runs only, of types without an extra key — or
    None for any other text, which :func:`parse_text` then reads (and warns of). The archive
    row of the commonest message is built from it (:meth:`tgx.importer.tdfields.ChatMessages.row`):
    no Entity objects between the runs and their records."""
    parts = message.get("text_entities")
    if type(parts) is not list:
        return None
    chunks: list[str] = []
    entities: list[dict[str, Any]] = []
    offset = 0
    for part in parts:
        if type(part) is not dict or len(part) != 2:
            return None
        run, kind = part.get("text"), part.get("type")
        if type(run) is not str or type(kind) is not str:
            return None
        if not run:
            continue
        length = len(run) if run.isascii() else utf16_len(run)
        chunks.append(run)
        if kind != "plain":
            if kind not in _PLAIN_TYPES:
                return None
            entities.append({"type": kind, "offset": offset, "length": length})
        offset += length
    return "".join(chunks), entities


def _add(out: ParsedText, kind: Any, offset: int, length: int, part: dict[str, Any],
         warn: Callable[[str, str], None]) -> None:
    entity = _entity(kind, offset, length, part) if isinstance(kind, str) and kind in _KNOWN_TYPES else None
    extra_keys = {k: v for k, v in part.items() if k not in ("type", "text") and k != _EXTRA_KEY.get(kind)}
    if entity is None:
        warn("unknown entity", str(kind))
        out.unknown.append({"type": kind, "offset": offset, "length": length,
                            **{k: v for k, v in part.items() if k not in ("type", "text")}})
        return
    out.entities.append(entity)
    if extra_keys:
        for key in extra_keys:
            if (kind, key) not in _KEPT_KEYS:
                warn("unknown entity field", f"{kind}.{key}")
        kept = {k: v for k, v in extra_keys.items() if not ((kind, k) in _KEPT_KEYS and v is False)}
        if kept:
            out.unknown.append({"type": kind, "offset": offset, "length": length, **kept})
