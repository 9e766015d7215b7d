"""Hypothesis strategies for format tests: any text, with entities at any offsets.

Texts mix arbitrary characters with astral ones (two UTF-16 units each) and lone high surrogates
(a damaged archive's; high ones only, so two of them never form a pair); entity offsets and
lengths run a little past both ends of the text, in UTF-16 units as Telegram counts them.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st
from tgx.model import ENTITY_TYPES, Entity
from tgx.text import utf16_len

HIGH_SURROGATES = st.sampled_from(["\ud800", "\ud83d", "\udbff"])


def texts(extra: Sequence[str], max_size: int) -> st.SearchStrategy[str]:
    """Any characters, plus ``extra`` strings and lone high surrogates, up to ``max_size`` pieces."""
    return st.lists(st.one_of(st.characters(), st.sampled_from(list(extra)), HIGH_SURROGATES),
                    max_size=max_size).map("".join)


@st.composite
def texts_with_entities(draw: st.DrawFn, text: st.SearchStrategy[str],
                        urls: st.SearchStrategy[str | None]) -> tuple[str, list[Entity]]:
    """A text from ``text`` and up to six entities of any type over it, links from ``urls``."""
    value = draw(text)
    length16 = utf16_len(value)
    entities = draw(st.lists(st.builds(
        Entity, st.sampled_from(ENTITY_TYPES), st.integers(-2, length16 + 2), st.integers(-1, length16 + 2),
        urls, st.none() | st.integers(1, 10**10), st.none() | st.text(max_size=5),
        st.none() | st.integers(1, 2**63 - 1)), max_size=6))
    return value, entities
