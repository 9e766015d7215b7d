"""The ``accounts`` bench: how far one machine goes (issue 17).

The workload: ``acct_chats`` channels x ``acct_msgs`` messages (200 x 2,000 in the full run) on
the simulated Telegram at 100 ms round trip, with a limit of 5 GetHistory requests per second
per account (``rate_limit = 5`` over a 1 s window: ``FLOOD_WAIT_N`` beyond it). It is exported
the way a user runs it — one whole ``tgx export --all-dialogs`` process, start-up, decode worker
and render included — and measured: total msg/s (messages / wall time), CPU seconds of the process
tree (``getrusage(RUSAGE_CHILDREN)`` of the wrapper: tgx and its reaped decode workers), CPU per
account, peak RSS of the tree (psutil, sampled every 0.1 s) and the flood waits tgx met.

With one account the workload is bound by the limit: 5 requests/s x 100 messages = 500 msg/s at
best, 800 s for 400,000 messages. More accounts (``tgx export --accounts a,b,c``, issue 17's
accounts work) each bring their own 5 requests/s, until the machine is the bottleneck: the curve
over ``acct_counts`` (1, 2, 4, 8, 16) is measured once ``tgx export --help`` offers
``--accounts``; until then those points are reported as "not yet measurable" (INFO rows without a
figure), never estimated.

What this bench assumes of ``--accounts`` (the simulator's side of several accounts is built in
the same issue): a scenario's ``accounts = [{name = ...}, ...]`` tables add accounts to the world
beside ``default`` (the world's own user), every chat readable by every account unless its
``members`` say otherwise, a top-level ``rate_limit`` applying to each account separately, and
``tgx export --all-dialogs --accounts default,a2,...`` exporting the union of their dialogs, each
chat once. ``ACCOUNTS_FLAG`` / ``accounts_scenario`` are the two places to adjust if it lands
differently.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

ACCOUNTS_FLAG = "--accounts"
LATENCY_MS = 100
RATE = 5.0  # GetHistory requests per second, per account
TARGET_AT_4 = 3.5  # issue 17: 4 accounts >= 3.5x the one-account throughput
RESOLVE_PER_MINUTE = 20  # [accounts] resolve_per_minute: the default budget of username look-ups


def account_names(n: int) -> list[str]:
    """``default`` (the simulated world's own user) and ``a2`` .. ``aN``."""
    return ["default", *(f"a{i}" for i in range(2, n + 1))]


def accounts_scenario(n: int) -> dict[str, Any]:
    """The scenario keys that give the simulated world ``n`` accounts (none for one)."""
    if n <= 1:
        return {}
    return {"accounts": [{"name": name} for name in account_names(n)[1:]]}


def cli_supports_accounts(h: Any, ctx: Any) -> bool:
    """Whether ``tgx export --help`` offers ``--accounts`` (the several-accounts work landed)."""
    env = h.tgx_env(ctx, h.scenario_file(ctx.tmp / "accounts-help.toml", chats=[]))  # a config that exists
    env["COLUMNS"] = "200"  # rich folds long option names in a narrow terminal
    done = subprocess.run(h.tgx_cmd("export", "--help"), env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    return done.returncode == 0 and ACCOUNTS_FLAG in done.stdout


def export_workload(h: Any, ctx: Any, accounts: int) -> dict[str, Any]:
    """One whole ``tgx export --all-dialogs`` of the workload with ``accounts`` accounts."""
    s = ctx.sizes
    work = ctx.dir(f"accounts-{accounts}")
    chats = [h.channel(f"chan{i:03d}", s.acct_msgs) for i in range(s.acct_chats)]
    cfg = h.scenario_file(work / "tgx.toml", chats=chats, latency_ms=LATENCY_MS, rate_limit=RATE, rate_window=1.0,
                          **accounts_scenario(accounts))
    args = ["export", "--all-dialogs", "-o", str(work / "out"), "-f", "jsonl", "-q"]
    if accounts > 1:
        args += [ACCOUNTS_FLAG, ",".join(account_names(accounts))]
    m = h.run_tgx(ctx, cfg, *args, cwd=work)
    report = json.loads((work / "out" / "export_metrics.json").read_text())
    messages = report["totals"]["messages"]
    expected = s.acct_chats * s.acct_msgs
    if messages != expected:
        raise RuntimeError(f"{accounts} account(s): exported {messages} messages, expected {expected}")
    folders = [p for p in (work / "out").iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(folders) != s.acct_chats:
        raise RuntimeError(f"{accounts} account(s): {len(folders)} chat folders, expected {s.acct_chats}")
    fetch = report["stages"].get("fetch", {})
    return {"accounts": accounts, "m": m, "messages": messages, "rate": messages / m.wall,
            "fetch_rate": messages / fetch["wall_seconds"] if fetch.get("wall_seconds") else None,
            "waits": report["totals"]["flood_waits"], "requests": report["totals"]["requests"],
            "cap": report["gauges"].get("pacing.GetHistoryRequest.rate_limit", {}).get("last"),
            "work": work}


def _row(h: Any, ctx: Any, r: dict[str, Any], ceiling: float) -> None:
    m, n = r["m"], r["accounts"]
    note = (f"{m.wall:.0f} s, {m.cpu / n:.1f} CPU s per account, peak RSS {m.tree_mb:.0f} MB (tree), "
            f"{r['waits']} flood waits, learned cap {r['cap']} req/s; limit-bound ceiling {ceiling:,.0f} msg/s; "
            f"{h.load()}")
    ctx.report.add(h.Row("accounts", f"{n} account{'s' if n > 1 else ''}: {ctx.sizes.acct_chats} chats x "
                         f"{ctx.sizes.acct_msgs:,}, msg/s (whole process)", r["rate"], "msg/s", ceiling,
                         r["rate"] / ceiling, note=note))
    ctx.report.add(h.Row("accounts", f"  {n} account{'s' if n > 1 else ''}: CPU seconds of the tgx process tree",
                         m.cpu, "s", note=f"{m.cpu / r['messages'] * 1e6:.0f} us/msg; "
                         f"CPU busy {m.cpu / m.wall * 100:.0f} % of one core"))
    ctx.report.add(h.Row("accounts", f"  {n} account{'s' if n > 1 else ''}: peak RSS of the tgx process tree",
                         m.tree_mb, "MB", note=f"tgx process alone {m.maxrss_mb:.0f} MB"))


def resolve_budget(h: Any, ctx: Any, accounts: int, budget: int = RESOLVE_PER_MINUTE) -> None:
    """The chats named by @username over ``accounts`` accounts (one page each): every account's
    ResolveUsername requests, in any 60 s, never above ``[accounts] resolve_per_minute`` — the
    look-ups beyond it wait for the budget, none is fired into a flood wait."""
    from tgx.testing import read_request_log

    s = ctx.sizes
    work = ctx.dir(f"accounts-resolve-{accounts}")
    chats = [h.channel(f"named{i:03d}", 50) for i in range(s.acct_chats)]
    log = work / "requests.jsonl"
    cfg = h.scenario_file(work / "tgx.toml", chats=chats, latency_ms=LATENCY_MS, rate_limit=RATE, rate_window=1.0,
                          request_log=str(log), **accounts_scenario(accounts))
    with cfg.open("a", encoding="utf-8") as fh:
        fh.write(f"\n[accounts]\nresolve_per_minute = {budget}\n")
    args = ["export", *(f"@named{i:03d}" for i in range(s.acct_chats)), "-o", str(work / "out"), "-f", "jsonl", "-q"]
    if accounts > 1:
        args += [ACCOUNTS_FLAG, ",".join(account_names(accounts))]
    m = h.run_tgx(ctx, cfg, *args, cwd=work)
    times: dict[str, list[float]] = {}
    for r in read_request_log(str(log)):
        if r["type"] == "ResolveUsernameRequest":
            times.setdefault(r["account"], []).append(r["time"])
    worst = 0
    for stamps in times.values():
        stamps.sort()
        lo = 0
        for hi, t in enumerate(stamps):
            while t - stamps[lo] >= 60.0:
                lo += 1
            worst = max(worst, hi - lo + 1)
    total = sum(len(v) for v in times.values())
    ctx.report.add(h.Row("accounts", f"{accounts} accounts, {s.acct_chats} chats by @username: most look-ups of "
                         "one account in 60 s", worst, "requests", budget, worst / budget,
                         f"<= {budget} (resolve_per_minute)", worst <= budget,
                         note=f"{total} look-ups in {m.wall:.0f} s over {len(times)} accounts"))


def bench_accounts(ctx: Any, h: Any) -> None:
    """``h``: the ``run`` module (Row, run_tgx, scenario_file, ...), passed in to avoid a cycle."""
    s = ctx.sizes
    one = export_workload(h, ctx, 1)
    _row(h, ctx, one, RATE * 100)
    ctx.keep["accounts_one"] = one["rate"]
    supported = cli_supports_accounts(h, ctx)
    results = {1: one}
    for n in s.acct_counts:
        if n <= 1:
            continue
        if not supported:
            ctx.report.add(h.Row("accounts", f"{n} accounts: msg/s and CPU per account", None, "msg/s",
                                 note=f"not yet measurable: `tgx export --help` has no {ACCOUNTS_FLAG}"))
            continue
        results[n] = export_workload(h, ctx, n)
        _row(h, ctx, results[n], RATE * 100 * n)
    four = results.get(4)
    if four is None:
        ctx.report.add(h.Row("accounts", "4 accounts vs 1: total msg/s", None, "x", target=f"ratio >= {TARGET_AT_4}",
                             note="not yet measurable" + ("" if supported else f": no {ACCOUNTS_FLAG} in tgx export")
                             + ("" if 4 in s.acct_counts or not supported else "; 4 not among the sizes")))
    else:
        h.ratio_row(ctx, "accounts", "4 accounts vs 1: total msg/s", four["rate"], one["rate"], TARGET_AT_4,
                    note=f"CPU per account {four['m'].cpu / 4:.1f} s vs {one['m'].cpu:.1f} s")
    if supported:
        resolve_budget(h, ctx, 4)


__all__ = ["ACCOUNTS_FLAG", "account_names", "accounts_scenario", "bench_accounts", "cli_supports_accounts",
           "export_workload", "resolve_budget"]


if __name__ == "__main__":  # pragma: no cover - run it through run.py
    raise SystemExit(f"run it as: python {Path(__file__).parent / 'run.py'} --only accounts")
