"""``tgx watch`` end to end: the real CLI and Telethon on the simulated Telegram, whose scripted
timeline posts, edits and deletes while tgx watches and drops the connection twice.

The archive ends equal to the server's final state (a fresh export of a world with the same
changes) plus what only a watcher can know — every edited message's earlier version, every
deleted one flagged; ``--json`` prints each applied change once; SIGTERM exits 0 after the last
refresh; a SIGKILL mid-watch and a restart miss nothing and double nothing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tgx.testing import SimulatedTelegram
from tgxrun import read_jsonl, tgx, tgx_env

NEWS = {"kind": "channel", "username": "news", "title": "News", "messages": 1_000, "media": False,
        "joined": True}


def _ids() -> tuple[list[int], list[int]]:
    w = SimulatedTelegram.from_scenario({"chats": [NEWS]})
    w.freeze()
    edit = list(w.editable_ids("news", 50, 200))
    taken = set(edit)
    present = set(w.expected_ids("news"))
    delete = [i for i in range(600, 1_000) if i in present and i not in taken][:20]
    return edit, delete


def _timeline(edit: list[int], delete: list[int], start: float = 4.0) -> list[dict]:
    at = start
    steps: list[dict] = []

    def step(**kw) -> None:
        nonlocal at
        steps.append({"at": at, **kw})
        at += 0.4

    for _ in range(5):
        step(chat="news", post=60)
    step(chat="news", edit=edit[:25])
    step(drop=True, seconds=0.6)
    for _ in range(4):
        step(chat="news", post=50)
    step(chat="news", edit=edit[25:])
    step(chat="news", delete=delete[:10])
    step(drop=True, seconds=0.6)
    step(chat="news", delete=delete[10:])
    return steps


def _changes(steps: list[dict]) -> list[dict]:
    return [{k: v for k, v in s.items() if k != "at"} for s in steps if "chat" in s]


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def _archive(out, sql: str) -> int:
    """One number from OUT's archive, read-only (safe while the watch writes); 0 before it exists."""
    import sqlite3

    db = out / ".tgx" / "archive.sqlite"
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql).fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        con.close()


def _archive_ids(out) -> int:
    return _archive(out, "SELECT count(*) FROM messages")


def _all_applied(out) -> bool:
    """The watch is on and the timeline's end state is committed: 1,500 messages, 20 deleted, 50
    with an earlier version."""
    jsonl = out / "news" / "messages.jsonl"  # rendered: the export part is over, the watch is on
    lines = jsonl.read_bytes().count(b"\n") if jsonl.exists() else 0
    return (lines >= 1_000 and _archive_ids(out) >= 1_500
            and _archive(out, "SELECT count(*) FROM messages WHERE deleted = 1") == 20
            and _archive(out, "SELECT count(DISTINCT id) FROM versions") == 50)


@dataclass
class Watched:
    returncode: int
    stdout: str
    stderr: str

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def _watch(tmp_path: Path, cfg: Path, *args: str, until, stop: int = signal.SIGTERM, name: str = "watch",
           seconds: float = 60) -> Watched:
    """``tgx watch ARGS`` in a subprocess (stdout and stderr to files, so ``until(out, stderr)`` can
    look while it runs) until ``until`` holds, then ``stop`` (SIGKILL: no cleanup at all)."""
    out_file, err_file = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with out_file.open("wb") as out_sink, err_file.open("wb") as err_sink:
        proc = subprocess.Popen([sys.executable, "-m", "tgx", "watch", *args], stdout=out_sink, stderr=err_sink,
                                env=tgx_env(tmp_path, cfg), cwd=tmp_path)
        try:
            ready = _wait_for(lambda: until(tmp_path / "out", err_file.read_text()), seconds)
            assert ready, f"never ready: {err_file.read_text()[-2000:]}"
            proc.send_signal(stop)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    return Watched(proc.returncode, out_file.read_text(), err_file.read_text())


def _fresh_export(tmp_path: Path, sim_config, chat: dict, steps: list[dict], *args: str) -> Path:
    """OUT/<chat>/ of a fresh export of the world ``steps`` leave behind (the reference)."""
    ref = tmp_path / "ref"
    ref.mkdir()
    r = tgx(ref, "export", f"@{chat['username']}", "-o", "out", "-q", *args,
            config=sim_config(ref / "tgx.toml", chats=[chat], changes=_changes(steps)))
    assert r.returncode == 0, r.stderr
    return ref / "out" / chat["username"]


