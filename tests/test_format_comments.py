"""Channel comments in the html, markdown, csv and sqlite formats.

A channel post's comments (``tgx export --comments``) come from its discussion group: html and
markdown show each post's thread under it (``ctx.comments``), csv and sqlite get every comment
through ``write_comments`` (comments.csv, the comments table). Rendered with the in-memory
context first, then through the real engine from an archive holding a channel and its group.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
import tgx_csv
import tgx_html
import tgx_markdown
import tgx_sqlite
from corpus.hostile import TEXTS, UNSAFE_LINKS
from corpus.sample_chat import ALICE, BOB, CAROL, PEERS, T0, MemoryContext, render
from test_format_html import check_inert, parse
from tgx.archive.store import Archive
from tgx.model import Action, Entity, Forward, Media, Message, Peer
from tgx.render.engine import render_chat
from tgx.text import scrub_surrogates
from tgx_csv.writer import COLUMNS, CsvWriter
from tgx_html.safety import clean_text
from tgx_html.writer import HtmlWriter
from tgx_markdown.writer import MarkdownWriter
from tgx_sqlite.writer import SqliteWriter

CHANNEL = Peer(-1000000000100, "channel", "News <Channel>", "newschan")
GROUP = Peer(-1000000000101, "supergroup", "News chat", "newschat")
ROOT = {1: 201, 3: 203}  # post id -> the group's copy of it (the thread's root)


def post(i: int, text: str = "", **kw: object) -> Message:
    return Message(CHANNEL.id, i, T0 + timedelta(hours=i), text or f"post {i}", sender_id=None,  # type: ignore[arg-type]
                   **kw)


def comment(i: int, post_id: int, text: str, sender: int = ALICE, answers: int | None = None,
            **kw: object) -> Message:
    """Comment ``i`` on ``post_id``: answering the post (its root) or, with ``answers``, a comment."""
    root = ROOT[post_id]
    reply = dict(reply_to_id=root) if answers is None else dict(reply_to_id=answers, reply_to_top_id=root)
    return Message(GROUP.id, i, T0 + timedelta(hours=post_id, minutes=i - 300), text, sender_id=sender,
                   **reply, **kw)  # type: ignore[arg-type]


def posts() -> list[Message]:
    return [post(1), post(2), post(3, grouped_id=77), post(4, grouped_id=77), post(5)]


def comments() -> dict[int, list[Message]]:
    return {
        1: [comment(301, 1, "first!"),
            comment(302, 1, "I agree", sender=BOB, answers=301),
            comment(303, 1, "answers a deleted comment", sender=CAROL, answers=299),
            comment(304, 1, "with a photo", media=Media("photo", 9, size=10, path="media/comment.png"))],
        3: [comment(310, 3, "on the album")],
    }


def memory_ctx(out: Path, chat: Peer = CHANNEL, messages: list[Message] | None = None,
               threads: dict[int, list[Message]] | None = None, **kw: object) -> MemoryContext:
    return MemoryContext(chat, out, posts() if messages is None else messages,
                         comments=comments() if threads is None else threads, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# html


def test_html_threads_are_collapsed_under_their_posts_with_counts_and_links(tmp_path: Path) -> None:
    ctx = memory_ctx(tmp_path)
    render(HtmlWriter, ctx, posts())
    source = (tmp_path / "messages.html").read_text("utf-8")
    page = parse(tmp_path / "messages.html")
    check_inert(page)
    assert ctx.comment_calls == [1, 3]  # only posts with comments ask for them
    # each thread is a <details> (closed: no "open" attribute) right after its post
    assert '<details class="comments" id="comments1">\n<summary>4 comments</summary>' in source
    assert '<details class="comments" id="comments3">\n<summary>1 comment</summary>' in source
    assert "<details open" not in source and source.count("<details") == 2
    order = [i for i in page.id_order if re.fullmatch(r"message\d+|comments\d+|c\d+", i)]
    assert order == ["message1", "comments1", "c301", "c302", "c303", "c304", "message2",
                     "message3", "message4", "comments3", "c310", "message5"]  # an album's thread after it
    assert all(n == 1 for n in page.ids.values())
    hrefs = [v for tag, attr, v in page.urls() if tag == "a" and attr == "href"]
    assert "#message1" in hrefs and "#message3" in hrefs  # each thread links back to its post
    assert "#c301" in hrefs  # 302 answers 301
    assert not any(h in ("#c299", "#c201", "#c203") for h in hrefs)  # not archived / the roots
    assert "In reply to a comment that is not in this archive" in source
    assert 'src="media/comment.png"' in source
    # comments are messages: names, the date with the time, text
    assert '<span class="name name1">Bob</span>' in source or ">Bob</span>" in source
    assert ">2024-03-01 10:31</time>" in source
    assert "I agree" in "\n".join(page.texts)


def test_html_comment_text_is_escaped_exactly_as_messages(tmp_path: Path) -> None:
    threads = {1: [comment(400 + i, 1, text) for i, text in enumerate(TEXTS)]
               + [comment(500 + i, 1, "click here", entities=[Entity("text_link", 0, 10, url=url)])
                  for i, url in enumerate(UNSAFE_LINKS)]}
    peers = dict(PEERS)
    peers[ALICE] = Peer(ALICE, "user", "<script>window.__pwned=1</script>")
    render(HtmlWriter, memory_ctx(tmp_path, threads=threads, peers=peers), posts())
    source = (tmp_path / "messages.html").read_text("utf-8")
    page = parse(tmp_path / "messages.html")
    check_inert(page)
    assert "<script" not in source.lower()
    hrefs = [v for tag, attr, v in page.urls() if tag == "a" and attr == "href"]
    assert not any(url.strip() in hrefs for url in UNSAFE_LINKS)
    assert not any(v.lower().lstrip().startswith("javascript") for _, _, v in page.urls())
    visible = "\n".join(page.texts)
    for text in TEXTS:
        assert clean_text(scrub_surrogates(text)) in visible, text[:40]
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in source  # a hostile commenter's name


def test_html_thread_streams_in_bounded_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A post with many comments is written as it streams, not held as one page of markup."""
    import tgx_html.writer as writer

    many = {1: [comment(1000 + i, 1, f"c{i}") for i in range(1000)]}
    sizes: list[int] = []
    flush = writer.HtmlWriter._flush

    def spy(self: writer.HtmlWriter) -> None:
        sizes.append(len(self._items))
        flush(self)

    monkeypatch.setattr(writer.HtmlWriter, "_flush", spy)
    render(HtmlWriter, memory_ctx(tmp_path, threads=many), posts())
    assert max(sizes) <= writer.COMMENT_FLUSH + 5
    assert parse(tmp_path / "messages.html").ids["c1999"] == 1


