"""tgx.archive.store: the SQLite archive — idempotent upserts, atomic checkpoints, streaming, damage."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tgx.archive.store import SCHEMA_VERSION, Archive
from tgx.errors import ExitCode, OutputError
from tgx.model import Action, Entity, Forward, Media, Message, Peer, Reaction

CHAT = -1000000000042
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make(i: int, chat: int = CHAT, **kw) -> Message:
    kw.setdefault("text", f"message {i} ✓")
    return Message(chat_id=chat, id=i, date=T0 + timedelta(minutes=i), sender_id=7, **kw)


def rich(i: int) -> Message:
    return make(
        i, text="🙂 bold 𝔘", entities=[Entity("bold", 3, 4), Entity("text_link", 8, 2, url="https://x")],
        edit_date=T0 + timedelta(days=1), reply_to_id=i - 1, topic_id=3,
        forward=Forward(from_id=-1000000000001, date=T0, channel_post=5),
        media=Media("video", id=99, dc_id=2, file_name="a.mp4", size=10, duration=1.5, extra={"k": [1]}),
        reactions=[Reaction("emoji", 2, emoji="👍", chosen=True)], views=5, grouped_id=11, pinned=True)


@pytest.fixture
def archive(tmp_path: Path):
    a = Archive.open(tmp_path)
    yield a
    a.close()


def test_layout_and_permissions(tmp_path: Path):
    with Archive.open(tmp_path) as a:
        a.upsert_batch(CHAT, [make(1)])
        state = tmp_path / ".tgx"
        assert a.path == state / "archive.sqlite"
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        assert stat.S_IMODE(a.path.stat().st_mode) == 0o600
        for side in state.glob("archive.sqlite-*"):  # WAL / SHM copy the database's mode
            assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0
        mode = a._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        assert a._conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_existing_state_dir_is_tightened(tmp_path: Path):
    (tmp_path / ".tgx").mkdir(mode=0o755)
    os.chmod(tmp_path / ".tgx", 0o755)
    Archive.open(tmp_path).close()
    assert stat.S_IMODE((tmp_path / ".tgx").stat().st_mode) == 0o700


def test_reopen_keeps_data(tmp_path: Path):
    with Archive.open(tmp_path) as a:
        a.upsert_batch(CHAT, [rich(5)], [Peer(7, "user", "Ann")], {"ranges": [[1, 5]]})
    with Archive.open(tmp_path) as a:
        assert a.message(CHAT, 5) == rich(5)
        assert a.checkpoint(CHAT) == {"ranges": [[1, 5]]}
        assert a.peer(7) == Peer(7, "user", "Ann")


def test_upsert_is_idempotent_and_replaces(archive: Archive):
    batch = [make(i) for i in range(1, 51)]
    archive.upsert_batch(CHAT, batch)
    archive.upsert_batch(CHAT, batch)
    assert archive.count(CHAT) == 50
    edited = make(10, text="edited", edit_date=T0 + timedelta(days=2))
    archive.upsert_batch(CHAT, [edited])
    assert archive.count(CHAT) == 50
    got = archive.message(CHAT, 10)
    assert [(v.edit_date, v.text) for v in got.history] == [(None, "message 10 ✓")]  # the replaced one, kept
    got.history = []
    assert got == edited
    row = archive._conn.execute("SELECT date, edit_date FROM messages WHERE chat_id=? AND id=10",
                                (CHAT,)).fetchone()
    assert row == (int(edited.date.timestamp()), int(edited.edit_date.timestamp()))


def test_rich_messages_round_trip(archive: Archive):
    messages = [rich(i) for i in range(2, 6)] + [
        make(6, text="", action=Action("pin_message", {"message_id": 2})),
        make(7, media=Media("poll", extra={"question": "Q?", "answers": [{"text": "A", "voters": 1}]})),
    ]
    archive.upsert_batch(CHAT, messages)
    assert [archive.message(CHAT, m.id) for m in messages] == messages
    assert archive.message(CHAT, 999) is None


def test_chats_are_kept_apart(archive: Archive):
    other = -5
    archive.upsert_batch(CHAT, [make(i) for i in (1, 2, 3)])
    archive.upsert_batch(other, [make(i, chat=other) for i in (2, 9)])
    assert archive.count(CHAT) == 3 and archive.count(other) == 2
    assert archive.max_id(CHAT) == 3 and archive.max_id(other) == 9 and archive.max_id(12345) is None
    assert archive.min_id(other) == 2
    assert [m.id for b in archive.iter_messages(other) for m in b] == [2, 9]


def test_ordering_independent_of_insert_order(archive: Archive):
    ids = [50, 3, 17, 1, 99, 42, 8]
    for i in ids:
        archive.upsert_batch(CHAT, [make(i)])
    assert [m.id for b in archive.iter_messages(CHAT, batch_size=2) for m in b] == sorted(ids)
    assert list(archive.iter_ids(CHAT, batch_size=3)) == sorted(ids)
    assert [archive.message_rank(CHAT, i) for i in sorted(ids)] == list(range(len(ids)))
    assert archive.message_rank(CHAT, 2) is None


def test_keyset_streaming_is_bounded(archive: Archive, monkeypatch):
    archive.upsert_batch(CHAT, [make(i) for i in range(1, 1001)])
    # Every page is one bounded SELECT; count them and check no page exceeds batch_size.
    seen = []
    archive._conn.set_trace_callback(seen.append)
    batches = list(archive.iter_messages(CHAT, batch_size=64))
    archive._conn.set_trace_callback(None)
    assert [len(b) for b in batches] == [64] * 15 + [40]
    assert [m.id for b in batches for m in b] == list(range(1, 1001))
    selects = [s for s in seen if s.startswith("SELECT id, data")]
    assert len(selects) == 16
    assert all("OFFSET" not in s.upper() for s in selects)


def test_streaming_bounds_and_filters(archive: Archive):
    archive.upsert_batch(CHAT, [make(i) for i in range(1, 21)])
    archive.mark_deleted(CHAT, [3, 4])
    window = [m.id for b in archive.iter_messages(CHAT, 5, min_id=5, max_id=12) for m in b]
    assert window == list(range(5, 13))
    kept = [m.id for b in archive.iter_messages(CHAT, include_deleted=False) for m in b]
    assert 3 not in kept and 4 not in kept and len(kept) == 18
    assert archive.count(CHAT, include_deleted=False) == 18
    with pytest.raises(ValueError):
        next(archive.iter_messages(CHAT, 0))


def test_mark_deleted(archive: Archive):
    archive.upsert_batch(CHAT, [make(i) for i in range(1, 6)])
    assert archive.mark_deleted(CHAT, [2, 4, 77]) == 2
    assert archive.message(CHAT, 2).deleted and not archive.message(CHAT, 3).deleted
    flags = {m.id: m.deleted for b in archive.iter_messages(CHAT) for m in b}
    assert flags == {1: False, 2: True, 3: False, 4: True, 5: False}
    archive.upsert_batch(CHAT, [make(2)])  # it came back (e.g. a re-sync saw it)
    assert not archive.message(CHAT, 2).deleted


def test_checkpoint_and_peers(archive: Archive):
    assert archive.checkpoint(CHAT) is None
    archive.upsert_batch(CHAT, [make(1)], [Peer(7, "user", "Ann"), Peer(-9, "group", "G")],
                         {"ranges": [[1, 1]]})
    archive.upsert_batch(CHAT, [], [Peer(7, "user", "Ann B")], {"ranges": [[1, 100]], "newest": 100})
    assert archive.checkpoint(CHAT) == {"ranges": [[1, 100]], "newest": 100}
    assert archive.peer(7).title == "Ann B"
    assert archive.peer(-9).kind == "group"
    archive.set_checkpoint(-5, {"x": 1})
    assert archive.checkpoint(-5) == {"x": 1}
    assert archive.count(CHAT) == 1


def test_chats_table(archive: Archive):
    chat = Peer(CHAT, "channel", "News", "news")
    archive.set_chat(chat, {"input": "@news"})
    archive.set_chat(Peer(-1, "group", "G"))
    assert archive.chat(CHAT) == chat and archive.chat(123) is None
    assert [c.id for c in archive.chats()] == [CHAT, -1]
    assert archive.chat_meta(CHAT) == {"input": "@news"}
    archive.set_chat(Peer(CHAT, "channel", "News (renamed)", "news"))  # metadata is kept
    assert archive.chat(CHAT).title == "News (renamed)" and archive.chat_meta(CHAT) == {"input": "@news"}
    assert archive.peer(CHAT).title == "News (renamed)"  # chats answer peer lookups too


def test_media_index_and_meta(archive: Archive):
    assert archive.media_path(5) is None
    archive.set_media(5, "media/photos/5.jpg", size=10, sha256="ab")
    archive.set_media(6, None, status="failed")
    assert archive.media_path(5) == "media/photos/5.jpg"
    assert archive.media_path(6) is None
    assert archive.media(6).status == "failed"
    archive.set_meta("created_by", {"version": "0.1.0"})
    assert archive.meta("created_by") == {"version": "0.1.0"}
    assert archive.meta("missing", 3) == 3


def test_lone_surrogates_do_not_break_a_batch(archive: Archive):
    bad = make(1, text="a\ud800b")
    archive.upsert_batch(CHAT, [bad, make(2)])
    stored = archive.message(CHAT, 1)
    assert stored.text == "a\ufffdb" and len(stored.text) == len(bad.text)


# ---------------------------------------------------------------------------------------------
# crash safety: a transaction that never commits leaves neither rows nor checkpoint

CRASH_SCRIPT = textwrap.dedent("""
    import os, sys
    from datetime import datetime, timezone
    from pathlib import Path
    from tgx.archive.store import Archive
    from tgx.model import Message, Peer

    out, kill_at = Path(sys.argv[1]), sys.argv[2]
    chat = -1000000000042
    def m(i):
        return Message(chat_id=chat, id=i, date=datetime(2024, 1, 1, tzinfo=timezone.utc), text=str(i))
    a = Archive.open(out)
    a.upsert_batch(chat, [m(i) for i in range(1, 11)], [Peer(1, "user", "old")], {"ranges": [[1, 10]]})
    def trace(sql):
        if kill_at in sql:
            os._exit(9)  # the process dies here: no rollback, no close, no atexit
    a._conn.set_trace_callback(trace)
    a.upsert_batch(chat, [m(i) for i in range(11, 21)], [Peer(1, "user", "new")], {"ranges": [[1, 20]]})
    os._exit(0)
