"""Start-up stays light: `tgx --version`, `--help` and `plugins` import neither Telethon nor the
simulator nor a format's writer (jinja2 and the like) — they are imported by the commands that
need them. Timing is the bench's job (`benchmarks/run.py --only startup`); this holds the imports,
which do not depend on the machine's mood."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tgxrun import tgx_env

HEAVY = ("telethon", "tgx.simulator", "tgx.fetch.history", "tgx.export.conductor", "jinja2", "tgx_html.writer",
         "tgx_sqlite.writer", "tgx_markdown.writer", "tgx.media.stage", "psutil", "asyncio")

PROBE = f"""
import contextlib, io, json, sys
from tgx.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({{"code": code, "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["plugins"], ["plugins", "--json"], ["formats"],
                                  ["export", "--help"]])
def test_light_commands_import_nothing_heavy(tmp_path, args):
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120,
                          env=tgx_env(tmp_path), cwd=tmp_path)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, done.stderr
    assert result["loaded"] == [], f"`tgx {' '.join(args)}` imported {result['loaded']}"


def test_plugins_still_shows_every_hook_of_every_builtin(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tgx", "plugins", "--json"], capture_output=True, text=True,
                          timeout=120, env=tgx_env(tmp_path), cwd=tmp_path)
    listing = {p["name"]: p for p in json.loads(done.stdout)}
    assert all(p["enabled"] and p["hooks"] and not p["problems"] for p in listing.values() if p["source"] == "built-in")
    assert listing["html"]["hooks"] == ["tgx_register_formats"]
    assert listing["telegram"]["hooks"] == ["tgx_telegram_client"]
