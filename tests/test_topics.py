"""``tgx topics CHAT``: a forum's topics through the real CLI and Telethon, on the simulated
Telegram — paged past one answer, counted, checked against what an export of the same forum
holds, and the unhappy paths (not a forum, unknown chat)."""

from __future__ import annotations

import json
from collections import Counter

from tgxrun import read_jsonl, request_counts, tgx

TITLES = ["Announcements 📣", "Help & <Support>", "\u202eevil\u0000 title"]


def _topics(tmp_path, cfg, *args: str) -> list[dict]:
    r = tgx(tmp_path, "topics", *args, "--json", config=cfg)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_topics_list_every_topic_and_counts_match_the_export(tmp_path, sim_config):
    cfg = sim_config(chats=[{"kind": "forum", "username": "forum", "title": "Forum", "messages": 600,
                             "topics": TITLES}])
    topics = _topics(tmp_path, cfg, "@forum", "--counts")
    assert sorted(t["title"] for t in topics) == sorted(["General", *TITLES])
    assert len({t["id"] for t in topics}) == len(topics) and any(t["id"] == 1 for t in topics)
    assert all(set(t) == {"id", "title", "date", "icon_color", "icon_emoji_id", "closed", "pinned", "hidden",
                          "top_message_id", "messages", "icon_emoji"} for t in topics)

    r = tgx(tmp_path, "export", "@forum", "-o", "out", "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    messages = read_jsonl(tmp_path / "out" / "forum" / "messages.jsonl")
    exported = Counter(_topic_of(m) for m in messages)
    assert {t["id"]: t["messages"] for t in topics} == dict(exported)
    newest: dict[int, int] = {}
    for m in messages:
        newest[_topic_of(m)] = max(newest.get(_topic_of(m), 0), m["id"])
    assert {t["id"]: t["top_message_id"] for t in topics} == newest


def _topic_of(m: dict) -> int:
    """The topic a message of the export is in: General's messages carry no topic_id, and a
    topic's own topic_created message (no reply_to) carries none either: it opens topic m["id"]."""
    if m["topic_id"]:
        return m["topic_id"]
    action = m.get("action") or {}
    return m["id"] if action.get("type") == "topic_created" else 1


def test_topics_page_past_one_answer(tmp_path, sim_config):
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(request_log=str(log),
                     chats=[{"kind": "forum", "username": "bigforum", "messages": 3_000, "topics": 249}])
    topics = _topics(tmp_path, cfg, "@bigforum")
    assert len(topics) == 250 and len({t["id"] for t in topics}) == 250  # 249 + General, each once
    assert request_counts(log).get("GetForumTopicsRequest") == 3  # 100 a page
    assert "GetRepliesRequest" not in request_counts(log)  # counts only with --counts


def test_custom_emoji_icons_are_named_in_one_request(tmp_path, sim_config):
    """A topic whose icon is a custom emoji shows the emoji it stands for (the document's alt):
    one messages.GetCustomEmojiDocuments for all of them, in `tgx topics` and in topics.json."""
    from tgx.simulator.content import custom_emoji_alt

    log = tmp_path / "requests.jsonl"
    listed = [{"title": "Fire", "icon_emoji_id": 5_000_000_001}, {"title": "Books", "icon_emoji_id": 5_000_000_005},
              "Plain"]
    cfg = sim_config(request_log=str(log), chats=[{"kind": "forum", "username": "forum", "messages": 100,
                                                   "topics": listed}])
    topics = {t["title"]: t for t in _topics(tmp_path, cfg, "@forum")}
    assert topics["Fire"]["icon_emoji"] == custom_emoji_alt(5_000_000_001)
    assert topics["Books"]["icon_emoji"] == custom_emoji_alt(5_000_000_005) != topics["Fire"]["icon_emoji"]
    assert topics["Plain"]["icon_emoji"] is None and topics["General"]["icon_emoji"] is None
    assert request_counts(log).get("GetCustomEmojiDocumentsRequest") == 1
    r = tgx(tmp_path, "topics", "@forum", config=cfg)
    assert r.returncode == 0 and custom_emoji_alt(5_000_000_001) in r.stdout
    r = tgx(tmp_path, "export", "@forum", "-o", "out", "-q", "-f", "jsonl,html", config=cfg)
    assert r.returncode == 0, r.stderr
    saved = {t["title"]: t for t in json.loads((tmp_path / "out" / "forum" / "topics.json").read_text())}
    assert saved["Fire"]["icon_emoji"] == custom_emoji_alt(5_000_000_001)
    index = (tmp_path / "out" / "forum" / "topics" / "index.html").read_text()
    assert custom_emoji_alt(5_000_000_005) in index


def test_the_table_shows_titles_as_plain_text(tmp_path, sim_config):
    cfg = sim_config(chats=[{"kind": "forum", "username": "forum", "messages": 200, "topics": TITLES}])
    r = tgx(tmp_path, "topics", "@forum", config=cfg)
    assert r.returncode == 0, r.stderr
    assert "Help & <Support>" in r.stdout  # no markup eaten
    assert "\u202e" not in r.stdout and "\x00" not in r.stdout and "evil" in r.stdout


def test_not_a_forum_and_unknown_chats_are_one_line_errors(tmp_path, sim_config):
    cfg = sim_config(chats=[{"kind": "channel", "username": "news", "title": "News", "messages": 10}])
    r = tgx(tmp_path, "topics", "@news", config=cfg)
    assert r.returncode == 2 and "News is not a forum" in r.stderr and "Traceback" not in r.stderr
    r = tgx(tmp_path, "topics", "@nobody_here", config=cfg)
    assert r.returncode == 4 and "not found" in r.stderr and "Traceback" not in r.stderr
    r = tgx(tmp_path, "topics", config=cfg)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_export_archives_the_topics_and_a_rerun_shows_their_current_state(tmp_path, sim_config):
    """OUT/<forum>/topics.json (a contract): every topic seen, by id, in every format's run; a
    topic renamed and one closed since are shown as they are now; `tgx render` rewrites it offline;
    a channel gets none."""
    chats = [{"kind": "forum", "username": "forum", "title": "Forum", "messages": 400, "topics": TITLES},
             {"kind": "channel", "username": "news", "title": "News", "messages": 50}]
    cfg = sim_config(chats=chats)
    r = tgx(tmp_path, "export", "@forum", "@news", "-o", "out", "-f", "csv", "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    path = tmp_path / "out" / "forum" / "topics.json"
    first = json.loads(path.read_text())
    assert [t["id"] for t in first] == sorted(t["id"] for t in first)
    assert sorted(t["title"] for t in first) == sorted(["General", *TITLES])
    assert not (tmp_path / "out" / "news" / "topics.json").exists()

    renamed = [TITLES[0], {"title": "Help (answered)", "closed": True, "pinned": True}, TITLES[2]]
    cfg = sim_config(chats=[{**chats[0], "topics": renamed}, chats[1]])
    r = tgx(tmp_path, "export", "@forum", "-o", "out", "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    now = {t["id"]: t for t in json.loads(path.read_text())}
    help_id = next(t["id"] for t in first if t["title"] == TITLES[1])
    assert now[help_id]["title"] == "Help (answered)" and now[help_id]["closed"] and now[help_id]["pinned"]
    assert len(now) == len(first) and sum(t["closed"] for t in now.values()) == 1

    path.unlink()
    r = tgx(tmp_path, "render", "out", "-f", "jsonl", config=cfg)  # offline: from the archive
    assert r.returncode == 0, r.stderr
    assert {t["id"]: t for t in json.loads(path.read_text())} == now


def test_csv_names_each_messages_topic(tmp_path, sim_config):
    """CSV keeps one file with topic_id plus topic_title (General for messages without a topic)."""
    import csv

    cfg = sim_config(chats=[{"kind": "forum", "username": "forum", "messages": 300, "topics": TITLES},
                            {"kind": "channel", "username": "news", "messages": 20}])
    r = tgx(tmp_path, "export", "@forum", "@news", "-o", "out", "-f", "csv,jsonl", "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    titles = {t["id"]: t["title"] for t in json.loads((tmp_path / "out" / "forum" / "topics.json").read_text())}
    with open(tmp_path / "out" / "forum" / "messages.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 300
    for row in rows:
        assert row["topic_title"] == titles[int(row["topic_id"]) if row["topic_id"] else 1]
    assert {row["topic_title"] for row in rows} >= {"General", TITLES[0]}
    with open(tmp_path / "out" / "news" / "messages.csv", encoding="utf-8-sig", newline="") as fh:
        assert {row["topic_title"] for row in csv.DictReader(fh)} == {""}


# -- tgx export FORUM --topic ------------------------------------------------------------------
BIG_FORUM = {"kind": "forum", "username": "bigforum", "title": "Big forum", "messages": 8_000, "topics": 20,
             "media": False}


def _topic_ids(scenario: dict, topic_id: int) -> list[int]:
    from tgx.testing import SimulatedTelegram

    world = SimulatedTelegram.from_scenario({"chats": [scenario]})
    world.freeze()
    thread = world.chat(scenario["username"]).thread(topic_id)
    assert thread is not None
    return sorted(thread.id_at(rank) for rank in range(thread.count))


def test_topic_exports_only_that_topic_and_its_requests_grow_with_its_size(tmp_path, sim_config):
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(chats=[BIG_FORUM], request_log=str(log))
    topics = {t["title"]: t["id"] for t in _topics(tmp_path, cfg, "@bigforum")}
    log.unlink()
    r = tgx(tmp_path, "export", "@bigforum", "--topic", "topic 7", "--topic", "1", "-o", "out", "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    want = sorted(_topic_ids(BIG_FORUM, topics["Topic 7"]) + _topic_ids(BIG_FORUM, 1))
    lines = read_jsonl(tmp_path / "out" / "bigforum" / "messages.jsonl")
    assert [m["id"] for m in lines] == want  # exactly those topics, each message once
    assert {m["topic_id"] for m in lines} == {topics["Topic 7"], None}  # General carries no topic_id
    counts = request_counts(log)
    pages = -(-len(_topic_ids(BIG_FORUM, topics["Topic 7"])) // 100) + -(-len(_topic_ids(BIG_FORUM, 1)) // 100)
    assert "GetHistoryRequest" not in counts  # the forum's history is never walked
    assert pages <= counts["GetRepliesRequest"] <= 1.2 * pages + 1, counts

    log.unlink()  # a rerun asks each chosen topic for what is newer: one request each
    r = tgx(tmp_path, "export", "@bigforum", "--topic", str(topics["Topic 7"]), "--topic", "General", "-o", "out",
            "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    assert request_counts(log)["GetRepliesRequest"] == 2
    assert [m["id"] for m in read_jsonl(tmp_path / "out" / "bigforum" / "messages.jsonl")] == want


def test_topic_resumes_after_a_kill_and_grows_with_new_messages(tmp_path, sim_config):
    import signal
    import time

    from tgxrun import archived_count, tgx_popen

    cfg = sim_config(chats=[BIG_FORUM], latency_ms=20)
    proc = tgx_popen(tmp_path, "export", "@bigforum", "--topic", "General", "-o", "out", "--concurrency", "1",
                     config=cfg)
    deadline = time.monotonic() + 120
    while archived_count(tmp_path / "out") < 400:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    bigger = {**BIG_FORUM, "messages": 8_500}
    r = tgx(tmp_path, "export", "@bigforum", "--topic", "General", "-o", "out", "-q", config=sim_config(chats=[bigger]))
    assert r.returncode == 0, r.stderr
    assert [m["id"] for m in read_jsonl(tmp_path / "out" / "bigforum" / "messages.jsonl")] == _topic_ids(bigger, 1)


def test_topic_unhappy_paths_are_one_line_and_touch_nothing(tmp_path, sim_config):
    cfg = sim_config(chats=[{**BIG_FORUM, "messages": 300, "topics": ["Same", "Same", "Other"]},
                            {"kind": "channel", "username": "news", "messages": 20}])
    cases = [
        (("@bigforum", "--topic", "nope"), "--topic 'nope': bigforum has no such topic"),
        (("@bigforum", "--topic", "same"), "2 topics of bigforum have that title"),
        (("@news", "--topic", "1"), "news is not a forum: --topic applies to forums"),
        (("@bigforum", "@news", "--topic", "1"), "--topic needs exactly one CHAT"),
    ]
    for args, message in cases:
        r = tgx(tmp_path, "export", *args, "-o", "out", "-q", config=cfg)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert not (tmp_path / "out" / "bigforum" / "messages.jsonl").exists()
