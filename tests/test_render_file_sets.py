"""Re-rendering leaves exactly the files of the new render: a paged or split format rendered
again with other options writes the new set, then removes the pages the old set had beyond it
(the engine's manifest, OUT/.tgx/rendered/<chat id>.json). Through the real CLI, for every built-in format."""

from __future__ import annotations

from pathlib import Path

import pytest
from tgxrun import tgx

CHANNEL = {"kind": "channel", "username": "pagedchan", "title": "Paged", "messages": 2_500, "media": False}

# format, the options of the first render, the options of the second
CASES = [
    ("html", ["--html-page-size", "200"], ["--html-page-size", "1000"]),
    ("html", ["--html-page-size", "1000"], ["--html-page-size", "200"]),
    ("markdown", ["--markdown-split", "day"], ["--markdown-split", "month"]),
    ("markdown", ["--markdown-split", "month"], ["--markdown-split", "day"]),
    ("jsonl", [], []),
    ("json", [], []),
    ("csv", [], ["--csv-bom", "off"]),
    ("txt", [], []),
    ("sqlite", [], []),
]


def _files(chat: Path) -> set[str]:
    return {p.relative_to(chat).as_posix() for p in chat.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("paged")
    from test_reliability import write_config

    cfg = write_config(root / "tgx.toml", {"chats": [CHANNEL]})
    for out in ("twice", "once"):
        r = tgx(root, "export", "@pagedchan", "-o", out, "-f", "jsonl", config=cfg)
        assert r.returncode == 0, r.stderr
    return root, cfg


@pytest.mark.parametrize(("fmt", "first", "second"), CASES,
                         ids=[f"{c[0]}:{' '.join(c[1]) or 'default'}->{' '.join(c[2]) or 'default'}" for c in CASES])
def test_rerender_leaves_exactly_the_second_set(archives, fmt, first, second):
    root, cfg = archives
    for out, runs in (("twice", [first, second]), ("once", [second])):
        for opts in runs:
            r = tgx(root, "render", out, "-f", fmt, *opts, config=cfg)
            assert r.returncode == 0, r.stderr
    twice, once = _files(root / "twice" / "pagedchan"), _files(root / "once" / "pagedchan")
    assert twice == once
    for rel in once:  # and the same bytes: nothing of the first render survives in them
        assert (root / "twice" / "pagedchan" / rel).read_bytes() == (root / "once" / "pagedchan" / rel).read_bytes()


def test_each_chat_has_its_own_manifest_and_the_old_single_file_is_still_honoured(tmp_path):
    """One small manifest per chat (rendering one chat rewrites no other chat's entry); a folder
    rendered by an earlier version, with every chat in OUT/.tgx/rendered.json, still gets its
    stale pages removed on the first re-render."""
    import json

    from test_reliability import write_config

    other = {**CHANNEL, "username": "otherchan", "title": "Other", "messages": 300}
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [CHANNEL, other]})
    r = tgx(tmp_path, "export", "@pagedchan", "@otherchan", "-o", "out", "-f", "html", "--html-page-size", "200",
            config=cfg)
    assert r.returncode == 0, r.stderr
    state = tmp_path / "out" / ".tgx"
    entries = {p.stem: json.loads(p.read_text()) for p in (state / "rendered").glob("*.json")}
    assert len(entries) == 2 and not (state / "rendered.json").exists()
    paged = next(e for e in entries.values() if e["messages"] == 2_500)
    assert len(paged["formats"]["html"]) >= 13  # 2,500 at 200 a page, plus what else html writes

    # What an earlier version left: one file for all chats, no per-chat files.
    (state / "rendered.json").write_text(json.dumps(entries))
    for p in (state / "rendered").glob("*.json"):
        p.unlink()
    r = tgx(tmp_path, "render", "out", "-f", "html", "--html-page-size", "1000", config=cfg)
    assert r.returncode == 0, r.stderr
    pages = sorted(p.name for p in (tmp_path / "out" / "pagedchan").glob("messages*.html"))
    assert pages == ["messages.html", "messages2.html", "messages3.html"]
    assert len(list((state / "rendered").glob("*.json"))) == 2
