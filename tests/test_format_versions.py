"""Edits and deletions in every format: earlier versions (``Message.history``) and ``deleted_at``.

Each format renders ``living_messages()`` — the sample chat with message 14 edited twice before
(one earlier version has a ``<script>`` and a ``javascript:`` link), message 16's photo and
caption replaced, message 43 deleted at a known time — and the plain ``sample_messages()``: the
changed messages show their history and deletion as documented, and every other message renders
exactly as it does without history.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from corpus.sample_chat import CHAT, PEERS, MemoryContext, render, sample_messages, write_media
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
from tgx.model import Entity, Message, Version
from tgx_csv.writer import COLUMNS, CsvWriter
from tgx_html.writer import HtmlWriter
from tgx_json.writer import JsonWriter
from tgx_markdown.writer import MarkdownWriter
from tgx_sqlite.writer import SqliteWriter
from tgx_txt.writer import TxtWriter

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


# ---------------------------------------------------------------------------------------------
# markdown


def rendered(factory: Any, messages: list[Message], out: Path) -> Path:
    render(factory, MemoryContext(CHAT, out, messages), messages)
    return out


def md_blocks(out: Path) -> dict[int, str]:
    """Every message of the vault's notes: id -> its header and blocks (up to the next header)."""
    blocks: dict[int, str] = {}
    for note in sorted((out / "markdown").rglob("*.md")):
        for piece in re.split(r"\n(?=\*\*\d\d:\d\d:\d\d\*\* )", note.read_text("utf-8"))[1:]:
            blocks[int(re.search(r" \^m(\d+)\n", piece).group(1))] = piece  # type: ignore[union-attr]
    return blocks


@pytest.fixture(scope="module")
def md_vaults(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[int, str], dict[int, str]]:
    return (md_blocks(rendered(MarkdownWriter, sample_messages(), tmp_path_factory.mktemp("md-plain"))),
            md_blocks(rendered(MarkdownWriter, living_messages(), tmp_path_factory.mktemp("md-living"))))


def test_markdown_earlier_versions_in_a_folded_callout(md_vaults: tuple[dict[int, str], dict[int, str]]) -> None:
    block = md_vaults[1][EDITED]
    callout = block[block.index("> [!note]- Earlier versions (2)"):]
    assert callout.splitlines()[:4] == ["> [!note]- Earlier versions (2)", "> **Original** · 2024-03-01 09:43:00 UTC",
                                        ">", "> Original text, first draft"]
    assert "> **Edited** · 2024-03-01 09:45:00 UTC" in callout
    assert all(line.startswith(">") for line in callout.strip().splitlines())  # nothing ends the callout
    assert "\\<script>" in callout and "<script>" not in callout.replace("\\<script>", "")
    assert "javascript:" not in callout and "click me" in callout  # unsafe link: its text, no link
    photo = md_vaults[1][EDITED_MEDIA]
    assert "*edited*" in photo.splitlines()[0] and "> 📎 photo, 10 B (not downloaded)" in photo


def test_markdown_deleted_message_says_when(md_vaults: tuple[dict[int, str], dict[int, str]]) -> None:
    assert md_vaults[1][DELETED].splitlines()[0] == \
        "**09:31:00** · Alice Liddell · *deleted 2024-03-03 12:30:00 UTC* ^m43"
    assert md_vaults[0][DELETED].splitlines()[0] == "**09:31:00** · Alice Liddell · *deleted* ^m43"


def test_markdown_messages_without_history_render_as_before(
        md_vaults: tuple[dict[int, str], dict[int, str]]) -> None:
    plain, living = md_vaults
    assert plain.keys() == living.keys()
    assert {k: v for k, v in plain.items() if k not in CHANGED} == {k: v for k, v in living.items() if k not in CHANGED}
    assert not any("Earlier versions" in v for v in plain.values())


# ---------------------------------------------------------------------------------------------
# txt


def txt_messages(out: Path) -> list[str]:
    """messages.txt cut into messages: each starts with ``[`` at the start of a line."""
    source = (out / "messages.txt").read_text("utf-8")
    return re.split(r"\n(?=\[)", source)[1:]


