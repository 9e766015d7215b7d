#!/usr/bin/env python
"""tgx benchmarks: each figure measured side by side with its baseline, in ONE run, against the
simulated Telegram (the real Telethon client; see docs/performance.md).

    python benchmarks/run.py                  # everything (~15-20 min on 2 cores)
    python benchmarks/run.py --quick          # a small smoke version (what the test suite runs)
    python benchmarks/run.py --only latency,ratelimit --json results.json

Benches (``--only`` / ``--skip`` names):

1. ``spine``     100k messages: ``tgx export`` (a subprocess, start-up included) vs Telethon
                 ``iter_messages(wait_time=0)`` + ``to_dict`` + orjson JSONL in this process;
                 peak RSS of ``tgx export`` at 100k and 1M messages.
2. ``latency``   50 ms round trip, 20k messages: tgx vs ``iter_messages(wait_time=0)``.
3. ``ratelimit`` R GetHistory requests/s, FLOOD_WAIT beyond: tgx msg/s as a fraction of R x 100.
4. ``cpu``       no latency, 100k messages: the tgx pipeline vs the naive loop, in process and
                 as a user runs it (the whole ``tgx export`` process vs the loop's whole process).
5. ``chats``     10 chats x 10k messages at 50 ms: one ``tgx export`` of all vs ten in a row.
6. ``formats``   render throughput per format (100k, in process); peak RSS of ``tgx render``
                 json/html at 1M vs the jsonl export's.
7. ``media``     one 32 MB video at 50 ms: tgx's media stage vs Telethon ``download_media``;
                 the ``cpu`` encoder vs the same ffmpeg command run directly.
8. ``metrics``   export with metrics sinks and the monitor on vs off.
9. ``startup``   the whole ``tgx`` process for ``--version``, ``--help``, ``plugins`` and a render of
                 a 10-message archive, vs ``python -c "import typer, rich.console"`` (ratios).
10. ``threads``  comments of a channel at 50 ms: ``tgx export --comments`` (the whole process) vs
                 Telethon's obvious loop (``iter_messages(channel, reply_to=post)`` per post with
                 comments), target >= 5x; ``--topic`` on a 20-topic forum: GetReplies requests vs
                 the chosen topic's own pages, target <= 1.2x.
13. ``import``   ``tgx import`` of a Telegram Desktop result.json (100k messages; the whole
                 process) vs the time ijson alone needs for its messages, target <= 3x; peak RSS at
                 1M messages <= 150 MB and flat (benchmarks/imports.py).
14. ``accounts`` 200 chats x 2,000 at 100 ms, 5 GetHistory/s per account: the whole
                 ``tgx export --all-dialogs`` (msg/s, CPU s, peak RSS) with 1 account, then 2, 4, 8,
                 16 once ``--accounts`` exists (benchmarks/accounts.py); target 4 vs 1 >= 3.5x.

Every line prints tgx's figure, the baseline's, their ratio, the target and PASS/FAIL (INFO
for figures without a target). Wall-clock figures are only as steady as the machine: the load
average is printed with each bench. Exit status is 0 unless a bench crashed (``--strict``:
also 1 when a target is missed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import tomlkit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "core") not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "core"))
    sys.path.insert(0, str(ROOT / "plugins"))

MIB = 1 << 20

# Runs one command, then writes its wall time, exit status, peak RSS (the kernel's high-water
# mark of the biggest process under it: getrusage(RUSAGE_CHILDREN)), the peak RSS of its whole
# process tree (the command and its children, e.g. tgx's decode workers: sampled every 0.1 s)
# and CPU time as JSON to the file in argv[1].
_WRAPPER = r"""
import json, resource, subprocess, sys, threading, time
import psutil
t = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
peak = [0]
def sample():
    try:
        root = psutil.Process(proc.pid)
    except psutil.Error:
        return
    while proc.poll() is None:
        try:
            total = root.memory_info().rss
            for child in root.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], total)
        except psutil.Error:
            pass
        time.sleep(0.1)
threading.Thread(target=sample, daemon=True).start()
rc = proc.wait()
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    json.dump({"rc": rc, "wall": wall, "maxrss_kb": ru.ru_maxrss, "tree_kb": peak[0] // 1024,
               "cpu": ru.ru_utime + ru.ru_stime}, f)
