"""The baseline: the same chat-per-task exports in a plain local process pool (no engine).

    python spikes/scaling/pool.py --chats 200 --messages 2000 --workers 2 --work /tmp/spike-pool
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import time
from pathlib import Path

import workload


def run(chats: int, messages: int, workers: int, work: Path, latency_ms: float = 100) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    names = workload.chat_names(chats)
    cfg = workload.scenario(work / "tgx.toml", names, messages, latency_ms=latency_ms)
    tasks = [{"chat": c, "out": str(work / "out"), "config": str(cfg), "data": str(work / "data")} for c in names]
    started = time.time()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        results = pool.map(workload.export_chat, tasks, chunksize=1)
    summary = workload.summary(results, time.time() - started)
    summary["msg_per_s"] = round(chats * messages / summary["wall_s"])
    return summary


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--chats", type=int, default=200)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/spike-pool"))
    a = ap.parse_args()
    print(json.dumps(run(a.chats, a.messages, a.workers, a.work), indent=2))
