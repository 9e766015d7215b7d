"""A channel's comments in a refresh (``tgx watch --comments``): a new, edited or deleted comment
redoes only its post's html page and markdown note, is patched into messages.sqlite, and the
comment files of the line formats follow — every file as a full render writes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_render_refresh import FORMATS, database, files, spy_refreshes
from test_render_refresh import assert_same_as_full as same_as_full
from tgx.archive.store import Archive
from tgx.model import Forward, Message, Peer
from tgx.render.engine import refresh_chat, render_chat

CHANNEL = Peer(-1000000000200, "channel", "Posts", "posts")
GROUP = Peer(-1000000000201, "supergroup", "Posts chat", "postschat")
PEOPLE = [Peer(7, "user", "Ann"), Peer(8, "user", "Bob")]
T0 = datetime(2024, 3, 1, tzinfo=UTC)
OPTIONS = {"html": {"html-page-size": 40}}
COMMENTED = (3, 95)  # posts with threads: on the first html page and on the third
NAMES = ("jsonl", "csv", "html", "markdown", "sqlite")


def root_of(post: int) -> int:
    return 10_000 + post  # the discussion group's copy of the post


def comment(i: int, post: int, text: str | None = None, **kw) -> Message:
    return Message(GROUP.id, i, T0 + timedelta(hours=post, minutes=i % 50), text or f"comment {i} on {post}",
                   sender_id=7 if i % 2 else 8, reply_to_id=root_of(post), **kw)


def build(out: Path) -> Archive:
    a = Archive.open(out)
    a.set_chat(CHANNEL)
    a.upsert_batch(CHANNEL.id, [Message(CHANNEL.id, i, T0 + timedelta(hours=i), f"post {i}", replies=3 if i in
                                        COMMENTED else None) for i in range(1, 121)], [CHANNEL, *PEOPLE])
    a.set_threaded(GROUP.id, "discussion", CHANNEL.id)
    roots = [Message(GROUP.id, root_of(p), T0 + timedelta(hours=p, seconds=1), f"post {p}",
                     forward=Forward(from_id=CHANNEL.id, saved_from_peer=CHANNEL.id, saved_from_msg_id=p,
                                     channel_post=p)) for p in COMMENTED]
    threads = [comment(100 * k + j, p) for k, p in enumerate(COMMENTED, start=1) for j in range(3)]
    a.upsert_batch(GROUP.id, roots + threads, [GROUP])
    return a


def written_since(out: Path, before: dict[str, int]) -> set[str]:
    chat = out / CHANNEL.folder_name
    return {p.relative_to(chat).as_posix() for p in chat.rglob("*")
            if p.is_file() and before.get(p.relative_to(chat).as_posix()) != p.stat().st_mtime_ns}


def mtimes(out: Path) -> dict[str, int]:
    chat = out / CHANNEL.folder_name
    return {p.relative_to(chat).as_posix(): p.stat().st_mtime_ns for p in chat.rglob("*") if p.is_file()}


def assert_same_as_full(a: Archive, out: Path, tmp: Path) -> None:
    same_as_full(a, out, tmp, NAMES, OPTIONS, CHANNEL)


def files_of(out: Path) -> dict[str, bytes]:
    return files(out, CHANNEL)


@pytest.fixture
def rendered(tmp_path: Path, monkeypatch):
    a = build(tmp_path)
    out = tmp_path / "out"
    assert render_chat(a, CHANNEL.id, out, {n: FORMATS[n] for n in NAMES}, OPTIONS, batch_size=50).ok
    yield a, out, tmp_path, spy_refreshes(monkeypatch)
    a.close()


def refresh(a: Archive, out: Path, changed=(), comments=()):
    result = refresh_chat(a, CHANNEL.id, out, {n: FORMATS[n] for n in NAMES}, OPTIONS, changed=changed,
                          comments=comments, batch_size=50)
    assert result.ok, result.errors
    return result


def test_a_new_an_edited_and_a_deleted_comment_redo_only_their_posts_pages(rendered):
    a, out, tmp, seen = rendered
    before = mtimes(out)
    a.upsert_batch(GROUP.id, [comment(103, 3, "a new comment"),
                              comment(201, 95, "edited comment", edit_date=T0 + timedelta(days=30))])
    a.mark_deleted(GROUP.id, [202], at=T0 + timedelta(days=31))
    refresh(a, out, comments=[103, 201, 202])
    assert set(seen) == set(NAMES)  # none of them rendered in full
    pages = {f for f in written_since(out, before) if f.endswith(".html")}
    assert pages == {"messages.html", "messages3.html", "newest.html"}  # posts 3 and 95's pages (and the pointer)
    assert_same_as_full(a, out, tmp)
    db = database(out / CHANNEL.folder_name / "messages.sqlite")
    assert any(row[7] == "edited comment" for row in db["comments"])


def test_comments_and_posts_changed_together_and_a_message_of_the_group_that_is_no_comment(rendered):
    a, out, tmp, seen = rendered
    a.upsert_batch(CHANNEL.id, [Message(CHANNEL.id, 121, T0 + timedelta(hours=121), "post 121")])
    a.upsert_batch(GROUP.id, [comment(104, 3), Message(GROUP.id, 50, T0, "the group's own talk", sender_id=8)])
    refresh(a, out, changed=[121], comments=[104, 50])
    assert set(seen) == set(NAMES)
    assert_same_as_full(a, out, tmp)


def test_comments_not_known_render_the_channel_in_full(rendered):
    a, out, tmp, seen = rendered
    a.upsert_batch(GROUP.id, [comment(105, 95, "unannounced")])
    refresh(a, out, comments=None)
    assert seen == []
    assert_same_as_full(a, out, tmp)


def test_a_refresh_naming_no_comment_writes_nothing_and_the_next_one_catches_up(rendered):
    """The caller names what changed (the watch does, from the catch-ups): what it does not name
    is not looked for — and shows once it is named."""
    a, out, tmp, seen = rendered
    a.upsert_batch(GROUP.id, [comment(106, 95, "named later")])
    refresh(a, out, comments=[])  # nothing named: nothing written
    assert seen == []
    refresh(a, out, comments=[106])
    assert_same_as_full(a, out, tmp)


def test_the_comment_files_continue_from_the_changed_comments_post(tmp_path, monkeypatch):
    """comments.jsonl and comments.csv are in (post_id, id) order: a comment changed under the newer
    post re-streams from there (a batch back at most), not the 300 comments under the older one;
    with no comment changed they are not touched at all."""
    a = build(tmp_path)
    a.upsert_batch(GROUP.id, [comment(1000 + j, 3) for j in range(300)])
    out = tmp_path / "out"
    names = {n: FORMATS[n] for n in ("jsonl", "csv")}
    assert render_chat(a, CHANNEL.id, out, names, OPTIONS, batch_size=50).ok
    streamed = [0]
    real = a.iter_comments

    def counting(*args, **kw):
        for rows in real(*args, **kw):
            if kw.get("post_id") is None:
                streamed[0] += len(rows)
            yield rows

    monkeypatch.setattr(a, "iter_comments", counting)
    a.upsert_batch(GROUP.id, [comment(201, 95, "edited late", edit_date=T0 + timedelta(days=30))])
    result = refresh_chat(a, CHANNEL.id, out, names, OPTIONS, comments=[201], batch_size=50)
    assert result.ok, result.errors
    assert 0 < streamed[0] <= 2 * (50 + 3)  # per format: the checkpoint's batch and post 95's thread
    before = mtimes(out)
    a.upsert_batch(CHANNEL.id, [Message(CHANNEL.id, 121, T0 + timedelta(hours=121), "post 121")])
    streamed[0] = 0
    assert refresh_chat(a, CHANNEL.id, out, names, OPTIONS, changed=[121], comments=[], batch_size=50).ok
    assert streamed[0] == 0
    assert {f for f in written_since(out, before) if f.startswith("comments")} == set()
    fresh = tmp_path / "fresh"
    render_chat(a, CHANNEL.id, fresh, names, OPTIONS, batch_size=50)
    assert files_of(out) == files_of(fresh)
    a.close()