"""


# ---------------------------------------------------------------------------------------------
# results


@dataclass
class Row:
    bench: str
    what: str
    value: float | None
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    target: str = ""
    ok: bool | None = None  # None: information only
    note: str = ""

    @property
    def verdict(self) -> str:
        return "INFO" if self.ok is None else ("PASS" if self.ok else "FAIL")


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit in ("msg/s", "MB", "KB") or abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.errors: list[str] = []

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        base = _num(row.baseline, row.unit) if row.baseline is not None else ""
        print(f"  {row.verdict:4}  {row.what:<52} {_num(row.value, row.unit):>16} {base:>16} {ratio:>8}"
              f"  {row.target}{'  (' + row.note + ')' if row.note else ''}", flush=True)
        return row

    def table(self) -> str:
        head = f"{'bench':<9} {'measure':<52} {'tgx':>16} {'baseline':>16} {'ratio':>8}  {'target':<22} result"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
            base = _num(r.baseline, r.unit) if r.baseline is not None else ""
            lines.append(f"{r.bench:<9} {r.what:<52} {_num(r.value, r.unit):>16} {base:>16} {ratio:>8}  "
                         f"{r.target:<22} {r.verdict}")
        for e in self.errors:
            lines.append(f"ERROR  {e}")
        passed = sum(1 for r in self.rows if r.ok)
        failed = sum(1 for r in self.rows if r.ok is False)
        lines.append(f"{passed} PASS, {failed} FAIL, {len(self.errors)} ERROR")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# running things


@dataclass
class Sizes:
    spine: int = 100_000
    big: int = 1_000_000
    latency: int = 20_000
    rate_msgs: int = 50_000
    rate: float = 20.0
    cpu: int = 100_000
    chats: int = 10
    chat_msgs: int = 10_000
    formats: int = 100_000
    formats_big: int = 1_000_000
    video_mb: int = 32
    clip: str = "1280x720"
    clip_seconds: int = 10
    metrics_msgs: int = 50_000
    metrics_runs: int = 5
    thread_posts: int = 1_000
    thread_commented: int = 300
    thread_most: int = 200
    forum_msgs: int = 40_000
    archive: int = 100_000
    refresh_small: int = 1_000
    refresh_big: int = 100_000
    catchup: int = 20_000
    acct_chats: int = 200  # accounts: the workload of issue 17 (100 ms RTT, 5 GetHistory/s per account)
    acct_msgs: int = 2_000
    acct_counts: tuple[int, ...] = (1, 2, 4, 8, 16)
    rounds: int = 5  # spine/latency/cpu/chats: each side this many times, alternating; best kept

    @classmethod
    def quick(cls) -> Sizes:
        return cls(spine=2_000, big=8_000, latency=1_500, rate_msgs=2_000, rate=40.0, cpu=2_000, chats=2,
                   chat_msgs=500, formats=2_000, formats_big=8_000, video_mb=4, clip="160x90",
                   clip_seconds=1, metrics_msgs=1_500, metrics_runs=1, thread_posts=100, thread_commented=20,
                   thread_most=20,
                   forum_msgs=2_000, archive=3_000, refresh_big=5_000, catchup=2_000, acct_chats=4, acct_msgs=300,
                   acct_counts=(1, 4), rounds=1)


@dataclass
class Ctx:
    tmp: Path
    sizes: Sizes
    report: Report
    keep: dict[str, Any] = field(default_factory=dict)  # artefacts shared by benches

    def dir(self, name: str) -> Path:
        path = self.tmp / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


def channel(username: str, messages: int, *, media: bool = False) -> dict[str, Any]:
    return {"kind": "channel", "username": username, "title": username, "messages": messages, "media": media}


def scenario_file(path: Path, **scenario: Any) -> Path:
    path.write_text(tomlkit.dumps({"simulated": scenario}), encoding="utf-8")
    return path


def tgx_env(ctx: Ctx, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGX_")}
    env.update(TGX_CONFIG=str(config), TGX_DATA_DIR=str(ctx.tmp / "data"), PYTHONUNBUFFERED="1")
    # tgx as installed has its bytecode compiled (pip does it); PYTHONDONTWRITEBYTECODE (set on
    # some CI images) would make every run compile tgx anew: ~0.7 s of start-up, measured.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "core"), str(ROOT / "plugins"), env.get("PYTHONPATH", "")])
    return env


@dataclass
class Measured:
    rc: int
    wall: float
    maxrss_mb: float  # the biggest single process (tgx itself)
    cpu: float
    tree_mb: float = 0.0  # tgx and its decode workers together (sampled peak)


def run_measured(argv: Sequence[str], *, env: dict[str, str], cwd: Path, timeout: float = 3_600) -> Measured:
    """Run ``argv`` under the RSS wrapper; stdout/stderr go to a log next to ``cwd``."""
    fd, result = tempfile.mkstemp(suffix=".json", dir=cwd)
    os.close(fd)
    log = cwd / "bench-commands.log"
    with open(log, "ab") as out:
        out.write(("\n$ " + " ".join(argv) + "\n").encode())
        out.flush()
        subprocess.run([sys.executable, "-c", _WRAPPER, result, *argv], env=env, cwd=cwd, stdout=out,
                       stderr=out, timeout=timeout, check=False)
    data = json.loads(Path(result).read_text())
    os.unlink(result)
    return Measured(data["rc"], data["wall"], data["maxrss_kb"] / 1024, data["cpu"], data["tree_kb"] / 1024)


def tgx_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tgx", *args]


def run_tgx(ctx: Ctx, config: Path, *args: str, cwd: Path | None = None) -> Measured:
    m = run_measured(tgx_cmd(*args), env=tgx_env(ctx, config), cwd=cwd or ctx.tmp)
    if m.rc != 0:
        raise RuntimeError(f"tgx {' '.join(args)} exited {m.rc} (see {(cwd or ctx.tmp) / 'bench-commands.log'})")
    return m


def world_of(**scenario: Any) -> Any:
    from tgx.testing import SimulatedTelegram

    return SimulatedTelegram.from_scenario(scenario)


async def naive_loop(world: Any, username: str, path: Path) -> tuple[int, float]:
    """The baseline: Telethon's iterator without its sleep, to_dict, orjson, one JSONL file."""
    client = world.client()
    await client.connect()
    try:
        entity = await client.get_input_entity(username)
        started = time.perf_counter()
        n = 0
        with open(path, "wb") as f:
            async for m in client.iter_messages(entity, wait_time=0):
                f.write(orjson.dumps(m.to_dict(), default=str, option=orjson.OPT_APPEND_NEWLINE))
                n += 1
        return n, time.perf_counter() - started
    finally:
        await client.disconnect()


def naive(world: Any, username: str, path: Path) -> tuple[int, float]:
    return asyncio.run(naive_loop(world, username, path))


# The naive loop as a user would run it: a whole Python process (start-up and imports included),
# the same simulated world and Telethon client as tgx's subprocess uses.
_NAIVE_PROCESS = r"""
import asyncio, sys
from pathlib import Path
sys.path[:0] = sys.argv[4].split("|")
import run as bench
n, _sec = bench.naive(bench.world_of(chats=[bench.channel(sys.argv[1], int(sys.argv[2]))]), sys.argv[1],
                      Path(sys.argv[3]))
assert n == int(sys.argv[2]), n
"""


def naive_process(ctx: Ctx, name: str, messages: int) -> Measured:
    work = ctx.dir(name)
    paths = "|".join([str(ROOT / "benchmarks"), str(ROOT / "core"), str(ROOT / "plugins")])
    m = run_measured([sys.executable, "-c", _NAIVE_PROCESS, "bigchan", str(messages), str(work / "x.jsonl"), paths],
                     env=tgx_env(ctx, work / "unused.toml"), cwd=work)
    if m.rc != 0:
        raise RuntimeError(f"the naive loop process exited {m.rc} (see {work / 'bench-commands.log'})")
    return m


def export_in_process(world: Any, chats: list[str], out: Path, *, formats: Sequence[str] = ("jsonl",),
                      media: Any = None, concurrency: int | None = None) -> tuple[Any, float]:
    """``tgx export`` without the interpreter start: run_export with the plugin manager and a client."""
    from tgx.config import Config
    from tgx.export.conductor import ExportRequest, run_export
    from tgx.fetch.history import FetchOptions
    from tgx.host.manager import get_plugin_manager
    from tgx.metrics.progress import ExportProgress
    from tgx.render.engine import render_chat

    async def main() -> tuple[Any, float]:
        config = Config(env={"TGX_DATA_DIR": str(out.parent / "data")})
        pm = get_plugin_manager(config, load_entrypoints=False)
        client = world.client()
        await client.connect()
        try:
            fetch = FetchOptions() if concurrency is None else FetchOptions(concurrency=concurrency)
            req = ExportRequest(chats=chats, out=out, formats=list(formats), fetch=fetch, media=media,
                                metrics_interval=0, quiet=True)
            started = time.perf_counter()
            with ExportProgress(quiet=True) as progress:
                outcome = await run_export(pm, config, req, client, progress, render=render_chat)
            return outcome, time.perf_counter() - started
        finally:
            await client.disconnect()

    return asyncio.run(main())