""")


@pytest.mark.parametrize("kill_at", ["INSERT OR REPLACE INTO peers", "INSERT OR REPLACE INTO checkpoints",
                                     "COMMIT"])
def test_killed_mid_transaction_leaves_the_previous_batch(tmp_path: Path, kill_at: str):
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(tmp_path), kill_at], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    with Archive.open(tmp_path) as a:
        assert a.count(CHAT) == 10
        assert a.max_id(CHAT) == 10
        assert a.checkpoint(CHAT) == {"ranges": [[1, 10]]}
        assert a.peer(1).title == "old"


def test_killed_after_commit_keeps_the_batch(tmp_path: Path):
    # Killing right after COMMIT returned (at the next statement) must keep the whole batch.
    script = CRASH_SCRIPT.replace("os._exit(0)", "a._conn.execute('SELECT 1 /* after */')")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path), "after"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    with Archive.open(tmp_path) as a:
        assert a.count(CHAT) == 20
        assert a.checkpoint(CHAT) == {"ranges": [[1, 20]]}
        assert a.peer(1).title == "new"


def test_failure_inside_the_transaction_rolls_back(archive: Archive):
    archive.upsert_batch(CHAT, [make(1)], (), {"ranges": [[1, 1]]})
    archive._conn.execute("CREATE TRIGGER boom BEFORE INSERT ON checkpoints "
                          "BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(OutputError):
        archive.upsert_batch(CHAT, [make(2)], (), {"ranges": [[1, 2]]})
    assert archive.count(CHAT) == 1 and archive.checkpoint(CHAT) == {"ranges": [[1, 1]]}
    assert not archive._conn.in_transaction


# ---------------------------------------------------------------------------------------------
# damaged or foreign files


def _state(tmp_path: Path) -> Path:
    (tmp_path / ".tgx").mkdir(mode=0o700, exist_ok=True)
    return tmp_path / ".tgx" / "archive.sqlite"


def _assert_corrupt(tmp_path: Path) -> OutputError:
    with pytest.raises(OutputError) as info:
        Archive.open(tmp_path)
    err = info.value
    assert err.exit_code == ExitCode.OUTPUT
    assert "\n" not in err.message and "archive.sqlite" in err.message
    return err


def test_garbage_file_is_reported(tmp_path: Path):
    _state(tmp_path).write_bytes(b"this is not a database at all" * 200)
    err = _assert_corrupt(tmp_path)
    assert "corrupt" in err.message and "move it away" in err.message and ".recover" in err.message


def test_truncated_file_is_reported(tmp_path: Path):
    with Archive.open(tmp_path) as a:
        for start in range(1, 3001, 500):
            a.upsert_batch(CHAT, [make(i, text="x" * 200) for i in range(start, start + 500)])
        a._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = tmp_path / ".tgx" / "archive.sqlite"
    for side in path.parent.glob("archive.sqlite-*"):
        side.unlink()
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2)
    err = _assert_corrupt(tmp_path)
    assert "truncated" in err.message


def test_damaged_pages_surface_as_output_error(tmp_path: Path):
    with Archive.open(tmp_path) as a:
        for start in range(1, 3001, 500):
            a.upsert_batch(CHAT, [make(i, text="y" * 200) for i in range(start, start + 500)])
        a._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = tmp_path / ".tgx" / "archive.sqlite"
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for p in range(2, len(data) // page):  # scribble over every page but the header page
        data[p * page:p * page + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(OutputError) as info:
        with Archive.open(tmp_path) as a:
            for _ in a.iter_messages(CHAT):
                pass
            assert a.integrity_check() == []
    assert "\n" not in info.value.message


WAL_SCRIPT = textwrap.dedent("""
    import os, sys
    from datetime import datetime, timezone
    from pathlib import Path
    from tgx.archive.store import Archive
    from tgx.model import Message

    chat = -1000000000042
    def m(i):
        return Message(chat_id=chat, id=i, date=datetime(2024, 1, 1, tzinfo=timezone.utc), text="z" * 300)
    a = Archive.open(Path(sys.argv[1]))
    a.upsert_batch(chat, [m(i) for i in range(1, 101)])
    a._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    a._conn.execute("PRAGMA wal_autocheckpoint = 0")
    for start in range(101, 2001, 100):
        a.upsert_batch(chat, [m(i) for i in range(start, start + 100)])
    os._exit(0)  # killed: the newer batches live only in the WAL