def test_html_without_comments_has_no_threads(tmp_path: Path) -> None:
    render(HtmlWriter, memory_ctx(tmp_path, threads={}), posts())
    assert "<details" not in (tmp_path / "messages.html").read_text("utf-8")


# ---------------------------------------------------------------------------------------------
# markdown


def note(out: Path) -> str:
    return (out / "markdown" / "2024" / "2024-03-01.md").read_text("utf-8")


def test_markdown_threads_are_quoted_under_their_posts(tmp_path: Path) -> None:
    render(MarkdownWriter, memory_ctx(tmp_path), posts())
    text = note(tmp_path)
    first = text.index("^m1\n")
    thread = text[first:text.index("^m2\n")]
    assert "💬 **Comments (4)**" in thread
    for cid in (301, 302, 303, 304):
        assert f"\n\n^c{cid}\n\n" in thread  # a block id after each comment's quote
    assert "> **2024-03-01 10:31:00** · Alice Liddell\n>\n> first!\n\n^c301" in thread
    assert "> > ↩ Reply to [[markdown/2024/2024-03-01#^c301|Alice Liddell]]: first!" in thread
    assert "> > ↩ Reply to comment 299 (not in the archive)" in thread
    assert "> ![[media/comment.png]]" in thread
    # every line of a comment is quoted: nothing ends the quote early
    for block in re.findall(r"💬 \*\*Comments \(\d+\)\*\*\n\n(.*?)(?=\n\*\*\d\d:)", text, re.S):
        for line in block.split("\n"):
            assert line == "" or line.startswith(">") or re.fullmatch(r"\^c\d+", line), line
    assert "💬 **Comments (1)**" in text[text.index("^m3\n"):text.index("^m4\n")]  # under the album item
    assert text.count("💬") == 2