@pytest.fixture(scope="module")
def txt_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[str]]:
    return (txt_messages(rendered(TxtWriter, sample_messages(), tmp_path_factory.mktemp("txt-plain"))),
            txt_messages(rendered(TxtWriter, living_messages(), tmp_path_factory.mktemp("txt-living"))))


def test_txt_was_lines_per_earlier_version(txt_files: tuple[list[str], list[str]]) -> None:
    ids = [m.id for m in sample_messages()]
    edited = txt_files[1][ids.index(EDITED)].splitlines()
    assert edited[1:] == [
        "    [edited 2024-03-01 09:50:00 UTC]",
        "    was (2024-03-01 09:43:00 UTC): Original text, first draft",
        f"    was (2024-03-01 09:45:00 UTC): {HOSTILE_VERSION_TEXT}",  # text is kept as it was
    ]
    photo = txt_files[1][ids.index(EDITED_MEDIA)].splitlines()
    assert photo[-1] == "    was (2024-03-01 09:45:00 UTC): [photo, 10 B, not downloaded] Old caption"
    assert txt_files[1][ids.index(DELETED)].splitlines()[-1] == "    [deleted 2024-03-03 12:30:00 UTC]"
    assert txt_files[0][ids.index(DELETED)].splitlines()[-1] == "    [deleted]"


def test_txt_multiline_version_stays_inside_its_message(tmp_path: Path) -> None:
    msg = sample_messages()[1]
    msg.edit_date, msg.history = msg.date, [Version(None, "one\r\n[2024-01-01 00:00:00 UTC] Fake: two\rthree")]
    lines = txt_messages(rendered(TxtWriter, [msg], tmp_path))[0].splitlines()
    assert lines[2:] == ["    was (2024-03-01 09:31:00 UTC): one", "        [2024-01-01 00:00:00 UTC] Fake: two",
                         "        three"]


def test_txt_messages_without_history_render_as_before(txt_files: tuple[list[str], list[str]]) -> None:
    ids = [m.id for m in sample_messages()]
    plain, living = txt_files
    assert [p for p, i in zip(plain, ids, strict=True) if i not in CHANGED] == \
        [p for p, i in zip(living, ids, strict=True) if i not in CHANGED]


# ---------------------------------------------------------------------------------------------
# csv


def csv_rows(out: Path, name: str = "messages.csv") -> list[list[str]]:
    return list(csv.reader(io.StringIO((out / name).read_text("utf-8-sig"), newline="")))