""")


def test_killed_mid_checkpoint_is_not_mistaken_for_truncation(tmp_path: Path):
    """Page 1 (with the grown size) reached the file, the other pages did not: the WAL has them."""
    proc = subprocess.run([sys.executable, "-c", WAL_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / ".tgx" / "archive.sqlite"
    wal = (tmp_path / ".tgx" / "archive.sqlite-wal").read_bytes()
    page_size = int.from_bytes(wal[8:12], "big")
    newest_page1 = None
    for offset in range(32, len(wal) - 24 - page_size + 1, 24 + page_size):
        if int.from_bytes(wal[offset:offset + 4], "big") == 1:
            newest_page1 = wal[offset + 24:offset + 24 + page_size]
    assert newest_page1 is not None
    claimed = int.from_bytes(newest_page1[28:32], "big") * page_size
    assert claimed > db.stat().st_size  # the state a checkpoint killed after writing page 1 leaves
    with db.open("r+b") as f:
        f.write(newest_page1)
    with Archive.open(tmp_path) as a:
        assert a.count(CHAT) == 2000 and a.integrity_check() == []


def test_foreign_sqlite_database_is_refused(tmp_path: Path):
    conn = sqlite3.connect(_state(tmp_path))
    conn.execute("CREATE TABLE something (x)")
    conn.commit()
    conn.close()
    with pytest.raises(OutputError, match="not a tgx archive"):
        Archive.open(tmp_path)


def test_newer_schema_is_refused(tmp_path: Path):
    with Archive.open(tmp_path) as a:
        a._conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(OutputError, match="newer"):
        Archive.open(tmp_path)


def test_unwritable_output_dir(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        Archive.open(blocker)


def test_healthy_integrity_check(archive: Archive):
    archive.upsert_batch(CHAT, [make(1)])
    assert archive.integrity_check() == []


def test_topics_are_kept_with_their_latest_state_and_never_dropped(tmp_path: Path):
    from datetime import UTC, datetime

    from tgx.model import Topic

    made = datetime(2024, 5, 1, tzinfo=UTC)
    with Archive.open(tmp_path) as a:
        assert a.topics(CHAT) == []
        a.set_topics(CHAT, [Topic(1, "General", made), Topic(5, "Help", made, icon_color=0xFF0000)])
        a.set_topics(CHAT, [Topic(5, "Help (closed)", made, closed=True)])  # renamed, closed; 1 not listed
    with Archive.open(tmp_path) as a:
        assert a.topics(CHAT) == [Topic(1, "General", made), Topic(5, "Help (closed)", made, closed=True)]
        assert a.topics(CHAT + 1) == []


def test_a_schema_2_archive_gets_the_topics_table_on_open(tmp_path: Path):
    with Archive.open(tmp_path) as a:
        a.upsert_batch(CHAT, [make(1)])
        a._conn.execute("DROP TABLE topics")
        a._conn.execute("UPDATE schema_version SET version = 2")
    with Archive.open(tmp_path) as a:
        assert a._conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION == 6
        assert a.count(CHAT) == 1 and a.topics(CHAT) == []
        from tgx.model import Topic

        a.set_topics(CHAT, [Topic(1, "General")])
        assert [t.title for t in a.topics(CHAT)] == ["General"]


# -- threads (schema 4) ------------------------------------------------------------------------
CHANNEL, GROUP = -1000000000100, -1000000000101


def _group_rows() -> list[Message]:
    """A discussion group: 1 its own chat, 2 the copy of post 7, 3-4 comments on it (4 answers 3),
    5 the copy of post 9, 6 a comment on it, 7 a reply to the group's own message 1."""
    root = lambda i, post: make(i, GROUP, forward=Forward(from_id=CHANNEL, saved_from_peer=CHANNEL,  # noqa: E731
                                                          saved_from_msg_id=post, channel_post=post))
    return [make(1, GROUP), root(2, 7), make(3, GROUP, reply_to_id=2), make(4, GROUP, reply_to_id=3, reply_to_top_id=2),
            root(5, 9), make(6, GROUP, reply_to_id=5), make(7, GROUP, reply_to_id=1)]