def alternate(rounds: int, baseline: Callable[[int], Any], candidate: Callable[[int], Any]) -> tuple[list, list]:
    """Run both sides ``rounds`` times — each round runs the two back to back, alternating which
    goes first — and return every result of each side, in round order (see :func:`paired_row`)."""
    base: list[Any] = []
    cand: list[Any] = []
    for i in range(rounds):
        for run, into in ((baseline, base), (candidate, cand)) if i % 2 == 0 else ((candidate, cand), (baseline, base)):
            into.append(run(i))
    return base, cand


def paired_row(ctx: Ctx, bench: str, what: str, tgx_values: Sequence[float], base_values: Sequence[float],
               target: float, *, unit: str = "msg/s", higher_is_better: bool = True, extra: str = "") -> Row:
    """A ratio row from paired rounds: the ratio is the median of each round's own tgx/baseline
    ratio. This machine's speed drifts by tens of percent over minutes (a shared host): two runs
    back to back see about the same machine, so their ratio cancels the drift, and the median of
    several rounds is robust to a round that caught a hiccup. The tgx and baseline columns show
    each side's median; the note shows the spread of everything."""
    ratios = [t / b for t, b in zip(tgx_values, base_values, strict=True)]
    ratio = statistics.median(ratios)
    ok = ratio >= target if higher_is_better else ratio <= target
    sign = ">=" if higher_is_better else "<="
    note = (f"median of {len(ratios)} paired rounds: ratios {min(ratios):.2f}-{max(ratios):.2f}; "
            f"tgx {spread(tgx_values)}, baseline {spread(base_values)} {unit}{'; ' + extra if extra else ''}; {load()}")
    return ctx.report.add(Row(bench, what, statistics.median(tgx_values), unit, statistics.median(base_values),
                              ratio, f"ratio {sign} {target}", ok, note))


def spread(values: Sequence[float]) -> str:
    def show(v: float) -> str:
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}"

    return f"{show(min(values))}-{show(max(values))}" if len(values) > 1 else show(values[0])


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}/{fifteen:.1f}"


def ratio_row(ctx: Ctx, bench: str, what: str, tgx_value: float, base: float, target: float, *,
              unit: str = "msg/s", higher_is_better: bool = True, note: str = "") -> Row:
    ratio = tgx_value / base if base else None
    ok = None if ratio is None else (ratio >= target if higher_is_better else ratio <= target)
    sign = ">=" if higher_is_better else "<="
    return ctx.report.add(Row(bench, what, tgx_value, unit, base, ratio, f"ratio {sign} {target}", ok, note))


# ---------------------------------------------------------------------------------------------
# 1. spine


def export_subprocess(ctx: Ctx, name: str, messages: int, *extra: str, latency_ms: float = 0) -> tuple[Measured, Path]:
    work = ctx.dir(name)
    cfg = scenario_file(work / "tgx.toml", chats=[channel("bigchan", messages)], latency_ms=latency_ms)
    m = run_tgx(ctx, cfg, "export", "@bigchan", "-o", str(work / "out"), "-f", "jsonl", "-q", *extra, cwd=work)
    return m, work / "out"


def bench_spine(ctx: Ctx) -> None:
    s = ctx.sizes
    bases, runs = alternate(
        s.rounds,
        lambda _i: naive(world_of(chats=[channel("bigchan", s.spine)]), "bigchan", ctx.dir("spine-naive") / "x.jsonl"),
        lambda _i: export_subprocess(ctx, "spine-100k", s.spine)[0])
    base_rates = [n / sec for n, sec in bases]
    rates = [s.spine / m.wall for m in runs]
    m = max(runs, key=lambda r: r.tree_mb)
    paired_row(ctx, "spine", f"tgx export {s.spine:,} msgs (subprocess, start-up incl.)", rates, base_rates, 1.0)
    ctx.report.add(Row("spine", f"peak RSS of tgx export at {s.spine:,} (+ decode workers)", m.tree_mb, "MB",
                       note=f"tgx process alone {m.maxrss_mb:.0f} MB"))
    big, big_out = export_subprocess(ctx, "spine-1m", s.big)
    ctx.keep["big_out"], ctx.keep["big_export_rss"] = big_out, big.tree_mb
    ctx.report.add(Row("spine", f"peak RSS of tgx export at {s.big:,} (+ decode workers)", big.tree_mb, "MB",
                       target="<= 150 MB", ok=big.tree_mb <= 150,
                       note=f"tgx process alone {big.maxrss_mb:.0f} MB; {s.big / big.wall:,.0f} msg/s"))
    growth = big.tree_mb / m.tree_mb
    ctx.report.add(Row("spine", f"RSS {s.big:,} / RSS {s.spine:,} (+ decode workers)", growth, "x",
                       target="<= 1.15", ok=growth <= 1.15))


# ---------------------------------------------------------------------------------------------
# 2. latency


def bench_latency(ctx: Ctx) -> None:
    s = ctx.sizes
    scenario = {"chats": [channel("bigchan", s.latency)], "latency_ms": 50}
    bases, runs = alternate(
        s.rounds,
        lambda _i: naive(world_of(**scenario), "bigchan", ctx.dir("latency-naive") / "x.jsonl"),
        lambda _i: export_in_process(world_of(**scenario), ["@bigchan"], ctx.dir("latency-tgx") / "out"))
    base_rates = [n / sec for n, sec in bases]
    rates = [o.chats[0].fetch.fetched / sec for o, sec in runs]
    outcome, _ = runs[rates.index(max(rates))]
    paired_row(ctx, "latency", f"50 ms RTT, {s.latency:,} msgs: export (in process)", rates, base_rates, 4.0)
    fetched = outcome.chats[0].fetch.fetched
    fetch = outcome.report["stages"]["fetch"]
    peak = outcome.report["gauges"].get("pacing.GetHistoryRequest.in_flight", {}).get("max")
    ctx.report.add(Row("latency", "  fetch phase alone", fetched / fetch["wall_seconds"], "msg/s",
                       note=f"peak {peak} requests in flight"))


# ---------------------------------------------------------------------------------------------
# 3. rate limit


