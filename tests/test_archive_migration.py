"""Schema 4 → 5 on an archive written by the release before versions and compression
(tests/fixtures/schema4, see its README): migrated on open, every message as it was, the same
jsonl rendered, crash-safe; then it lives on — edits kept as versions, new deletions stamped,
rows compressed by ``compact``. Schema 5 → 6 (``messages.imported``, ``tgx import``): the same
promises, on a schema-5 archive made from a current one (the column dropped again)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import tarfile
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import tgx_jsonl
from tgx.archive import codec
from tgx.archive.store import SCHEMA_VERSION, Archive
from tgx.model import Message, Peer
from tgx.render.engine import render_all
from tgxrun import read_jsonl, tgx

FIXTURE = Path(__file__).parent / "fixtures" / "schema4"
JSONL = tgx_jsonl.tgx_register_formats()
NEWS, GROUP, FORUM, DISCUSSION = -1001700000002, -1001700000005, -1001700000004, -1001700000003
RENDERED = ["news/messages.jsonl", "news/comments.jsonl", "forum/messages.jsonl", "group/messages.jsonl",
            "-1001700000003/messages.jsonl"]


@pytest.fixture
def old_out(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    with tarfile.open(FIXTURE / "out.tar.gz") as tar:
        tar.extractall(out, filter="data")
    return out


def schema(out: Path) -> tuple[int, set[str]]:
    con = sqlite3.connect(out / ".tgx" / "archive.sqlite")
    try:
        version = con.execute("SELECT version FROM schema_version").fetchone()[0]
        return version, {r[1] for r in con.execute("PRAGMA table_info(messages)")}
    finally:
        con.close()


def test_the_fixture_is_a_schema_4_archive(old_out: Path):
    assert schema(old_out) == (4, {"chat_id", "id", "date", "edit_date", "deleted", "data"})
    assert (FIXTURE / "out.tar.gz").stat().st_size < 300_000


def test_opened_by_this_release_it_is_migrated_and_every_message_is_as_it_was(old_out: Path, tmp_path: Path):
    before = {name: (old_out / name).read_bytes() for name in RENDERED}
    with Archive.open(old_out) as a:
        assert schema(old_out)[0] == SCHEMA_VERSION == 6
        for name, chat in (("news", NEWS), ("group", GROUP), ("forum", FORUM), ("-1001700000003", DISCUSSION)):
            want = [Message.from_dict(d) for d in read_jsonl(old_out / name / "messages.jsonl")]
            got = [m for b in a.iter_messages(chat) for m in b]
            assert got == want and len(got) > 40
            assert sum(m.deleted for m in got) == {"news": 2, "group": 1}.get(name, 0)
            assert all(m.deleted_at is None and not m.history for m in got)  # schema 4 kept neither
        render_all(a, tmp_path / "new", {"jsonl": JSONL})
    for name in RENDERED:
        assert (tmp_path / "new" / name).read_bytes() == before[name], name
    assert "deleted_at" in schema(old_out)[1]


def test_a_kill_during_the_migration_leaves_schema_4_and_the_next_open_finishes_it(old_out: Path):
    script = textwrap.dedent(f"""
        import os, signal
        import tgx.archive.store as store
        def killed(c):
            for _target, step in steps:
                step(c)
            os.kill(os.getpid(), signal.SIGKILL)  # mid-migration: the column added, not committed
        steps, store._STEPS = store._STEPS, [(5, killed)]
        store.Archive.open({str(old_out)!r})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -9, done.stderr
    assert schema(old_out) == (4, {"chat_id", "id", "date", "edit_date", "deleted", "data"})
    with Archive.open(old_out) as a:
        assert schema(old_out)[0] == SCHEMA_VERSION
        assert a.count(NEWS) == 100 and a.message(NEWS, 9).deleted


