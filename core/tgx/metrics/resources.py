"""A psutil sampler for the export's own footprint: CPU, memory, file descriptors, disk and network.

It runs as one daemon thread that wakes every ``interval`` seconds (an ``Event.wait``, so
:meth:`ResourceMonitor.stop` returns at once instead of after a sleep) and keeps only running
aggregates (last values and peaks), so memory stays flat however long the export runs.

Disk bytes are the process's storage I/O (``io_counters``: Linux, Windows, FreeBSD; ``None``
elsewhere). Network bytes are *system-wide* (``psutil.net_io_counters``): psutil cannot
attribute traffic to a process, so other programs' traffic is included.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

Sample = dict[str, Any]


def _safe(fn: Callable[[], Any]) -> Any:
    """One psutil call; ``None`` where the platform or permissions do not allow it."""
    try:
        return fn()
    except (psutil.Error, OSError, NotImplementedError, AttributeError):
        return None


class ResourceMonitor:
    """Samples this process every ``interval`` seconds; ``interval <= 0`` means on demand only.

    ``on_sample(sample)`` is called from the monitor thread after each periodic sample (the
    metrics collector uses it as its tick); an exception there is swallowed, never kills the thread.
    """

    def __init__(
        self,
        interval: float = 5.0,
        on_sample: Callable[[Sample], None] | None = None,
        *,
        process: psutil.Process | None = None,
    ) -> None:
        self.interval = float(interval)
        self.on_sample = on_sample
        self._proc = process or psutil.Process()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._t0 = 0.0
        self._cpu0: float | None = None
        self._io0: Any = None
        self._net0: Any = None
        self.samples = 0
        self.last: Sample = {}
        self.cpu_percent_max: float | None = None
        self.rss_bytes_peak: int | None = None
        self.open_files_peak: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Take the baselines (CPU time, I/O and network counters) and start the thread."""
        if self._started:
            return
        self._started = True
        self._t0 = time.monotonic()
        self._cpu0 = self._cpu_seconds()
        self._io0 = _safe(self._proc.io_counters)
        self._net0 = _safe(psutil.net_io_counters)
        _safe(lambda: self._proc.cpu_percent(None))  # primes psutil's per-call CPU delta
        if self.interval > 0:
            self._thread = threading.Thread(target=self._run, name="tgx-resources", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (promptly: it waits on an Event) and take one final sample."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self._started:
            self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            sample = self.sample()
            if self.on_sample is not None:
                try:
                    self.on_sample(sample)
                except Exception:  # noqa: BLE001 - the callback owns its error reporting
                    pass

    # -- sampling --------------------------------------------------------------------------------

    def _cpu_seconds(self) -> float | None:
        times = _safe(self._proc.cpu_times)
        return None if times is None else float(times.user + times.system)

    def _open_files(self) -> int | None:
        if hasattr(self._proc, "num_fds"):
            return _safe(self._proc.num_fds)  # POSIX: every descriptor (files, sockets, pipes)
        return _safe(self._proc.num_handles)  # Windows

    def sample(self) -> Sample:
        """Take one sample now (thread-safe), update the peaks, return it."""
        if not self._started:
            self.start()
        with self._lock:
            cpu = _safe(lambda: self._proc.cpu_percent(None))
            mem = _safe(self._proc.memory_info)
            rss = None if mem is None else int(mem.rss)
            fds = self._open_files()
            io = _safe(self._proc.io_counters)
            net = _safe(psutil.net_io_counters)
            cpu_s = self._cpu_seconds()
            sample: Sample = {
                "elapsed_s": round(time.monotonic() - self._t0, 6),
                "cpu_percent": cpu,
                "cpu_seconds": None if cpu_s is None or self._cpu0 is None else round(cpu_s - self._cpu0, 6),
                "rss_bytes": rss,
                "open_files": fds,
                "disk_read_bytes": _delta(io, self._io0, "read_bytes"),
                "disk_write_bytes": _delta(io, self._io0, "write_bytes"),
                "net_sent_bytes": _delta(net, self._net0, "bytes_sent"),
                "net_recv_bytes": _delta(net, self._net0, "bytes_recv"),
            }
            self.samples += 1
            self.last = sample
            self.cpu_percent_max = _peak(self.cpu_percent_max, cpu)
            self.rss_bytes_peak = _peak(self.rss_bytes_peak, rss)
            self.open_files_peak = _peak(self.open_files_peak, fds)
            return sample

    def summary(self) -> dict[str, Any]:
        """Aggregates for the report; ``cpu_percent_mean`` is CPU time over wall time (exact)."""
        with self._lock:
            last = dict(self.last)
            elapsed = last.get("elapsed_s") or 0.0
            cpu_s = last.get("cpu_seconds")
            mean = round(100.0 * cpu_s / elapsed, 2) if cpu_s is not None and elapsed > 0 else None
            return {
                "samples": self.samples,
                "cpu_percent_mean": mean,
                "cpu_percent_max": self.cpu_percent_max,
                "cpu_percent_last": last.get("cpu_percent"),
                "cpu_seconds": cpu_s,
                "rss_bytes_last": last.get("rss_bytes"),
                "rss_bytes_peak": self.rss_bytes_peak,
                "open_files_last": last.get("open_files"),
                "open_files_peak": self.open_files_peak,
                "disk_read_bytes": last.get("disk_read_bytes"),
                "disk_write_bytes": last.get("disk_write_bytes"),
                "net_sent_bytes": last.get("net_sent_bytes"),
                "net_recv_bytes": last.get("net_recv_bytes"),
            }


def _delta(now: Any, base: Any, field: str) -> int | None:
    if now is None or base is None:
        return None
    return max(0, int(getattr(now, field)) - int(getattr(base, field)))


def _peak(old: Any, new: Any) -> Any:
    if new is None:
        return old
    return new if old is None or new > old else old


__all__ = ["ResourceMonitor", "Sample"]
