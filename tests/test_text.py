"""``tgx.text``: the helpers every format plugin shares (UTF-16 offsets, overlaps, links, conventions)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from corpus.hostile import SAFE_LINKS, UNSAFE_LINKS
from hypothesis import given, settings
from hypothesis import strategies as st
from tgx.model import Entity, Reaction
from tgx.text import (
    LINK_SCHEMES,
    covering_runs,
    entity_slices,
    human_size,
    nested_runs,
    reaction_label,
    safe_href,
    scrub_surrogates,
    url_scheme,
    utc_stamp,
    utf16_index_map,
    utf16_len,
)

# ---------------------------------------------------------------------------------------------
# UTF-16 offsets

ASTRAL = st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF)
# astral characters (two UTF-16 units each), BMP characters, and lone surrogates (one unit each);
# high surrogates only, so two of them never form a pair
TEXT = st.lists(st.one_of(ASTRAL, st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)),
                          st.sampled_from(["\ud800", "\udbff", "\U0001F600", "\U0001F468\u200d\U0001F469"])),
                max_size=40).map("".join)


def reference_index(text: str, offset16: int) -> int:
    """The Python index where UTF-16 offset ``offset16`` falls, by walking the characters;
    an offset inside an astral character counts as after it."""
    units = 0
    for i, ch in enumerate(text):
        if units >= offset16:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(text)


@settings(max_examples=400, deadline=None)
@given(text=TEXT, data=st.data())
def test_utf16_index_map_matches_a_character_walk(text: str, data: st.DataObject) -> None:
    length16 = len(text.encode("utf-16-le", "surrogatepass")) // 2
    assert utf16_len(text) == length16
    index = utf16_index_map(text)
    for offset in data.draw(st.lists(st.integers(-3, length16 + 3), max_size=8)):
        assert index(offset) == reference_index(text, offset), (text, offset)
    # every character boundary maps exactly, and the map is monotonic
    boundaries = [0]
    for ch in text:
        boundaries.append(boundaries[-1] + (2 if ord(ch) > 0xFFFF else 1))
    assert [index(u) for u in boundaries] == list(range(len(text) + 1))
    mapped = [index(u) for u in range(-1, length16 + 2)]
    assert mapped == sorted(mapped)


@settings(max_examples=300, deadline=None)
@given(text=TEXT, data=st.data())
def test_entity_slices_hold_exactly_the_utf16_range(text: str, data: st.DataObject) -> None:
    """A slice is the entity's UTF-16 range clamped to the text, each end moved forward to the
    next character boundary; empty ones are left out; the message's order is kept."""
    length16 = utf16_len(text)
    entities = data.draw(st.lists(st.builds(Entity, st.just("bold"), st.integers(-3, length16 + 3),
                                            st.integers(-3, length16 + 3)), max_size=6))
    boundaries = [0]  # the UTF-16 offset of every character boundary
    for ch in text:
        boundaries.append(boundaries[-1] + (2 if ord(ch) > 0xFFFF else 1))

    def snapped(offset16: int) -> int:
        offset16 = min(max(0, offset16), length16)
        return next(i for i, b in enumerate(boundaries) if b >= offset16)

    expected = [(snapped(e.offset), snapped(e.offset + e.length), e) for e in entities]
    assert entity_slices(text, entities) == [x for x in expected if x[1] > x[0]]


@pytest.mark.parametrize(("text", "entity", "expected"), [
    ("hello", Entity("bold", 1, 3), "ell"),
    ("😀x", Entity("bold", 2, 1), "x"),  # after an emoji: two units, one index
    ("😀x", Entity("bold", 1, 2), "x"),  # starts inside the pair: snaps forward
    ("😀x", Entity("bold", 0, 1), "😀"),  # ends inside the pair: snaps forward
    ("a😀b😀c", Entity("bold", 3, 3), "b😀"),
    ("x", Entity("bold", -5, 7), "x"),  # clamped
    ("x", Entity("bold", 0, 99), "x"),
    ("a\ud800b", Entity("bold", 1, 2), "\ud800b"),  # a lone surrogate is one unit
])
def test_entity_slice_examples(text: str, entity: Entity, expected: str) -> None:
    ((start, end, got),) = entity_slices(text, [entity])
    assert got is entity and text[start:end] == expected


@pytest.mark.parametrize("entity", [Entity("bold", 3, 0), Entity("bold", 2, -1), Entity("bold", 5, 2),
                                    Entity("bold", -4, 2), Entity("bold", 1, 1)])
def test_empty_entities_are_left_out(entity: Entity) -> None:
    assert entity_slices("😀ab", [entity]) == []  # (1, 1): half of the emoji


def test_no_text_or_no_entities() -> None:
    assert entity_slices("", [Entity("bold", 0, 1)]) == []
    assert entity_slices("abc", []) == []
    assert utf16_index_map("")(5) == 0


# ---------------------------------------------------------------------------------------------
# overlaps


def test_covering_runs_cut_at_every_boundary() -> None:
    b, i = Entity("bold", 0, 0), Entity("italic", 0, 0)
    slices = [(0, 3, b), (2, 5, i)]
    assert list(covering_runs(slices, 0, 6)) == [
        (0, 2, [(0, 3, b)]), (2, 3, [(0, 3, b), (2, 5, i)]), (3, 5, [(2, 5, i)]), (5, 6, [])]
    # boundaries outside [start, end) are ignored
    assert list(covering_runs(slices, 1, 4)) == [(1, 2, [(0, 3, b)]), (2, 3, slices), (3, 4, [(2, 5, i)])]
    assert list(covering_runs([], 0, 2)) == [(0, 2, [])]


