"""What every engine in the spike runs: one task = one chat = one real ``tgx export CHAT --out
OUT/<chat>`` process against the simulated Telegram (its own world per process: the scenario
file each task names). Shared by ``pool.py``, ``nats_spike.py`` and ``arq_spike.py``.

Not part of tgx: nothing in the package or its tests imports this.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the tgx checkout
# the interpreter that has tgx's dependencies (the engines live in another venv)
TGX_PYTHON = os.environ.get("TGX_PYTHON", "/work/venv/bin/python")
EXIT_FLOOD = 6  # tgx: a flood wait above --max-flood-wait, progress saved


def scenario(path: Path, chats: list[str], messages: int, *, latency_ms: float = 100, rate_limit: float | None = None,
             faults: list[dict[str, Any]] | None = None) -> Path:
    """A ``[simulated]`` scenario file: ``chats`` channels of ``messages`` each."""
    lines = ["[simulated]", f"latency_ms = {latency_ms}"]
    if rate_limit:
        lines += [f"rate_limit = {rate_limit}", "rate_window = 1.0"]
    for chat in chats:
        lines += ["[[simulated.chats]]", 'kind = "channel"', f'username = "{chat}"', f'title = "{chat}"',
                  f"messages = {messages}", "media = false"]
    for fault in faults or ():
        lines.append("[[simulated.faults]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in fault.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tgx_env(config: Path, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGX_") and k != "VIRTUAL_ENV"}
    env.update(TGX_CONFIG=str(config), TGX_DATA_DIR=str(data), PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "core"), str(ROOT / "plugins")]))
    return env


def flood_seconds(stderr: str) -> int:
    """The wait a stopped export was asked for ("Telegram asks to wait 900 s (~15 min) before ...")."""
    m = re.search(r"asks to wait (\d+) s", stderr)
    return int(m.group(1)) if m else 60


def export_chat(task: dict[str, Any]) -> dict[str, Any]:
    """Run one chat's ``tgx export`` to its end; the result says how it went.

    ``task``: ``chat``, ``out`` (OUT root: the chat goes to OUT/<chat>, its own archive),
    ``config`` (scenario), ``data`` (TGX_DATA_DIR), optional ``max_flood_wait``, ``extra`` args.
    """
    started = time.time()
    out = Path(task["out"]) / task["chat"]
    argv = [TGX_PYTHON, "-m", "tgx", "export", "@" + task["chat"], "-o", str(out), "-f", "jsonl", "-q",
            "--decode-workers", "0", "--max-flood-wait", str(task.get("max_flood_wait", 900)), *task.get("extra", ())]
    before = os.times()
    done = subprocess.run(argv, env=tgx_env(Path(task["config"]), Path(task["data"])), capture_output=True,
                          text=True, check=False)
    after = os.times()
    result = {"chat": task["chat"], "rc": done.returncode, "started": started, "wall": time.time() - started,
              "cpu": (after.children_user - before.children_user) + (after.children_system - before.children_system),
              "pid": os.getpid()}
    if done.returncode == EXIT_FLOOD:
        result["flood_seconds"] = flood_seconds(done.stderr)
    elif done.returncode != 0:
        result["error"] = done.stderr.strip().splitlines()[-1:] or ["?"]
    metrics = out / "export_metrics.json"
    if metrics.exists():
        report = json.loads(metrics.read_text())
        result["fetched"] = report["totals"]["messages"]
    return result


def count_lines(out: Path, chat: str) -> tuple[int, int]:
    """(lines, distinct message ids) of OUT/<chat>/<chat>/messages.jsonl."""
    path = out / chat / chat / "messages.jsonl"
    if not path.exists():
        return 0, 0
    ids = [json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()]
    return len(ids), len(set(ids))


def rss_mb(pid: int, *, tree: bool = False) -> float:
    import psutil

    try:
        proc = psutil.Process(pid)
        total = proc.memory_info().rss
        if tree:
            for child in proc.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
        return total / (1 << 20)
    except psutil.Error:
        return 0.0


def chat_names(n: int) -> list[str]:
    return [f"chan{i:03d}" for i in range(n)]


def summary(results: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    ok = [r for r in results if r["rc"] == 0]
    return {"tasks": len(results), "ok": len(ok), "wall_s": round(wall, 2),
            "task_wall_median_s": round(sorted(r["wall"] for r in ok)[len(ok) // 2], 3) if ok else None,
            "tgx_cpu_s": round(sum(r["cpu"] for r in results), 1)}


if __name__ == "__main__":
    sys.exit("a helper module: run pool.py, nats_spike.py or arq_spike.py (see README.md)")
