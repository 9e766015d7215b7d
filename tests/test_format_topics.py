"""Forum topics in the html and markdown formats: a page set / a folder of notes per topic.

The main pages and notes keep the whole forum; each topic also gets its own, written from
``ctx.topic_messages`` — checked with the in-memory context and through the real engine.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import tgx_html
import tgx_markdown
from corpus.sample_chat import ALICE, BOB, PEERS, T0, MemoryContext, render, topic_of, write_media
from test_format_html import URL_ATTRS, check_inert, parse
from tgx.archive.store import Archive
from tgx.model import Action, Media, Message, Peer, Topic
from tgx.render.engine import render_chat
from tgx_html.writer import HtmlWriter
from tgx_markdown.writer import MarkdownWriter

FORUM = Peer(-1000000000200, "supergroup", "Forum", "theforum", forum=True)
HOSTILE = "<script>window.__pwned=1</script> [[x]] | #tag"
TOPICS = [Topic(1, "General", hidden=True), Topic(2, HOSTILE, icon_color=0x6FB9F0, pinned=True),
          Topic(5, "Closed one", closed=True, icon_emoji_id=5368324170671202286), Topic(11, "Never used")]


def msg(i: int, **kw: object) -> Message:
    kw.setdefault("sender_id", ALICE)
    text = kw.pop("text", f"message {i}")
    return Message(FORUM.id, i, T0 + timedelta(hours=3 * i), text, **kw)  # type: ignore[arg-type]


def forum_messages() -> list[Message]:
    return [
        msg(1, text="in General"),
        msg(2, text="", action=Action("topic_created", {"title": HOSTILE})),
        msg(3, topic_id=2),
        msg(4, text="General again", sender_id=BOB),
        msg(5, text="", action=Action("topic_created", {"title": "Closed one"})),
        msg(6, topic_id=2, reply_to_id=3, media=Media("photo", 1, size=10, path="media/t2.png")),
        msg(7, topic_id=5, reply_to_id=4),  # into General: a link to the main pages
        msg(8, topic_id=2, action=Action("pin_message", {"message_id": 3})),
        msg(9, text="", action=Action("topic_created", {"title": "Unlisted topic"})),  # not in TOPICS
        msg(10, topic_id=2, text="last"),
    ]


def expected_topics() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for m in forum_messages():
        out.setdefault(topic_of(m), []).append(m.id)
    return out


def ctx(out: Path, **kw: object) -> MemoryContext:
    return MemoryContext(FORUM, out, forum_messages(), topics=TOPICS, **kw)  # type: ignore[arg-type]


def message_ids(page_source: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="message(\d+)"', page_source)]


def check_safe(page_path: Path, chat_dir: Path) -> None:
    """``check_inert`` for a page below the chat folder: its ``../`` links may climb to the chat
    folder, never above it (each is checked as the chat-relative path it resolves to)."""
    page = parse(page_path)
    root = chat_dir.resolve()
    for _tag, attrs in page.elements:
        for attr, value in list(attrs.items()):
            if attr not in URL_ATTRS or not value or ":" in value.split("/", 1)[0]:
                continue
            path, sep, anchor = value.partition("#")
            if path:
                target = (page_path.parent / unquote(path)).resolve()
                assert target.is_relative_to(root), (page_path, value)
                attrs[attr] = quote(target.relative_to(root).as_posix()) + sep + anchor
    check_inert(page)


def check_links(page_path: Path) -> None:
    """Every relative href/src of a page names a file that exists, and its #anchor is in it."""
    page = parse(page_path)
    for _tag, attr, value in page.urls():
        if ":" in value.split("/", 1)[0]:
            continue  # https:, tg: ...
        path, _, anchor = value.partition("#")
        target = (page_path.parent / unquote(path)).resolve() if path else page_path
        assert target.is_file(), (page_path.name, attr, value)
        if anchor:
            assert f'id="{anchor}"' in target.read_text("utf-8"), (page_path.name, value)


# ---------------------------------------------------------------------------------------------
# html