def test_markdown_comment_text_cannot_escape_its_quote(tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script>\n\n^m1\n---\n# heading\n```\n> [!note] callout\n[[index]] ![[x.png]]"
    threads = {1: [comment(301, 1, hostile),
                   comment(302, 1, "click", entities=[Entity("text_link", 0, 5, url="javascript:alert(1)")]),
                   comment(303, 1, "ok", sender=BOB, answers=301)]}
    render(MarkdownWriter, memory_ctx(tmp_path, threads=threads), posts())
    text = note(tmp_path)
    assert not re.search(r"(?<!\\)<", text.split("\n---\n", 1)[1]) and "javascript:" not in text
    assert "> \\<script>alert(1)\\</script>" in text
    assert "> \\^m1" in text and "> \\# heading" in text and "> \\> \\[!note\\] callout" in text
    assert "[[index]]" not in text and "![[x.png]]" not in text
    assert "\n^m1\n" not in text.replace(" ^m1\n", "")  # the post's block id is only the post's
    assert "> click" in text


def test_markdown_without_comments_has_no_section(tmp_path: Path) -> None:
    render(MarkdownWriter, memory_ctx(tmp_path, threads={}), posts())
    assert "Comments (" not in note(tmp_path)


# ---------------------------------------------------------------------------------------------
# csv and sqlite (write_comments)


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text("utf-8-sig"), newline="")))


def test_csv_comments_file_has_the_message_columns_plus_post_id(tmp_path: Path) -> None:
    ctx = memory_ctx(tmp_path)
    render(CsvWriter, ctx, posts(), batch=2)
    assert ctx.opened == ["messages.csv", "comments.csv"]
    rows = read_csv(tmp_path / "comments.csv")
    assert rows[0] == [*COLUMNS, "post_id"] and rows[0][:-1] == read_csv(tmp_path / "messages.csv")[0]
    assert [(r[-1], r[0]) for r in rows[1:]] == [("1", "301"), ("1", "302"), ("1", "303"), ("1", "304"),
                                                ("3", "310")]
    by_id = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert by_id["302"]["reply_to_id"] == "301" and by_id["302"]["sender_name"] == "Bob"
    assert by_id["304"]["media_path"] == "media/comment.png"


def test_csv_no_comments_file_without_comments(tmp_path: Path) -> None:
    ctx = memory_ctx(tmp_path, threads={})
    render(CsvWriter, ctx, posts())
    assert ctx.opened == ["messages.csv"] and not (tmp_path / "comments.csv").exists()


def test_csv_comment_cells_are_formula_guarded(tmp_path: Path) -> None:
    render(CsvWriter, memory_ctx(tmp_path, threads={1: [comment(301, 1, "=HYPERLINK(1)")]}), posts())
    assert read_csv(tmp_path / "comments.csv")[1][5] == "'=HYPERLINK(1)"


def test_sqlite_comments_table(tmp_path: Path) -> None:
    render(SqliteWriter, memory_ctx(tmp_path), posts(), batch=2)
    db = sqlite3.connect(tmp_path / "messages.sqlite")
    columns = [r[1] for r in db.execute("PRAGMA table_info(comments)")]
    assert columns == [r[1] for r in db.execute("PRAGMA table_info(messages)")] + ["post_id"]
    assert db.execute("SELECT post_id, id, chat_id FROM comments ORDER BY post_id, id").fetchall() == [
        (1, 301, GROUP.id), (1, 302, GROUP.id), (1, 303, GROUP.id), (1, 304, GROUP.id), (3, 310, GROUP.id)]
    plan = " ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN SELECT id FROM comments WHERE post_id = 1"))
    assert "comments_post" in plan
    # commenters are in users, so JOINs find their names
    assert db.execute("SELECT u.title FROM comments c JOIN users u ON u.id = c.sender_id WHERE c.id = 302"
                      ).fetchone() == ("Bob",)
    assert db.execute("SELECT count(*) FROM comments c JOIN messages m ON m.id = c.post_id").fetchone() == (5,)


def test_sqlite_comments_table_is_empty_without_comments(tmp_path: Path) -> None:
    render(SqliteWriter, memory_ctx(tmp_path, threads={}), posts())
    db = sqlite3.connect(tmp_path / "messages.sqlite")
    assert db.execute("SELECT count(*) FROM comments").fetchone() == (0,)


# ---------------------------------------------------------------------------------------------
# through the real engine: a channel and its discussion group in one archive


def group_rows() -> list[Message]:
    roots = [Message(GROUP.id, root, T0 + timedelta(hours=p, seconds=1), f"post {p}",
                     forward=Forward(from_id=CHANNEL.id, saved_from_peer=CHANNEL.id, saved_from_msg_id=p,
                                     channel_post=p))
             for p, root in ROOT.items()]
    own = [Message(GROUP.id, 100, T0, "the group's own message", sender_id=BOB),
           Message(GROUP.id, 101, T0, "", sender_id=BOB, action=Action("create_group", {"title": "x"}))]
    return roots + own + [c for cs in comments().values() for c in cs if c.media is None]