def render_nested(text: str, slices: list) -> str:
    """Tags named by entity type, from nested_runs, as a format would emit them."""
    out, stack = [], []
    for a, b, keep, opened in nested_runs(slices, 0, len(text)):
        while len(stack) > keep:
            out.append(f"</{stack.pop()[2].type}>")
        for s in opened:
            out.append(f"<{s[2].type}>")
            stack.append(s)
        out.append(text[a:b])
    out.extend(f"</{s[2].type}>" for s in reversed(stack))
    return "".join(out)


def test_nested_runs_close_and_reopen_crossing_entities() -> None:
    b, i = Entity("b", 0, 3), Entity("i", 2, 2)
    assert render_nested("abcd", [(0, 3, b), (2, 4, i)]) == "<b>ab<i>c</i></b><i>d</i>"
    assert render_nested("abcd", [(0, 4, b), (1, 2, i)]) == "<b>a<i>b</i>cd</b>"
    assert render_nested("ab", []) == "ab"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10), st.integers(1, 10)), max_size=6))
def test_nested_runs_are_always_well_formed_and_cover_the_text(ranges: list[tuple[int, int]]) -> None:
    text = "abcdefghijkl"
    slices = [(s, min(len(text), s + n), Entity(f"e{k}", 0, 0)) for k, (s, n) in enumerate(ranges)]
    slices.sort(key=lambda s: (s[0], -s[1]))
    html = render_nested(text, slices)
    stack, plain, pos = [], [], 0
    for tag in re.finditer(r"<(/?)(e\d+)>|([a-z])", html):
        if tag.group(3):
            plain.append(tag.group(3))
            # the letter is inside exactly the entities that cover it
            covering = {s[2].type for s in slices if s[0] <= pos < s[1]}
            assert set(stack) == covering
            pos += 1
        elif tag.group(1):
            assert stack.pop() == tag.group(2)
        else:
            stack.append(tag.group(2))
    assert not stack and "".join(plain) == text


# ---------------------------------------------------------------------------------------------
# links


@pytest.mark.parametrize("url", UNSAFE_LINKS)
def test_unsafe_link_targets_are_refused(url: str) -> None:
    assert safe_href(url) is None


@pytest.mark.parametrize("url", SAFE_LINKS)
def test_safe_link_targets_are_kept(url: str) -> None:
    assert safe_href(url) == url


@pytest.mark.parametrize("url", ["javascript:x", "JavaScript:x", "data:x", "vbscript:x", "file:///x", "ftp://x",
                                 "https://a b", "https://a\tb", "https://a\u0085b", "", "   ", None])
def test_strict_rules(url: str | None) -> None:
    assert safe_href(url) is None


def test_bare_hosts_get_the_default_scheme() -> None:
    assert safe_href("example.com/x") == "http://example.com/x"
    assert safe_href("example.com:8080/x") == "http://example.com:8080/x"
    assert safe_href("  example.com  ", default_scheme="https") == "https://example.com"


def test_schemes_parameter() -> None:
    assert safe_href("ftp://x", LINK_SCHEMES | {"ftp"}) == "ftp://x"
    assert safe_href("FTP://x", {"ftp"}) == "FTP://x"
    assert safe_href("https://x", {"ftp"}) is None


@pytest.mark.parametrize(("url", "scheme"), [("HTTPS://x", "https"), ("tg:x", "tg"), ("a.b+c-d:x", "a.b+c-d"),
                                             ("1a:x", None), (":x", None), ("x", None), (" http://x", None)])
def test_url_scheme(url: str, scheme: str | None) -> None:
    assert url_scheme(url) == scheme


# ---------------------------------------------------------------------------------------------
# conventions


def test_scrub_surrogates() -> None:
    assert scrub_surrogates("a\ud800b") == "a\ufffdb"
    assert scrub_surrogates("ok 😀") == "ok 😀"
    assert scrub_surrogates({"k\udfff": ["x\ud800", ("y",)], "n": 1}) == {"k\ufffd": ["x\ufffd", ["y"]], "n": 1}


def test_utc_stamp() -> None:
    when = datetime(2024, 5, 1, 23, 30, 5, 999, tzinfo=UTC)
    assert utc_stamp(when) == "2024-05-01 23:30:05"
    assert utc_stamp(when, "T") == "2024-05-01T23:30:05"
    assert utc_stamp(when.replace(tzinfo=None)) == "2024-05-01 23:30:05"
    assert utc_stamp(when.astimezone(timezone(timedelta(hours=2)))) == "2024-05-01 23:30:05"


@pytest.mark.parametrize(("size", "expected"), [(None, ""), (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KB"),
                                                (1536, "1.5 KB"), (5 << 20, "5.0 MB"), (3 << 30, "3.0 GB"),
                                                (5 << 40, "5120.0 GB")])
def test_human_size(size: int | None, expected: str) -> None:
    assert human_size(size) == expected


def test_reaction_label() -> None:
    assert [reaction_label(r) for r in (Reaction("emoji", 1, "👍"), Reaction("custom_emoji", 1, document_id=5),
                                        Reaction("custom_emoji", 1), Reaction("paid", 1), Reaction("emoji", 1))] \
        == ["👍", "custom:5", "custom", "⭐", "?"]
