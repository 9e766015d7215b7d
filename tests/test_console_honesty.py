"""Chat titles are untrusted: what reaches the terminal has no control or bidi-override characters."""

from __future__ import annotations

from pathlib import Path

from tgx.console import printable
from tgxrun import tgx

HOSTILE = "Evil\x00 \u202egnp.exe\x1b[31m red [bold]x[/bold]"


def test_printable_replaces_controls_and_bidi_overrides_only() -> None:
    assert printable("plain title: ok\tand tab") == "plain title: ok\tand tab"
    assert printable("a\x00b\x1bc\x7fd\x85e") == "a\ufffdb\ufffdc\ufffdd\ufffde"
    assert printable("x\u202ey\u2066z\u2069") == "x\ufffdy\ufffdz\ufffd"
    assert printable("Привет 👋 עברית") == "Привет 👋 עברית"  # letters of any script stay


def test_chats_and_export_never_print_a_titles_control_characters(tmp_path: Path, sim_config) -> None:
    config = sim_config(chats=[{"kind": "channel", "username": "evil", "title": HOSTILE, "messages": 5},
                               {"kind": "group", "title": HOSTILE, "messages": 3}])
    chats = tgx(tmp_path, "chats", config=config)
    assert chats.returncode == 0, chats.stderr
    export = tgx(tmp_path, "export", "evil", "--out", str(tmp_path / "out"), config=config)
    assert export.returncode == 0, export.stderr
    for output in (chats.stdout, chats.stderr, export.stdout, export.stderr):
        assert not any(ch in output for ch in "\x00\u202e\x1b"), output
    assert "[bold]x[/bold]" in chats.stdout  # shown as written, not read as rich markup
