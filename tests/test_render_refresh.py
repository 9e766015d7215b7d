"""tgx.render.refresh.refresh_chat: after any appends, edits, deletions and refreshes, every file
equals a fresh full render's, byte for byte (a patched database: in content); the line formats
continue their files from a checkpoint, the paged ones redo the pages that changed, the database
replaces the changed rows — none renders the chat again."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tgx_csv
import tgx_html
import tgx_json
import tgx_jsonl
import tgx_markdown
import tgx_sqlite
import tgx_txt
from tgx.archive.store import Archive
from tgx.model import Message, Peer
from tgx.render import refresh as refresh_module
from tgx.render.engine import refresh_chat, render_chat
from tgx.specs import FormatSpec

CHAT = -1000000000077
PEER = Peer(CHAT, "supergroup", "Watchers", "watchers")
PEOPLE = [Peer(7, "user", "Ann"), Peer(8, "user", "Bob")]
T0 = datetime(2024, 1, 1, tzinfo=UTC)
FORMATS: dict[str, FormatSpec] = {spec.name: spec for spec in (
    tgx_jsonl.tgx_register_formats(), tgx_csv.tgx_register_formats(), tgx_txt.tgx_register_formats(),
    tgx_html.tgx_register_formats(), tgx_markdown.tgx_register_formats(), tgx_sqlite.tgx_register_formats(),
    tgx_json.tgx_register_formats())}
LINE_FORMATS = ("jsonl", "csv", "txt", "json")
PAGED_FORMATS = ("html", "markdown")
PATCHED_FORMATS = ("sqlite",)
OPTIONS = {"html": {"html-page-size": 40}}


def make(i: int, **kw) -> Message:
    kw.setdefault("text", f"message {i}" + (" with more words" * (i % 4)))
    kw.setdefault("sender_id", 7 if i % 5 else 8)
    kw.setdefault("reply_to_id", i - 2 if i % 7 == 0 and i > 2 else None)
    kw.setdefault("grouped_id", 900 + i // 3 if i % 11 in (1, 2) else None)
    return Message(chat_id=CHAT, id=i, date=T0 + timedelta(minutes=37 * i), **kw)


def build(root: Path, n: int, step: int = 1) -> Archive:
    archive = Archive.open(root)
    archive.set_chat(PEER)
    ids = range(step, n * step + 1, step)
    for lo in range(0, n, 5000):
        archive.upsert_batch(CHAT, [make(i) for i in ids[lo:lo + 5000]], PEOPLE if lo == 0 else ())
    return archive


def files(out: Path, peer: Peer = PEER) -> dict[str, bytes]:
    chat = out / peer.folder_name
    return {p.relative_to(chat).as_posix(): p.read_bytes() for p in sorted(chat.rglob("*")) if p.is_file()}


def database(path: Path) -> dict[str, list[tuple]]:
    """A database's content: every table's rows (sorted), the full-text index checked and asked."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'messages_fts%' ORDER BY name")]
        content = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
        content["schema"] = sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall(), key=repr)
        content["search"] = [conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid",
                                          (word,)).fetchall() for word in ("message", "edited", "words", "new")]
        content["version"] = conn.execute("PRAGMA user_version").fetchall()
        return content
    finally:
        conn.close()


def assert_same_as_full(archive: Archive, out: Path, tmp: Path, formats: Iterable[str] = FORMATS,
                        options=OPTIONS, peer: Peer = PEER) -> None:
    """Every file of ``peer``'s folder byte for byte as a full render's, except a patched
    database: equal in content."""
    fresh = tmp / f"fresh{len(list(tmp.glob('fresh*')))}"
    render_chat(archive, peer.id, fresh, {n: FORMATS[n] for n in formats}, options, batch_size=50)
    got, want = files(out, peer), files(fresh, peer)
    assert sorted(got) == sorted(want)
    for rel in want:
        if rel.endswith(".sqlite"):
            assert database(out / peer.folder_name / rel) == database(fresh / peer.folder_name / rel)
        else:
            assert got[rel] == want[rel], rel


@pytest.fixture
def setup(tmp_path: Path):
    archive = build(tmp_path, 300)
    out = tmp_path / "out"
    render_chat(archive, CHAT, out, FORMATS, OPTIONS, batch_size=50)
    yield archive, out, tmp_path
    archive.close()


def spy_refreshes(monkeypatch) -> list[str]:
    """The formats refresh_chat will continue, redo in parts or patch — not render in full."""
    seen: list[str] = []
    for attr in ("_continue", "_refresh_parts", "_patch"):
        def spy(archive, chat_id, out_dir, name, *args, _real=getattr(refresh_module, attr), **kw):
            entry = _real(archive, chat_id, out_dir, name, *args, **kw)
            seen.append(name)
            return entry

        monkeypatch.setattr(refresh_module, attr, spy)
    return seen


