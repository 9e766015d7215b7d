"""The living archive (schema 5): every version of an edited message kept, deletions flagged with
when tgx learned of them, records compressed with a dictionary of the archive's own — and every
read path (messages, raw records, exact records, threads, comments, the jsonl fast path) sees them."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import tgx_jsonl
import zstandard
from tgx.archive import codec
from tgx.archive.codec import RecordCodec
from tgx.archive.records import content_changed, message_row
from tgx.archive.store import Archive, decode_rows
from tgx.model import Action, Entity, Forward, Media, Message, Peer, Reaction, Version
from tgx.render.engine import render_chat

CHAT = -1000000000042
CHANNEL, GROUP = -1000000000100, -1000000000101
T0 = datetime(2024, 1, 1, tzinfo=UTC)
JSONL = tgx_jsonl.tgx_register_formats()


def make(i: int, chat: int = CHAT, **kw) -> Message:
    kw.setdefault("text", f"message {i}")
    return Message(chat_id=chat, id=i, date=T0 + timedelta(minutes=i), sender_id=7, **kw)


def edit(m: Message, text: str, days: int = 1, **kw) -> Message:
    return Message.from_dict({**m.to_dict(), "text": text, "edit_date": (T0 + timedelta(days=days)).isoformat(), **kw})


@pytest.fixture
def archive(tmp_path: Path):
    a = Archive.open(tmp_path)
    a.set_chat(Peer(CHAT, "channel", "News", "news"))
    yield a
    a.close()


def versions(a: Archive, chat: int = CHAT) -> list[tuple]:
    return a._conn.execute("SELECT id, seq, edit_date FROM versions WHERE chat_id = ? ORDER BY id, seq",
                           (chat,)).fetchall()


# -- versions ---------------------------------------------------------------------------------------


def test_an_edit_keeps_the_replaced_version_and_every_read_path_shows_it(archive: Archive):
    first = [make(i, entities=[Entity("bold", 0, 3)]) for i in range(1, 11)]
    archive.upsert_batch(CHAT, first)
    v2 = edit(first[4], "second", days=1, entities=[])
    archive.upsert_batch(CHAT, [v2])
    v3 = edit(v2, "third", days=2, media=Media("photo", id=5).to_dict())
    archive.upsert_batch(CHAT, [v3])

    want = [Version(None, "message 5", [Entity("bold", 0, 3)], None), Version(T0 + timedelta(days=1), "second")]
    assert archive.history(CHAT, 5) == want
    got = archive.message(CHAT, 5)
    assert got.text == "third" and got.media.id == 5 and got.history == want
    assert [m.history for b in archive.iter_messages(CHAT) for m in b if m.id == 5] == [want]
    rows = [r for b in archive.iter_records(CHAT) for r in b]
    assert [m.history for m in archive.decode(CHAT, rows) if m.id == 5] == [want]
    exact = {i: orjson.loads(d) for b in archive.iter_exact_records(CHAT) for i, d, _x in b.rows}
    assert [Version.from_dict(v) for v in exact[5]["history"]] == want
    assert all("history" not in d for i, d in exact.items() if i != 5)
    assert archive.message(CHAT, 4).history == []


def test_the_same_version_is_never_kept_twice(archive: Archive):
    batch = [make(i) for i in range(1, 21)]
    archive.upsert_batch(CHAT, batch)
    archive.upsert_batch(CHAT, batch)  # a resumed run re-upserts the same batch
    assert versions(archive) == []
    edited = [edit(m, "new") if m.id in (3, 4) else m for m in batch]
    for _ in range(3):
        archive.upsert_batch(CHAT, edited)
    assert [(i, seq) for i, seq, _e in versions(archive)] == [(3, 1), (4, 1)]
    archive.upsert_batch(CHAT, batch)  # an older copy arriving late: the edit becomes a version...
    archive.upsert_batch(CHAT, edited)  # ...and the original, known already, is not kept again
    assert [(i, seq) for i, seq, _e in versions(archive)] == [(3, 1), (3, 2), (4, 1), (4, 2)]
    assert [v.text for v in archive.history(CHAT, 3)] == ["message 3", "new"]


def test_content_changed_without_edit_date_is_a_version_counters_are_not(archive: Archive):
    poll = Media("poll", id=8, extra={"question": "Q?", "closed": False, "total_voters": 1,
                                      "answers": [{"text": "A", "voters": 1, "chosen": False, "correct": False}]})
    archive.upsert_batch(CHAT, [make(1), make(2, media=poll), make(3)])
    busier = Media.from_dict({**poll.to_dict(), "extra": {**poll.extra, "total_voters": 9,
                              "answers": [{"text": "A", "voters": 9, "chosen": True, "correct": False}]}})
    archive.upsert_batch(CHAT, [make(1, views=100, forwards=3, replies=4, reactions=[Reaction("emoji", 2, emoji="👍")],
                                     pinned=True),
                                make(2, media=busier), make(3, text="silently changed")])
    assert [i for i, _s, _e in versions(archive)] == [3]
    assert archive.message(CHAT, 1).views == 100  # the row is replaced all the same
    assert archive.message(CHAT, 2).media.extra["total_voters"] == 9
    assert archive.history(CHAT, 3) == [Version(None, "message 3")]


def test_content_changed_reads_the_text_to_reactions_span():
    a = message_row(CHAT, make(1))[5]
    assert not content_changed(a, message_row(CHAT, make(1, views=5, pinned=True))[5])
    assert content_changed(a, message_row(CHAT, make(1, text="x"))[5])
    assert content_changed(a, message_row(CHAT, make(1, entities=[Entity("bold", 0, 1)]))[5])
    assert content_changed(a, message_row(CHAT, make(1, media=Media("photo", id=1)))[5])
    tricky = make(1, text='a ,"reactions": in text')  # a key inside a string is escaped: never a match
    assert not content_changed(message_row(CHAT, tricky)[5], message_row(CHAT, make(1, text=tricky.text, views=1))[5])


def test_new_rows_cost_one_lookup_per_batch_and_no_version_query(archive: Archive):
    archive.upsert_batch(CHAT + 1, [make(1, CHAT + 1)])  # once per connection: what it already holds, to train on
    seen: list[str] = []
    archive._conn.set_trace_callback(seen.append)
    try:
        archive.upsert_batch(CHAT, [make(i) for i in range(1, 101)])
        archive.upsert_batch(CHAT, [make(i) for i in range(10_000, 1_010_000, 10_000)])  # sparse ids: seeks
    finally:
        archive._conn.set_trace_callback(None)
    reads = [s for s in seen if s.startswith("SELECT")]
    assert len(reads) == 2 and all("FROM messages" in s for s in reads), reads
    assert "BETWEEN" in reads[0] and "json_each" in reads[1]


def test_upsert_rows_with_history_in_the_message_stores_it_beside_not_inside(archive: Archive):
    m = make(1, history=[Version(None, "imported")])
    archive.upsert_batch(CHAT, [m])
    (data,) = archive._conn.execute("SELECT data FROM messages").fetchone()
    assert b"history" not in archive._codec.expand(data)
    assert archive.message(CHAT, 1).history == []  # only versions the archive saw itself


# -- deletions --------------------------------------------------------------------------------------


def test_deleted_at_is_set_kept_and_cleared(archive: Archive):
    archive.upsert_batch(CHAT, [make(i) for i in range(1, 6)])
    before = int(time.time())
    assert archive.mark_deleted(CHAT, [1, 2]) == 2
    after = int(time.time())
    first = archive.message(CHAT, 1).deleted_at
    assert before <= first.timestamp() <= after and first.tzinfo is not None
    exact = T0 + timedelta(days=3)
    archive.mark_deleted(CHAT, [3], at=exact)
    assert archive.message(CHAT, 3).deleted_at == exact
    archive.mark_deleted(CHAT, [1, 3], at=T0 + timedelta(days=9))  # a re-mark keeps the first time
    assert archive.message(CHAT, 1).deleted_at == first and archive.message(CHAT, 3).deleted_at == exact
    archive.upsert_batch(CHAT, [make(3, deleted=True, deleted_at=T0)])  # written again, still deleted: kept
    assert archive.message(CHAT, 3).deleted_at == exact
    archive.mark_deleted(CHAT, [1], deleted=False)
    assert archive.message(CHAT, 1).deleted is False and archive.message(CHAT, 1).deleted_at is None
    archive.upsert_batch(CHAT, [make(2)])  # Telegram serves it again: not deleted any more
    assert archive.message(CHAT, 2).deleted_at is None and not archive.message(CHAT, 2).deleted
    archive.upsert_batch(CHAT, [make(9, deleted=True, deleted_at=exact)])
    assert archive.message(CHAT, 9).deleted_at == exact
    assert archive.count(CHAT) == 6  # nothing removed


def test_an_old_flag_without_a_time_gets_one_only_from_telegram(archive: Archive):
    archive.upsert_batch(CHAT, [make(1), make(2)])
    archive._conn.execute("UPDATE messages SET deleted = 1")  # as schema 4 flagged them
    archive.mark_deleted(CHAT, [1])
    assert archive.message(CHAT, 1).deleted_at is None  # tgx does not know when it learned it
    archive.mark_deleted(CHAT, [2], at=T0)
    assert archive.message(CHAT, 2).deleted_at == T0


def test_forget_rows_removes_no_row(archive: Archive):
    archive.upsert_batch(CHAT, [make(i) for i in range(1, 50)])
    archive.forget_rows(CHAT, {"ranges": []}, [0])
    assert archive.count(CHAT) == 49


# -- the jsonl fast path ----------------------------------------------------------------------------


def _group_rows() -> list[Message]:
    root = lambda i, post: make(i, GROUP, forward=Forward(from_id=CHANNEL, saved_from_peer=CHANNEL,  # noqa: E731
                                                          saved_from_msg_id=post, channel_post=post))
    return [root(2, 7), make(3, GROUP, reply_to_id=2), make(4, GROUP, reply_to_id=2), make(5, GROUP, reply_to_id=2)]


def test_messages_and_comments_jsonl_carry_history_and_deleted_at_only_where_set(tmp_path: Path):
    with Archive.open(tmp_path) as a:
        a.set_chat(Peer(CHANNEL, "channel", "News", "news"))
        a.set_chat(Peer(GROUP, "supergroup", "Chat", "newschat"))
        a.set_threaded(GROUP, "discussion", CHANNEL)
        posts = [make(i, CHANNEL, replies=3 if i == 7 else None) for i in range(1, 11)]
        a.upsert_batch(CHANNEL, posts)
        a.upsert_batch(CHANNEL, [edit(posts[1], "post 2 edited")])
        a.mark_deleted(CHANNEL, [3], at=T0 + timedelta(days=5))
        group = _group_rows()
        a.upsert_batch(GROUP, group)
        a.upsert_batch(GROUP, [edit(group[1], "comment edited")])
        a.mark_deleted(GROUP, [4], at=T0 + timedelta(days=6))
        result = render_chat(a, CHANNEL, tmp_path, {"jsonl": JSONL}, batch_size=4)
        assert result.ok, result.errors
        stored = {i: d for b in a.iter_records(CHANNEL) for i, d, _x in b}
    lines = (tmp_path / "news" / "messages.jsonl").read_bytes().splitlines()
    by_id = {orjson.loads(line)["id"]: line for line in lines}
    for i, line in by_id.items():
        d = orjson.loads(line)
        assert ("history" in d) == (i == 2) and ("deleted_at" in d) == (i == 3), d
        if i not in (2, 3):
            assert line == stored[i]  # the stored record itself, untouched
    assert orjson.loads(by_id[2])["history"] == [Version(None, "message 2").to_dict()]
    three = orjson.loads(by_id[3])
    assert three["deleted"] is True and three["deleted_at"] == "2024-01-06T00:00:00+00:00"
    assert Message.from_dict(three).to_dict() == three  # in to_dict's key order
    comments = {d["id"]: d for d in map(orjson.loads, (tmp_path / "news" / "comments.jsonl").read_bytes().splitlines())}
    assert sorted(comments) == [3, 4, 5]
    assert comments[3]["history"] == [Version(None, "message 3").to_dict()] and "deleted_at" not in comments[3]
    assert comments[4]["deleted_at"] == "2024-01-07T00:00:00+00:00" and "history" not in comments[4]
    assert "history" not in comments[5] and "deleted_at" not in comments[5] and comments[5]["post_id"] == 7


def test_a_forum_topics_messages_have_their_history(tmp_path: Path):
    forum = -1000000000200
    with Archive.open(tmp_path) as a:
        a.upsert_batch(forum, [make(1, forum), make(2, forum, action=Action("topic_created", {"title": "Help"})),
                               make(3, forum, topic_id=2)])
        a.set_threaded(forum, "forum")
        a.upsert_batch(forum, [edit(make(3, forum, topic_id=2), "edited")])
        (rows,) = list(a.iter_thread(forum, 2))
        assert [m.history for m in a.decode(forum, rows)] == [[], [Version(None, "message 3")]]


# -- compression ------------------------------------------------------------------------------------


@pytest.fixture
def small_training(monkeypatch):
    monkeypatch.setattr(codec, "TRAIN_ROWS", 60)


def _rows(a: Archive) -> list[bytes]:
    return [r[0] for r in a._conn.execute("SELECT data FROM messages ORDER BY chat_id, id")]


def test_rows_are_zstd_frames_of_the_archives_dictionary_and_smaller(tmp_path: Path, small_training):
    messages = [make(i, text=f"message {i} with some words that repeat", entities=[Entity("bold", 0, 7)])
                for i in range(1, 201)]
    with Archive.open(tmp_path) as a:
        a.upsert_batch(CHAT, messages[:40])
        assert all(d[:1] == b"{" for d in _rows(a))  # too few to train on yet: stored plain
        a.upsert_batch(CHAT, messages[40:])
        a.upsert_batch(CHAT, [edit(messages[0], "edited")])  # a version, packed too
        stored = _rows(a) + [r[0] for r in a._conn.execute("SELECT data FROM versions")]
        (dict_id,) = a._conn.execute("SELECT id FROM dictionaries").fetchone()
        assert a.meta("record_dictionary") == dict_id
    plain = sum(len(message_row(CHAT, m)[5]) for m in messages)
    assert all(d[:4] == b"\x28\xb5\x2f\xfd" for d in stored)  # every row, the first 40 included
    assert {zstandard.get_frame_parameters(d).dict_id for d in stored} == {dict_id}
    assert sum(len(d) for d in stored[:200]) < 0.35 * plain
    with Archive.open(tmp_path) as a:  # a new connection reads them with the stored dictionary
        got = [m for b in a.iter_messages(CHAT) for m in b]
        assert [m.text for m in got] == ["edited"] + [m.text for m in messages[1:]]
        assert got[0].history == [Version(None, messages[0].text, messages[0].entities)]
        assert [d for b in a.iter_records(CHAT) for _i, d, _x in b][1] == message_row(CHAT, messages[1])[5]


def test_a_corrupt_compressed_row_is_warned_quarantined_and_counted(tmp_path: Path, small_training):
    with Archive.open(tmp_path) as a:
        a.set_chat(Peer(CHAT, "channel", "News", "news"))
        a.upsert_batch(CHAT, [make(i) for i in range(1, 101)])
        (data,) = a._conn.execute("SELECT data FROM messages WHERE id = 50").fetchone()
        assert data[:4] == b"\x28\xb5\x2f\xfd"
        broken = data[:-6] + bytes(b ^ 0x55 for b in data[-6:])
        a._conn.execute("UPDATE messages SET data = ? WHERE id = 50", (broken,))
        rows = [r for b in a.iter_records(CHAT) for r in b]
        assert [i for i, _exc in decode_rows(rows)[1]] == [50]  # tgx verify's check finds it
        warnings: list[str] = []
        a.warn = warnings.append
        result = render_chat(a, CHAT, tmp_path, {"jsonl": JSONL})
        assert result.ok and result.message_count == 99
        assert len(warnings) == 1 and "archived message 50 is unreadable" in warnings[0]
        assert a.message(CHAT, 50) is None and a.count(CHAT) == 99  # quarantined: the next export refetches
    lines = (tmp_path / "news" / "messages.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["id"] for line in lines] == [i for i in range(1, 101) if i != 50]


def test_a_frame_of_an_unknown_dictionary_is_unreadable_not_a_crash(tmp_path: Path, small_training):
    other = RecordCodec(lambda _i: None)
    dict_id, data = RecordCodec.train([message_row(CHAT, make(i, text=f"other {i} x"))[5] for i in range(300)])
    other.use(dict_id, data)
    with Archive.open(tmp_path) as a:
        a.upsert_batch(CHAT, [make(i) for i in range(1, 5)])
        a._conn.execute("UPDATE messages SET data = ? WHERE id = 2", (other.compress(message_row(CHAT, make(2))[5]),))
        warnings: list[str] = []
        a.warn = warnings.append
        assert [m.id for b in a.iter_messages(CHAT) for m in b] == [1, 3, 4] and len(warnings) == 1


def test_compact_compresses_plain_rows_and_a_kill_midway_is_finished_by_the_next_call(tmp_path: Path,
                                                                                      small_training, monkeypatch):
    monkeypatch.setattr(codec, "TRAIN_ROWS", 10**9)
    with Archive.open(tmp_path) as a:
        a.upsert_batch(CHAT, [make(i) for i in range(1, 301)])
        a.upsert_batch(CHAT, [edit(make(1), "edited")])
        assert a.compact() == 0  # too few rows to train on: nothing done
    monkeypatch.setattr(codec, "TRAIN_ROWS", 60)
    with Archive.open(tmp_path) as a:
        before = [m for b in a.iter_messages(CHAT) for m in b]
    with Archive.open(tmp_path) as a:
        real = a._write
        calls = []

        def dying():
            calls.append(1)
            if len(calls) == 3:  # dictionary, first batch, then "killed" in the second
                raise KeyboardInterrupt
            return real()

        monkeypatch.setattr(a, "_write", dying)
        with pytest.raises(KeyboardInterrupt):
            a.compact(batch_size=100)
    db = sqlite3.connect(tmp_path / ".tgx" / "archive.sqlite")
    plain = db.execute("SELECT COUNT(*) FROM messages WHERE substr(data, 1, 1) = x'7b'").fetchone()[0]
    assert 0 < plain < 300
    with Archive.open(tmp_path) as a:
        assert [m for b in a.iter_messages(CHAT) for m in b] == before  # half-compacted reads the same
        assert a.compact() == plain + 1  # the rest, and the version
        assert a.compact() == 0
        assert [m for b in a.iter_messages(CHAT) for m in b] == before
    assert db.execute("SELECT COUNT(*) FROM messages WHERE substr(data, 1, 1) = x'7b'").fetchone()[0] == 0
    db.close()
