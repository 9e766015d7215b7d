"""Helpers for end-to-end tests: run the real ``tgx`` CLI as a subprocess, isolated in tmp."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson


def tgx_env(tmp_path: Path, config: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGX_")}
    env["TGX_DATA_DIR"] = str(tmp_path / "data")
    if config is None:  # isolated from the user's config: an empty file of the test's own
        config = tmp_path / "tgx-empty.toml"
        if not config.exists():
            config.write_text("")
    env["TGX_CONFIG"] = str(config)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def tgx(tmp_path: Path, *args: str, config: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 300, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tgx ARGS`` (the same entry point as the console script)."""
    return subprocess.run(
        [sys.executable, "-m", "tgx", *args], capture_output=True, text=True, timeout=timeout,
        env=env or tgx_env(tmp_path, config, **extra_env), cwd=tmp_path,
    )


def tgx_popen(tmp_path: Path, *args: str, config: Path | None = None, **extra_env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tgx", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=tgx_env(tmp_path, config, **extra_env), cwd=tmp_path,
    )


def read_jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def archived_count(out: Path) -> int:
    """Messages committed in OUT's archive (read-only; safe while an export writes)."""
    db = out / ".tgx" / "archive.sqlite"
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def request_counts(log: Path) -> dict[str, int]:
    """Requests per type that a ``request_log`` scenario recorded (0 lines when none)."""
    from collections import Counter

    from tgx.testing import read_request_log

    return dict(Counter(r["type"] for r in read_request_log(str(log)))) if log.exists() else {}
