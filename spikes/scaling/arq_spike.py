"""arq over Debian's redis-server: asyncio jobs in a Redis sorted set per queue.

* per-account routing: one queue per account (``arq:queue:tgx.<account>``) and a worker per
  queue it serves; the spike's two workers share one queue (``tgx``) so that either can take
  over the other's chats (arq's worker reads exactly one queue);
* a flood wait reschedules: tgx stops with exit 6 and the job raises ``Retry(defer=N)``: the
  job's score in the sorted set moves N seconds on, the worker is free at once;
* a crash: arq marks a running job with an in-progress key that expires ``job_timeout + 10 s``
  after it started; there is no heartbeat, so a dead worker's chat waits for that expiry before
  another worker runs it (``JOB_TIMEOUT`` below: the longest one task may legitimately run).

    python arq_spike.py bench [--chats 200 --messages 2000 --work /tmp/spike-arq]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import driver
import workload
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Retry, Worker

JOB_TIMEOUT = 20  # seconds; arq redelivers a dead worker's job JOB_TIMEOUT + 10 s after it started
QUEUE = "arq:queue:tgx"
EVENTS = "spike:events"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# worker


async def report(redis: Any, kind: str, task: str | None, **more: Any) -> None:
    await redis.rpush(EVENTS, json.dumps({"kind": kind, "task": task, "t": time.time(), "pid": os.getpid(), **more}))


async def export(ctx: dict[str, Any], task: dict[str, Any]) -> None:
    t_start = time.time()
    redis = ctx["redis"]
    if task.get("empty"):
        await report(redis, "done", task["id"], t_start=t_start)
        return
    attempt = ctx["job_try"]
    task["config"] = task["configs"][min(attempt, len(task["configs"])) - 1]
    await report(redis, "started", task["id"], attempt=attempt)
    result = await asyncio.to_thread(workload.export_chat, task)
    if result["rc"] == workload.EXIT_FLOOD:
        await report(redis, "rescheduled", task["id"], delay=result["flood_seconds"], t_start=t_start)
        raise Retry(defer=result["flood_seconds"])
    await report(redis, "done", task["id"], t_start=t_start, result=result)


async def on_startup(ctx: dict[str, Any]) -> None:
    await report(ctx["redis"], "ready", None)


def worker(port: int, queue: str) -> None:
    w = Worker(functions=[export], redis_settings=RedisSettings(port=port), queue_name=queue, max_jobs=1,
               job_timeout=JOB_TIMEOUT * 100, max_tries=1000, poll_delay=0.05, on_startup=on_startup,
               handle_signals=True, keep_result=0)
    # in-progress expiry: arq derives it from the longest function timeout; the spike sets it to
    # JOB_TIMEOUT + 10 s directly so a crash shows within the test (tasks run longer than that are
    # not redelivered early: the key is refreshed only when a job starts, so keep tasks short)
    w.in_progress_timeout_s = JOB_TIMEOUT + 10
    w.run()


# ---------------------------------------------------------------------------------------------
# the driver's adapter


class Engine:
    name = "arq 0.28 over redis-server 7.0"

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    async def start(self, work: Path, workers: int) -> None:
        self.port = free_port()
        self.server = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                        "--dir", str(work), "--appendonly", "yes", "--save", ""],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                self.pool = await create_pool(RedisSettings(port=self.port, conn_retries=0))
                break
            except Exception:  # noqa: BLE001
                await asyncio.sleep(0.1)
        await self.pool.delete(EVENTS)
        here = Path(__file__).resolve().parent
        for _ in range(workers):
            self.procs.append(subprocess.Popen([sys.executable, str(here / "arq_spike.py"), "worker",
                                                "--port", str(self.port)], cwd=here, start_new_session=True))

    async def submit(self, task: dict[str, Any], account: str) -> None:
        # a real deployment: _queue_name=f"arq:queue:tgx.{account}" and workers per account queue
        await self.pool.enqueue_job("export", task, _queue_name=QUEUE, _job_id=f"{task['id']}-{time.time_ns()}")

    async def event(self, timeout: float) -> dict[str, Any] | None:
        got = await self.pool.blpop(EVENTS, timeout=max(0.01, min(timeout, 5)))
        return json.loads(got[1]) if got else None

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def server_pid(self) -> int:
        return self.server.pid

    async def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        await self.pool.aclose()
        self.server.terminate()
        self.server.wait(5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["bench", "worker"])
    ap.add_argument("--port", type=int)
    ap.add_argument("--queue", default=QUEUE)
    ap.add_argument("--chats", type=int, default=200)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/spike-arq"))
    ap.add_argument("--no-crash", action="store_true")
    a = ap.parse_args()
    if a.mode == "worker":
        worker(a.port, a.queue)
        return
    result = asyncio.run(driver.measure(Engine(), a.work, chats=a.chats, messages=a.messages, crash=not a.no_crash))
    print(json.dumps(result, indent=2))
    (a.work / "result.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
