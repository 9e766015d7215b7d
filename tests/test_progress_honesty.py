"""Progress shows what is committed, never more: a bar counts messages once their transaction is
in the archive, so the last line printed before a failure matches what a rerun will find; a chat
without a server count (private chats, basic groups) never shows "10/0"."""

from __future__ import annotations

import io
import re
import subprocess
import sys

from rich.console import Console
from test_reliability import CHANNEL, CHAT, write_config
from test_reliability_bad_input import _file_size_limit
from tgx.errors import ExitCode
from tgx.metrics.progress import ExportProgress
from tgxrun import archived_count, tgx_env


def _plain() -> tuple[ExportProgress, io.StringIO]:
    out = io.StringIO()
    return ExportProgress(console=Console(file=out, force_terminal=False, width=200), plain_every=0), out


def test_no_total_is_shown_until_telegram_gives_one_and_never_below_what_is_done():
    progress, out = _plain()
    with progress:
        progress.add_chat("alice")
        progress.advance("alice", 10, None)
        progress.advance("alice", 5, 0)  # a count that cannot be right (basic groups report 0)
        progress.add_chat("news", archived=2_000)  # a rerun starts at what is archived
        progress.advance("news", 100, 2_100)
    lines = out.getvalue().splitlines()
    assert "tgx: alice: 10 messages" in lines
    assert not any("/0 " in line or line.endswith("/0 messages") for line in lines)
    assert "tgx: alice: 15 messages" in lines
    assert "tgx: news: 2100/2100 messages" in lines


def test_the_last_progress_line_before_a_write_failure_counts_only_committed_messages(tmp_path):
    big = {**CHANNEL, "messages": 30_000}
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [big]})
    done = subprocess.run([sys.executable, "-m", "tgx", "export", "@" + CHAT, "-o", "out", "-f", "jsonl"],
                          capture_output=True, text=True, timeout=300, env=tgx_env(tmp_path, cfg), cwd=tmp_path,
                          preexec_fn=_file_size_limit(2_000_000))
    assert done.returncode == ExitCode.OUTPUT, done.stderr
    counts = [int(m.group(1)) for m in re.finditer(rf"^tgx: {CHAT}: (\d+)(?:/\d+)? messages$", done.stderr, re.M)]
    assert counts, done.stderr
    committed = archived_count(tmp_path / "out")
    assert 0 < committed < 30_000
    assert max(counts) <= committed