def bench_ratelimit(ctx: Ctx) -> None:
    s = ctx.sizes
    work = ctx.dir("ratelimit")
    cfg = scenario_file(work / "tgx.toml", chats=[channel("bigchan", s.rate_msgs)], latency_ms=20,
                        rate_limit=s.rate, rate_window=1.0)
    m = run_measured(tgx_cmd("export", "@bigchan", "-o", str(work / "out"), "-q"), env=tgx_env(ctx, cfg), cwd=work)
    ctx.report.add(Row("ratelimit", "failed exports", 0 if m.rc == 0 else 1, "", target="0", ok=m.rc == 0))
    if m.rc != 0:
        return
    report = json.loads((work / "out" / "export_metrics.json").read_text())
    fetch = report["stages"]["fetch"]
    ceiling = s.rate * 100
    rate = s.rate_msgs / fetch["wall_seconds"]
    waits = report["totals"]["flood_waits"]
    cap = report["gauges"].get("pacing.GetHistoryRequest.rate_limit", {}).get("last")
    ctx.report.add(Row("ratelimit", f"R={s.rate:g} req/s, {s.rate_msgs:,} msgs: fetch msg/s / (R x 100)",
                       rate, "msg/s", ceiling, rate / ceiling, "fraction >= 0.9", rate / ceiling >= 0.9,
                       note=f"{waits} flood waits, learned cap {cap} req/s"))
    ctx.report.add(Row("ratelimit", "  whole command (start-up, render incl.)", s.rate_msgs / m.wall, "msg/s",
                       ceiling, s.rate_msgs / m.wall / ceiling, note=load()))


# ---------------------------------------------------------------------------------------------
# 4. CPU path


def bench_cpu(ctx: Ctx) -> None:
    s = ctx.sizes
    scenario = {"chats": [channel("bigchan", s.cpu)]}

    def pipeline(i: int) -> tuple[Any, float, float, Path]:
        out = ctx.dir(f"cpu-tgx{i}") / "out"
        cpu0 = time.process_time()
        outcome, took = export_in_process(world_of(**scenario), ["@bigchan"], out)
        return outcome, took, time.process_time() - cpu0, out

    def baseline(_i: int) -> tuple[int, float]:
        return naive(world_of(**scenario), "bigchan", ctx.dir("cpu-naive") / "x.jsonl")

    bases, runs = alternate(s.rounds, baseline, pipeline)
    base_rates = [n / sec for n, sec in bases]
    rates = [o.chats[0].fetch.fetched / took for o, took, _cpu, _out in runs]
    outcome, _took, cpu, out = runs[rates.index(max(rates))]
    ctx.keep["formats_out"] = (out, outcome.chats[0].peer.id)
    paired_row(ctx, "cpu", f"no latency, {s.cpu:,} msgs: pipeline vs naive loop", rates, base_rates, 1.3)
    stages = outcome.report["stages"]
    split = ", ".join(f"{k} {stages[k]['seconds']:.1f}" for k in ("normalize", "archive", "render"))
    counters = outcome.report.get("counters", {})
    in_workers = counters.get("decode.pages_in_workers", 0)
    pages = in_workers + counters.get("decode.pages_inline", 0)
    ctx.report.add(Row("cpu", "  CPU seconds of this process (all threads)", cpu, "s",
                       note=f"busy s: {split} (normalize in decode workers for {in_workers:.0f} of {pages:.0f} pages)"))

    # As a user runs it: the whole `tgx export` process vs the naive loop as a whole process.
    base_procs, tgx_procs = alternate(
        s.rounds, lambda i: naive_process(ctx, f"cpu-naive-proc{i}", s.cpu),
        lambda i: export_subprocess(ctx, f"cpu-tgx-proc{i}", s.cpu)[0])
    paired_row(ctx, "cpu", f"no latency, {s.cpu:,} msgs: whole `tgx export` process vs naive loop process",
               [s.cpu / m.wall for m in tgx_procs], [s.cpu / m.wall for m in base_procs], 1.3)
    best = min(tgx_procs, key=lambda m: m.wall)
    ctx.report.add(Row("cpu", "  CPU seconds of the tgx process tree (decode workers incl.)", best.cpu, "s",
                       note=f"naive process {min(m.cpu for m in base_procs):.1f} s"))


# ---------------------------------------------------------------------------------------------
# 5. many chats


def bench_chats(ctx: Ctx) -> None:
    s = ctx.sizes
    names = [f"chan{i}" for i in range(s.chats)]
    work = ctx.dir("chats")
    cfg = scenario_file(work / "tgx.toml", chats=[channel(u, s.chat_msgs) for u in names], latency_ms=50)

    def in_a_row(i: int) -> float:
        return sum(run_tgx(ctx, cfg, "export", f"@{u}", "-o", str(work / f"seq{i}"), "-q", cwd=work).wall
                   for u in names)

    def at_once(i: int) -> float:
        return run_tgx(ctx, cfg, "export", *(f"@{u}" for u in names), "-o", str(work / f"one{i}"), "-q",
                       cwd=work).wall

    rounds = max(1, min(3, s.rounds))  # eleven exports a round
    seqs, ones = alternate(rounds, in_a_row, at_once)
    paired_row(ctx, "chats", f"{s.chats} chats x {s.chat_msgs:,} at 50 ms: one export vs {s.chats} in a row", ones,
               seqs, 0.35, unit="s", higher_is_better=False)


# ---------------------------------------------------------------------------------------------
# 6. formats


def format_names(ctx: Ctx) -> list[str]:
    cfg = scenario_file(ctx.tmp / "formats.toml", messages=10)
    out = subprocess.run(tgx_cmd("formats", "--json"), env=tgx_env(ctx, cfg), capture_output=True, text=True,
                         check=True, cwd=ctx.tmp).stdout
    return [f["name"] for f in json.loads(out)]


def bench_formats(ctx: Ctx) -> None:
    from tgx.archive.store import Archive
    from tgx.config import Config
    from tgx.host import registry
    from tgx.host.manager import get_plugin_manager
    from tgx.render.engine import render_chat
    from tgx.render.selection import format_options, select_formats

    s = ctx.sizes
    names = format_names(ctx)
    kept = ctx.keep.get("formats_out")
    if kept is None or s.formats != s.cpu:
        outcome, _ = export_in_process(world_of(chats=[channel("bigchan", s.formats)]), ["@bigchan"],
                                       ctx.dir("formats") / "out")
        kept = (outcome.chats[0].folder.parent, outcome.chats[0].peer.id)
    out, chat_id = kept
    config = Config(env={})
    pm = get_plugin_manager(config, load_entrypoints=False)
    available = registry.formats(pm)
    for name in names:
        if name not in available:
            continue
        selected = select_formats(pm, [name])
        options = format_options(selected, config, {})
        with Archive.open(out) as archive:
            started = time.perf_counter()
            result = render_chat(archive, chat_id, out, {name: selected[name].spec}, options)
            took = time.perf_counter() - started
        ok = result.ok
        ctx.report.add(Row("formats", f"render {name} ({s.formats:,} msgs)", s.formats / took if ok else None,
                           "msg/s", note="" if ok else f"failed: {result.errors}"))
    big_out = ctx.keep.get("big_out")
    export_rss = ctx.keep.get("big_export_rss")
    if big_out is None or s.formats_big != s.big:
        m, big_out = export_subprocess(ctx, "formats-1m", s.formats_big)
        export_rss = m.tree_mb
    cfg = scenario_file(ctx.tmp / "render.toml", messages=10)
    for name in ("json", "html"):
        if name not in names:
            ctx.report.add(Row("formats", f"peak RSS of tgx render {name}", None, "MB", note="format not available"))
            continue
        m = run_tgx(ctx, cfg, "render", str(big_out), "-f", name)
        # Both sides as the whole process tree: the export's includes its decode worker.
        ratio_row(ctx, "formats", f"peak RSS of tgx render {name} at {s.formats_big:,}", max(m.maxrss_mb, m.tree_mb),
                  export_rss, 1.0, unit="MB", higher_is_better=False,
                  note=f"vs the jsonl export's (tgx + decode worker); {s.formats_big / m.wall:,.0f} msg/s")


