"""Kill at any instant: SIGKILL ``tgx export`` at seeded-random points, rerun, compare with a clean export.

The export: two simulated chats (a media channel and a busy text supergroup) with latency, five
formats and ``--media all``. Each point starts the export as a subprocess and SIGKILLs it when
its trigger fires:

* ``elapsed`` — after a random time;
* ``archived`` — once the archive holds at least a random number of messages (just after a
  batch commit);
* ``commit`` — the k-th time the archive's write-ahead log grows (while a batch is committed);
* ``media`` — the k-th time a download's ``*.part`` file is seen (mid-file);
* ``render`` — the k-th time a render temp file ``*.tgx-tmp`` is seen (mid-render).

Right after the kill: the archive passes ``PRAGMA integrity_check`` and every *final* file that
exists (rendered file or downloaded media) is byte-identical to the clean export's — nothing
half-written ever carries a final name. Then the same command runs again (without latency) and
every output file (except ``export_metrics.json``, which describes its own run) and the archive
(messages, media index, checkpoints) must equal the clean export's.

By default a reduced set of 4 points runs (the first ``archived``, ``commit``, ``media`` and
``render`` points of the full list); the full 20 (4 per trigger) are ``-m slow``.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from test_reliability import assert_same_export, snapshot, write_config
from tgxrun import archived_count, tgx, tgx_env

CHATS = [
    {"kind": "channel", "username": "killmedia", "title": "Kill media", "messages": 500, "media": True},
    # 5,500 messages in all: enough for the export to start a decode worker (tgx.fetch.pages), so the
    # kills also land while pages are in a worker process.
    {"kind": "supergroup", "username": "killtalk", "title": "Kill talk", "messages": 5000, "media": False},
]
SLOW = {"latency_ms": 25, "big_file_mb": 0, "chats": CHATS}
FAST = {"big_file_mb": 0, "chats": CHATS}
ARGS = ["export", "@killmedia", "@killtalk", "-o", "out", "-f", "jsonl,json,html,csv,sqlite",
        "--media", "all", "--max-size", "512KiB", "--quiet"]
TRIGGERS = ("elapsed", "archived", "commit", "media", "render")
SEED = 20261129
TIMEOUT = 240


@dataclass(frozen=True)
class Point:
    trigger: str
    value: float  # seconds, a message count, or k (the k-th observation)

    def __str__(self) -> str:
        return f"{self.trigger}={self.value:g}"


def points(n: int, seed: int = SEED) -> list[Point]:
    """``n`` kill points: every trigger in turn, each with a seeded-random parameter."""
    rng = random.Random(seed)
    total = sum(c["messages"] for c in CHATS)
    out = []
    for i in range(n):
        trigger = TRIGGERS[i % len(TRIGGERS)]
        value = {"elapsed": lambda: round(rng.uniform(1.0, 3.5), 2),  # the slow export takes ~4 s
                 "archived": lambda: rng.randint(1, total - 1),
                 "commit": lambda: rng.randint(1, 4),
                 "media": lambda: rng.randint(1, 40),
                 "render": lambda: rng.randint(1, 6)}[trigger]()
        out.append(Point(trigger, value))
    return out


FULL = points(20)
REDUCED = [next(p for p in FULL if p.trigger == t) for t in ("archived", "commit", "media", "render")]


class Watch:
    """Cheap observations of a running export's output directory."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.wal = out / ".tgx" / "archive.sqlite-wal"
        self.seen = 0
        self.last_wal = 0

    def archived(self) -> int:
        return archived_count(self.out)

    def wal_grew(self) -> bool:
        try:
            size = self.wal.stat().st_size
        except OSError:
            return False
        grew, self.last_wal = size > self.last_wal, size
        return grew

    def _any(self, pattern: str) -> bool:
        return any(True for _ in self.out.glob(pattern))

    def fires(self, point: Point, elapsed: float) -> bool:
        if point.trigger == "elapsed":
            return elapsed >= point.value
        if point.trigger == "archived":
            return self.archived() >= point.value
        hit = {"commit": self.wal_grew,
               "media": lambda: self._any("*/media/*/*.part"),
               "render": lambda: self._any("*/*.tgx-tmp") or self._any("*/*/*.tgx-tmp")}[point.trigger]()
        if hit:
            self.seen += 1
        return self.seen >= point.value


def kill_at(cwd: Path, config: Path, point: Point) -> tuple[bool, float, int]:
    """Run the export and SIGKILL it when ``point`` fires: (killed?, seconds into the run, decode
    workers it had then). Its workers must not outlive it."""
    proc = subprocess.Popen([sys.executable, "-m", "tgx", *ARGS], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=tgx_env(cwd, config), cwd=cwd)
    watch = Watch(cwd / "out")
    started = time.monotonic()
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - started
            assert elapsed < TIMEOUT, "the export did not finish in time"
            if watch.fires(point, elapsed):
                workers = [c for c in psutil.Process(proc.pid).children() if _is_decode_worker(c)]
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                _gone, alive = psutil.wait_procs(workers, timeout=10)
                assert not alive, f"decode workers outlived the killed tgx: {alive}"
                return True, elapsed, len(workers)
            time.sleep(0.001)
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        assert proc.returncode == 0, stderr
        return False, time.monotonic() - started, 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _is_decode_worker(process: psutil.Process) -> bool:
    try:
        return any("worker_main" in part for part in process.cmdline())
    except psutil.Error:
        return False


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_nothing_half_written(out: Path, reference: Path) -> None:
    """After a kill: a consistent archive, and every final file complete (identical to the clean one)."""
    db = out / ".tgx" / "archive.sqlite"
    if db.exists():  # (a kill before the schema was committed leaves an archive without tables)
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            con.close()
    want = snapshot(reference)
    for rel in snapshot(out):
        if rel.endswith((".tgx-tmp", ".part", ".part.journal")):
            continue  # temp names: removed or resumed by the next run
        assert rel in want, f"unexpected final file {rel}"
        assert _digest(out / rel) == want[rel], f"{rel} has a final name but is not complete"


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kill-matrix")
    slow = write_config(root / "slow.toml", SLOW)
    fast = write_config(root / "fast.toml", FAST)
    r = tgx(root, *ARGS, config=fast)
    assert r.returncode == 0, r.stderr
    return {"root": root, "slow": slow, "fast": fast, "reference": root / "out"}


def run_point(matrix: dict[str, Path], point: Point, tmp_path: Path) -> None:
    killed, at, workers = kill_at(tmp_path, matrix["slow"], point)
    out = tmp_path / "out"
    assert_nothing_half_written(out, matrix["reference"])
    r = tgx(tmp_path, *ARGS, config=matrix["fast"])
    assert r.returncode == 0, r.stderr
    assert_same_export(out, matrix["reference"])
    leftovers = [p for p in out.rglob("*") if p.name.endswith((".tgx-tmp", ".part", ".part.journal"))]
    assert not leftovers, leftovers
    print(f"kill point {point}: {'killed' if killed else 'finished first'} at {at:.2f} s "
          f"({workers} decode worker(s) running); rerun identical")
    assert killed, f"{point} never fired (the export finished at {at:.2f} s)"
    shutil.rmtree(out)


@pytest.mark.parametrize("point", REDUCED, ids=str)
def test_kill_and_resume_is_identical(matrix, point, tmp_path):
    run_point(matrix, point, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("point", FULL, ids=[f"{i:02d}-{p}" for i, p in enumerate(FULL)])
def test_kill_matrix_full(matrix, point, tmp_path):
    run_point(matrix, point, tmp_path)
