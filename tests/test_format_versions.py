"""Edits and deletions in every format: earlier versions (``Message.history``) and ``deleted_at``.

Each format renders ``living_messages()`` — the sample chat with message 14 edited twice before
(one earlier version has a ``<script>`` and a ``javascript:`` link), message 16's photo and
caption replaced, message 43 deleted at a known time — and the plain ``sample_messages()``: the
changed messages show their history and deletion as documented, and every other message renders
exactly as it does without history.
"""

from __future__ import annotations

import re

import pytest
from corpus.sample_chat import CHAT, MemoryContext, render, sample_messages
from corpus.versions import (
    DELETED,
    DELETED_AT,
    EDITED,
    EDITED_MEDIA,
    HOSTILE_VERSION_TEXT,
    UNSAFE_VERSION_URL,
    living_messages,
)
from test_format_html import check_inert, parse
from tgx_html.writer import HtmlWriter

CHANGED = {EDITED, EDITED_MEDIA, DELETED}


# ---------------------------------------------------------------------------------------------
# html


def html_pieces(source: str) -> dict[int | None, str]:
    """A page cut at every message anchor: id -> its markup up to the next anchor (None: the head)."""
    parts = re.split(r'id="message(\d+)"', source)
    pieces: dict[int | None, str] = {None: parts[0]}
    for mid, body in zip(parts[1::2], parts[2::2], strict=True):
        pieces[int(mid)] = body
    return pieces


@pytest.fixture(scope="module")
def html_pages(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(the sample chat's page, the living chat's page)."""
    sources = []
    for name, messages in (("plain", sample_messages()), ("living", living_messages())):
        out = tmp_path_factory.mktemp(name)
        render(HtmlWriter, MemoryContext(CHAT, out, messages), messages)
        page = parse(out / "messages.html")
        check_inert(page)
        sources.append((out / "messages.html").read_text("utf-8"))
    return sources[0], sources[1]


def test_html_earlier_versions_are_collapsed_under_the_message(html_pages: tuple[str, str]) -> None:
    piece = html_pieces(html_pages[1])[EDITED]
    assert piece.count('<details class="versions">') == 1 and "<summary>2 earlier versions</summary>" in piece
    assert piece.index('class="text"') < piece.index('class="versions"')  # the current text first
    heads = re.findall(r'<div class="version-head">(\w+) <time datetime="([^"]+)"', piece)
    assert heads == [("Original", "2024-03-01T09:43:00Z"), ("Edited", "2024-03-01T09:45:00Z")]
    assert '<div class="version-text">Original text, first draft</div>' in piece
    photo = html_pieces(html_pages[1])[EDITED_MEDIA]
    assert "<summary>1 earlier version</summary>" in photo and '<div class="version-media">Photo</div>' in photo
    assert '<div class="version-text">Old caption</div>' in photo


def test_html_a_versions_text_is_escaped_and_its_links_checked(html_pages: tuple[str, str]) -> None:
    piece = html_pieces(html_pages[1])[EDITED]
    assert "<script>" not in piece and "&lt;script&gt;" in piece and "&lt;b&gt;bold&lt;/b&gt;" in piece
    assert "<strong>&lt;script&gt;</strong>" in piece  # entities render as in a message's text
    assert 'href="javascript' not in piece.lower()
    assert '<span class="text-link blocked" title="javascript:window.__pwned=1">click me</span>' in piece
    assert UNSAFE_VERSION_URL in piece and HOSTILE_VERSION_TEXT not in piece


def test_html_deleted_message_is_marked_with_when(html_pages: tuple[str, str]) -> None:
    piece = html_pieces(html_pages[1])[DELETED]
    assert re.search(rf'<div class="message[^"]* deleted" id="message{DELETED}"', html_pages[1])
    assert ('<span class="deleted-note" title="deleted 2024-03-03 12:30:00 UTC">deleted on Telegram '
            '<span class="deleted-at">2024-03-03 12:30</span></span>') in piece
    assert DELETED_AT.isoformat().startswith("2024-03-03T12:30")


def test_html_messages_without_history_render_as_before(html_pages: tuple[str, str]) -> None:
    plain, living = (html_pieces(s) for s in html_pages)
    assert plain.keys() == living.keys()
    assert {k: v for k, v in plain.items() if k not in CHANGED} == \
        {k: v for k, v in living.items() if k not in CHANGED}
    assert "versions" not in html_pages[0] and "deleted-at" not in html_pages[0]
    # a deletion without a known time keeps today's mark
    assert '<span class="deleted-note">deleted on Telegram</span>' in plain[DELETED]
