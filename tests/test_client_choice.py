"""Which plugin gives the run its Telegram client when a third-party one is installed.

A third-party ``tgx_telegram_client`` plugin (here ``tryfirst``, the strongest claim pluggy
allows) wins over the built-in real-Telegram plugin — that is what it is for. But an explicit
choice of the simulated Telegram (``TGX_SIMULATED``, a ``[simulated]`` table, and ``tgx demo``,
which always runs simulated) must win over it. Real ``tgx`` subprocesses, a real entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tgx.errors import ExitCode
from tgxrun import tgx_env

PLUGIN = '''
import tgx


class Refusing:
    """A client that proves it was chosen: connecting fails with a message naming it."""

    async def connect(self):
        raise ConnectionError("THIRD-PARTY CLIENT WAS USED")

    def disconnect(self):
        return None


@tgx.hookimpl(tryfirst=True)
def tgx_telegram_client(config):
    return Refusing()
'''


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    site = tmp_path / "site"
    info = site / "tgx_otherclient-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tgx-otherclient\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[tgx]\notherclient = tgx_otherclient\n")
    (site / "tgx_otherclient.py").write_text(PLUGIN)
    env = tgx_env(tmp_path, None, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tgx", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)


def test_the_third_party_client_wins_when_nothing_else_was_asked_for(tmp_path):
    r = _run(tmp_path, _env(tmp_path, TGX_API_ID="1", TGX_API_HASH="0" * 32), "chats")
    assert r.returncode == ExitCode.NETWORK, r.stderr
    assert "THIRD-PARTY CLIENT WAS USED" in r.stderr and "Traceback" not in r.stderr


def test_demo_runs_on_the_simulated_telegram_whatever_is_installed(tmp_path):
    r = _run(tmp_path, _env(tmp_path), "demo", "-o", "demo", "-n", "60", "-q")
    assert r.returncode == 0, r.stderr
    assert "THIRD-PARTY" not in r.stderr
    assert len((tmp_path / "demo" / "tgx_demo" / "messages.jsonl").read_text().splitlines()) == 60


def test_explicit_tgx_simulated_wins_over_a_tryfirst_client_plugin(tmp_path):
    scenario = '{"chats": [{"kind": "channel", "username": "simchan", "title": "Sim", "messages": 25}]}'
    r = _run(tmp_path, _env(tmp_path, TGX_SIMULATED=scenario), "export", "@simchan", "-o", "out", "-q")
    assert r.returncode == 0, r.stderr
    assert len((tmp_path / "out" / "simchan" / "messages.jsonl").read_text().splitlines()) == 25


def test_simulated_asked_for_but_disabled_is_one_line(tmp_path):
    r = _run(tmp_path, _env(tmp_path, TGX_SIMULATED="1"), "-p", "no:simulated", "chats")
    assert r.returncode == ExitCode.CONFIG, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("tgx: error:")]
    assert len(lines) == 1 and "'simulated' plugin is disabled" in lines[0]
    assert "Traceback" not in r.stderr