def _by_id(folder: Path) -> dict[int, dict]:
    return {m["id"]: m for m in read_jsonl(folder / "messages.jsonl")}


def _files(root: Path, under: str = "") -> dict[str, bytes]:
    base = root / under if under else root
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in base.rglob("*") if p.is_file()}


def _check_against(got: dict[int, dict], want: dict[int, dict], edit: list[int], delete: list[int]) -> None:
    assert set(got) == set(want) | set(delete)  # every message once; the deleted ones kept
    for i, m in want.items():
        mine = {k: v for k, v in got[i].items() if k not in ("history", "views", "forwards", "reactions")}
        theirs = {k: v for k, v in m.items() if k not in ("history", "views", "forwards", "reactions")}
        assert mine == theirs, i
    for i in edit:
        assert len(got[i]["history"]) == 1 and got[i]["history"][0]["text"] != got[i]["text"]
    for i in delete:
        assert got[i]["deleted"] and got[i]["deleted_at"]
    assert not any(m.get("history") for i, m in got.items() if i not in set(edit))


def test_watch_follows_a_timeline_through_two_drops_and_stops_cleanly(tmp_path, sim_config):
    edit, delete = _ids()
    steps = _timeline(edit, delete)
    # pushed, not polled (--poll 60): everything is committed within seconds of the timeline
    w = _watch(tmp_path, sim_config(chats=[NEWS], timeline=steps), "@news", "-o", "out", "-f", "jsonl,html",
               "--render-interval", "1", "--poll", "60", "--json", until=lambda out, _err: _all_applied(out))
    assert w.returncode == 0, w.stderr
    assert "Traceback" not in w.stderr
    events = w.events()
    kinds = [(e["kind"], e["id"]) for e in events]
    assert len(kinds) == len(set(kinds))  # each change once
    assert sum(k == "new" for k, _ in kinds) == 500
    assert {i for k, i in kinds if k == "edit"} == set(edit)
    assert {i for k, i in kinds if k == "delete"} == set(delete)
    assert all(e["chat"] == events[0]["chat"] and e["date"] for e in events)
    want = _by_id(_fresh_export(tmp_path, sim_config, NEWS, steps, "-f", "jsonl"))
    _check_against(_by_id(tmp_path / "out" / "news"), want, edit, delete)
    assert (tmp_path / "out" / "news" / "messages.html").exists()


def test_watch_killed_mid_timeline_and_restarted_misses_nothing_and_doubles_nothing(tmp_path, sim_config):
    edit, delete = _ids()
    steps = _timeline(edit, delete)
    args = ("@news", "-o", "out", "-f", "jsonl", "--render-interval", "1", "--poll", "2")
    _watch(tmp_path, sim_config(chats=[NEWS], timeline=steps), *args, stop=signal.SIGKILL, name="first",
           until=lambda out, _err: _archive_ids(out) >= 1_120)
    # the restart runs in a world where the whole timeline has happened (a new process: its
    # timeline restarts, so give it the final state as changes and no timeline)
    w = _watch(tmp_path, sim_config(chats=[NEWS], changes=_changes(steps)), *args, stop=signal.SIGINT,
               name="restart", until=lambda out, err: "watching 1 chat" in err and _all_applied(out))
    assert w.returncode == 0, w.stderr
    got = _by_id(tmp_path / "out" / "news")
    want = _by_id(_fresh_export(tmp_path, sim_config, NEWS, steps, "-f", "jsonl"))
    assert set(got) == set(want) | {i for i in delete if i in got}
    for i, m in want.items():
        assert got[i]["text"] == m["text"] and got[i]["edit_date"] == m["edit_date"], i
    assert all(got[i]["deleted"] for i in delete if i in got)
    assert not any(len(m.get("history", ())) > 1 for m in got.values())  # no version doubled


def test_watch_refuses_what_has_no_meaning_for_it(tmp_path, sim_config):
    cfg = sim_config(chats=[NEWS])
    r = tgx(tmp_path, "watch", "@news", "-o", "out", "--limit", "5", config=cfg)
    assert r.returncode == 2 and "--limit" in r.stderr and "Traceback" not in r.stderr
    r = tgx(tmp_path, "watch", "@news", "-o", "out", "--render-interval", "0", config=cfg)
    assert r.returncode == 2 and "--render-interval" in r.stderr
    r = tgx(tmp_path, "watch", "-o", "out", config=cfg)
    assert r.returncode == 2 and "no CHAT" in r.stderr
    assert not (tmp_path / "out" / "news").exists()


