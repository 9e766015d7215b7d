"""``tgx export CHANNEL --comments`` end to end: the real CLI and Telethon against the simulated
Telegram — a readable discussion group fetched as a chat, a private one read post by post
through GetReplies; every comment once with its post, costs that grow with the comments, kill and
resume, reruns that fetch only new comments."""

from __future__ import annotations

import signal
import time

import pytest
from tgx.testing import SimulatedTelegram
from tgxrun import archived_count, read_jsonl, tgx, tgx_popen

POSTS = {"kind": "channel", "username": "news", "title": "News", "messages": 1_000, "media": False}


def channel(private: bool = False, **comments) -> dict:
    return {**POSTS, "comments": {"commented": 300, "most": 200, "private": private, **comments}}


def world(*chats: dict) -> SimulatedTelegram:
    w = SimulatedTelegram.from_scenario({"chats": list(chats)})
    w.freeze()
    return w


def comments_of(out, name: str = "news") -> list[dict]:
    return read_jsonl(out / name / "comments.jsonl")


def requests(log, kind: str, **params) -> list[dict]:
    from tgx.testing import read_request_log

    if not log.exists():
        return []
    return [r for r in read_request_log(str(log)) if r["type"] == kind
            and all(r.get(k) == v for k, v in params.items())]


@pytest.fixture(scope="module")
def expected() -> list[tuple[int, int]]:
    return list(world(channel()).expected_comments("news"))


def test_comments_of_a_readable_group_every_comment_once_with_its_post(tmp_path, sim_config, expected):
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(chats=[channel()], request_log=str(log))
    r = tgx(tmp_path, "export", "@news", "--comments", "-o", "out", "-f", "jsonl", config=cfg)
    assert r.returncode == 0, r.stderr
    w = world(channel())
    group = w.discussion_of("news")
    lines = comments_of(tmp_path / "out")
    assert [(c["post_id"], c["id"]) for c in lines] == expected  # each once, ascending (post_id, id)
    assert len(expected) == w.comment_total("news") and len({p for p, _ in expected}) > 250
    messages = read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")
    assert set(lines[0]) == set(messages[0]) | {"post_id"}  # every key of messages.jsonl, plus post_id
    assert {c["chat_id"] for c in lines} == {group.marked_id}
    replies = [c for c in lines if c["reply_to_top_id"] is not None]
    assert replies and all(c["reply_to_id"] != c["reply_to_top_id"] for c in replies)  # answering a comment
    # the group is a chat of its own, in its own folder
    assert len(read_jsonl(tmp_path / "out" / str(group.marked_id) / "messages.jsonl")) == len(w.expected_ids(group.key))
    # the cost: the group's pages, not a request per post
    history = requests(log, "GetHistoryRequest")
    group_pages = len(w.expected_ids(group.key)) / 100
    assert len(history) <= 1.3 * (group_pages + 10) + 10
    assert len(history) < len({p for p, _ in expected})  # fewer than one request per commented post
    assert not requests(log, "GetRepliesRequest")


def test_a_channel_without_a_discussion_group_costs_one_request(tmp_path, sim_config):
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(chats=[POSTS], request_log=str(log))
    r = tgx(tmp_path, "export", "@news", "--comments", "-o", "out", config=cfg)
    assert r.returncode == 0, r.stderr
    assert "news: has no discussion group" in r.stderr
    assert len(requests(log, "GetFullChannelRequest")) == 1 and not requests(log, "GetRepliesRequest")
    assert not (tmp_path / "out" / "news" / "comments.jsonl").exists()