def _comments(a: Archive) -> list[tuple[int, int]]:
    return [(post, i) for rows in a.iter_comments(CHANNEL, batch_size=2) for post, i, _d, _del in rows]


@pytest.mark.parametrize("linked_first", [True, False])
def test_a_discussion_groups_comments_are_linked_to_their_posts_whichever_came_first(tmp_path: Path, linked_first):
    with Archive.open(tmp_path) as a:
        if linked_first:
            a.set_threaded(GROUP, "discussion", CHANNEL)
        a.upsert_batch(GROUP, _group_rows()[4:])
        a.upsert_batch(GROUP, _group_rows()[:4])
        if not linked_first:
            assert _comments(a) == []  # not known to be a discussion group yet: nothing linked
            a.set_threaded(GROUP, "discussion", CHANNEL)  # links what is archived
        assert _comments(a) == [(7, 3), (7, 4), (9, 6)]
        assert a.comment_counts(CHANNEL, 1, 100) == {7: 2, 9: 1} and a.count_comments(CHANNEL) == 3
        assert [i for rows in a.iter_comments(CHANNEL, post_id=9) for _p, i, _d, _x in rows] == [6]
        assert a.discussion_of(CHANNEL) == (GROUP, True) and a.threaded(GROUP) == ("discussion", CHANNEL, True)
    with Archive.open(tmp_path) as a:  # the link survives reopening: new rows are linked as they come
        a.upsert_batch(GROUP, [make(8, GROUP, reply_to_id=5)])
        assert _comments(a) == [(7, 3), (7, 4), (9, 6), (9, 8)]


