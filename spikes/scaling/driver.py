"""The measurements, the same for every engine (``nats_spike.py``, ``arq_spike.py``).

An engine adapter has: ``async start(work, workers)`` (its server and ``workers`` worker processes),
``async submit(task, account)``, ``async event(timeout)`` (the next event a worker reported:
``ready``, ``started``, ``done``, ``rescheduled``), ``worker_pids()``, ``async stop()``.
Workers report ``{"kind", "task", "t", ...}``; ``t`` is ``time.time()`` on the same machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import workload

ACCOUNTS = ("a", "b")  # two simulated accounts; chats are routed to their account's queue


async def wait_for(engine: Any, pred: Any, timeout: float = 600) -> list[dict[str, Any]]:
    """Events until ``pred(events)`` holds (all of them returned)."""
    seen: list[dict[str, Any]] = []
    deadline = time.time() + timeout
    while not pred(seen):
        left = deadline - time.time()
        if left <= 0:
            raise TimeoutError(f"waited {timeout} s; {len(seen)} events")
        ev = await engine.event(left)
        if ev is not None:
            seen.append(ev)
    return seen


def done_of(events: list[dict[str, Any]], ids: set[str]) -> set[str]:
    return {e["task"] for e in events if e["kind"] == "done" and e["task"] in ids}


async def dispatch_latency(engine: Any, n: int) -> dict[str, Any]:
    """Empty tasks one at a time: enqueue → a worker starts it (one way), and → its result back."""
    one_way, round_trip = [], []
    for i in range(n):
        tid = f"lat{i}"
        t0 = time.time()
        await engine.submit({"id": tid, "empty": True, "t_enq": t0}, ACCOUNTS[i % 2])
        evs = await wait_for(engine, lambda e, tid=tid: tid in done_of(e, {tid}), 60)
        t1 = time.time()
        ev = next(e for e in evs if e["kind"] == "done" and e["task"] == tid)
        one_way.append((ev["t_start"] - t0) * 1000)
        round_trip.append((t1 - t0) * 1000)
    q = statistics.quantiles(one_way, n=20)
    return {"tasks": n, "enqueue_to_start_ms_median": round(statistics.median(one_way), 2),
            "enqueue_to_start_ms_p95": round(q[18], 2),
            "round_trip_ms_median": round(statistics.median(round_trip), 2)}


async def empty_throughput(engine: Any, n: int) -> dict[str, Any]:
    ids = {f"e{i}" for i in range(n)}
    t0 = time.time()
    for i in range(n):
        await engine.submit({"id": f"e{i}", "empty": True, "t_enq": time.time()}, ACCOUNTS[i % 2])
    t_sub = time.time() - t0
    await wait_for(engine, lambda e: len(done_of(e, ids)) == n, 300)
    wall = time.time() - t0
    return {"tasks": n, "wall_s": round(wall, 2), "tasks_per_s": round(n / wall), "enqueue_s": round(t_sub, 2)}


def chat_task(chat: str, work: Path, configs: list[Path], **extra: Any) -> dict[str, Any]:
    return {"id": chat, "chat": chat, "out": str(work / "out"), "configs": [str(c) for c in configs],
            "data": str(work / "data"), "t_enq": time.time(), **extra}


async def exports(engine: Any, work: Path, chats: int, messages: int) -> dict[str, Any]:
    """The chat-per-task workload: ``chats`` channels x ``messages`` at 100 ms, no rate limit."""
    names = workload.chat_names(chats)
    cfg = workload.scenario(work / "exports.toml", names, messages, latency_ms=100)
    peak = {pid: 0.0 for pid in engine.worker_pids()}
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            for pid in peak:
                peak[pid] = max(peak[pid], workload.rss_mb(pid, tree=True))
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    t0 = time.time()
    for i, chat in enumerate(names):
        await engine.submit(chat_task(chat, work, [cfg]), ACCOUNTS[i % 2])
    events = await wait_for(engine, lambda e: len(done_of(e, set(names))) == chats, 1800)
    wall = time.time() - t0
    stop.set()
    await sampler
    results = [e["result"] for e in events if e["kind"] == "done"]
    bad = [r for r in results if r["rc"] != 0]
    counts = [workload.count_lines(work / "out", c) for c in names]
    return {"chats": chats, "messages": messages, "wall_s": round(wall, 2),
            "msg_per_s": round(chats * messages / wall), "failed": len(bad),
            "complete_chats": sum(1 for n, d in counts if n == d == messages),
            "tgx_cpu_s": round(sum(r["cpu"] for r in results), 1),
            "peak_worker_tree_rss_mb": round(max(peak.values()), 1)}


async def flood_reschedule(engine: Any, work: Path, others: int = 20, wait_s: int = 20) -> dict[str, Any]:
    """A chat whose first attempt meets FLOOD_WAIT_<wait_s> (above --max-flood-wait 5): tgx stops
    with exit 6, progress saved; the worker hands the task back to be redelivered after the wait
    and takes other chats meanwhile. Its second attempt (no fault) resumes and finishes."""
    first = workload.scenario(work / "flood1.toml", ["floody"], 5000, latency_ms=100,
                              faults=[{"type": "flood_wait", "request": "GetHistoryRequest", "seconds": wait_s,
                                       "after": 10, "times": 0}])
    clean = workload.scenario(work / "flood2.toml", ["floody"], 5000, latency_ms=100)
    names = [f"other{i:02d}" for i in range(others)]
    ocfg = workload.scenario(work / "others.toml", names, 2000, latency_ms=100)
    t0 = time.time()
    await engine.submit(chat_task("floody", work, [first, clean], max_flood_wait=5), "a")
    await asyncio.sleep(0.5)
    for i, chat in enumerate(names):
        await engine.submit(chat_task(chat, work, [ocfg]), ACCOUNTS[i % 2])
    want = {"floody", *names}
    events = await wait_for(engine, lambda e: done_of(e, want) == want, 600)
    resched = next(e for e in events if e["kind"] == "rescheduled" and e["task"] == "floody")
    done = next(e for e in events if e["kind"] == "done" and e["task"] == "floody")
    during = [e for e in events if e["kind"] == "done" and e["task"] != "floody"
              and resched["t"] <= e["t"] <= done["result"]["started"]]
    lines, distinct = workload.count_lines(work / "out", "floody")
    return {"flood_wait_s": wait_s, "rescheduled_after_s": round(resched["t"] - t0, 2),
            "redelivered_after_wait_s": round(done["result"]["started"] - resched["t"], 2),
            "other_chats_finished_during_the_wait": len(during),
            "second_attempt_fetched": done["result"].get("fetched"),
            "final_lines": lines, "final_distinct_ids": distinct, "expected": 5000}


async def worker_crash(engine: Any, work: Path, messages: int = 20_000, kill_after: float = 8.0) -> dict[str, Any]:
    """SIGKILL the worker (its whole process group: the worker and its tgx export) in the middle
    of a rate-limited chat; the engine redelivers the task to the other worker, which resumes from
    the archive on the shared disk."""
    cfg = workload.scenario(work / "crash.toml", ["bigone"], messages, latency_ms=100, rate_limit=5)
    t0 = time.time()
    await engine.submit(chat_task("bigone", work, [cfg]), "a")
    evs = await wait_for(engine, lambda e: any(x["kind"] == "started" and x["task"] == "bigone" for x in e), 60)
    victim = next(x for x in evs if x["kind"] == "started")["pid"]
    await asyncio.sleep(kill_after)
    os.killpg(os.getpgid(victim), signal.SIGKILL)
    t_kill = time.time()
    evs = await wait_for(engine, lambda e: "bigone" in done_of(e, {"bigone"}), 900)
    restarted = next((x for x in evs if x["kind"] == "started" and x["task"] == "bigone"), None)
    done = next(x for x in evs if x["kind"] == "done")
    lines, distinct = workload.count_lines(work / "out", "bigone")
    return {"messages": messages, "killed_after_s": round(t_kill - t0, 1),
            "redelivered_after_kill_s": round(restarted["t"] - t_kill, 2) if restarted else None,
            "same_worker": restarted is not None and restarted["pid"] == victim,
            "second_run_fetched": done["result"].get("fetched"), "second_run_rc": done["result"]["rc"],
            "final_lines": lines, "final_distinct_ids": distinct}


async def measure(engine: Any, work: Path, *, chats: int, messages: int, latency_n: int = 200,
                  empty_n: int = 2000, crash: bool = True) -> dict[str, Any]:
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out: dict[str, Any] = {"engine": engine.name}
    t0 = time.time()
    await engine.start(work, 2)
    await wait_for(engine, lambda e: sum(x["kind"] == "ready" for x in e) >= 2, 120)
    out["start_s"] = round(time.time() - t0, 2)
    out["idle_worker_rss_mb"] = [round(workload.rss_mb(p), 1) for p in engine.worker_pids()]
    out["server_rss_mb"] = round(workload.rss_mb(engine.server_pid()), 1)
    try:
        out["dispatch"] = await dispatch_latency(engine, latency_n)
        out["empty"] = await empty_throughput(engine, empty_n)
        out["exports"] = await exports(engine, work, chats, messages)
        out["flood"] = await flood_reschedule(engine, work)
        if crash:
            out["crash"] = await worker_crash(engine, work)
    finally:
        await engine.stop()
    return out