def archive(out: Path) -> None:
    with Archive.open(out) as a:
        a.set_chat(CHANNEL)
        a.upsert_batch(CHANNEL.id, posts(), [CHANNEL, *PEERS.values()])
        a.set_threaded(GROUP.id, "discussion", CHANNEL.id)
        a.upsert_batch(GROUP.id, group_rows(), [GROUP])


FORMATS = {name: mod.tgx_register_formats() for name, mod in
           (("html", tgx_html), ("markdown", tgx_markdown), ("csv", tgx_csv), ("sqlite", tgx_sqlite))}


def render_all(out: Path, batch_size: int) -> dict[str, bytes]:
    with Archive.open(out) as a:
        result = render_chat(a, CHANNEL.id, out, FORMATS, batch_size=batch_size)
    assert result.ok, result.errors
    chat_dir = out / CHANNEL.folder_name
    return {p.relative_to(chat_dir).as_posix(): p.read_bytes() for p in sorted(chat_dir.rglob("*"))
            if p.is_file() and p.suffix != ".json"}


def test_through_the_engine_every_format_gets_the_comments(tmp_path: Path) -> None:
    archive(tmp_path)
    files = render_all(tmp_path, batch_size=2)
    assert "comments.csv" in files
    rows = read_csv(tmp_path / CHANNEL.folder_name / "comments.csv")
    assert [(r[-1], r[0]) for r in rows[1:]] == [("1", "301"), ("1", "302"), ("1", "303"), ("3", "310")]
    db = sqlite3.connect(tmp_path / CHANNEL.folder_name / "messages.sqlite")
    assert db.execute("SELECT post_id, id FROM comments ORDER BY rowid").fetchall() == [
        (1, 301), (1, 302), (1, 303), (3, 310)]
    html = files["messages.html"].decode()
    assert "<summary>3 comments</summary>" in html and "<summary>1 comment</summary>" in html
    assert 'href="#c301"' in html and "the group&#39;s own message" not in html
    md = files["markdown/2024/2024-03-01.md"].decode()
    assert "💬 **Comments (3)**" in md and "[[markdown/2024/2024-03-01#^c301|Alice Liddell]]" in md


def test_through_the_engine_output_is_deterministic(tmp_path: Path) -> None:
    archive(tmp_path)
    first = render_all(tmp_path, batch_size=1000)
    again = render_all(tmp_path, batch_size=1)
    assert first == again


def test_a_channel_without_comments_gets_no_comments_file(tmp_path: Path) -> None:
    with Archive.open(tmp_path) as a:
        a.set_chat(CHANNEL)
        a.upsert_batch(CHANNEL.id, posts(), [CHANNEL, *PEERS.values()])
    files = render_all(tmp_path, batch_size=1000)
    assert "comments.csv" not in files and "comments.jsonl" not in files
    assert b"<details" not in files["messages.html"] and b"Comments (" not in files["markdown/2024/2024-03-01.md"]


@pytest.mark.browser
def test_a_link_to_a_comment_opens_its_thread_in_a_browser(tmp_path: Path) -> None:
    from test_html_browser import DevTools, Tab, chromium_binary

    binary = chromium_binary()
    if binary is None:
        pytest.skip("no Chromium found (install Debian's `chromium`, or set TGX_CHROMIUM=/path/to/chrome)")
    out = tmp_path / "chat"
    render(HtmlWriter, memory_ctx(out), posts())
    tools = DevTools(binary, tmp_path / "profile")
    try:
        tab = Tab(tools)
        tab.open(out / "messages.html")
        assert tab.problems() == []
        assert tab.eval("Array.from(document.querySelectorAll('details.comments'), d => d.open)") == [False, False]
        assert tab.eval("document.querySelector('#c302').checkVisibility()") is False  # collapsed
        tab.call("Page.navigate", {"url": (out / "messages.html").as_uri() + "#c302"})
        tools.pump(0.5)
        assert tab.eval("document.querySelector('#comments1').open") is True  # opened for its target
        assert tab.eval("document.querySelector('#c302').checkVisibility()") is True
        assert tab.eval("document.querySelector('#comments3').open") is False
    finally:
        tools.close()