def test_compact_compresses_the_old_rows_and_renders_the_same(old_out: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(codec, "TRAIN_ROWS", 200)
    before = {name: (old_out / name).read_bytes() for name in RENDERED}
    size = sum(len(r[0]) for r in sqlite3.connect(old_out / ".tgx" / "archive.sqlite").execute(
        "SELECT data FROM messages"))
    with Archive.open(old_out) as a:
        assert a.compact() == 320
        render_all(a, tmp_path / "new", {"jsonl": JSONL})
    con = sqlite3.connect(old_out / ".tgx" / "archive.sqlite")
    rows = [r[0] for r in con.execute("SELECT data FROM messages")]
    assert all(d[:4] == b"\x28\xb5\x2f\xfd" for d in rows) and sum(map(len, rows)) < 0.4 * size
    for name in RENDERED:
        assert (tmp_path / "new" / name).read_bytes() == before[name], name


def test_a_migrated_archive_asks_for_one_compaction_and_a_new_one_never_does(old_out: Path, tmp_path: Path,
                                                                           monkeypatch):
    """The export compacts after a successful run when the archive says so (ExportRun.compact):
    once, for an archive migrated from before compression; never for one born compressed."""
    monkeypatch.setattr(codec, "TRAIN_ROWS", 200)
    with Archive.open(old_out) as a:
        assert a.compact_pending
    with Archive.open(old_out) as a:  # still pending until a compaction went through
        assert a.compact_pending
        a.compact()
        assert not a.compact_pending
    with Archive.open(tmp_path / "fresh") as a:
        assert not a.compact_pending


def test_a_migrated_archive_lives_on_edits_become_history_new_deletions_are_stamped(old_out: Path, tmp_path: Path):
    """The same simulated world, now with message 20 edited and 11 deleted too: ``--refresh-edits``
    keeps 20's earlier version (and no other: 5, 17 and 80 were edited the same way last time),
    stamps 11's deletion, and leaves the deletions schema 4 flagged without a time."""
    cfg = tmp_path / "third.toml"
    cfg.write_text((FIXTURE / "second.toml").read_text().replace("edited = [5, 17, 80], deleted = [9, 10]",
                                                                  "edited = [5, 17, 80, 20], deleted = [9, 10, 11]"))
    shutil.move(old_out, tmp_path / "out")
    r = tgx(tmp_path, "export", "@news", "@forum", "@group", "--comments", "-o", "out", "-f", "jsonl",
            "--refresh-edits", "100000", "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    lines = {d["id"]: d for d in read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")}
    assert [i for i, d in lines.items() if "history" in d] == [20]
    (earlier,) = lines[20]["history"]
    assert lines[20]["text"] == earlier["text"] + " (edited later)"
    assert [i for i, d in lines.items() if d["deleted"]] == [9, 10, 11]
    assert [i for i, d in lines.items() if "deleted_at" in d] == [11]
    again = tgx(tmp_path, "export", "@news", "@forum", "@group", "--comments", "-o", "out", "-f", "jsonl",
                "--refresh-edits", "100000", "-q", config=cfg)
    assert again.returncode == 0, again.stderr
    con = sqlite3.connect(tmp_path / "out" / ".tgx" / "archive.sqlite")
    assert con.execute("SELECT chat_id, id, seq FROM versions").fetchall() == [(NEWS, 20, 1)]  # not twice
    for other in ("group", "forum"):
        assert all("history" not in d for d in read_jsonl(tmp_path / "out" / other / "messages.jsonl"))
    assert orjson.loads((tmp_path / "out" / "news" / "comments.jsonl").read_bytes().splitlines()[0])["post_id"]


def _schema5(out: Path) -> None:
    """A schema-5 archive: written by this release, then the one change of schema 6 undone."""
    rows = [Message(NEWS, i, datetime(2024, 1, 1, tzinfo=UTC), text=f"post {i}") for i in range(1, 31)]
    with Archive.open(out) as a:
        a.set_chat(Peer(NEWS, "channel", "News", "news"))
        a.upsert_batch(NEWS, rows, checkpoint={"ranges": [[1, 30]], "server_count": 30})
        a.upsert_batch(NEWS, [Message(NEWS, 3, rows[2].date, text="post 3, edited", edit_date=datetime(2024, 1, 2,
                                                                                                       tzinfo=UTC))])
    con = sqlite3.connect(out / ".tgx" / "archive.sqlite")
    con.execute("DROP INDEX media_by_sha256")
    con.execute("ALTER TABLE messages DROP COLUMN imported")
    con.execute("UPDATE schema_version SET version = 5")
    con.commit()
    con.close()


def test_a_schema_5_archive_gets_the_imported_mark_every_row_as_it_was_and_from_telegram(tmp_path: Path):
    out = tmp_path / "out5"
    _schema5(out)
    assert schema(out) == (5, {"chat_id", "id", "date", "edit_date", "deleted", "data", "deleted_at"})
    with Archive.open(out) as a:
        assert schema(out) == (6, {"chat_id", "id", "date", "edit_date", "deleted", "data", "deleted_at", "imported"})
        assert [m.text for b in a.iter_messages(NEWS) for m in b][:3] == ["post 1", "post 2", "post 3, edited"]
        assert [v.text for v in a.history(NEWS, 3)] == ["post 3"]
        assert list(a.imported_ids(NEWS)) == []  # every row of an older archive came from Telegram
        assert a.checkpoint(NEWS) == {"ranges": [[1, 30]], "server_count": 30}


def test_a_kill_during_the_migration_to_6_leaves_schema_5_and_the_next_open_finishes_it(tmp_path: Path):
    out = tmp_path / "out5"
    _schema5(out)
    script = textwrap.dedent(f"""
        import os, signal
        import tgx.archive.store as store
        def killed(c):
            for _target, step in steps:
                step(c)
            os.kill(os.getpid(), signal.SIGKILL)  # mid-migration: the column added, not committed
        steps, store._STEPS = store._STEPS, [(6, killed)]
        store.Archive.open({str(out)!r})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -9, done.stderr
    assert schema(out) == (5, {"chat_id", "id", "date", "edit_date", "deleted", "data", "deleted_at"})
    with Archive.open(out) as a:
        assert schema(out)[0] == SCHEMA_VERSION == 6
        assert a.count(NEWS) == 30 and a.message(NEWS, 3).text == "post 3, edited"
