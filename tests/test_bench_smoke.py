"""``benchmarks/run.py --quick`` runs every bench and prints its lines (never a timing assertion:
the figures depend on the machine; this only proves the benchmarks still work)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ("spine", "latency", "ratelimit", "cpu", "chats", "formats", "media", "metrics", "startup", "threads",
           "archive", "refresh", "catchup", "import", "accounts")


def test_quick_benchmarks_run_and_print_every_bench(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--keep", str(tmp_path / "work"),
         "--json", str(tmp_path / "rows.json")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Results (" in out
    table = out.split("Results (", 1)[1]
    for bench in BENCHES:
        assert f"\n{bench} " in table, f"no line for bench {bench}"
    assert "0 ERROR" in table.splitlines()[-1]
    import json

    rows = json.loads((tmp_path / "rows.json").read_text())["rows"]
    assert {r["bench"] for r in rows} == set(BENCHES)
    assert all(r["value"] is not None for r in rows if r["ok"] is not None)  # every target has a figure


def test_bench_list_and_selection():
    listed = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--list"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == list(BENCHES)
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--only", "nosuch"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "unknown bench" in bad.stderr