def test_html_topic_index_lists_every_topic_escaped_with_marks_and_counts(tmp_path: Path) -> None:
    render(HtmlWriter, ctx(tmp_path), forum_messages())
    index = tmp_path / "topics" / "index.html"
    source = index.read_text("utf-8")
    check_safe(index, tmp_path)
    check_links(index)
    assert "<script" not in source and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in source
    ids = re.findall(r'<li class="topic[^"]*" id="topic(\d+)"', source)
    assert ids == ["1", "2", "5", "9", "11"]  # by id: the listed ones and one only seen in messages
    items = dict(zip(ids, re.findall(r"<li .*?</li>", source), strict=True))
    assert '<span class="topic-count">5 messages</span>' in items["2"] and 'title="pinned"' in items["2"]
    assert 'title="closed"' in items["5"] and "custom emoji 5368324170671202286" in items["5"]
    assert 'href="1/messages.html"' in items["1"] and 'title="hidden from the topic list"' in items["1"]
    assert "href" not in items["11"] and "0 messages" in items["11"]  # listed, nothing archived
    # a topic seen in the messages but never listed is on the index too, named from its message
    assert 'href="9/messages.html"' in items["9"] and "Unlisted topic" in items["9"]


def test_html_each_topic_has_its_own_pages_with_its_messages(tmp_path: Path) -> None:
    write_media(tmp_path, forum_messages())
    render(HtmlWriter, ctx(tmp_path, options={"html-page-size": 2}), forum_messages())
    expected = expected_topics()
    assert expected == {1: [1, 4], 2: [2, 3, 6, 8, 10], 5: [5, 7], 9: [9]}
    for topic_id, ids in expected.items():
        folder = tmp_path / "topics" / str(topic_id)
        pages = sorted(folder.glob("messages*.html"), key=lambda p: int(p.stem[8:] or 1))
        assert len(pages) == -(-len(ids) // 2)  # paged like the main pages
        seen = []
        for path in pages:
            check_safe(path, tmp_path)
            check_links(path)
            seen += message_ids(path.read_text("utf-8"))
        assert seen == ids, topic_id
    two = (tmp_path / "topics" / "2" / "messages2.html").read_text("utf-8")
    assert 'href="../../style.css"' in two and 'src="../../media/t2.png"' in two
    assert 'href="messages.html#message3"' in two  # a reply within the topic stays in its pages
    seven = (tmp_path / "topics" / "5" / "messages.html").read_text("utf-8")
    assert 'href="../../messages2.html#message4"' in seven  # a reply into General: the main pages
    assert "&lt;script&gt;" in two and "<script" not in two  # the topic's title heads its pages
    # the main pages still hold the whole forum and link to the topics
    main = "".join(p.read_text("utf-8") for p in sorted(tmp_path.glob("messages*.html")))
    assert sorted(message_ids(main)) == list(range(1, 11))
    assert 'href="topics/index.html"' in main


def test_html_no_topic_pages_outside_forums(tmp_path: Path) -> None:
    chat = Peer(FORUM.id, "supergroup", "Group", "group")
    c = MemoryContext(chat, tmp_path, forum_messages())
    render(HtmlWriter, c, forum_messages())
    assert not (tmp_path / "topics").exists() and not any(p.startswith("topics/") for p in c.opened)


# ---------------------------------------------------------------------------------------------
# markdown


def vault(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text("utf-8") for p in sorted((out / "markdown").rglob("*.md"))}


def test_markdown_a_folder_of_notes_per_topic_and_an_index(tmp_path: Path) -> None:
    render(MarkdownWriter, ctx(tmp_path), forum_messages())
    notes = vault(tmp_path)
    for topic_id, ids in expected_topics().items():
        folder = f"markdown/topics/{topic_id}/"
        mine = {k: v for k, v in notes.items() if k.startswith(folder) and not k.endswith("/index.md")}
        assert mine, topic_id
        found = sorted(int(i) for body in mine.values() for i in re.findall(r" \^m(\d+)$", body, re.M))
        assert found == ids, topic_id
        index = notes[folder + "index.md"]
        for name in mine:
            assert f"[[{name[:-3]}|" in index
        assert f"topic_id: {topic_id}\n" in index
    topics = notes["markdown/topics/index.md"]
    assert "- [[markdown/topics/2/index|" in topics and "· 📌 pinned · 5 messages" in topics
    assert "[[x]]" not in topics.replace("[[markdown/", "")  # the hostile title cannot make a link
    assert "🔒 closed" in topics and "- Never used · 0 messages" in topics
    assert "[[markdown/topics/9/index|Unlisted topic]]" in topics
    assert "[[markdown/topics/index|Topics]]" in notes["markdown/index.md"]
    # replies: within the topic to its own notes, elsewhere to the main notes
    body = "".join(v for k, v in notes.items() if k.startswith("markdown/topics/2/2"))
    assert "[[markdown/topics/2/2024/2024-03-01#^m3|" in body
    seven = "".join(v for k, v in notes.items() if k.startswith("markdown/topics/5/2"))
    assert "[[markdown/2024/2024-03-01#^m4|Bob]]" in seven
    # the hostile title is escaped in headings and quoted in front matter
    assert "\\<script>" in body and 'topic: "<script>window.__pwned=1</script> [[x]] | #tag"' in body


def test_markdown_no_topic_folders_outside_forums(tmp_path: Path) -> None:
    chat = Peer(FORUM.id, "supergroup", "Group", "group")
    render(MarkdownWriter, MemoryContext(chat, tmp_path, forum_messages()), forum_messages())
    assert not (tmp_path / "markdown" / "topics").exists()


# ---------------------------------------------------------------------------------------------
# through the real engine


def render_forum(out: Path, batch_size: int) -> dict[str, bytes]:
    with Archive.open(out) as a:
        result = render_chat(a, FORUM.id, out, {"html": tgx_html.tgx_register_formats(),
                                                 "markdown": tgx_markdown.tgx_register_formats()},
                             {"html": {"html-page-size": 2}}, batch_size=batch_size)
    assert result.ok, result.errors
    chat_dir = out / FORUM.folder_name
    assert "topics/index.html" in result.formats["html"].files
    assert "markdown/topics/index.md" in result.formats["markdown"].files
    return {p.relative_to(chat_dir).as_posix(): p.read_bytes() for p in sorted(chat_dir.rglob("*")) if p.is_file()}


def test_through_the_engine_topic_files_match_and_are_deterministic(tmp_path: Path) -> None:
    with Archive.open(tmp_path) as a:
        a.set_chat(FORUM)
        a.upsert_batch(FORUM.id, forum_messages(), [FORUM, *PEERS.values()])
        a.set_topics(FORUM.id, TOPICS)
    first = render_forum(tmp_path, batch_size=1000)
    assert first == render_forum(tmp_path, batch_size=3)
    for topic_id, ids in expected_topics().items():
        html = b"".join(v for k, v in first.items() if k.startswith(f"topics/{topic_id}/"))
        assert message_ids(html.decode()) == ids
    memory = tmp_path / "memory"
    render(HtmlWriter, ctx(memory, options={"html-page-size": 2}), forum_messages())
    for path in sorted(memory.rglob("*.html")):  # the engine's lookups agree with the fake's
        assert first[path.relative_to(memory).as_posix()] == path.read_bytes(), path


# ---------------------------------------------------------------------------------------------
# in Chromium: pages two folders down load the stylesheet and media under the CSP


@pytest.mark.browser
def test_topic_pages_load_clean_in_a_browser(tmp_path: Path) -> None:
    from test_html_browser import DevTools, Tab, chromium_binary

    binary = chromium_binary()
    if binary is None:
        pytest.skip("no Chromium found (install Debian's `chromium`, or set TGX_CHROMIUM=/path/to/chrome)")
    out = tmp_path / "chat"
    write_media(out, forum_messages())
    render(HtmlWriter, ctx(out, options={"html-page-size": 2}), forum_messages())
    tools = DevTools(binary, tmp_path / "profile")
    try:
        tab = Tab(tools)
        for page in (out / "topics" / "index.html", out / "topics" / "2" / "messages2.html"):
            tab.open(page)
            assert tab.problems() == [], page
            assert tab.eval("typeof window.__pwned") == "undefined"
            assert tab.eval("getComputedStyle(document.querySelector('.page')).maxWidth") == "760px", page
        loaded = tab.eval("""(async () => {
            const img = document.querySelector('img.photo');
            if (!img.complete) await new Promise(r => { img.onload = img.onerror = r; });
            return [img.getAttribute('src'), img.naturalWidth];
        })()""")
        assert loaded == ["../../media/t2.png", 64]
        assert tab.problems() == []
    finally:
        tools.close()
