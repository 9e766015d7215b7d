"""Threads in every format, end to end: the real CLI and Telethon on the simulated Telegram.

``tgx export CHANNEL --comments -f jsonl,html,markdown,csv,sqlite`` puts every comment, once and
with its post, into each format; a 20-topic forum exported ``--topic`` by id and by title gets
per-topic HTML pages and Markdown folders for exactly those topics, and a rerun after a topic
was renamed and another closed shows their current state everywhere.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest
from tgx.testing import SimulatedTelegram
from tgxrun import read_jsonl, tgx

CHANNEL = {"kind": "channel", "username": "news", "title": "News", "messages": 240, "media": False,
           "comments": {"commented": 70, "most": 12}}


def _world(*chats: dict) -> SimulatedTelegram:
    w = SimulatedTelegram.from_scenario({"chats": list(chats)})
    w.freeze()
    return w


def _pages(folder: Path) -> str:
    return "".join(p.read_text("utf-8") for p in sorted(folder.glob("messages*.html")))


def _notes(folder: Path) -> str:
    return "".join(p.read_text("utf-8") for p in sorted(folder.rglob("*.md")) if "topics" not in p.parts)


def test_comments_reach_every_format_each_once_with_its_post(tmp_path, sim_config):
    cfg = sim_config(chats=[CHANNEL])
    r = tgx(tmp_path, "export", "@news", "--comments", "-o", "out", "-q", "-f", "jsonl,html,markdown,csv,sqlite",
            config=cfg)
    assert r.returncode == 0, r.stderr
    expected = list(_world(CHANNEL).expected_comments("news"))
    assert len(expected) > 100 and len({p for p, _ in expected}) > 40
    chat = tmp_path / "out" / "news"
    per_post: dict[int, int] = {}
    for post, _ in expected:
        per_post[post] = per_post.get(post, 0) + 1

    assert [(c["post_id"], c["id"]) for c in read_jsonl(chat / "comments.jsonl")] == expected

    # HTML: each commented post has one collapsed thread saying how many; each comment is anchored once
    html = _pages(chat)
    threads = dict(re.findall(r'<details class="comments" id="comments(\d+)">\s*<summary>[^<]*?(\d+)', html))
    assert {int(p): int(n) for p, n in threads.items()} == per_post
    anchors = [int(x) for x in re.findall(r'id="c(\d+)"', html)]
    assert sorted(anchors) == sorted(c for _, c in expected)
    assert not re.search(r'<details class="comments"[^>]*\bopen', html)  # collapsed
    assert not re.search(r'href="\s*javascript:', html, flags=re.I)  # untrusted links stay inert

    # Markdown: every comment under its post, with a block id of its own
    notes = _notes(chat / "markdown")
    assert sorted(int(x) for x in re.findall(r"\^c(\d+)\s*$", notes, flags=re.M)) == sorted(c for _, c in expected)

    # CSV: comments.csv, the message columns plus post_id
    rows = list(csv.reader(io.StringIO((chat / "comments.csv").read_text("utf-8-sig"), newline="")))
    assert rows[0][-1] == "post_id" and rows[0][:-1] == next(csv.reader(io.StringIO(
        (chat / "messages.csv").read_text("utf-8-sig"))))
    assert [(int(r[-1]), int(r[0])) for r in rows[1:]] == expected

    # SQLite: the comments table, indexed by post
    db = sqlite3.connect(chat / "messages.sqlite")
    try:
        assert db.execute("SELECT post_id, id FROM comments ORDER BY post_id, id").fetchall() == expected
        post, count = max(per_post.items(), key=lambda kv: kv[1])
        assert db.execute("SELECT count(*) FROM comments WHERE post_id = ?", (post,)).fetchone() == (count,)
    finally:
        db.close()

    # offline: the same files again from the archive alone
    before = {p: p.read_bytes() for p in chat.rglob("*") if p.is_file() and p.suffix != ".sqlite"}
    r = tgx(tmp_path, "render", "out", "-f", "jsonl,html,markdown,csv", config=cfg)
    assert r.returncode == 0, r.stderr
    assert {p: p.read_bytes() for p in before} == before


FORUM_TITLES = [f"Topic {i:02d}" for i in range(1, 20)]  # 19 + General = 20 topics


def _forum(titles: list) -> dict:
    return {"kind": "forum", "username": "forum", "title": "Forum", "messages": 1_200, "media": False,
            "topics": titles}


def _topic_pages(chat: Path) -> set[int]:
    return {int(p.name) for p in (chat / "topics").iterdir() if p.is_dir()}


def _md_topics(chat: Path) -> set[int]:
    return {int(p.name) for p in (chat / "markdown" / "topics").iterdir() if p.is_dir()}


@pytest.mark.parametrize("by", ["id", "title"])
def test_a_twenty_topic_forum_per_topic_pages_and_a_renamed_and_closed_topic_on_rerun(tmp_path, sim_config, by):
    cfg = sim_config(chats=[_forum(FORUM_TITLES)])
    r = tgx(tmp_path, "topics", "@forum", "--json", config=cfg)
    assert r.returncode == 0, r.stderr
    listed = {t["title"]: t for t in json.loads(r.stdout)}
    assert len(listed) == 20 and listed["General"]["id"] == 1
    chosen = [listed["Topic 03"], listed["Topic 17"]]
    args = [a for t in chosen for a in ("--topic", str(t["id"]) if by == "id" else t["title"])]
    r = tgx(tmp_path, "export", "@forum", *args, "-o", "out", "-q", "-f", "jsonl,html,markdown", config=cfg)
    assert r.returncode == 0, r.stderr
    chat = tmp_path / "out" / "forum"
    ids = {t["id"] for t in chosen}
    assert {m["topic_id"] or m["id"] for m in read_jsonl(chat / "messages.jsonl")} == ids
    assert _topic_pages(chat) == ids and _md_topics(chat) == ids  # a folder only for what was fetched
    for topic in chosen:
        page = (chat / "topics" / str(topic["id"]) / "messages.html").read_text("utf-8")
        assert "<title>" in page and topic["title"] in page
    index = (chat / "topics" / "index.html").read_text("utf-8")
    assert all(title in index for title in listed)  # every topic seen is listed, fetched or not

    # on the server: Topic 03 renamed, Topic 17 closed; the rerun shows both as they are now
    renamed = list(FORUM_TITLES)
    renamed[2] = "Topic 03 (archived)"
    renamed[16] = {"title": "Topic 17", "closed": True}
    cfg = sim_config(chats=[_forum(renamed)])
    again = [a for t in chosen for a in ("--topic", str(t["id"]))]
    r = tgx(tmp_path, "export", "@forum", *again, "-o", "out", "-q", "-f", "jsonl,html,markdown", config=cfg)
    assert r.returncode == 0, r.stderr
    now = {t["id"]: t for t in json.loads((chat / "topics.json").read_text())}
    three, seventeen = chosen[0]["id"], chosen[1]["id"]
    assert now[three]["title"] == "Topic 03 (archived)" and now[seventeen]["closed"]
    index = (chat / "topics" / "index.html").read_text("utf-8")
    assert "Topic 03 (archived)" in index and "Topic 03<" not in index
    closed = re.search(rf'<li class="topic closed[^"]*" id="topic{seventeen}"', index)
    assert closed, "the closed topic is marked closed in the index"
    assert "Topic 03 (archived)" in (chat / "topics" / str(three) / "messages.html").read_text("utf-8")
    md_index = (chat / "markdown" / "topics" / "index.md").read_text("utf-8")
    assert f"[[markdown/topics/{three}/index|Topic 03 (archived)]]" in md_index
