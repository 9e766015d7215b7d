"""A forum in a refresh (``tgx watch`` on a forum): the main pages and notes that changed, the
topic index, and only the page sets / note folders of the topics whose messages changed (or quote
a changed one) are written again — every file as a full render writes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_render_refresh import FORMATS, spy_refreshes
from tgx.archive.store import Archive
from tgx.model import Action, Message, Peer, Topic
from tgx.render.engine import refresh_chat, render_chat

FORUM = Peer(-1000000000300, "supergroup", "Board", "board", forum=True)
PEOPLE = [Peer(7, "user", "Ann"), Peer(8, "user", "Bob")]
T0 = datetime(2024, 5, 1, tzinfo=UTC)
OPTIONS = {"html": {"html-page-size": 40}}
NAMES = ("html", "markdown")
STARTS = {10: "Tens", 20: "Twenties", 30: "Thirties"}  # topic_created message id -> title


def make(i: int, **kw) -> Message:
    if i in STARTS:
        return Message(FORUM.id, i, T0 + timedelta(minutes=41 * i), "", sender_id=7,
                       action=Action("topic_created", {"title": STARTS[i]}))
    topic = [None, 10, 20, 30][i % 4] if i > 30 else None
    kw.setdefault("text", f"message {i}")
    kw.setdefault("reply_to_id", i - 8 if i % 9 == 0 else None)  # quotes a message of the same topic ...
    return Message(FORUM.id, i, T0 + timedelta(minutes=41 * i), sender_id=7 if i % 3 else 8, topic_id=topic, **kw)


def files_of(out: Path) -> dict[str, bytes]:
    chat = out / FORUM.folder_name
    return {p.relative_to(chat).as_posix(): p.read_bytes() for p in sorted(chat.rglob("*")) if p.is_file()}


def mtimes(out: Path) -> dict[str, int]:
    chat = out / FORUM.folder_name
    return {p.relative_to(chat).as_posix(): p.stat().st_mtime_ns for p in chat.rglob("*") if p.is_file()}


@pytest.fixture
def forum(tmp_path: Path, monkeypatch):
    a = Archive.open(tmp_path)
    a.set_chat(FORUM)
    a.set_topics(FORUM.id, [Topic(1, "General"), *(Topic(i, t) for i, t in STARTS.items())])
    a.upsert_batch(FORUM.id, [make(i) for i in range(1, 401)], [FORUM, *PEOPLE])
    out = tmp_path / "out"
    assert render_chat(a, FORUM.id, out, {n: FORMATS[n] for n in NAMES}, OPTIONS, batch_size=50).ok
    yield a, out, tmp_path, spy_refreshes(monkeypatch)
    a.close()


def refreshed(a: Archive, out: Path, tmp: Path, changed: list[int]) -> set[str]:
    before = mtimes(out)
    result = refresh_chat(a, FORUM.id, out, {n: FORMATS[n] for n in NAMES}, OPTIONS, changed=changed, batch_size=50)
    assert result.ok, result.errors
    fresh = tmp / f"fresh{len(list(tmp.glob('fresh*')))}"
    render_chat(a, FORUM.id, fresh, {n: FORMATS[n] for n in NAMES}, OPTIONS, batch_size=50)
    got, want = files_of(out), files_of(fresh)
    assert sorted(got) == sorted(want)
    assert [rel for rel in want if got[rel] != want[rel]] == []
    now = mtimes(out)
    return {rel for rel in now if before.get(rel) != now[rel]}


def topics_written(written: set[str]) -> set[str]:
    """The topic page sets (html) and note folders (markdown) written: ``html:20``, ``md:1``."""
    out = set()
    for rel in written:
        parts = rel.split("/")
        if parts[0] == "topics" and len(parts) > 2:
            out.add(f"html:{parts[1]}")
        elif parts[:2] == ["markdown", "topics"] and len(parts) > 3:
            out.add(f"md:{parts[2]}")
    return out


def test_new_posts_in_one_topic_redo_that_topics_pages_only(forum):
    a, out, tmp, seen = forum
    a.upsert_batch(FORUM.id, [make(i) for i in (402, 406, 410)])  # all in topic 20
    written = refreshed(a, out, tmp, [402, 406, 410])
    assert sorted(seen) == ["html", "markdown"]  # refreshed, not rendered in full
    assert topics_written(written) == {"html:20", "md:20"}
    assert "topics/index.html" in written and "markdown/topics/index.md" in written


def test_an_edit_redoes_its_topic_and_the_topics_quoting_it(forum):
    a, out, tmp, seen = forum
    # 99 (topic 30) quotes 91 (topic 30); 45 (topic 10) is made to quote 91 too
    a.upsert_batch(FORUM.id, [make(45, reply_to_id=91)])
    render_chat(a, FORUM.id, out, {n: FORMATS[n] for n in NAMES}, OPTIONS, batch_size=50)
    a.upsert_batch(FORUM.id, [make(91, text="edited", edit_date=T0 + timedelta(days=99))])
    written = refreshed(a, out, tmp, [91])
    assert sorted(seen) == ["html", "markdown"]
    assert topics_written(written) == {"html:30", "html:10", "md:30", "md:10"}


def test_a_message_below_the_newest_renders_the_forum_in_full(forum):
    a, out, tmp, seen = forum
    a.upsert_batch(FORUM.id, [make(i) for i in (402, 403)])
    refreshed(a, out, tmp, [402, 403])
    a.upsert_batch(FORUM.id, [Message(FORUM.id, 401, T0 + timedelta(minutes=41 * 401), "late", sender_id=7,
                                      topic_id=10)])
    seen.clear()
    refreshed(a, out, tmp, [401])
    assert seen == []  # every later message moved on the main pages: the topic pages link to them