@pytest.fixture
def continued(monkeypatch):
    """The formats refresh_chat continued (the rest went through the full render)."""
    return spy_refreshes(monkeypatch)


def refresh(archive: Archive, out: Path, changed: Iterable[int], options=OPTIONS):
    result = refresh_chat(archive, CHAT, out, FORMATS, options, changed=changed, batch_size=50)
    assert result.ok, result.errors
    return result


def test_new_messages_at_the_end(setup, continued):
    archive, out, tmp = setup
    archive.upsert_batch(CHAT, [make(i) for i in range(301, 351)])
    refresh(archive, out, range(301, 351))
    assert {*LINE_FORMATS, *PAGED_FORMATS, *PATCHED_FORMATS} <= set(continued)
    assert_same_as_full(archive, out, tmp)


def test_recent_edits_and_deletions(setup, continued):
    archive, out, tmp = setup
    archive.upsert_batch(CHAT, [make(i, text=f"edited {i}", edit_date=T0 + timedelta(days=30)) for i in (290, 295)])
    archive.mark_deleted(CHAT, [297, 299], at=T0 + timedelta(days=31))
    archive.upsert_batch(CHAT, [make(i) for i in range(301, 306)])
    refresh(archive, out, [290, 295, 297, 299, *range(301, 306)])
    assert {*LINE_FORMATS, *PAGED_FORMATS, *PATCHED_FORMATS} <= set(continued)
    assert_same_as_full(archive, out, tmp)


def test_an_old_edit(setup, continued):
    archive, out, tmp = setup
    archive.upsert_batch(CHAT, [make(12, text="an old message, edited", edit_date=T0 + timedelta(days=40))])
    refresh(archive, out, [12])
    assert set(PAGED_FORMATS) <= set(continued)
    assert_same_as_full(archive, out, tmp)


def written_since(out: Path, before: dict[str, int]) -> set[str]:
    chat = out / PEER.folder_name
    return {p.relative_to(chat).as_posix() for p in chat.rglob("*")
            if p.is_file() and p.stat().st_mtime_ns != before.get(p.relative_to(chat).as_posix())}


def mtimes(out: Path) -> dict[str, int]:
    chat = out / PEER.folder_name
    return {p.relative_to(chat).as_posix(): p.stat().st_mtime_ns for p in chat.rglob("*") if p.is_file()}


def test_an_old_edit_rewrites_its_page_the_pages_quoting_it_and_the_last(setup):
    """Pages of 40: message 12 is on the first page; 42 (second page) replies to 40 (first page), so
    its quote shows 40's text: an edit of 40 rewrites the second page too. And the last page."""
    archive, out, tmp = setup
    before = mtimes(out)
    archive.upsert_batch(CHAT, [make(12, text="edited", edit_date=T0 + timedelta(days=40)),
                                make(40, text="edited too", edit_date=T0 + timedelta(days=40))])
    refresh(archive, out, [12, 40], {"html": {"html-page-size": 40}})
    pages = {f for f in written_since(out, before) if f.endswith(".html")}
    # 300 messages: the last page is messages8.html
    assert pages == {"messages.html", "messages2.html", "messages8.html", "newest.html"}
    assert_same_as_full(archive, out, tmp)


def test_interleaved_id_below_the_last_one(tmp_path):
    archive = build(tmp_path, 200, step=2)
    out = tmp_path / "out"
    render_chat(archive, CHAT, out, FORMATS, OPTIONS, batch_size=50)
    archive.upsert_batch(CHAT, [make(301), make(401)])
    refresh(archive, out, [301, 401])
    assert_same_as_full(archive, out, tmp_path)
    # an id the caller did not name: counted, so never silently wrong
    archive.upsert_batch(CHAT, [make(303), make(402)])
    refresh(archive, out, [402])
    assert_same_as_full(archive, out, tmp_path)
    archive.close()


def test_many_refreshes_in_a_row_and_a_restart(setup):
    archive, out, tmp = setup
    root = tmp
    next_id = 301
    for round_ in range(6):
        new = list(range(next_id, next_id + 17 + round_))
        next_id = new[-1] + 1
        archive.upsert_batch(CHAT, [make(i) for i in new])
        edited = [next_id - 30 - round_, 5 + round_]
        archive.upsert_batch(CHAT, [make(i, text=f"round {round_}", edit_date=T0 + timedelta(days=50 + round_))
                                    for i in edited])
        archive.mark_deleted(CHAT, [next_id - 3], at=T0 + timedelta(days=60))
        if round_ == 3:  # tgx watch restarted: a new Archive object, nothing kept in memory
            archive.close()
            archive = Archive.open(root)
        refresh(archive, out, [*new, *edited, next_id - 3])
        assert_same_as_full(archive, out, tmp)
    archive.close()


