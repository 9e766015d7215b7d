"""A rerun catches up exactly, without a listener: the real CLI and Telethon on the simulated
Telegram, whose chats change between two runs (the scenario's ``changes``).

A channel's rerun asks ``updates.GetChannelDifference`` from the pts the archive kept and applies
exactly the changes since — each edited message with its previous version, each deleted one
flagged with when tgx learned it — in a handful of requests; past Telegram's difference horizon
it re-scans the history instead and says so in one line. Private chats and basic groups catch up
through the account's ``updates.GetDifference``.
"""

from __future__ import annotations

from datetime import datetime

from tgx.testing import SimulatedTelegram, read_request_log
from tgxrun import read_jsonl, tgx

NEWS = {"kind": "channel", "username": "news", "title": "News", "messages": 1_000, "media": False}


def _world(**scenario) -> SimulatedTelegram:
    w = SimulatedTelegram.from_scenario(scenario)
    w.freeze()
    return w


def _requests(log) -> list[str]:
    return [r["type"] for r in read_request_log(str(log))] if log.exists() else []


def _changes(edit: list[int], delete: list[int], chat: str = "news") -> list[dict]:
    return [{"chat": chat, "edit": edit}, {"chat": chat, "delete": delete}]


def _pick(chat: dict, edits: int, deletes: int) -> tuple[list[int], list[int]]:
    w = _world(chats=[chat])
    edit = list(w.editable_ids("news", edits, 100))
    taken = set(edit)
    delete = [i for i in range(700, 1_000) if i not in taken and i in set(w.expected_ids("news"))][:deletes]
    return edit, delete


def _export(tmp_path, cfg, *extra: str):
    return tgx(tmp_path, "export", "@news", "-o", "out", "-q", "-f", "jsonl", *extra, config=cfg)