def test_comments_read_through_get_replies_get_their_root_from_the_fetch(tmp_path: Path):
    from tgx.archive.records import message_row

    with Archive.open(tmp_path) as a:
        a.set_threaded(GROUP, "discussion", CHANNEL, readable=False)
        rows = [message_row(GROUP, m) for m in _group_rows() if m.id in (3, 4)]  # the root (2) is never served
        a.upsert_rows(GROUP, rows, (), {"ranges": [[1, 4]], "server_count": 2}, thread=(CHANNEL, 7),
                      roots=[(2, CHANNEL, 7)])
        assert _comments(a) == [(7, 3), (7, 4)]
        assert a.thread_checkpoint(CHANNEL, 7) == {"ranges": [[1, 4]], "server_count": 2}
        assert a.checkpoint(GROUP) is None  # the group's own history checkpoint is untouched
        assert a.discussion_of(CHANNEL) == (GROUP, False)


def test_a_forums_messages_are_grouped_by_topic_with_general_as_1(tmp_path: Path):
    forum = -1000000000200
    with Archive.open(tmp_path) as a:
        a.upsert_batch(forum, [make(1, forum), make(2, forum, action=Action("topic_created", {"title": "Help"})),
                               make(3, forum, topic_id=2), make(4, forum), make(5, forum, topic_id=2, reply_to_id=3)])
        a.set_threaded(forum, "forum")
        assert a.thread_counts(forum) == {1: 2, 2: 3}
        assert [r[0] for rows in a.iter_thread(forum, 2) for r in rows] == [2, 3, 5]