# ---------------------------------------------------------------------------------------------
# 7. media


async def telethon_download(world: Any, username: str, message_id: int, path: Path) -> tuple[int, float]:
    client = world.client()
    await client.connect()
    try:
        msg = await client.get_messages(username, ids=message_id)
        started = time.perf_counter()
        await client.download_media(msg, file=str(path))
        return path.stat().st_size, time.perf_counter() - started
    finally:
        await client.disconnect()


def bench_media(ctx: Ctx) -> None:
    s = ctx.sizes
    scenario = {"chats": [channel("media_chan", 40, media=True)], "big_file_mb": s.video_mb, "latency_ms": 50}
    world = world_of(**scenario)
    big = world.find("media_chan", "big_video")
    size, base_s = asyncio.run(telethon_download(world, "media_chan", big, ctx.dir("media-telethon") / "big.mp4"))
    media_stage = _media_options()
    if media_stage is None:
        ctx.report.add(Row("media", "download", None, "MB/s", note="media stage not available"))
    else:
        outcome, _ = export_in_process(world_of(**scenario), ["@media_chan"], ctx.dir("media-tgx") / "out",
                                       media=media_stage)
        download = outcome.report["stages"]["download"]
        files = outcome.report["totals"]["media_files"]
        if not download["bytes"] or not download["wall_seconds"]:
            ctx.report.add(Row("media", "download", None, "MB/s", note="the media stage downloaded nothing"))
        else:
            tgx_rate = download["bytes"] / download["wall_seconds"] / MIB
            ratio_row(ctx, "media", f"{s.video_mb} MB video at 50 ms: media stage vs download_media", tgx_rate,
                      size / base_s / MIB, 4.0, unit="MB/s",
                      note=f"{files} videos, {download['bytes'] / MIB:.0f} MB; {load()}")
    _bench_transcode(ctx)


def _media_options() -> Any:
    try:
        from tgx.media import MediaOptions
    except ImportError:
        return None
    return MediaOptions(kinds=frozenset({"video"}), parallel_files=4)