def test_watch_a_private_chat_through_the_account_stream(tmp_path, sim_config):
    alice = {"kind": "private", "user": "alice", "messages": 200, "media": False}
    world = SimulatedTelegram.from_scenario({"chats": [alice]})
    world.freeze()
    ids = list(world.expected_ids("alice"))
    edit = list(world.editable_ids("alice", 3, 20))
    delete = [i for i in ids[100:] if i not in set(edit)][:2]
    steps = [{"at": 4.0, "chat": "alice", "post": 20}, {"at": 4.5, "chat": "alice", "edit": edit},
             {"at": 5.0, "drop": True, "seconds": 0.5}, {"at": 5.2, "chat": "alice", "delete": delete},
             {"at": 6.0, "chat": "alice", "post": 5}]

    def done(out: Path, _err: str) -> bool:
        return (_archive_ids(out) >= 225 and _archive(out, "SELECT count(DISTINCT id) FROM versions") == 3
                and _archive(out, "SELECT count(*) FROM messages WHERE deleted = 1") == 2)

    w = _watch(tmp_path, sim_config(chats=[alice], timeline=steps), "@alice", "-o", "out", "-f", "jsonl",
               "--render-interval", "1", "--poll", "60", "--json", until=done)
    assert w.returncode == 0, w.stderr
    assert sorted(e["kind"] for e in w.events()) == ["delete"] * 2 + ["edit"] * 3 + ["new"] * 25
    got = _by_id(tmp_path / "out" / "alice")
    assert len(got) == 225 and all(got[i]["deleted"] for i in delete)
    assert all(len(got[i]["history"]) == 1 for i in edit)


def test_watch_a_forum_its_refreshed_files_equal_a_fresh_export(tmp_path, sim_config):
    """Posts into a forum's topics while watched: after the last refresh every rendered file —
    the main pages, the topic pages and folders — is byte for byte what a fresh export of the
    final state writes (refreshes redo only what changed, and get it right)."""
    forum = {"kind": "forum", "username": "forum", "title": "Forum", "messages": 400, "media": False, "topics": 4}
    steps = [{"at": 4.0 + 0.5 * k, "chat": "forum", "post": 15} for k in range(4)]
    formats = "jsonl,html,markdown,csv,txt"
    w = _watch(tmp_path, sim_config(chats=[forum], timeline=steps), "@forum", "-o", "out", "-f", formats,
               "--render-interval", "1", "--poll", "60", until=lambda out, _err: _archive_ids(out) >= 460)
    assert w.returncode == 0, w.stderr
    got, want = _files(tmp_path / "out" / "forum"), _files(_fresh_export(tmp_path, sim_config, forum, steps,
                                                                            "-f", formats))
    assert sorted(got) == sorted(want)
    assert [name for name in want if got[name] != want[name]] == []


def test_watch_downloads_the_media_of_new_messages_only(tmp_path, sim_config):
    chat = {"kind": "channel", "username": "pics", "title": "Pics", "messages": 120, "joined": True}
    steps = [{"at": 4.0, "chat": "pics", "post": 40}]
    media = ("--media", "photo,document")
    w = _watch(tmp_path, sim_config(chats=[chat], timeline=steps), "@pics", "-o", "out", "-f", "jsonl", *media,
               "--render-interval", "1", "--poll", "60", until=lambda out, _err: _archive_ids(out) >= 160)
    assert w.returncode == 0, w.stderr
    ref = _fresh_export(tmp_path, sim_config, chat, steps, "-f", "jsonl", *media)
    got, want = _files(tmp_path / "out" / "pics", "media"), _files(ref, "media")
    assert len(want) > 5 and sorted(got) == sorted(want) and got == want
    assert (tmp_path / "out" / "pics" / "messages.jsonl").read_bytes() == (ref / "messages.jsonl").read_bytes()
    posted = [m for m in read_jsonl(ref / "messages.jsonl") if m["id"] > 120 and m["media"]
              and m["media"]["kind"] in ("photo", "document")]
    assert posted and all(m["media"]["path"] for m in posted)  # the new messages' files, linked