def test_csv_deleted_at_and_edits_are_appended(tmp_path: Path) -> None:
    rows = csv_rows(rendered(CsvWriter, living_messages(), tmp_path))
    assert rows[0][-3:] == ["deleted", "deleted_at", "edits"] and tuple(rows[0]) == COLUMNS
    by_id = {int(r[0]): dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert by_id[EDITED]["edits"] == "2" and by_id[EDITED_MEDIA]["edits"] == "1"
    assert by_id[DELETED]["deleted"] == "1" and by_id[DELETED]["deleted_at"] == "2024-03-03T12:30:00+00:00"
    assert by_id[EDITED]["text"] == "Edited message"  # the current version
    assert {r["edits"] for i, r in by_id.items() if i not in CHANGED} == {"0"}
    assert {r["deleted_at"] for i, r in by_id.items() if i != DELETED} == {""}


def test_csv_columns_before_the_new_ones_are_unchanged(tmp_path: Path) -> None:
    plain = csv_rows(rendered(CsvWriter, sample_messages(), tmp_path / "plain"))
    living = csv_rows(rendered(CsvWriter, living_messages(), tmp_path / "living"))
    old = COLUMNS.index("deleted_at")
    assert COLUMNS[:old] == ("id", "date", "edit_date", "sender_id", "sender_name", "text", "reply_to_id",
                             "forward_from_id", "forward_from", "forward_date", "media_kind", "media_path",
                             "media_file_name", "media_size", "action", "views", "forwards", "reactions",
                             "grouped_id", "topic_id", "topic_title", "deleted")
    same = [(p[:old], q[:old]) for p, q in zip(plain, living, strict=True) if p[0] != str(EDITED_MEDIA)]
    assert all(p == q for p, q in same)


def test_csv_comments_carry_the_new_columns_before_post_id(tmp_path: Path) -> None:
    post = living_messages()[1]
    comment = living_messages()[DELETED - 1]
    comment = Message(-1005, 301, comment.date, "gone", sender_id=comment.sender_id, deleted=True,
                      deleted_at=DELETED_AT, edit_date=comment.date, history=[Version(None, "first")])
    ctx = MemoryContext(CHAT, tmp_path, [post], comments={post.id: [comment]})
    render(CsvWriter, ctx, [post])
    rows = csv_rows(tmp_path, "comments.csv")
    assert rows[0][-3:] == ["deleted_at", "edits", "post_id"]
    assert rows[1][-3:] == ["2024-03-03T12:30:00+00:00", "1", str(post.id)]


# ---------------------------------------------------------------------------------------------
# sqlite


def test_sqlite_versions_table_and_deleted_at(tmp_path: Path) -> None:
    post = living_messages()[1]
    comment = Message(-1005, 301, post.date, "now", sender_id=post.sender_id, edit_date=post.date,
                      history=[Version(None, "first")])
    messages = living_messages()
    ctx = MemoryContext(CHAT, tmp_path, messages, comments={post.id: [comment]})
    render(SqliteWriter, ctx, messages)
    db = sqlite3.connect(tmp_path / "messages.sqlite")
    assert db.execute("PRAGMA user_version").fetchone() == (3,)
    rows = db.execute("SELECT chat_id, message_id, seq, edit_date, edit_date_iso, text, entities, media "
                      "FROM versions ORDER BY chat_id, message_id, seq").fetchall()
    edited = next(m for m in messages if m.id == EDITED)
    assert rows[-1] == (-1005, 301, 0, None, None, "first", "[]", None)  # a comment's, under its group
    assert [r[:3] for r in rows[:-1]] == [(CHAT.id, EDITED, 0), (CHAT.id, EDITED, 1), (CHAT.id, EDITED_MEDIA, 0)]
    for row, version in zip(rows, edited.history, strict=False):
        d = version.to_dict()
        assert row[3:6] == ((int(version.edit_date.timestamp()) if version.edit_date else None),
                            d["edit_date"], version.text)
        assert json.loads(row[6]) == d["entities"] and row[7] is None
    assert json.loads(rows[2][7])["kind"] == "photo" and rows[2][5] == "Old caption"
    assert db.execute("SELECT deleted, deleted_at, deleted_at_iso FROM messages WHERE id = ?", (DELETED,)
                      ).fetchone() == (1, int(DELETED_AT.timestamp()), DELETED_AT.isoformat())
    assert db.execute("SELECT count(*) FROM messages WHERE deleted_at IS NOT NULL").fetchone() == (1,)
    # json is the jsonl line: with history
    (data,) = db.execute("SELECT json FROM messages WHERE id = ?", (EDITED,)).fetchone()
    assert json.loads(data)["history"] == [v.to_dict() for v in edited.history]
    assert db.execute("SELECT count(*) FROM comments WHERE deleted_at IS NULL").fetchone() == (1,)


def test_sqlite_messages_without_history_have_the_same_rows(tmp_path: Path) -> None:
    def rows(messages: list[Message], out: Path) -> dict[int, tuple[object, ...]]:
        render(SqliteWriter, MemoryContext(CHAT, out, messages), messages)
        db = sqlite3.connect(out / "messages.sqlite")
        return {r[0]: r for r in db.execute("SELECT * FROM messages")}

    plain, living = rows(sample_messages(), tmp_path / "plain"), rows(living_messages(), tmp_path / "living")
    assert {k: v for k, v in plain.items() if k not in CHANGED} == {k: v for k, v in living.items() if k not in CHANGED}
    db = sqlite3.connect(tmp_path / "plain" / "messages.sqlite")
    assert db.execute("SELECT count(*) FROM versions").fetchone() == (0,)


# ---------------------------------------------------------------------------------------------
# json (Telegram Desktop's result.json)


def test_json_has_the_current_version_only_and_no_deleted_message(tmp_path: Path) -> None:
    plain = json.loads((rendered(JsonWriter, sample_messages(), tmp_path / "plain") / "result.json").read_bytes())
    living_dir = rendered(JsonWriter, living_messages(), tmp_path / "living")
    living = json.loads((living_dir / "result.json").read_bytes())
    ids = [m["id"] for m in living["messages"]]
    assert DELETED not in ids and ids == [m.id for m in sample_messages() if not m.deleted]
    by_id = {m["id"]: m for m in living["messages"]}
    assert by_id[EDITED]["text"] == "Edited message" and by_id[EDITED]["edited"] == "2024-03-01T09:50:00"
    raw = (living_dir / "result.json").read_text("utf-8")
    assert "history" not in raw and "first draft" not in raw and "Old caption" not in raw
    # only the message whose edit is new differs (it gained "edited"): history is invisible here
    changed = [m["id"] for m, p in zip(living["messages"], plain["messages"], strict=True) if m != p]
    assert changed == [EDITED_MEDIA]


def test_json_with_every_message_deleted_is_still_valid(tmp_path: Path) -> None:
    messages = [m for m in living_messages() if m.action is None][:3]
    for m in messages:
        m.deleted, m.deleted_at = True, DELETED_AT
    out = rendered(JsonWriter, messages, tmp_path)
    assert json.loads((out / "result.json").read_bytes())["messages"] == []


@pytest.mark.browser
def test_html_versions_open_on_click_and_run_nothing_in_a_browser(tmp_path: Path) -> None:
    from test_html_browser import DevTools, Tab, chromium_binary

    binary = chromium_binary()
    if binary is None:
        pytest.skip("no Chromium found (install Debian's `chromium`, or set TGX_CHROMIUM=/path/to/chrome)")
    out = tmp_path / "chat"
    write_media(out, living_messages())
    rendered(HtmlWriter, living_messages(), out)
    tools = DevTools(binary, tmp_path / "profile")
    try:
        tab = Tab(tools)
        tab.open(out / "messages.html")
        assert tab.problems() == []
        assert tab.eval("typeof window.__pwned") == "undefined"
        assert tab.eval("document.querySelectorAll('script, a[href^=\"javascript\" i]').length") == 0
        first = f"document.querySelector('#message{EDITED} details.versions')"
        assert tab.eval(f"{first}.open") is False
        assert tab.eval(f"{first}.querySelector('.version').checkVisibility()") is False  # collapsed
        tab.eval(f"{first}.querySelector('summary').click()")
        assert tab.eval(f"{first}.open") is True
        assert tab.eval(f"{first}.querySelectorAll('.version')[1].innerText").endswith(
            "<script>window.__pwned=1</script> click me & <b>bold</b>")  # shown as text
        assert tab.eval("typeof window.__pwned") == "undefined" and tab.problems() == []
    finally:
        tools.close()


# ---------------------------------------------------------------------------------------------
# comments: a comment's versions and deletion, in its thread


def test_comments_show_their_versions_and_deletion_like_messages(tmp_path: Path) -> None:
    from test_format_comments import CHANNEL, GROUP, comment, post

    text = HOSTILE_VERSION_TEXT
    versions = [Version(None, text, [Entity("text_link", text.index("click"), 8, url=UNSAFE_VERSION_URL)])]
    edited = comment(301, 1, "now", edit_date=post(1).date, history=versions)
    gone = comment(302, 1, "gone", deleted=True, deleted_at=DELETED_AT)
    peers = {**PEERS, GROUP.id: GROUP}
    for factory in (HtmlWriter, MarkdownWriter):
        out = tmp_path / factory.__name__
        render(factory, MemoryContext(CHANNEL, out, [post(1)], peers=peers, comments={1: [edited, gone]}), [post(1)])
    page = (tmp_path / "HtmlWriter" / "messages.html").read_text("utf-8")
    check_inert(parse(tmp_path / "HtmlWriter" / "messages.html"))
    thread = page[page.index('id="c301"'):]
    assert "<summary>1 earlier version</summary>" in thread and "&lt;script&gt;" in thread
    assert "<script>" not in thread and 'href="javascript' not in thread
    assert '<span class="deleted-note" title="deleted 2024-03-03 12:30:00 UTC">' in thread
    note = next((tmp_path / "MarkdownWriter" / "markdown").rglob("20*.md")).read_text("utf-8")
    assert "> > [!note]- Earlier versions (1)" in note and "> > \\<script>" in note
    assert "javascript:" not in note and "*deleted 2024-03-03 12:30:00 UTC*" in note