def test_a_schema_3_archive_gets_the_thread_tables_on_open(tmp_path: Path):
    with Archive.open(tmp_path) as a:
        a.upsert_batch(GROUP, _group_rows())
        for table in ("threaded", "thread_members", "thread_roots", "thread_checkpoints"):
            a._conn.execute(f"DROP TABLE {table}")
        a._conn.execute("UPDATE schema_version SET version = 3")
    with Archive.open(tmp_path) as a:
        assert a._conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        assert a.count(GROUP) == 7 and a.discussion_of(CHANNEL) is None
        a.set_threaded(GROUP, "discussion", CHANNEL)
        assert _comments(a) == [(7, 3), (7, 4), (9, 6)]


def test_held_writes_are_one_transaction_until_released(tmp_path: Path):
    """``Archive.held``: what ``tgx import`` writes while its check of the export still runs —
    nothing of it is there for another reader until ``release()``; a block that fails before
    that leaves the archive file as it was (not even its time: closing writes nothing), a batch
    failing inside it is undone alone (a savepoint), and the archive stays usable."""
    from tgx.archive.records import message_row

    peer = Peer(CHAT, "channel", "News")
    with Archive.open(tmp_path) as a:
        a.set_chat(peer)
        a.upsert_batch(CHAT, [make(i) for i in range(1, 11)])
    path = tmp_path / ".tgx" / "archive.sqlite"
    stamp = (path.stat().st_mtime_ns, path.read_bytes())

    def others() -> int:  # what a second connection sees
        con = sqlite3.connect(path)
        try:
            return con.execute("SELECT count(*) FROM messages").fetchone()[0]
        finally:
            con.close()

    with pytest.raises(RuntimeError), Archive.open(tmp_path) as a, a.held():
        for start in range(11, 3011, 1000):  # enough rows to train a dictionary meanwhile
            a.import_rows(CHAT, [message_row(CHAT, make(i)) for i in range(start, start + 1000)], exported_at=1)
        assert a.count(CHAT) == 3010 and others() == 10
        raise RuntimeError("the check failed")
    assert (path.stat().st_mtime_ns, path.read_bytes()) == stamp
    with Archive.open(tmp_path) as a:
        assert a.count(CHAT) == 10
        with a.held() as release:
            a.import_rows(CHAT, [message_row(CHAT, make(i)) for i in range(11, 21)], exported_at=1)
            rows = [message_row(CHAT, make(i)) for i in range(21, 31)]
            rows.append((CHAT, 31, 0, None, 0, {"not": "bytes"}))  # type: ignore[arg-type]  # SQLite cannot bind it
            with pytest.raises(OutputError):
                a.import_rows(CHAT, rows, exported_at=1)
            assert a.count(CHAT) == 20  # the failed batch undone alone
            release()
            assert others() == 20
            a.import_rows(CHAT, [message_row(CHAT, make(i)) for i in range(31, 41)], exported_at=1)
            assert others() == 30  # after release: each write commits
    with Archive.open(tmp_path) as a:
        assert a.count(CHAT) == 30
        assert [m.id for batch in a.iter_messages(CHAT) for m in batch] == [*range(1, 21), *range(31, 41)]