def _bench_transcode(ctx: Ctx) -> None:
    from tgx import ffmpeg

    s = ctx.sizes
    info = ffmpeg.find_ffmpeg(os.environ)
    if info is None or not info.has_encoder("libx264"):
        ctx.report.add(Row("media", "transcode", None, "s", note="no ffmpeg with libx264"))
        return
    try:
        from tgx.config import Config
        from tgx.host.manager import get_plugin_manager
        from tgx.media.encoders import EncoderChain
        from tgx.specs import EncodeJob
    except ImportError as exc:
        ctx.report.add(Row("media", "transcode", None, "s", note=f"encoding not available: {exc}"))
        return
    work = ctx.dir("transcode")
    src = work / "source.mp4"
    subprocess.run([info.path, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size={s.clip}:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
                    "-t", str(s.clip_seconds), "-c:v", "mpeg4", "-q:v", "4", "-c:a", "aac", "-y", str(src)],
                   check=True)
    config = Config(env=dict(os.environ))
    pm = get_plugin_manager(config, load_entrypoints=False)
    chain = EncoderChain.from_plugins(pm, config, pinned="cpu")
    encoder = chain.select()
    preset = getattr(encoder, "preset", "veryfast")
    crf = getattr(encoder, "crf", 23)
    direct = [info.path, "-hide_banner", "-nostdin", "-nostats", "-i", str(src), "-map", "0:v:0", "-map", "0:a:0?",
              "-sn", "-dn", "-vf", ffmpeg.long_side_scale(1920), "-c:v", "libx264", "-preset", preset, "-crf",
              str(crf), "-profile:v", "high", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart",
              "-f", "mp4", "-y", str(work / "direct.mp4")]
    tgx_times: list[float] = []
    direct_times: list[float] = []

    def via_tgx(i: int) -> None:
        started = time.perf_counter()
        chain.encode(EncodeJob(src, work / f"tgx{i}.mp4"))
        tgx_times.append(time.perf_counter() - started)

    def via_ffmpeg(i: int) -> None:
        started = time.perf_counter()
        subprocess.run(direct, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        direct_times.append(time.perf_counter() - started)

    for i in range(4):  # alternate which goes first, keep the best of each: the machine's noise
        for step in ((via_tgx, via_ffmpeg) if i % 2 == 0 else (via_ffmpeg, via_tgx)):
            step(i)
    ratio_row(ctx, "media", f"cpu encoder, {s.clip} {s.clip_seconds}s clip: tgx vs ffmpeg direct", min(tgx_times),
              min(direct_times), 1.05, unit="s", higher_is_better=False, note=f"preset {preset}, crf {crf}")


# ---------------------------------------------------------------------------------------------
# 8. metrics overhead


def bench_metrics(ctx: Ctx) -> None:
    s = ctx.sizes
    work = ctx.dir("metrics")
    cfg = scenario_file(work / "tgx.toml", chats=[channel("bigchan", s.metrics_msgs)])
    on_args = ["--metrics-interval", "1", "--metrics-textfile", str(work / "tgx.prom")]
    off_args = ["-p", "no:metrics_json", "--metrics-interval", "0"]
    on: list[Measured] = []
    off: list[Measured] = []
    for i in range(s.metrics_runs):  # alternate on/off so drift in the machine's load hits both
        on.append(run_tgx(ctx, cfg, "export", "@bigchan", "-o", str(work / f"on{i}"), "-q", *on_args, cwd=work))
        off.append(run_tgx(ctx, cfg, *off_args[:2], "export", "@bigchan", "-o", str(work / f"off{i}"), "-q",
                           *off_args[2:], cwd=work))
    # The least CPU of each side: noise (other jobs, cache misses) only ever adds, so the minima
    # are the steadiest estimate of what each costs; run-to-run spread here is 10-15 %.
    cpu_on = min(m.cpu for m in on)
    cpu_off = min(m.cpu for m in off)
    wall_on = statistics.median(m.wall for m in on)
    wall_off = statistics.median(m.wall for m in off)
    overhead = cpu_on / cpu_off - 1
    ctx.report.add(Row("metrics", f"sinks + monitor on vs off, {s.metrics_msgs:,} msgs: CPU overhead",
                       overhead * 100, "%", target="< 2 %", ok=overhead < 0.02,
                       note=f"least CPU {cpu_on:.2f} s vs {cpu_off:.2f} s of {s.metrics_runs} runs each"))
    ctx.report.add(Row("metrics", "  wall-clock overhead (medians)", (wall_on / wall_off - 1) * 100, "%",
                       note=f"{wall_on:.2f} s vs {wall_off:.2f} s; {load()}"))


# ---------------------------------------------------------------------------------------------
# 9. start-up


STARTUP_BASELINE = [sys.executable, "-c", "import typer, rich.console"]


def _wall(argv: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return took


def bench_startup(ctx: Ctx) -> None:
    """How long the whole ``tgx`` process takes for commands that do almost nothing, as a ratio to
    ``python -c "import typer, rich.console"`` (a CLI's floor) timed alternately in the same run."""
    work = ctx.dir("startup")
    cfg = scenario_file(work / "tgx.toml", chats=[channel("tinychan", 10)])
    env = tgx_env(ctx, cfg)
    run_tgx(ctx, cfg, "export", "@tinychan", "-o", str(work / "out"), "-f", "jsonl", "-q", cwd=work)
    cases = [
        ("tgx --version", ["--version"], 1.5),
        ("tgx --help", ["--help"], 2.5),
        ("tgx plugins", ["plugins"], 3.0),
        ("tgx render of a 10-message archive (jsonl)", ["render", str(work / "out"), "-f", "jsonl", "-q"], 4.0),
    ]
    rounds = max(5, ctx.sizes.rounds * 3)
    for what, args, target in cases:
        base, mine = alternate(rounds, lambda _i: _wall(STARTUP_BASELINE, env, work),
                               lambda _i, args=args: _wall(tgx_cmd(*args), env, work))
        paired_row(ctx, "startup", what, mine, base, target, unit="s", higher_is_better=False)


# ---------------------------------------------------------------------------------------------
# threads


async def obvious_comments_loop(world: Any, username: str, path: Path) -> tuple[int, float]:
    """The baseline for comments: Telethon's obvious loop — every post, then
    ``iter_messages(channel, reply_to=post)`` for each post that has comments — to JSONL."""
    client = world.client()
    await client.connect()
    try:
        entity = await client.get_input_entity(username)
        started = time.perf_counter()
        n = 0
        with open(path, "wb") as f:
            posts = [m.id async for m in client.iter_messages(entity, wait_time=0)
                     if m.replies is not None and m.replies.replies]
            for post in posts:
                async for c in client.iter_messages(entity, reply_to=post, wait_time=0):
                    f.write(orjson.dumps(c.to_dict(), default=str, option=orjson.OPT_APPEND_NEWLINE))
                    n += 1
        return n, time.perf_counter() - started
    finally:
        await client.disconnect()


def bench_threads(ctx: Ctx) -> None:
    """Comments at 50 ms: ``tgx export --comments`` (the whole process) vs the obvious loop;
    ``--topic`` on a 20-topic forum: GetReplies requests vs the topic's own pages."""
    s = ctx.sizes
    work = ctx.dir("threads")
    chan = {**channel("commented", s.thread_posts),
            "comments": {"commented": s.thread_commented, "most": s.thread_most}}
    scenario = {"chats": [chan], "latency_ms": 50}
    cfg = scenario_file(work / "tgx.toml", **scenario)
    world = world_of(**scenario)
    world.freeze()
    total = world.comment_total("commented")
    rounds = max(1, min(3, s.rounds))
    bases, runs = alternate(
        rounds,
        lambda _i: asyncio.run(obvious_comments_loop(world_of(**scenario), "commented", work / "loop.jsonl")),
        lambda i: run_tgx(ctx, cfg, "export", "@commented", "--comments", "-o", str(work / f"out{i}"), "-q",
                          cwd=work))
    for n, _sec in bases:
        assert n == total, (n, total)
    paired_row(ctx, "threads", f"{total:,} comments on {s.thread_commented} of {s.thread_posts:,} posts at 50 ms: "
               "tgx --comments (process) vs obvious loop", [total / m.wall for m in runs],
               [n / sec for n, sec in bases], 5.0, unit="comments/s")

    forum = {"kind": "forum", "username": "forum20", "messages": s.forum_msgs, "topics": 20, "media": False}
    log = work / "forum-requests.jsonl"
    fcfg = scenario_file(work / "forum.toml", chats=[forum], request_log=str(log))
    fworld = world_of(chats=[forum])
    fworld.freeze()
    thread = fworld.chat("forum20").threads[7]
    run_tgx(ctx, fcfg, "export", "@forum20", "--topic", str(thread.root), "-o", str(work / "forum"), "-q", cwd=work)
    asked = sum(1 for line in log.read_text().splitlines() if json.loads(line)["type"] == "GetRepliesRequest")
    pages = -(-thread.count // 100)
    ratio_row(ctx, "threads", f"--topic on a 20-topic forum of {s.forum_msgs:,}: GetReplies vs the topic's "
              f"{thread.count:,} msgs / 100", asked, pages, 1.2, unit="requests", higher_is_better=False)


# ---------------------------------------------------------------------------------------------
# 11. archive size


def bench_archive(ctx: Ctx) -> None:
    """Compressed rows (schema 5) against rows stored plain as before, in the same run: the same
    in-process export, once with the dictionary never trained (every row plain orjson, as schema 4
    stored them) and once as shipped; then ``tgx render OUT -f jsonl`` of each archive, as a user
    runs it (a subprocess), alternated — and, for the record, ``render_chat`` in process."""
    import tgx_jsonl
    from tgx.archive import codec
    from tgx.archive.store import Archive
    from tgx.render.engine import render_chat

    s = ctx.sizes
    scenario = {"chats": [channel("bigchan", s.archive)]}
    shipped = codec.TRAIN_ROWS

    def export(plain: bool, i: int) -> tuple[Path, int, float]:
        codec.TRAIN_ROWS = 2**62 if plain else shipped
        try:
            out = ctx.dir(f"archive-{'plain' if plain else 'zstd'}{i}") / "out"
            outcome, took = export_in_process(world_of(**scenario), ["@bigchan"], out)
        finally:
            codec.TRAIN_ROWS = shipped
        return out, outcome.chats[0].peer.id, took

    def render_cli(kept: tuple[Path, int, float], _i: int) -> float:
        return s.archive / run_tgx(ctx, cfg, "render", str(kept[0]), "-f", "jsonl", "-q").wall

    def render(kept: tuple[Path, int, float], i: int) -> float:
        out, chat_id, _took = kept
        with Archive.open(out) as archive:
            started = time.perf_counter()
            result = render_chat(archive, chat_id, ctx.tmp / f"archive-render{i}", {"jsonl": jsonl})
            took = time.perf_counter() - started
        if not result.ok:
            raise RuntimeError(f"render jsonl failed: {result.errors}")
        return s.archive / took

    jsonl = tgx_jsonl.tgx_register_formats()
    rounds = max(1, min(3, s.rounds))
    plains, packed = alternate(rounds, lambda i: export(True, i), lambda i: export(False, i))
    per_msg = [(out / ".tgx" / "archive.sqlite").stat().st_size / s.archive for out, _c, _t in (plains[-1], packed[-1])]
    ratio_row(ctx, "archive", f"archive.sqlite bytes/message, {s.archive:,} msgs: compressed vs plain rows",
              per_msg[1], per_msg[0], 0.4, unit="B/msg", higher_is_better=False,
              note=f"{per_msg[0] * s.archive / 1e6:.1f} MB -> {per_msg[1] * s.archive / 1e6:.1f} MB")
    paired_row(ctx, "archive", f"  export {s.archive:,} msgs (in process): compressed vs plain rows",
               [s.archive / t for _o, _c, t in packed], [s.archive / t for _o, _c, t in plains], 0.95)
    cfg = scenario_file(ctx.tmp / "archive-render.toml", messages=10)
    base, cand = alternate(max(5, rounds), lambda i: render_cli(plains[-1], i), lambda i: render_cli(packed[-1], i))
    paired_row(ctx, "archive", f"  tgx render OUT -f jsonl, {s.archive:,} msgs: compressed vs plain rows",
               cand, base, 1.0)
    base, cand = alternate(max(3, rounds), lambda i: render(plains[-1], i), lambda i: render(packed[-1], i))
    ctx.report.add(Row("archive", f"  render_chat jsonl {s.archive:,} msgs (in process): compressed / plain",
                       statistics.median(c / b for c, b in zip(cand, base, strict=True)), "x",
                       note=f"compressed {spread(cand)}, plain {spread(base)} msg/s; zstd expands ~0.7 us/row, "
                            "the smaller pages save ~0.25 us of it"))


# ---------------------------------------------------------------------------------------------
# 12. incremental refresh (tgx watch)


def bench_refresh(ctx: Ctx) -> None:
    """``refresh_chat`` after 50 new + 5 edited messages (the last 100), in process, every built-in
    format: jsonl + csv + txt + json (continued from a checkpoint), html + markdown (only the pages /
    notes that changed), sqlite (the changed rows patched in place), on a small and a big chat
    rendered once before: the refresh must not cost more with the chat's size (target <= 2x)."""
    from datetime import UTC, datetime, timedelta

    import tgx_csv
    import tgx_html
    import tgx_json
    import tgx_jsonl
    import tgx_markdown
    import tgx_sqlite
    import tgx_txt
    from tgx.archive.store import Archive
    from tgx.model import Message, Peer
    from tgx.render.engine import refresh_chat, render_chat

    s = ctx.sizes
    formats = {spec.name: spec for spec in (tgx_jsonl.tgx_register_formats(), tgx_csv.tgx_register_formats(),
                                            tgx_txt.tgx_register_formats(), tgx_html.tgx_register_formats(),
                                            tgx_markdown.tgx_register_formats(), tgx_json.tgx_register_formats(),
                                            tgx_sqlite.tgx_register_formats())}
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    chat_id = -1000000000099

    def make(i: int, text: str = "") -> Message:
        return Message(chat_id=chat_id, id=i, date=t0 + timedelta(minutes=3 * i), sender_id=7,
                       text=text or f"message {i} " + "words " * (i % 9), edit_date=t0 if text else None)

    def prepare(size: int) -> tuple[Archive, Path, list[int]]:
        root = ctx.dir(f"refresh-{size}")
        archive = Archive.open(root)
        archive.set_chat(Peer(chat_id, "channel", "Watched", "watched"))
        for lo in range(1, size + 1, 10_000):
            archive.upsert_batch(chat_id, [make(i) for i in range(lo, min(size, lo + 9_999) + 1)],
                                 [Peer(7, "user", "Ann")] if lo == 1 else ())
        started = time.perf_counter()
        render_chat(archive, chat_id, root / "out", formats)
        return archive, root / "out", [size, time.perf_counter() - started]

    def refresh(kept: tuple[Archive, Path, list[int]], i: int) -> float:
        archive, out, box = kept
        top = box[0]
        new = list(range(top + 1, top + 51))
        edited = [top - k * 17 for k in range(5)]
        archive.upsert_batch(chat_id, [make(n) for n in new])
        archive.upsert_batch(chat_id, [make(n, text=f"edited in round {i}") for n in edited])
        box[0] = new[-1]
        started = time.perf_counter()
        result = refresh_chat(archive, chat_id, out, formats, changed=[*new, *edited])
        took = time.perf_counter() - started
        if not result.ok:
            raise RuntimeError(f"refresh failed: {result.errors}")
        return took

    small, big = prepare(s.refresh_small), prepare(s.refresh_big)
    try:
        base, cand = alternate(max(3, s.rounds), lambda i: refresh(small, i), lambda i: refresh(big, i))
    finally:
        small[0].close()
        big[0].close()
    paired_row(ctx, "refresh", f"refresh of all 7 formats, 50 new + 5 edited: {s.refresh_big:,} vs "
               f"{s.refresh_small:,} msgs (in process)", [t * 1000 for t in cand], [t * 1000 for t in base], 2.0,
               unit="ms", higher_is_better=False,
               extra=f"full render of {s.refresh_big:,}: {big[2][1] * 1000:.0f} ms")


# ---------------------------------------------------------------------------------------------
# 13. catch-up: a rerun after edits and deletions


def bench_catchup(ctx: Ctx) -> None:
    """A rerun after 50 edits and 30 deletions on the server, at 50 ms: the exact catch-up
    (GetChannelDifference from the archive's pts, the default) vs a re-scan of the history
    (``--refresh-edits`` over all of it, on the same archive without its pts: what a rerun did
    before). Both find the same changes; requests and the whole process's wall time compared."""
    import shutil
    import sqlite3

    s = ctx.sizes
    work = ctx.dir("catchup")
    chan = channel("watched", s.catchup)
    world = world_of(chats=[chan])
    world.freeze()
    edit = list(world.editable_ids("watched", 50, s.catchup // 10))
    taken, present = set(edit), set(world.expected_ids("watched"))
    delete = [i for i in range(s.catchup // 2, s.catchup) if i in present and i not in taken][:30]
    changes = [{"chat": "watched", "edit": edit}, {"chat": "watched", "delete": delete}]
    first = scenario_file(work / "first.toml", chats=[chan], latency_ms=50)
    run_tgx(ctx, first, "export", "@watched", "-o", str(work / "out"), "-q", cwd=work)

    def rerun(name: str, *extra: str, forget: bool = False) -> tuple[Measured, int]:
        out = work / name
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(work / "out", out)
        if forget:
            con = sqlite3.connect(out / ".tgx" / "archive.sqlite")
            with con:
                con.execute("DELETE FROM meta WHERE key LIKE 'sync.%'")
            con.close()
        log = work / f"{name}.requests.jsonl"
        log.unlink(missing_ok=True)
        cfg = scenario_file(work / f"{name}.toml", chats=[chan], latency_ms=50, changes=changes, request_log=str(log))
        m = run_tgx(ctx, cfg, "export", "@watched", "-o", str(out), "-q", *extra, cwd=work)
        kinds = [json.loads(line)["type"] for line in log.read_text().splitlines()]
        lines = [json.loads(line) for line in (out / "watched" / "messages.jsonl").read_text().splitlines()]
        found = sum(1 for d in lines if d.get("history")) + sum(1 for d in lines if d.get("deleted"))
        assert found == len(edit) + len(delete), (name, found)
        return m, sum(k in ("GetHistoryRequest", "GetChannelDifferenceRequest") for k in kinds)

    exact, exact_requests = rerun("exact")
    scan, scan_requests = rerun("rescan", "--refresh-edits", "100000", forget=True)
    ratio_row(ctx, "catchup", f"rerun after 50 edits + 30 deletions in {s.catchup:,} msgs: requests, "
              "difference vs re-scan", exact_requests, scan_requests, 0.1, unit="requests", higher_is_better=False)
    ratio_row(ctx, "catchup", "the same, whole process at 50 ms: wall time", exact.wall, scan.wall, 0.5,
              unit="s", higher_is_better=False)


# ---------------------------------------------------------------------------------------------
# 14. accounts: how far one machine goes (benchmarks/accounts.py)


def bench_import(ctx: Ctx) -> None:
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    import imports  # benchmarks/imports.py, beside this file

    imports.bench_import(ctx, sys.modules[__name__])


def bench_accounts(ctx: Ctx) -> None:
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    import accounts  # benchmarks/accounts.py, beside this file

    accounts.bench_accounts(ctx, sys.modules[__name__])


BENCHES: dict[str, tuple[str, Callable[[Ctx], None]]] = {
    "spine": ("100k msgs vs Telethon + orjson; peak RSS at 100k and 1M", bench_spine),
    "latency": ("50 ms RTT, 20k msgs vs iter_messages", bench_latency),
    "ratelimit": ("R GetHistory req/s: fraction of R x 100", bench_ratelimit),
    "cpu": ("no latency, 100k msgs vs the naive loop", bench_cpu),
    "chats": ("10 chats x 10k at 50 ms: one export vs ten", bench_chats),
    "formats": ("render throughput per format; json/html RSS at 1M", bench_formats),
    "media": ("32 MB video at 50 ms; cpu encoder vs ffmpeg", bench_media),
    "metrics": ("metrics sinks + monitor on vs off", bench_metrics),
    "startup": ("tgx --version/--help/plugins/render vs `import typer, rich.console`", bench_startup),
    "threads": ("comments at 50 ms vs the obvious loop; --topic requests vs the topic's pages", bench_threads),
    "archive": ("archive bytes/message and render jsonl: compressed rows vs plain, 100k msgs", bench_archive),
    "refresh": ("tgx watch's refresh after 50 new + 5 edited msgs: 100k-msg chat vs 1k", bench_refresh),
    "catchup": ("a rerun after 50 edits + 30 deletions: exact difference vs a re-scan of 20k msgs", bench_catchup),
    "import": ("tgx import of a 100k-msg result.json vs ijson alone; peak RSS at 1M", bench_import),
    "accounts": ("200 chats x 2k at 100 ms, 5 GetHistory/s per account: 1 account, then 2-16", bench_accounts),
}


def _names(value: str | None) -> list[str]:
    names = [v.strip() for v in (value or "").split(",") if v.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        raise SystemExit(f"unknown bench(es): {', '.join(unknown)} (known: {', '.join(BENCHES)})")
    return names


def compile_tgx() -> None:
    """tgx's bytecode, written as ``pip install`` writes it: a source checkout (an editable
    install) run with PYTHONDONTWRITEBYTECODE=1 would compile every module in every tgx process
    the benches start (~0.1 s each), which no installed tgx does."""
    import compileall
    import importlib.util
    import pkgutil

    import tgx

    packages = [Path(tgx.__file__).parent]
    spec = importlib.util.find_spec("tgx_json")  # the built-in plugins' folder (plugins/ or site-packages)
    if spec is not None and spec.origin:
        home = Path(spec.origin).parent.parent
        packages += [home / m.name for m in pkgutil.iter_modules([str(home)]) if m.name.startswith("tgx_")]
    for package in packages:
        compileall.compile_dir(str(package), quiet=1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in well under a minute")
    parser.add_argument("--only", metavar="NAMES", help="comma-separated benches to run (default: all)")
    parser.add_argument("--skip", metavar="NAMES", help="comma-separated benches to leave out")
    parser.add_argument("--json", metavar="PATH", help="also write every row as JSON")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temp dir, removed)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--list", action="store_true", help="list the benches and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (what, _) in BENCHES.items():
            print(f"{name:<10} {what}")
        return 0
    chosen = _names(args.only) or list(BENCHES)
    skipped = set(_names(args.skip))
    chosen = [n for n in chosen if n not in skipped]
    sizes = Sizes.quick() if args.quick else Sizes()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tgx-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    report = Report()
    ctx = Ctx(tmp, sizes, report)
    compile_tgx()
    started = time.perf_counter()
    print(f"tgx benchmarks ({'quick' if args.quick else 'full'}): {', '.join(chosen)}; {os.cpu_count()} CPUs, "
          f"{load()}; work dir {tmp}", flush=True)
    try:
        for name in chosen:
            print(f"[{name}] {BENCHES[name][0]}", flush=True)
            t0 = time.perf_counter()
            try:
                BENCHES[name][1](ctx)
            except Exception as exc:  # noqa: BLE001 - one bench failing must not hide the others
                report.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                traceback.print_exc()
            print(f"[{name}] done in {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nResults ({time.perf_counter() - started:.0f} s):")
    print(report.table())
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": [asdict(r) for r in report.rows], "errors": report.errors,
                                               "quick": args.quick}, indent=2))
    if report.errors:
        return 2
    if args.strict and any(r.ok is False for r in report.rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
