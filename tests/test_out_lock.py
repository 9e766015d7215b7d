"""One writer per OUT (tgx.archive.lock): the OS lock itself — refusal naming the holder, waiting,
release when the holder is SIGKILLed. The commands that take it are tested through the CLI in
test_out_lock_cli.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tgx.archive.lock import OutputBusy, hold_output, holder, lock_path
from tgx.errors import ExitCode

HOLD = """
import sys, time
from tgx.archive.lock import hold_output
with hold_output(sys.argv[1], "export", wait_s=float(sys.argv[3])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder_process(out: Path, seconds: float, wait: float = 0.0) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out), str(seconds), str(wait)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    proc = _holder_process(tmp_path / "out", 30)
    try:
        with pytest.raises(OutputBusy) as err, hold_output(tmp_path / "out", "render"):
            pass
        assert err.value.exit_code == ExitCode.BUSY
        assert f"pid {proc.pid} (tgx export)" in err.value.message
        assert "--wait-lock" in (err.value.hint or "")
        assert holder(tmp_path / "out") == {"pid": proc.pid, "command": "tgx export",
                                            "since": holder(tmp_path / "out")["since"]}
    finally:
        proc.kill()
        proc.wait()


def test_sigkill_of_the_holder_frees_the_lock_at_once(tmp_path):
    proc = _holder_process(tmp_path / "out", 30)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    started = time.monotonic()
    with hold_output(tmp_path / "out", "export"):  # no wait needed: the kernel released it
        assert holder(tmp_path / "out")["pid"] == os.getpid()
    assert time.monotonic() - started < 1.0
    assert lock_path(tmp_path / "out").is_file()  # the file stays; only the lock matters


def test_wait_lock_takes_it_when_the_holder_finishes(tmp_path):
    proc = _holder_process(tmp_path / "out", 0.6)
    started = time.monotonic()
    with hold_output(tmp_path / "out", "export", wait_s=20):
        waited = time.monotonic() - started
    proc.wait()
    assert 0.2 < waited < 15


def test_wait_lock_gives_up_after_its_seconds(tmp_path):
    proc = _holder_process(tmp_path / "out", 30)
    try:
        started = time.monotonic()
        with pytest.raises(OutputBusy) as err, hold_output(tmp_path / "out", "export", wait_s=0.5):
            pass
        assert time.monotonic() - started >= 0.5
        assert "after waiting 0.5 s" in err.value.message
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_is_released_when_the_block_ends_or_raises(tmp_path):
    with pytest.raises(RuntimeError), hold_output(tmp_path / "out", "export"):
        raise RuntimeError("boom")
    with hold_output(tmp_path / "out", "export"):
        pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_output_is_one_output_error(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(Exception) as err, hold_output(tmp_path / "out", "export"):
            pass
        assert err.value.exit_code == ExitCode.OUTPUT and "cannot lock" in err.value.message
    finally:
        tmp_path.chmod(0o700)


def test_waiting_for_the_lock_keeps_the_event_loop_running(tmp_path):
    """--wait-lock inside an export: the client's own tasks (pings, the receive loop) must go on."""
    import asyncio

    from tgx.archive.lock import hold_output_async

    proc = _holder_process(tmp_path / "out", 1.0)
    beats = 0

    async def heartbeat() -> None:
        nonlocal beats
        while True:
            beats += 1
            await asyncio.sleep(0.05)

    async def main() -> float:
        task = asyncio.create_task(heartbeat())
        started = time.monotonic()
        async with hold_output_async(tmp_path / "out", "export", wait_s=30):
            waited = time.monotonic() - started
        task.cancel()
        return waited

    try:
        waited = asyncio.run(main())
    finally:
        proc.wait(timeout=30)
    assert waited >= 0.5
    assert beats >= 8  # the loop ran all along (a blocking wait would give 1)