def test_nothing_changed_writes_nothing(setup):
    archive, out, _tmp = setup
    before = {p: p.stat().st_mtime_ns for p in (out / PEER.folder_name).rglob("*") if p.is_file()}
    state = sorted((out / ".tgx").rglob("*"))
    result = refresh(archive, out, [])
    after = {p: p.stat().st_mtime_ns for p in (out / PEER.folder_name).rglob("*") if p.is_file()}
    for name in LINE_FORMATS:
        assert result.formats[name].files
    assert {p: t for p, t in after.items() if p.name != "topics.json"} == before
    assert sorted((out / ".tgx").rglob("*")) == state


def test_a_file_the_user_removed_or_edited_is_rendered_in_full(setup, continued):
    archive, out, tmp = setup
    (out / PEER.folder_name / "messages.jsonl").unlink()
    with open(out / PEER.folder_name / "messages.csv", "ab") as fh:
        fh.write(b"mine\r\n")
    archive.upsert_batch(CHAT, [make(301)])
    refresh(archive, out, [301])
    assert "jsonl" not in continued and "csv" not in continued and "txt" in continued
    assert_same_as_full(archive, out, tmp)


def test_changed_options_are_rendered_in_full(setup, continued):
    archive, out, tmp = setup
    archive.upsert_batch(CHAT, [make(301)])
    options = {"html": {"html-page-size": 25}, "csv": {"csv-bom": False}}
    refresh(archive, out, [301], options)
    assert "csv" not in continued and "jsonl" in continued
    assert_same_as_full(archive, out, tmp, options=options)


def test_the_txt_header_growing_a_digit_is_rendered_in_full(tmp_path):
    archive = build(tmp_path, 99)
    out = tmp_path / "out"
    render_chat(archive, CHAT, out, FORMATS, OPTIONS, batch_size=50)
    archive.upsert_batch(CHAT, [make(100), make(101)])
    refresh(archive, out, [100, 101])
    assert_same_as_full(archive, out, tmp_path)
    archive.close()


