"""NATS JetStream: a work-queue stream ``TGX`` with one subject per account
(``tgx.export.<account>``), pull consumers, explicit acks.

* per-account routing: a worker pulls from the subjects of the accounts it holds (``--accounts``;
  the spike's two workers both hold ``a`` and ``b`` through one shared durable consumer, so that
  either can take over the other's chats);
* a flood wait reschedules: tgx stops with exit 6 (progress saved) and the worker answers
  ``nak(delay=N)``: the *server* redelivers the task in N seconds; the worker is free at once;
* a crash: a running task is kept alive with ``in_progress()`` every ACK_WAIT / 3; a dead worker
  stops doing that and JetStream redelivers after ACK_WAIT to any worker, which resumes the chat
  from its archive.

    python nats_spike.py bench [--chats 200 --messages 2000 --work /tmp/spike-nats]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import driver
import nats
import workload
from nats.js.api import ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

ACK_WAIT = 6.0  # seconds without an ack or in_progress() before JetStream redelivers
EVENTS = "tgx.events"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# worker


async def worker(url: str, subjects: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    sub = await js.pull_subscribe(subjects, durable="workers", stream="TGX",
                                  config=ConsumerConfig(ack_wait=ACK_WAIT, max_deliver=-1, max_ack_pending=-1))

    async def report(kind: str, task: str | None, **more: Any) -> None:
        await nc.publish(EVENTS, json.dumps({"kind": kind, "task": task, "t": time.time(), "pid": os.getpid(),
                                             **more}).encode())

    await report("ready", None)
    while True:
        try:
            msgs = await sub.fetch(1, timeout=5)
        except nats.errors.TimeoutError:
            continue
        for msg in msgs:
            t_start = time.time()
            task = json.loads(msg.data)
            if task.get("empty"):
                await msg.ack()
                await report("done", task["id"], t_start=t_start)
                continue
            attempt = msg.metadata.num_delivered
            task["config"] = task["configs"][min(attempt, len(task["configs"])) - 1]
            await report("started", task["id"], attempt=attempt)
            job = asyncio.create_task(asyncio.to_thread(workload.export_chat, task))
            while not job.done():
                await asyncio.wait([job], timeout=ACK_WAIT / 3)
                if not job.done():
                    await msg.in_progress()
            result = job.result()
            if result["rc"] == workload.EXIT_FLOOD:
                await msg.nak(delay=result["flood_seconds"])
                await report("rescheduled", task["id"], delay=result["flood_seconds"], t_start=t_start)
            else:
                await msg.ack()
                await report("done", task["id"], t_start=t_start, result=result)


# ---------------------------------------------------------------------------------------------
# the driver's adapter


async def _quiet(_exc: Exception) -> None:
    """nats-py prints every refused connect while the server starts; the loop below retries."""


class Engine:
    name = "NATS JetStream (nats-server 2.9 + nats-py)"

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.queue: asyncio.Queue = asyncio.Queue()

    async def start(self, work: Path, workers: int) -> None:
        port = free_port()
        self.url = f"nats://127.0.0.1:{port}"
        store = work / "jetstream"
        shutil.rmtree(store, ignore_errors=True)
        self.server = subprocess.Popen(["nats-server", "-js", "-sd", str(store), "-p", str(port), "-a", "127.0.0.1"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                self.nc = await nats.connect(self.url, connect_timeout=0.5, max_reconnect_attempts=0,
                                             error_cb=_quiet)
                break
            except Exception:  # noqa: BLE001
                await asyncio.sleep(0.1)
        self.js = self.nc.jetstream()
        await self.js.add_stream(StreamConfig(name="TGX", subjects=["tgx.export.*"],
                                              retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE))
        await self.nc.subscribe(EVENTS, cb=self._event)
        here = Path(__file__).resolve().parent
        for _ in range(workers):
            self.procs.append(subprocess.Popen([sys.executable, str(here / "nats_spike.py"), "worker", self.url],
                                               cwd=here, start_new_session=True))

    async def _event(self, msg: Any) -> None:
        await self.queue.put(json.loads(msg.data))

    async def submit(self, task: dict[str, Any], account: str) -> None:
        await self.js.publish(f"tgx.export.{account}", json.dumps(task).encode())

    async def event(self, timeout: float) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

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
        await self.nc.close()
        self.server.terminate()
        self.server.wait(5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["bench", "worker"])
    ap.add_argument("url", nargs="?")
    ap.add_argument("--subjects", default="tgx.export.*")
    ap.add_argument("--chats", type=int, default=200)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/spike-nats"))
    ap.add_argument("--no-crash", action="store_true")
    a = ap.parse_args()
    if a.mode == "worker":
        asyncio.run(worker(a.url, a.subjects))
        return
    result = asyncio.run(driver.measure(Engine(), a.work, chats=a.chats, messages=a.messages, crash=not a.no_crash))
    print(json.dumps(result, indent=2))
    (a.work / "result.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