def test_killed_mid_comments_then_resumed_is_identical_and_reruns_fetch_only_new_comments(
        tmp_path, sim_config, expected):
    slow = sim_config(tmp_path / "slow.toml", chats=[channel()], latency_ms=15)
    proc = tgx_popen(tmp_path, "export", "@news", "--comments", "-o", "out", "--concurrency", "2", config=slow)
    deadline = time.monotonic() + 180
    while archived_count(tmp_path / "out") < 1_000 + len(expected) // 3:  # the posts, then a third of the group
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cfg = sim_config(chats=[channel()])
    r = tgx(tmp_path, "export", "@news", "--comments", "-o", "out", config=cfg)
    assert r.returncode == 0, r.stderr
    assert [(c["post_id"], c["id"]) for c in comments_of(tmp_path / "out")] == expected

    # later: 10 new posts, new comments on two old posts
    log = tmp_path / "rerun.jsonl"
    grown = {**channel(later=[[12, 5], [600, 3]]), "messages": 1_010}
    r = tgx(tmp_path, "export", "@news", "--comments", "-o", "out",
            config=sim_config(chats=[grown], request_log=str(log)))
    assert r.returncode == 0, r.stderr
    now = list(world(grown).expected_comments("news"))
    assert [(c["post_id"], c["id"]) for c in comments_of(tmp_path / "out")] == now
    new = len(now) - len(expected)
    assert new >= 8
    assert len(requests(log, "GetHistoryRequest")) <= 2 + (new + 10) // 100 + 2  # only the new ids


def test_a_private_group_is_read_post_by_post_only_where_comments_are(tmp_path, sim_config, expected):
    log = tmp_path / "requests.jsonl"
    private = channel(private=True)
    cfg = sim_config(chats=[private], request_log=str(log))
    r = tgx(tmp_path, "export", "@news", "--comments", "-o", "out", config=cfg)
    assert r.returncode == 0, r.stderr
    w = world(private)
    assert list(w.expected_comments("news")) == expected
    assert [(c["post_id"], c["id"]) for c in comments_of(tmp_path / "out")] == expected
    asked = requests(log, "GetRepliesRequest")
    commented = {p for p, _ in expected}
    assert {r["msg_id"] for r in asked} == commented  # only the posts with comments
    pages = sum(-(-len(w.comments_of("news", p)) // 100) for p in commented)
    assert len(asked) <= pages + len(commented) // 10 + 2
    group = w.discussion_of("news")
    assert not [q for q in requests(log, "GetHistoryRequest") if q.get("peer") == group.marked_id]

    # a rerun asks nothing: no post says it has more comments than were fetched
    log.unlink()
    r = tgx(tmp_path, "export", "@news", "--comments", "-o", "out", config=cfg)
    assert r.returncode == 0, r.stderr
    assert not requests(log, "GetRepliesRequest")

    # new comments on old posts are seen by the posts re-read with --refresh-edits: only those are asked
    later = channel(private=True, later=[[12, 5], [600, 3]])
    log.unlink()
    r = tgx(tmp_path, "export", "@news", "--comments", "--refresh-edits", "100000", "-o", "out",
            config=sim_config(chats=[later], request_log=str(log)))
    assert r.returncode == 0, r.stderr
    assert {q["msg_id"] for q in requests(log, "GetRepliesRequest")} == {12, 600}
    assert [(c["post_id"], c["id"]) for c in comments_of(tmp_path / "out")] == \
        list(world(later).expected_comments("news"))


def test_a_private_group_killed_mid_threads_resumes_to_the_same_comments(tmp_path, sim_config, expected):
    slow = sim_config(tmp_path / "slow.toml", chats=[channel(private=True)], latency_ms=15)
    proc = tgx_popen(tmp_path, "export", "@news", "--comments", "-o", "out", "--concurrency", "2", config=slow)
    deadline = time.monotonic() + 180
    while archived_count(tmp_path / "out") < 1_000 + len(expected) // 3:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    r = tgx(tmp_path, "export", "@news", "--comments", "-o", "out", config=sim_config(chats=[channel(private=True)]))
    assert r.returncode == 0, r.stderr
    assert [(c["post_id"], c["id"]) for c in comments_of(tmp_path / "out")] == expected


def test_render_offline_rewrites_the_comments(tmp_path, sim_config, expected):
    cfg = sim_config(chats=[channel()])
    r = tgx(tmp_path, "export", "@news", "--comments", "-o", "out", config=cfg)
    assert r.returncode == 0, r.stderr
    path = tmp_path / "out" / "news" / "comments.jsonl"
    before = path.read_bytes()
    path.unlink()
    r = tgx(tmp_path, "render", "out", "-f", "jsonl")
    assert r.returncode == 0, r.stderr
    assert path.read_bytes() == before