def test_watch_reports_what_its_start_caught_up_as_events_too(tmp_path, sim_config):
    edit, delete = _ids()
    r = tgx(tmp_path, "export", "@news", "-o", "out", "-q", config=sim_config(chats=[NEWS]))
    assert r.returncode == 0, r.stderr
    changes = [{"chat": "news", "edit": edit}, {"chat": "news", "delete": delete}]
    events = tmp_path / "watch.out"  # --json: the events, and no status lines to wait for
    w = _watch(tmp_path, sim_config(chats=[NEWS], changes=changes), "@news", "-o", "out", "--json", "--poll", "60",
               until=lambda _out, _err: events.read_text().count("\n") >= len(edit) + len(delete))
    assert w.returncode == 0, w.stderr
    assert sorted((e["kind"], e["id"]) for e in w.events()) == sorted(
        [("edit", i) for i in edit] + [("delete", i) for i in delete])


def test_watch_outlives_an_outage_longer_than_its_reconnects(tmp_path, sim_config):
    """The connection dies for good in the middle of a catch-up and the runner gives up
    (--max-reconnects 0): the watch says so in a line, connects again and carries on — the post
    made meanwhile arrives, nothing is lost."""
    chat = {**NEWS, "messages": 200}
    steps = [{"at": 4.0, "chat": "news", "post": 10}, {"at": 7.0, "chat": "news", "post": 10}]
    dead = {"type": "drop", "request": "GetChannelDifference", "fatal": True, "after": 1, "times": 1}
    w = _watch(tmp_path, sim_config(chats=[chat], timeline=steps, faults=[dead]), "@news", "-o", "out",
               "-f", "jsonl", "--poll", "2", "--render-interval", "1", "--max-reconnects", "0",
               until=lambda out, _err: _archive_ids(out) >= 220)
    assert w.returncode == 0, w.stderr
    assert "trying again in 2 s" in w.stderr and "Traceback" not in w.stderr
    assert len(read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")) == 220


def test_watch_a_channel_with_comments_edited_and_deleted_comments_redo_their_posts(tmp_path, sim_config):
    """Comments edited and deleted in the discussion group while watched: the channel's refreshed
    files — the html pages and markdown notes holding those posts, comments.jsonl, comments.csv,
    the comments table — end as a full `tgx render` of the same archive writes them (byte for
    byte; the database in content), with each edited comment's earlier version and each deleted
    one flagged."""
    import shutil

    from test_render_refresh import database

    chat = {"kind": "channel", "username": "talk", "title": "Talk", "messages": 300, "media": False,
            "joined": True, "comments": {"commented": 40, "most": 6}}
    w = SimulatedTelegram.from_scenario({"chats": [chat]})
    w.freeze()
    threads = [c for _post, c in w.expected_comments("talk")]
    edit = [i for i in w.editable_ids("talk_comments", 60, threads[10]) if i in set(threads)][:6]
    assert len(edit) == 6
    delete = [c for c in threads[40:] if c not in edit][:4]
    steps = [{"at": 4.0, "chat": "talk_comments", "edit": edit[:3]},
             {"at": 4.5, "chat": "talk_comments", "delete": delete},
             {"at": 5.0, "chat": "talk_comments", "edit": edit[3:]}]
    formats = "jsonl,html,markdown,csv,sqlite"

    def applied(o, _err):
        return (_archive(o, "SELECT count(*) FROM messages WHERE deleted = 1") == len(delete)
                and _archive(o, "SELECT count(DISTINCT id) FROM versions") == len(edit))

    cfg = sim_config(chats=[chat], timeline=steps)
    watched = _watch(tmp_path, cfg, "@talk", "-o", "out", "-f", formats, "--comments", "--render-interval", "1",
                     "--poll", "60", until=applied)
    assert watched.returncode == 0, watched.stderr
    shutil.copytree(tmp_path / "out", tmp_path / "full")
    r = tgx(tmp_path, "render", "full", "-f", formats, "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    got, want = _files(tmp_path / "out" / "talk"), _files(tmp_path / "full" / "talk")
    assert sorted(got) == sorted(want)
    assert [n for n in want if got[n] != want[n] and not n.endswith(".sqlite")] == []
    db = "talk/messages.sqlite"
    assert database(tmp_path / "out" / db) == database(tmp_path / "full" / db)
    comments = {c["id"]: c for c in read_jsonl(tmp_path / "out" / "talk" / "comments.jsonl")}
    for i in edit:
        assert comments[i]["history"] and comments[i]["history"][0]["text"] != comments[i]["text"]
    for i in delete:
        assert comments[i]["deleted"] and comments[i]["deleted_at"]