def test_a_refresh_killed_mid_write_is_repaired_by_the_next(setup, monkeypatch):
    archive, out, tmp = setup
    archive.upsert_batch(CHAT, [make(i) for i in range(301, 340)])

    def boom(*_a, **_kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(refresh_module, "record_checkpoint", boom)
    with pytest.raises(KeyboardInterrupt):
        refresh_chat(archive, CHAT, out, {"jsonl": FORMATS["jsonl"]}, OPTIONS, changed=range(301, 340), batch_size=50)
    monkeypatch.undo()
    refresh(archive, out, range(301, 340))
    assert_same_as_full(archive, out, tmp)


def test_a_paged_refresh_killed_mid_write_is_repaired_by_the_next(setup, monkeypatch):
    archive, out, tmp = setup
    archive.upsert_batch(CHAT, [make(i) for i in range(301, 340)])
    archive.upsert_batch(CHAT, [make(3, text="edited", edit_date=T0 + timedelta(days=40))])

    def boom(*_a, **_kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(refresh_module, "attach_paths", boom)
    with pytest.raises(KeyboardInterrupt):
        refresh_chat(archive, CHAT, out, {"html": FORMATS["html"]}, OPTIONS, changed=[3, *range(301, 340)],
                     batch_size=50)
    monkeypatch.undo()
    refresh(archive, out, [3, *range(301, 340)])
    assert_same_as_full(archive, out, tmp)


def test_a_full_render_since_is_noticed(setup):
    archive, out, tmp = setup
    archive.upsert_batch(CHAT, [make(i) for i in range(301, 320)])
    render_chat(archive, CHAT, out, {"csv": FORMATS["csv"]}, {"csv": {"csv-bom": False}}, batch_size=50)
    archive.upsert_batch(CHAT, [make(320)])
    refresh(archive, out, [320])
    assert_same_as_full(archive, out, tmp)


@pytest.mark.parametrize("size", [1_000, 100_000])
def test_refresh_cost_does_not_grow_with_the_chat(tmp_path, size, monkeypatch, request):
    """Structural: the messages a refresh streams and the bytes it writes, after 50 new and 5
    edited messages, for a 1k and a 100k chat (the 1k figures are cached on the test's config)."""
    archive = build(tmp_path, size)
    out = tmp_path / "out"
    formats = {n: FORMATS[n] for n in (*LINE_FORMATS, *PAGED_FORMATS, *PATCHED_FORMATS)}
    render_chat(archive, CHAT, out, formats)
    before = mtimes(out)
    archive.upsert_batch(CHAT, [make(i) for i in range(size + 1, size + 51)])
    edited = [size - k for k in (1, 3, 5, 7, 9)]
    archive.upsert_batch(CHAT, [replace(make(i), text="edited", edit_date=T0 + timedelta(days=9000)) for i in edited])
    streamed = [0]
    real = archive.iter_messages

    def counting(*args, **kw):
        for batch in real(*args, **kw):
            streamed[0] += len(batch)
            yield batch

    monkeypatch.setattr(archive, "iter_messages", counting)
    sizes = {p: p.stat().st_size for p in (out / PEER.folder_name).iterdir()}
    result = refresh_chat(archive, CHAT, out, formats, changed=[*range(size + 1, size + 51), *edited])
    assert result.ok
    grown = sum(p.stat().st_size - sizes.get(p, 0) for p in (out / PEER.folder_name).iterdir())
    cost = (streamed[0], grown)
    costs = request.config.cache_refresh_costs = getattr(request.config, "cache_refresh_costs", {})
    costs[size] = cost
    assert streamed[0] <= len(formats) * (1000 + 55)  # one batch (or page) back at most, per format
    pages = {f for f in written_since(out, before) if f.endswith(".html")}
    assert len(pages) <= 3, pages  # the last old page, the new one it may start, newest.html
    notes = {f for f in written_since(out, before) if f.endswith(".md")}
    assert len(notes) <= 5, notes  # the index note, the last old day note and the days the new ones fill
    if 1_000 in costs and 100_000 in costs:
        small, big = costs[1_000], costs[100_000]
        assert big[0] <= 2 * small[0]
    archive.close()


def _killed_patch(root: str, out: str, ids: list[int]) -> None:
    """In a child process: a database patch that dies mid-transaction (its changes on disk)."""
    import tgx_sqlite.writer as sqlite_writer

    def die(self, conn):
        conn.execute("PRAGMA cache_size = 1")  # spill the change into the file itself
        conn.execute("UPDATE messages SET text = 'half-written'")
        os._exit(9)

    sqlite_writer.SqliteWriter._close_patch = die
    archive = Archive.open(root)
    refresh_chat(archive, CHAT, Path(out), {"sqlite": FORMATS["sqlite"]}, OPTIONS, changed=ids, batch_size=50)


def test_a_database_patch_killed_mid_transaction_is_rolled_back_and_repaired(setup):
    archive, out, tmp = setup
    archive.upsert_batch(CHAT, [make(i) for i in range(301, 340)])
    archive.upsert_batch(CHAT, [make(3, text="edited", edit_date=T0 + timedelta(days=40))])
    ids = [3, *range(301, 340)]
    child = multiprocessing.get_context("fork").Process(target=_killed_patch, args=(str(tmp), str(out), ids))
    child.start()
    child.join(60)
    assert child.exitcode == 9
    db = out / PEER.folder_name / "messages.sqlite"
    assert Path(f"{db}-journal").exists()  # what a kill leaves: SQLite's own way back
    refresh(archive, out, ids)
    assert not Path(f"{db}-journal").exists()  # never left beside a new file, to be "recovered" into it
    assert_same_as_full(archive, out, tmp)
    rows = sqlite3.connect(db).execute("SELECT COUNT(*) FROM messages WHERE text = 'half-written'").fetchone()
    assert rows == (0,)


def test_a_database_refresh_touches_only_the_changed_rows(setup, continued):
    """Patched, not rebuilt — again after a later edit of the same row and a deletion: the current
    text, the versions and the full-text index follow."""
    archive, out, tmp = setup
    db = out / PEER.folder_name / "messages.sqlite"
    archive.upsert_batch(CHAT, [make(7, text="edited once", edit_date=T0 + timedelta(days=40))])
    refresh(archive, out, [7])
    assert "sqlite" in continued
    archive.upsert_batch(CHAT, [make(7, text="edited twice", edit_date=T0 + timedelta(days=41)),
                                make(8, deleted=True)])
    archive.mark_deleted(CHAT, [8], at=T0 + timedelta(days=41))
    refresh(archive, out, [7, 8])
    assert continued.count("sqlite") == 2
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT text FROM messages WHERE id = 7").fetchone() == ("edited twice",)
    assert [r[0] for r in conn.execute("SELECT text FROM versions WHERE message_id = 7 ORDER BY seq")] == [
        make(7).text, "edited once"]
    assert conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'twice'").fetchall() == [(7,)]
    assert conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'once'").fetchall() == []
    conn.close()
    assert_same_as_full(archive, out, tmp)
