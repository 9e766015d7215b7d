"""Accounts, end to end: the real ``tgx`` CLI and Telethon's real client against a simulated
Telegram that serves several accounts over one world (docs/testing.md, "Accounts").

What each test proves is in its docstring; requests are counted from the simulator's request
log (every line names the account that sent it), never timed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from collections import Counter
from pathlib import Path

import orjson
from tgx.errors import ExitCode
from tgx.telegram.peers import ResolveBudget
from tgx.testing import read_request_log
from tgxrun import tgx

PHONE = "+4915112345678"


def _channel(name: str, n: int = 600, **extra: object) -> dict:
    return {"kind": "channel", "username": name, "messages": n, "media": False, **extra}


def _private(title: str, chat_id: int, members: list[str], n: int = 400) -> dict:
    """A private supergroup (no username): only its members can read it."""
    return {"kind": "supergroup", "title": title, "id": chat_id, "messages": n, "media": False, "members": members}


def _accounts(*names: str, **extra: dict) -> list[dict]:
    return [{"name": n, "username": f"acct_{n}", **extra.get(n, {})} for n in names]


def _log(path: Path) -> list[dict]:
    return read_request_log(str(path)) if path.exists() else []


def _history_by_account(log: list[dict]) -> dict[int, set[str]]:
    """peer → the accounts whose GetHistory for it the server answered."""
    found: dict[int, set[str]] = {}
    for r in log:
        if r["type"] == "GetHistoryRequest" and r["error"] is None:
            found.setdefault(r["peer"], set()).add(r["account"])
    return found


def _rows(out: Path) -> list[tuple]:
    """Every archived row's key and dates (the records themselves are packed with each archive's
    own dictionary: the jsonl files compare their content)."""
    con = sqlite3.connect(out / ".tgx" / "archive.sqlite")
    try:
        return con.execute("SELECT chat_id, id, date, edit_date, deleted FROM messages "
                           "ORDER BY chat_id, id").fetchall()
    finally:
        con.close()


def _jsonl(out: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(out.glob("*/messages.jsonl"))}


def test_two_accounts_split_by_visibility_and_all_dialogs_is_the_union_each_chat_once(tmp_path, sim_config):
    """Each chat is exported once, by an account that can read it: a's private group by a, b's
    private channel by b, the public channels (in both dialog lists) by one of them — and the
    files are exactly what one account that sees everything exports."""
    log = tmp_path / "requests.jsonl"
    chats = [_channel("pub_one"), _channel("pub_two"), _private("a only", 1_800_000_001, ["a"]),
             {**_private("b only", 1_800_000_002, ["b"]), "kind": "channel"}]
    cfg = sim_config(accounts=_accounts("a", "b"), chats=chats, request_log=str(log))
    r = tgx(tmp_path, "export", "--all-dialogs", "--accounts", "a,b", "-o", "multi", "--json", "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    by = {c["id"]: c["account"] for c in result["chats"]}
    assert len(result["chats"]) == 4 == len(by)
    assert by[-1_001_800_000_001] == "a" and by[-1_001_800_000_002] == "b"
    history = _history_by_account(_log(log))
    assert history[-1_001_800_000_001] == {"a"} and history[-1_001_800_000_002] == {"b"}
    for peer in (c["id"] for c in result["chats"]):
        assert len(history[peer]) == 1, (peer, history[peer])  # fetched by one account, never both
    assert {a: s["chats"] for a, s in result["accounts"].items()} == {"a": 2, "b": 2}

    # the same world as seen by one account that is a member of everything
    everyone = sim_config(tmp_path / "one.toml", chats=[{k: v for k, v in c.items() if k != "members"}
                                                         for c in chats])
    r = tgx(tmp_path, "export", "--all-dialogs", "-o", "single", "-q", config=everyone)
    assert r.returncode == 0, r.stderr
    assert _jsonl(tmp_path / "multi") == _jsonl(tmp_path / "single")
    assert _rows(tmp_path / "multi") == _rows(tmp_path / "single")


def test_a_chat_no_account_can_read_is_one_line_and_exit_4(tmp_path, sim_config):
    """Named by id, a private group only the default account is in: neither a nor b can read it."""
    cfg = sim_config(accounts=_accounts("a", "b"),
                     chats=[_channel("pub_one"), _private("default only", 1_800_000_003, ["default"])])
    r = tgx(tmp_path, "export", "--accounts", "a,b", "-o", "out", "-q", "--", "@pub_one", "-1001800000003",
            config=cfg)
    assert r.returncode == ExitCode.NOT_FOUND, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("tgx: error:")]
    assert len(errors) == 1 and "-1001800000003" in errors[0], r.stderr
    ok = tgx(tmp_path, "export", "--account", "default", "-o", "out", "-q", "--", "-1001800000003", config=cfg)
    assert ok.returncode == 0, ok.stderr  # the member can


def test_four_accounts_a_long_flood_wait_moves_its_chats_nothing_lost_or_duplicated(tmp_path, sim_config):
    """Account a is told to wait an hour after its third GetHistory (> --max-flood-wait 10): the
    chat it was on and its queue move to b, c, d, which continue from the committed checkpoint.
    The archive and every file equal a one-account export of the same world without the fault."""
    log = tmp_path / "requests.jsonl"
    chats = [_channel(f"chan_{i}", 700 + 50 * i) for i in range(8)]
    flood = {"type": "flood_wait", "account": "a", "request": "GetHistoryRequest", "seconds": 3600, "after": 3,
             "times": 0}
    cfg = sim_config(accounts=_accounts("a", "b", "c", "d"), chats=chats, faults=[flood], request_log=str(log))
    names = [f"@chan_{i}" for i in range(8)]
    r = tgx(tmp_path, "export", *names, "--accounts", "a,b,c,d", "--max-flood-wait", "10", "--concurrency", "2",
            "-o", "multi", "--json", "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    a = result["accounts"]["a"]
    assert a["stopped_by_flood_wait"] and a["moved_out"] >= 1 and a["chats"] == 0
    assert "must wait 3600 s" in r.stderr and "move to the other accounts" in r.stderr
    assert sum(s["chats"] for s in result["accounts"].values()) == 8
    assert {c["account"] for c in result["chats"]} <= {"b", "c", "d"}
    history = _history_by_account(_log(log))
    moved = [peer for peer, who in history.items() if "a" in who]
    assert moved and all(len(history[p]) == 2 for p in moved)  # begun by a, finished by another

    single = sim_config(tmp_path / "one.toml", chats=chats)
    r = tgx(tmp_path, "export", *names, "-o", "single", "-q", config=single)
    assert r.returncode == 0, r.stderr
    assert _jsonl(tmp_path / "multi") == _jsonl(tmp_path / "single")
    assert _rows(tmp_path / "multi") == _rows(tmp_path / "single")
    report = orjson.loads((tmp_path / "multi" / "export_metrics.json").read_bytes())
    assert report["accounts"]["a"]["flood_waits"] >= 1 and report["accounts"]["b"]["requests"] > 0


def test_a_flood_wait_on_a_chat_only_that_account_reads_stops_resumably(tmp_path, sim_config):
    """a's private group cannot move: exit 6, committed pages kept; the rerun without the fault
    completes it identically to an uninterrupted export."""
    chats = [_channel("pub_one"), _private("a only", 1_800_000_001, ["a"], n=1500)]
    flood = {"type": "flood_wait", "account": "a", "request": "GetHistoryRequest", "seconds": 3600, "after": 4,
             "times": 0}
    args = ["--all-dialogs", "--accounts", "a,b", "--max-flood-wait", "10", "--concurrency", "2", "-q"]
    cfg = sim_config(accounts=_accounts("a", "b"), chats=chats, faults=[flood])
    r = tgx(tmp_path, "export", *args, "-o", "out", config=cfg)
    assert r.returncode == ExitCode.NETWORK, r.stderr
    assert "progress is saved" in r.stderr
    clean = sim_config(tmp_path / "clean.toml", accounts=_accounts("a", "b"), chats=chats)
    assert tgx(tmp_path, "export", *args, "-o", "out", config=clean).returncode == 0
    assert tgx(tmp_path, "export", *args, "-o", "fresh", config=clean).returncode == 0
    assert _jsonl(tmp_path / "out") == _jsonl(tmp_path / "fresh")
    assert _rows(tmp_path / "out") == _rows(tmp_path / "fresh")


def test_username_lookups_per_account_never_exceed_the_budget(tmp_path, sim_config):
    """resolve_per_minute = 2 and six usernames over three accounts: the look-ups spread, no
    account sends more than two ResolveUsername (none is fired into a wait), every chat exported;
    a second run answers from each account's peer cache: no look-up at all."""
    log = tmp_path / "requests.jsonl"
    chats = [_channel(f"chan_{i}", 150) for i in range(6)]
    cfg = sim_config(accounts=_accounts("a", "b", "c"), chats=chats, request_log=str(log),
                     extra={"accounts": {"resolve_per_minute": 2}})
    names = [f"@chan_{i}" for i in range(6)]
    r = tgx(tmp_path, "export", *names, "--accounts", "a,b,c", "-o", "out", "--json", "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    lookups = Counter(x["account"] for x in _log(log) if x["type"] == "ResolveUsernameRequest")
    assert sum(lookups.values()) == 6 and max(lookups.values()) <= 2, lookups
    assert len(json.loads(r.stdout)["chats"]) == 6
    log.unlink()
    r = tgx(tmp_path, "export", *names, "--accounts", "a,b,c", "-o", "out", "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    assert not [x for x in _log(log) if x["type"] == "ResolveUsernameRequest"]


def test_resolve_budget_defers_beyond_the_budget_and_never_exceeds_it():
    """The budget itself, on a fake clock: the third look-up of a 2-per-minute budget waits for
    the first to leave the window — counted from its *answer*, since Telegram counts it when it
    arrives, somewhere between send and answer; no 60 s window ever holds more than two, even
    with answers taking 5 s and look-ups sent concurrently."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        await asyncio.sleep(0)

    budget = ResolveBudget(2, clock=lambda: now[0], sleep=sleep)

    async def main() -> list[tuple[float, float]]:
        spans = []  # (sent, answered) of each look-up
        for _ in range(5):
            async with budget.lookup():
                sent = now[0]
                now[0] += 5  # the round trip
            spans.append((sent, now[0]))
            now[0] += 1
        return spans

    spans = asyncio.run(main())
    assert [s for s, _a in spans] == [0.0, 6.0, 65.0, 71.0, 130.0]
    assert budget.deferred == 2 and budget.in_flight == 0
    # wherever in (sent, answered) the server saw each one, no 60 s held more than two:
    for i, (_s, answered) in enumerate(spans):
        assert all(sent >= answered + 60 for sent, _a in spans[i + 2:])

    async def concurrent() -> list[float]:
        budget = ResolveBudget(3, clock=lambda: now[0], sleep=sleep)
        sent: list[float] = []

        async def one() -> None:
            async with budget.lookup():
                sent.append(now[0])
                await sleep(2)

        now[0] = 0.0
        await asyncio.gather(*(one() for _ in range(7)))
        return sent

    sent = asyncio.run(concurrent())
    assert len(sent) == 7 and sorted(sent) == sent
    assert all(later - first >= 60 for first, later in zip(sent, sent[3:], strict=False))


def test_accounts_listing_logout_and_an_old_single_session_data_dir(tmp_path, sim_config):
    """An old data dir (``sessions/tgx.session``, no account flags) still works as ``default``;
    ``tgx accounts --json`` lists offline what login/--check cached — the phone masked, the
    file 0600 — and ``tgx logout`` sends auth.LogOut, deletes the session, and is refused
    cleanly (exit 5) for an account that is not logged in."""
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(session_files=True, request_log=str(log),
                     accounts=_accounts("work", work={"premium": True, "phone": PHONE}),
                     chats=[_channel("pub_one", 50)])
    sessions = tmp_path / "data" / "sessions"
    # fresh data dir: nothing logged in, listing works offline
    r = tgx(tmp_path, "accounts", "--json", config=cfg)
    assert r.returncode == 0, r.stderr
    assert [(a["name"], a["exists"]) for a in json.loads(r.stdout)] == [("default", False)]
    assert not log.exists()  # offline: not one request

    # an old single-session data dir: tgx.session made by an earlier tgx, used as `default`
    r = tgx(tmp_path, "chats", config=cfg)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in sessions.glob("*.session")) == ["tgx.session"]
    assert stat.S_IMODE((sessions / "tgx.session").stat().st_mode) == 0o600
    r = tgx(tmp_path, "chats", config=cfg)  # again, reading the file left by the first
    assert r.returncode == 0 and "pub_one" in r.stdout, r.stderr

    assert tgx(tmp_path, "chats", "--account", "work", config=cfg).returncode == 0
    r = tgx(tmp_path, "accounts", "--check", "--json", config=cfg)
    assert r.returncode == 0, r.stderr
    rows = {a["name"]: a for a in json.loads(r.stdout)}
    work = rows["work"]
    assert work["logged_in"] and work["mode"] == "0600" and work["private"] and work["premium"] is True
    assert work["username"] == "acct_work" and work["user_id"] and work["last_used"]
    assert work["phone"] == "+49•••••••••78"
    assert rows["default"]["session_file"].endswith("sessions/tgx.session")
    listing = tgx(tmp_path, "accounts", config=cfg)
    for out in (r.stdout, listing.stdout, listing.stderr):
        assert PHONE not in out and PHONE[1:] not in out
    assert stat.S_IMODE((sessions / "work.json").stat().st_mode) == 0o600
    assert PHONE[1:] not in (sessions / "work.json").read_text()

    log.unlink()
    r = tgx(tmp_path, "logout", "--account", "work", config=cfg)
    assert r.returncode == 0, r.stderr
    assert [x["account"] for x in _log(log) if x["type"] == "LogOutRequest"] == ["work"]
    assert not (sessions / "work.session").exists() and not (sessions / "work.json").exists()
    again = tgx(tmp_path, "logout", "--account", "work", config=cfg)
    assert again.returncode == ExitCode.AUTH and "not logged in" in again.stderr
    assert len(again.stderr.strip().splitlines()) <= 2  # one line (and its hint)
    assert (sessions / "tgx.session").exists()  # the other account is untouched


def test_logout_of_a_session_telegram_no_longer_accepts_is_refused(tmp_path, sim_config):
    """A session file whose login ended elsewhere: refused with exit 5, nothing deleted."""
    cfg = sim_config(session_files=True, accounts=_accounts("old", old={"logged_in": False}))
    sessions = tmp_path / "data" / "sessions"
    assert tgx(tmp_path, "chats", "--account", "old", config=cfg).returncode == ExitCode.AUTH
    assert (sessions / "old.session").exists()
    r = tgx(tmp_path, "logout", "--account", "old", config=cfg)
    assert r.returncode == ExitCode.AUTH and "not logged in at Telegram" in r.stderr, r.stderr
    assert (sessions / "old.session").exists()


def test_doctor_checks_every_account(tmp_path, sim_config):
    """``[accounts] use = [a, b]``: doctor names a check per account, and --online connects each
    (b is logged out at Telegram: its check fails, exit 1)."""
    cfg = sim_config(accounts=_accounts("a", "b", b={"logged_in": False}),
                     extra={"accounts": {"use": ["a", "b"]}})
    r = tgx(tmp_path, "doctor", "--online", "--json", config=cfg)
    assert r.returncode == ExitCode.FAILURE, r.stderr
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["telegram [a]"]["status"] == "ok" and checks["telegram [b]"]["status"] == "ok"
    assert checks["online [a]"]["status"] == "ok" and "@acct_a" in checks["online [a]"]["detail"]
    assert checks["online [b]"]["status"] == "fail"


def test_export_uses_accounts_use_from_the_config_and_bad_names_are_usage_errors(tmp_path, sim_config):
    cfg = sim_config(accounts=_accounts("a", "b"), chats=[_channel("pub_one", 100), _channel("pub_two", 100)],
                     extra={"accounts": {"use": ["a", "b"]}})
    r = tgx(tmp_path, "export", "@pub_one", "@pub_two", "-o", "out", "--json", "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)["accounts"]) == {"a", "b"}
    bad = tgx(tmp_path, "export", "@pub_one", "--accounts", "a,../x", "-o", "out", config=cfg)
    assert bad.returncode == ExitCode.USAGE and "not a plain name" in bad.stderr
    both = tgx(tmp_path, "export", "@pub_one", "--account", "a", "--accounts", "a,b", "-o", "out", config=cfg)
    assert both.returncode == ExitCode.USAGE
    unknown = tgx(tmp_path, "export", "@pub_one", "--accounts", "a,zed", "-o", "out", config=cfg)
    assert unknown.returncode == ExitCode.AUTH and "zed" in unknown.stderr


def test_watch_with_two_accounts_follows_each_chat_through_the_account_that_exported_it(tmp_path, sim_config):
    """``tgx watch --accounts a,b``: one watcher per account, on the chats it exported, through its
    own client — posts into a's private group, b's private channel and a public channel while
    watched all reach the archive (each catch-up sent by the chat's own account), the files are
    refreshed, SIGTERM exits 0."""
    from test_watch_e2e import _archive, _watch

    log = tmp_path / "requests.jsonl"
    a_only, b_only = -1_001_800_000_011, -1_001_800_000_012
    chats = [_channel("pub_w", 300), _private("a group", 1_800_000_011, ["a"], 300),
             {**_private("b channel", 1_800_000_012, ["b"], 300), "kind": "channel"}]
    steps = [{"at": 4.0 + 0.5 * k, "chat": chat, "post": 7} for k, chat in enumerate(("pub_w", a_only, b_only))]
    cfg = sim_config(accounts=_accounts("a", "b"), chats=chats, timeline=steps, request_log=str(log))

    def done(out, _err) -> bool:
        return _archive(out, "SELECT count(*) FROM messages") >= 3 * 307 and (out / "pub_w" / "messages.jsonl").exists()

    w = _watch(tmp_path, cfg, "--all-dialogs", "--accounts", "a,b", "-o", "out", "-f", "jsonl",
               "--render-interval", "1", "--poll", "60", until=done)
    assert w.returncode == 0, w.stderr
    con = sqlite3.connect(tmp_path / "out" / ".tgx" / "archive.sqlite")
    counts = dict(con.execute("SELECT chat_id, count(*) FROM messages GROUP BY chat_id").fetchall())
    con.close()
    assert counts[a_only] == counts[b_only] == 307 and sorted(counts.values()) == [307, 307, 307]
    for folder in ("pub_w", str(a_only), str(b_only)):
        lines = (tmp_path / "out" / folder / "messages.jsonl").read_bytes().count(b"\n")
        assert lines == 307, folder  # refreshed with the posts, not only archived
    catch_ups: dict[int, set[str]] = {}
    for r in _log(log):
        if r["type"] == "GetChannelDifferenceRequest" and r["error"] is None:
            catch_ups.setdefault(r["peer"], set()).add(r["account"])
    assert catch_ups[b_only] == {"b"}  # only b can read it: its watcher asked, through b's client
    assert catch_ups[a_only] == {"a"}


def test_comments_with_several_accounts_come_through_the_account_that_exported_the_channel(tmp_path, sim_config):
    """``--comments --accounts a,b``: each channel's comments are fetched by the account that
    exported it, with its own client and input peers (access hashes are per account): b's
    private channel's discussion group is read by b only, every comment of both channels once
    with its post — the same comments files one account that reads both writes."""
    from tgx.testing import SimulatedTelegram

    comments = {"commented": 40, "most": 30}
    private = {"kind": "channel", "title": "B news", "id": 1_800_000_007, "messages": 200, "media": False,
               "members": ["b"], "comments": comments}
    chats = [_channel("pub_news", 200, comments=comments), private]
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(accounts=_accounts("a", "b"), chats=chats, request_log=str(log))
    r = tgx(tmp_path, "export", "--comments", "--accounts", "a,b", "-o", "multi", "-f", "jsonl", "--json", "-q",
            "--", "@pub_news", "-1001800000007", config=cfg)
    assert r.returncode == 0, r.stderr
    by = {c["id"]: c["account"] for c in json.loads(r.stdout)["chats"]}
    assert by[-1_001_800_000_007] == "b"
    world = SimulatedTelegram.from_scenario({"accounts": _accounts("a", "b"), "chats": chats})
    world.freeze()
    for folder, key in (("pub_news", "pub_news"), ("-1001800000007", -1_001_800_000_007)):
        lines = [orjson.loads(line) for line in (tmp_path / "multi" / folder / "comments.jsonl").read_bytes()
                 .splitlines()]
        expected = list(world.expected_comments(key))
        assert [(c["post_id"], c["id"]) for c in lines] == expected and expected
    group = world.chat(-1_001_800_000_007).linked
    group_id = world.chats[group].marked_id if isinstance(group, int) else group.marked_id
    readers = {r["account"] for r in _log(log) if r.get("peer") == group_id and r["error"] is None}
    assert readers == {"b"}
    for flag in ("--takeout", "--topic=1"):  # one account's session / one forum: refused in one line
        r = tgx(tmp_path, "export", "@pub_news", flag, "--accounts", "a,b", "-o", "other", config=cfg)
        assert r.returncode == ExitCode.USAGE and "not with --accounts" in r.stderr
        assert "Traceback" not in r.stderr and not (tmp_path / "other").exists()