def test_a_rerun_applies_exactly_the_edits_and_deletions_since_in_a_few_requests(tmp_path, sim_config):
    edit, delete = _pick(NEWS, 50, 30)
    r = _export(tmp_path, sim_config(chats=[NEWS]))
    assert r.returncode == 0, r.stderr
    before = {m["id"]: m for m in read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")}

    quiet = tmp_path / "quiet.jsonl"  # a rerun with nothing changed: the run's own start-up
    r = _export(tmp_path, sim_config(chats=[NEWS], request_log=str(quiet)))
    assert r.returncode == 0, r.stderr

    log = tmp_path / "changed.jsonl"
    r = _export(tmp_path, sim_config(chats=[NEWS], changes=_changes(edit, delete), request_log=str(log)))
    assert r.returncode == 0, r.stderr
    after = {m["id"]: m for m in read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")}
    assert set(after) == set(before)  # nothing removed, nothing added

    changed = {i for i in after if after[i] != before[i]}
    assert changed == set(edit) | set(delete)
    for i in edit:
        m = after[i]
        assert m["text"] != before[i]["text"] and m["edit_date"] is not None
        assert [v["text"] for v in m["history"]] == [before[i]["text"]]  # its previous version, once
        assert m["history"][0]["edit_date"] == before[i]["edit_date"]
        assert not m["deleted"] and "deleted_at" not in m
    for i in delete:
        m = after[i]
        assert m["deleted"] and datetime.fromisoformat(m["deleted_at"]).tzinfo is not None
        assert m["text"] == before[i]["text"] and "history" not in m
    assert not any("history" in after[i] or after[i]["deleted"] for i in set(after) - changed)

    extra = len(_requests(log)) - len(_requests(quiet))
    assert _requests(log).count("GetChannelDifferenceRequest") >= 1
    assert extra <= 5, (_requests(quiet), _requests(log))
    assert _requests(log).count("GetHistoryRequest") == _requests(quiet).count("GetHistoryRequest")  # no re-scan

    # and once more: nothing changed since, nothing changes (no version doubled)
    r = _export(tmp_path, sim_config(chats=[NEWS], changes=_changes(edit, delete)))
    assert r.returncode == 0, r.stderr
    assert {m["id"]: m for m in read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")} == after


def test_new_posts_and_a_second_edit_keep_every_version_in_order(tmp_path, sim_config):
    edit, delete = _pick(NEWS, 3, 2)
    r = _export(tmp_path, sim_config(chats=[NEWS]))
    assert r.returncode == 0, r.stderr
    first = {m["id"]: m for m in read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")}
    steps = [*_changes(edit, delete), {"chat": "news", "post": 40}]
    r = _export(tmp_path, sim_config(chats=[NEWS], changes=steps))
    assert r.returncode == 0, r.stderr
    second = {m["id"]: m for m in read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")}
    assert len(second) == len(first) + 40
    r = _export(tmp_path, sim_config(chats=[NEWS], changes=[*steps, {"chat": "news", "edit": edit[:1]}]))
    assert r.returncode == 0, r.stderr
    third = {m["id"]: m for m in read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")}
    twice = third[edit[0]]
    assert [v["text"] for v in twice["history"]] == [first[edit[0]]["text"], second[edit[0]]["text"]]
    assert twice["text"] != second[edit[0]]["text"]
    assert third[edit[1]] == second[edit[1]]


def test_past_the_difference_horizon_the_rerun_rescans_and_says_so(tmp_path, sim_config):
    edit, delete = _pick(NEWS, 50, 30)
    r = _export(tmp_path, sim_config(chats=[NEWS], difference_horizon=20))
    assert r.returncode == 0, r.stderr
    before = {m["id"]: m for m in read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")}
    log = tmp_path / "requests.jsonl"
    r = _export(tmp_path, sim_config(chats=[NEWS], difference_horizon=20, changes=_changes(edit, delete),
                                     request_log=str(log)))
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if "re-scanning" in line]
    assert len(lines) == 1 and "news" in lines[0] and "too many changes" in lines[0]
    after = {m["id"]: m for m in read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")}
    assert {i for i in after if after[i] != before[i]} == set(edit) | set(delete)
    assert all([v["text"] for v in after[i]["history"]] == [before[i]["text"]] for i in edit)
    assert all(after[i]["deleted"] and after[i]["deleted_at"] for i in delete)
    assert _requests(log).count("GetHistoryRequest") >= 10  # the re-scan read the history

    # the pts stored after the re-scan is current: the next rerun is exact again, and quiet
    r = _export(tmp_path, sim_config(chats=[NEWS], difference_horizon=20, changes=_changes(edit, delete)))
    assert r.returncode == 0, r.stderr and "re-scanning" not in r.stderr
    assert "re-scanning" not in r.stderr


def test_a_position_telegram_rejects_falls_back_to_a_rescan(tmp_path, sim_config):
    """The archive's pts is ahead of the chat (the server's sequence was reset): Telegram refuses
    it (PERSISTENT_TIMESTAMP_INVALID); the rerun re-scans in one line instead of failing."""
    edit, delete = _pick(NEWS, 4, 3)
    r = _export(tmp_path, sim_config(chats=[NEWS], changes=_changes(edit, delete)))
    assert r.returncode == 0, r.stderr
    r = _export(tmp_path, sim_config(chats=[NEWS]))
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if "re-scanning" in line]
    assert len(lines) == 1 and "news: Telegram no longer knows the archive's position" in lines[0]
    assert "Traceback" not in r.stderr
    after = {m["id"]: m for m in read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")}
    # on the server the edits are undone: the re-scan took its text and kept the edited one as a version
    assert all(after[i]["history"] and "(edited later)" in after[i]["history"][-1]["text"] for i in edit)
    assert not any("(edited later)" in after[i]["text"] for i in edit)


PRIVATE = {"kind": "private", "user": "alice", "messages": 300, "media": False}


def test_private_chats_catch_up_through_the_account_difference(tmp_path, sim_config):
    w = _world(chats=[PRIVATE])
    ids = list(w.expected_ids("alice"))
    edit = list(w.editable_ids("alice", 5, 10))
    delete = [i for i in ids[150:] if i not in set(edit)][:4]
    cfg = sim_config(chats=[PRIVATE])
    r = tgx(tmp_path, "export", "@alice", "-o", "out", "-q", "-f", "jsonl", config=cfg)
    assert r.returncode == 0, r.stderr
    before = {m["id"]: m for m in read_jsonl(tmp_path / "out" / "alice" / "messages.jsonl")}
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(chats=[PRIVATE], changes=_changes(edit, delete, chat="alice"), request_log=str(log))
    r = tgx(tmp_path, "export", "@alice", "-o", "out", "-q", "-f", "jsonl", config=cfg)
    assert r.returncode == 0, r.stderr
    after = {m["id"]: m for m in read_jsonl(tmp_path / "out" / "alice" / "messages.jsonl")}
    assert {i for i in after if after[i] != before[i]} == set(edit) | set(delete)
    assert all(len(after[i]["history"]) == 1 for i in edit) and all(after[i]["deleted"] for i in delete)
    sent = _requests(log)
    assert 1 <= sent.count("GetDifferenceRequest") <= 2  # ours, and Telethon's own catch-up on connect
    assert sent.count("GetHistoryRequest") == 1 and len(sent) <= 8, sent  # no re-scan


def test_comments_edited_and_deleted_since_reach_comments_jsonl_exactly(tmp_path, sim_config):
    channel = {**NEWS, "messages": 200, "comments": {"commented": 40, "most": 10}}
    w = _world(chats=[channel])
    group = w.discussion_of("news")
    comments = [c for _p, c in w.expected_comments("news")]
    edit = list(w.editable_ids(group.key, 3, comments[5]))
    delete = [c for c in comments[20:] if c not in set(edit)][:2]
    r = tgx(tmp_path, "export", "@news", "--comments", "-o", "out", "-q", "-f", "jsonl",
            config=sim_config(chats=[channel]))
    assert r.returncode == 0, r.stderr
    before = {c["id"]: c for c in read_jsonl(tmp_path / "out" / "news" / "comments.jsonl")}
    log = tmp_path / "requests.jsonl"
    cfg = sim_config(chats=[channel], changes=_changes(edit, delete, chat=group.key), request_log=str(log))
    r = tgx(tmp_path, "export", "@news", "--comments", "-o", "out", "-q", "-f", "jsonl", config=cfg)
    assert r.returncode == 0, r.stderr
    after = {c["id"]: c for c in read_jsonl(tmp_path / "out" / "news" / "comments.jsonl")}
    assert set(after) == set(before)
    assert {i for i in after if after[i] != before[i]} == set(edit) | set(delete)
    assert all([v["text"] for v in after[i]["history"]] == [before[i]["text"]] for i in edit)
    assert all(after[i]["deleted"] and after[i]["deleted_at"] for i in delete)
    assert _requests(log).count("GetChannelDifferenceRequest") == 2  # the channel and its group


def test_a_difference_telegram_refuses_is_one_warning_and_the_position_is_kept(tmp_path, sim_config):
    edit, delete = _pick(NEWS, 4, 3)
    r = _export(tmp_path, sim_config(chats=[NEWS]))
    assert r.returncode == 0, r.stderr
    refused = {"type": "rpc_error", "request": "GetChannelDifference", "code": 400,
               "message": "CHANNEL_PUBLIC_GROUP_NA", "times": 0}
    cfg = sim_config(chats=[NEWS], changes=_changes(edit, delete), faults=[refused])
    r = _export(tmp_path, cfg)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if "refused to say what changed" in line]
    assert len(lines) == 1 and "news" in lines[0] and "ChannelPublicGroupNa" in lines[0], r.stderr
    # the next run, Telegram willing, applies them from the same position
    r = _export(tmp_path, sim_config(chats=[NEWS], changes=_changes(edit, delete)))
    assert r.returncode == 0, r.stderr
    after = {m["id"]: m for m in read_jsonl(tmp_path / "out" / "news" / "messages.jsonl")}
    assert all(after[i]["history"] for i in edit) and all(after[i]["deleted"] for i in delete)


def test_pins_and_unpins_since_are_applied_without_a_rescan_and_are_no_edits(tmp_path, sim_config):
    """Telegram says pins in the difference (``updatePinnedChannelMessages`` /
    ``updatePinnedMessages``): a rerun sets ``pinned`` on exactly those messages — kept current
    like a counter: no version, no edit — and the archive matches a fresh export of the end state."""
    for chat, key in ((NEWS, "news"), (PRIVATE, "alice")):
        root = tmp_path / key
        root.mkdir()
        ids = list(_world(chats=[chat]).expected_ids(key))
        pin, unpin = [ids[10], ids[200], ids[-1]], [ids[200]]
        r = tgx(root, "export", f"@{key}", "-o", "out", "-q", "-f", "jsonl", config=sim_config(root / "a.toml",
                                                                                                chats=[chat]))
        assert r.returncode == 0, r.stderr
        before = {m["id"]: m for m in read_jsonl(root / "out" / key / "messages.jsonl")}
        assert not any(m["pinned"] for m in before.values())
        log = root / "requests.jsonl"
        changes = [{"chat": key, "pin": pin}, {"chat": key, "unpin": unpin}]
        cfg = sim_config(root / "b.toml", chats=[chat], changes=changes, request_log=str(log))
        r = tgx(root, "export", f"@{key}", "-o", "out", "-q", "-f", "jsonl", config=cfg)
        assert r.returncode == 0, r.stderr
        after = {m["id"]: m for m in read_jsonl(root / "out" / key / "messages.jsonl")}
        assert {i for i in after if after[i] != before[i]} == {ids[10], ids[-1]}, key
        assert all(after[i]["pinned"] and "history" not in after[i] for i in (ids[10], ids[-1]))
        assert _requests(log).count("GetHistoryRequest") <= 1  # no re-scan (a private chat: its one page)
        fresh = root / "fresh"
        fresh.mkdir()
        r = tgx(fresh, "export", f"@{key}", "-o", "out", "-q", "-f", "jsonl",
                config=sim_config(fresh / "c.toml", chats=[chat], changes=changes))
        assert r.returncode == 0, r.stderr
        assert {m["id"]: m["pinned"] for m in read_jsonl(fresh / "out" / key / "messages.jsonl")} == \
            {i: m["pinned"] for i, m in after.items()}
