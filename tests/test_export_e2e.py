"""End-to-end: the real ``tgx`` CLI and the real Telethon client against the simulated Telegram."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import pytest
from tgx.errors import ExitCode
from tgx.testing import SimulatedTelegram
from tgxrun import archived_count, read_jsonl, request_counts, tgx, tgx_popen

CHANNEL = {"kind": "channel", "username": "bigchannel", "title": "Big channel", "messages": 10_000, "media": False}


def _channel_world(n: int = 10_000) -> SimulatedTelegram:
    return SimulatedTelegram.from_scenario({"chats": [{**CHANNEL, "messages": n}]})


def test_export_10k_every_message_once_in_order_and_kill_resume_is_identical(tmp_path, sim_config):
    cfg = sim_config(chats=[CHANNEL])
    first = tgx(tmp_path, "export", "@bigchannel", "--out", "full", "--format", "jsonl", config=cfg)
    assert first.returncode == 0, first.stderr
    lines = read_jsonl(tmp_path / "full" / "bigchannel" / "messages.jsonl")
    expected = list(_channel_world().expected_ids("bigchannel"))
    assert [m["id"] for m in lines] == expected  # every id, once, ascending
    assert len(expected) == 10_000
    for key in ("id", "chat_id", "date", "edit_date", "sender_id", "text", "entities", "reply_to_id",
                "forward", "media", "action", "reactions", "views", "grouped_id", "topic_id"):
        assert key in lines[0]

    # A second export, SIGKILLed midway (latency makes "midway" reachable), then rerun.
    slow = sim_config(tmp_path / "slow.toml", chats=[CHANNEL], latency_ms=15)
    proc = tgx_popen(tmp_path, "export", "@bigchannel", "--out", "killed", "--format", "jsonl", "--concurrency", "2",
                     config=slow)
    deadline = time.monotonic() + 120
    while archived_count(tmp_path / "killed") < 3_000:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = archived_count(tmp_path / "killed")
    assert 3_000 <= partial < 10_000
    assert not (tmp_path / "killed" / "bigchannel" / "messages.jsonl").exists()

    rerun = tgx(tmp_path, "export", "@bigchannel", "--out", "killed", "--format", "jsonl", config=cfg)
    assert rerun.returncode == 0, rerun.stderr
    assert (tmp_path / "killed" / "bigchannel" / "messages.jsonl").read_bytes() == \
        (tmp_path / "full" / "bigchannel" / "messages.jsonl").read_bytes()


def test_rerun_fetches_only_new_messages(tmp_path, sim_config):
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(chats=[{**CHANNEL, "messages": 1_000}], request_log=str(log))
    assert tgx(tmp_path, "export", "@bigchannel", "-o", "out", config=cfg).returncode == 0
    first = request_counts(log).get("GetHistoryRequest", 0)
    assert first >= 10
    log.unlink()
    grown = sim_config(chats=[{**CHANNEL, "messages": 1_150}], request_log=str(log))
    result = tgx(tmp_path, "export", "@bigchannel", "-o", "out", config=grown)
    assert result.returncode == 0, result.stderr
    assert request_counts(log).get("GetHistoryRequest", 0) <= 3  # 150 new: two pages, not eleven
    ids = [m["id"] for m in read_jsonl(tmp_path / "out" / "bigchannel" / "messages.jsonl")]
    assert ids == list(_channel_world(1_150).expected_ids("bigchannel"))


def test_limit_since_until(tmp_path, sim_config):
    cfg = sim_config(chats=[{**CHANNEL, "messages": 600}])
    world = _channel_world(600)
    ids = list(world.expected_ids("bigchannel"))
    dates = {i: world.tl_message("bigchannel", i).date for i in ids}

    r = tgx(tmp_path, "export", "@bigchannel", "-o", "lim", "--limit", "150", config=cfg)
    assert r.returncode == 0, r.stderr
    assert [m["id"] for m in read_jsonl(tmp_path / "lim" / "bigchannel" / "messages.jsonl")] == ids[-150:]

    since, until = dates[ids[100]], dates[ids[299]]
    r = tgx(tmp_path, "export", "@bigchannel", "-o", "win", "--since", since.isoformat(), "--until", until.isoformat(),
            config=cfg)
    assert r.returncode == 0, r.stderr
    got = [m["id"] for m in read_jsonl(tmp_path / "win" / "bigchannel" / "messages.jsonl")]
    assert got == [i for i in ids if since <= dates[i] <= until]

    # A later run without filters completes the same archive: nothing duplicated, nothing missing.
    r = tgx(tmp_path, "export", "@bigchannel", "-o", "win", config=cfg)
    assert r.returncode == 0, r.stderr
    assert [m["id"] for m in read_jsonl(tmp_path / "win" / "bigchannel" / "messages.jsonl")] == ids


def test_every_chat_kind_exports(tmp_path, sim_config):
    cfg = sim_config(messages=300)
    r = tgx(tmp_path, "--config", str(cfg), "export", "@tgx_demo", "@tgx_forum", "alice", "me", "-o", "out",
            "--json", config=cfg)
    assert r.returncode == 0, r.stderr
    import json

    result = json.loads(r.stdout)
    assert {c["folder"].rsplit("/", 1)[-1] for c in result["chats"]} >= {"tgx_demo", "tgx_forum", "alice"}
    world = SimulatedTelegram.from_scenario({"messages": 300})
    for chat in ("tgx_demo", "tgx_forum", "alice"):
        got = [m["id"] for m in read_jsonl(tmp_path / "out" / chat / "messages.jsonl")]
        assert got == list(world.expected_ids(chat)), chat


def test_archive_is_private(tmp_path, sim_config):
    cfg = sim_config(chats=[{**CHANNEL, "messages": 50}])
    assert tgx(tmp_path, "export", "@bigchannel", "-o", "out", config=cfg).returncode == 0
    state = tmp_path / "out" / ".tgx"
    assert state.stat().st_mode & 0o777 == 0o700
    assert (state / "archive.sqlite").stat().st_mode & 0o777 == 0o600


# -- bad input: one line, a meaningful exit code, nothing exported touched --------------------------


def _one_error_line(result) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("tgx: error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


@pytest.mark.parametrize(("chat", "code", "words"), [
    ("@nosuchchannel", ExitCode.NOT_FOUND, "not found"),
    ("https://t.me/+AbCdEf", ExitCode.USAGE, "invite"),
    ("not a chat!", ExitCode.USAGE, "not a chat!"),
])
def test_bad_chat(tmp_path, sim_config, chat, code, words):
    cfg = sim_config(chats=[{**CHANNEL, "messages": 50}])
    assert tgx(tmp_path, "export", "@bigchannel", "-o", "out", config=cfg).returncode == 0
    before = (tmp_path / "out" / "bigchannel" / "messages.jsonl").read_bytes()
    r = tgx(tmp_path, "export", chat, "-o", "out", config=cfg)
    assert r.returncode == code, r.stderr
    assert words in _one_error_line(r).lower()
    assert (tmp_path / "out" / "bigchannel" / "messages.jsonl").read_bytes() == before


def test_unknown_format_and_bad_flags(tmp_path, sim_config):
    cfg = sim_config(chats=[{**CHANNEL, "messages": 50}])
    r = tgx(tmp_path, "export", "@bigchannel", "-o", "out", "--format", "jsonl,pdf", config=cfg)
    assert r.returncode == ExitCode.USAGE
    assert "pdf" in _one_error_line(r)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    r = tgx(tmp_path, "export", "@bigchannel", "--since", "yesterday", config=cfg)
    assert r.returncode == ExitCode.USAGE and "yesterday" in _one_error_line(r)
    r = tgx(tmp_path, "export", "@bigchannel", "--no-such-flag", config=cfg)
    assert r.returncode == ExitCode.USAGE and "--no-such-flag" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_output_not_writable_as_user(tmp_path, sim_config):
    cfg = sim_config(chats=[{**CHANNEL, "messages": 50}])
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    r = tgx(tmp_path, "export", "@bigchannel", "-o", str(locked / "out"), config=cfg)
    assert r.returncode == ExitCode.OUTPUT


def test_output_not_a_directory(tmp_path, sim_config):
    cfg = sim_config(chats=[{**CHANNEL, "messages": 50}])
    (tmp_path / "file").write_text("x")
    r = tgx(tmp_path, "export", "@bigchannel", "-o", str(tmp_path / "file"), config=cfg)
    assert r.returncode == ExitCode.OUTPUT
    assert "not a directory" in _one_error_line(r)
    r = tgx(tmp_path, "export", "@bigchannel", "-o", str(tmp_path / "file" / "sub"), config=cfg)
    assert r.returncode == ExitCode.OUTPUT
    assert "cannot create" in _one_error_line(r)
    assert (tmp_path / "file").read_text() == "x"


def test_no_credentials_with_real_telegram(tmp_path):
    r = tgx(tmp_path, "export", "@durov", "-o", "out", TGX_API_HASH="")
    assert r.returncode == ExitCode.AUTH
    assert "TGX_API_ID" in _one_error_line(r)


def test_unreadable_config(tmp_path):
    bad = tmp_path / "tgx.toml"
    bad.write_text("[simulated\nmessages = 3\n")
    r = tgx(tmp_path, "export", "@bigchannel", config=bad)
    assert r.returncode == ExitCode.CONFIG
    assert "tgx.toml" in _one_error_line(r)


def test_unknown_plugin_name(tmp_path, sim_config):
    r = tgx(tmp_path, "-p", "no:nosuchplugin", "export", "@bigchannel", config=sim_config())
    assert r.returncode == ExitCode.CONFIG
    assert "nosuchplugin" in _one_error_line(r)


def test_render_offline_matches_export(tmp_path, sim_config):
    cfg = sim_config(chats=[{**CHANNEL, "messages": 300}])
    assert tgx(tmp_path, "export", "@bigchannel", "-o", "out", config=cfg).returncode == 0
    exported = (tmp_path / "out" / "bigchannel" / "messages.jsonl").read_bytes()
    (tmp_path / "out" / "bigchannel" / "messages.jsonl").unlink()
    r = tgx(tmp_path, "render", "out", "--format", "jsonl")  # no [simulated], no network
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "bigchannel" / "messages.jsonl").read_bytes() == exported
    r = tgx(tmp_path, "render", "out", "--format", "jsonl", "--chat", "@BigChannel")  # usernames ignore case
    assert r.returncode == 0, r.stderr
    r = tgx(tmp_path, "render", "out", "--format", "jsonl", "--chat", "@elsewhere")
    assert r.returncode == ExitCode.USAGE and "bigchannel" in r.stderr
    r = tgx(tmp_path, "render", "nowhere", "--format", "jsonl")
    assert r.returncode == ExitCode.OUTPUT


def test_demo(tmp_path):
    r = tgx(tmp_path, "demo", "--out", "demo", "--messages", "200", "--quiet")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "demo" / "tgx_demo" / "messages.jsonl").exists()
    assert str((tmp_path / "demo").resolve()) in r.stderr


def test_archive_rows_match_jsonl(tmp_path, sim_config):
    cfg = sim_config(chats=[{**CHANNEL, "messages": 200}])
    assert tgx(tmp_path, "export", "@bigchannel", "-o", "out", config=cfg).returncode == 0
    con = sqlite3.connect(tmp_path / "out" / ".tgx" / "archive.sqlite")
    assert con.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 200


def test_plugin_options_from_config_and_cli(tmp_path, sim_config):
    """A format option: tgx.toml's plugin table applies unless the flag is given."""
    cfg = sim_config(chats=[{**CHANNEL, "messages": 30}], extra={"csv": {"csv-bom": "off"}})
    assert tgx(tmp_path, "export", "@bigchannel", "-o", "a", "-f", "csv", config=cfg).returncode == 0
    assert not (tmp_path / "a" / "bigchannel" / "messages.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    r = tgx(tmp_path, "export", "@bigchannel", "-o", "b", "-f", "csv", "--csv-bom", "on", config=cfg)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "b" / "bigchannel" / "messages.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    r = tgx(tmp_path, "export", "@bigchannel", "-o", "c", "-f", "csv", "--csv-bom", "maybe", config=cfg)
    assert r.returncode == ExitCode.USAGE and "maybe" in r.stderr
