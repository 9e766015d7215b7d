"""Injected faults, the GetHistory rate limit, and the request log.

A fault fires on the (``after`` + 1)-th matching request and for ``times`` matching
requests in a row (``times`` = 0: for ever). Faults are checked by the server before it
answers, in the order they were added.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FAULT_TYPES = ("flood_wait", "flood_premium_wait", "drop", "file_reference_expired", "takeout_delay",
               "revoked", "private", "rpc_error")


def request_name(name: str | None) -> str | None:
    """Normalize ``GetHistory`` / ``GetHistoryRequest`` / ``messages.GetHistory`` to the class name."""
    if not name:
        return None
    name = name.rsplit(".", 1)[-1]
    return name if name.endswith("Request") else name + "Request"


@dataclass(slots=True)
class Fault:
    """One injected fault. See :data:`FAULT_TYPES` and docs/testing.md for each type's meaning."""

    type: str
    request: str | None = None  # request class name it applies to (None: any, or the type's default)
    after: int = 0  # matching requests that pass before it fires
    times: int = 1  # how many matching requests it hits (0: all of them)
    seconds: int = 5  # flood_wait, flood_premium_wait, takeout_delay
    fatal: bool = False  # drop: every pending call fails and the client must reconnect
    chat: str | None = None  # private: the chat (username, key or marked id)
    code: int = 400  # rpc_error
    message: str = "INTERNAL"  # rpc_error
    account: str | None = None  # only requests of this account (None: every account)
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        self.request = request_name(self.request)
        if self.request is None:
            default = {"file_reference_expired": "GetFileRequest",
                       "takeout_delay": "InitTakeoutSessionRequest"}.get(self.type)
            self.request = default

    def matches(self, name: str, account: str = "default") -> bool:
        return (self.request is None or self.request == name) and self.account in (None, account)

    def trigger(self) -> bool:
        """Count one matching request; True when the fault hits it."""
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times and self.fired >= self.times:
            return False
        self.fired += 1
        return True


class Faults:
    """The world's fault list: add with :meth:`add` or the typed helpers."""

    def __init__(self) -> None:
        self.items: list[Fault] = []

    def add(self, type: str, **kwargs: Any) -> Fault:
        if type not in FAULT_TYPES:
            raise ValueError(f"unknown fault type {type!r} (known: {', '.join(FAULT_TYPES)})")
        fault = Fault(type, **kwargs)
        self.items.append(fault)
        return fault

    def flood_wait(self, request: str = "GetHistoryRequest", seconds: int = 5, after: int = 0, times: int = 1,
                   premium: bool = False) -> Fault:
        kind = "flood_premium_wait" if premium else "flood_wait"
        return self.add(kind, request=request, seconds=seconds, after=after, times=times)

    def drop(self, after: int = 0, *, fatal: bool = False, request: str | None = None,
             times: int = 1) -> Fault:
        return self.add("drop", after=after, fatal=fatal, request=request, times=times)

    def file_reference_expired(self, after: int = 0, times: int = 1) -> Fault:
        return self.add("file_reference_expired", after=after, times=times)

    def takeout_delay(self, seconds: int = 3600, times: int = 0) -> Fault:
        return self.add("takeout_delay", seconds=seconds, times=times)

    def revoked(self, after: int = 0) -> Fault:
        return self.add("revoked", after=after, times=0)

    def private(self, chat: str, after: int = 0) -> Fault:
        return self.add("private", chat=chat, after=after, times=0)

    def rpc_error(self, request: str | None, code: int, message: str, after: int = 0,
                  times: int = 1) -> Fault:
        return self.add("rpc_error", request=request, code=code, message=message, after=after, times=times)

    def clear(self) -> None:
        self.items.clear()

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class RateLimiter:
    """Telegram-like budget: ``rate * window`` requests over a sliding ``window`` seconds.

    ``acquire()`` returns 0 when the request may pass (and counts it), else the whole
    seconds until the oldest counted request leaves the window (at least 1).
    """

    def __init__(self, rate: float, window: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.window = float(window)
        self.budget = max(1, int(round(rate * window)))
        self.clock = clock
        self.stamps: deque[float] = deque()

    def acquire(self) -> int:
        now = self.clock()
        stamps = self.stamps
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if len(stamps) < self.budget:
            stamps.append(now)
            return 0
        return max(1, math.ceil(stamps[0] + self.window - now))


@dataclass(slots=True)
class RequestRecord:
    seq: int
    time: float
    type: str
    dc: int
    takeout: bool
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    account: str = "default"

    def to_dict(self) -> dict[str, Any]:
        d = {"seq": self.seq, "time": self.time, "type": self.type, "dc": self.dc, "takeout": self.takeout,
             "error": self.error, "account": self.account}
        d.update(self.params)
        return d


class RequestLog:
    """Counts per request type (exact) and the most recent requests (bounded), optionally
    appended to a JSON-lines file as they happen (for CLI subprocess tests)."""

    def __init__(self, path: str | None = None, limit: int = 50_000):
        self.path = path
        self.counts: Counter[str] = Counter()
        self.by_account: Counter[tuple[str, str]] = Counter()  # (account, type)
        self.records: deque[RequestRecord] = deque(maxlen=limit)
        self.seq = 0
        self._lock = threading.Lock()
        self._file: Any = None  # opened on first use, line-buffered: each line survives a SIGKILL

    def add(self, type: str, dc: int, takeout: bool, params: dict[str, Any],
            account: str = "default") -> RequestRecord:
        self.seq += 1
        self.counts[type] += 1
        self.by_account[account, type] += 1
        record = RequestRecord(self.seq, time.time(), type, dc, takeout, params, account=account)
        self.records.append(record)
        return record

    def finish(self, record: RequestRecord, error: str | None) -> None:
        """Called once the answer (or error) is known; writes the JSON line."""
        record.error = error
        if self.path:
            line = json.dumps(record.to_dict(), ensure_ascii=False, default=str)
            with self._lock:
                if self._file is None:
                    self._file = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
                self._file.write(line + "\n")

    def entries(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.records]

    def of_type(self, type: str) -> list[dict[str, Any]]:
        type = request_name(type) or type
        return [r.to_dict() for r in self.records if r.type == type]

    def clear(self) -> None:
        self.counts.clear()
        self.by_account.clear()
        self.records.clear()


def read_request_log(path: str) -> list[dict[str, Any]]:
    """The JSON lines a ``request_log = "PATH"`` scenario wrote (one dict per request)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
