"""Adaptive pacing of Telegram requests, per request type: how many in flight, how many per second.

Telegram's limits are invisible until crossed: a request beyond them fails with ``FLOOD_WAIT_N``
and the account must not send that request type for N seconds. Guessing a fixed parallelism is
either slow (too low) or a string of waits (too high), so tgx *learns* the limit, like TCP:

* **Concurrency (AIMD).** Each request type has a window ``cwnd`` of requests allowed in flight.
  Every answer while the window was in use adds ``1/cwnd`` (about +1 per round trip); a flood
  wait halves it. A type tgx never configured (:meth:`Pacer.manage`) is unbounded until its
  first flood wait, then paced the same way, so media downloads are not throttled on a hunch.
* **One wait for everyone.** A flood wait blocks the type for N seconds for every worker (the
  flood gate: ``block``/``remaining``/``wait``). Workers whose requests were already in flight when the
  first error arrived get the same error; they belong to the *same event*: it is counted,
  halved and learned from once (:meth:`Pacer.flood` tells them apart by when each was sent).
* **Rate.** At low latency even one request in flight can exceed a per-second budget, and
  halving concurrency does not help. So a flood event also sets a rate cap: what the server
  just accepted (requests sent over the last N seconds, N being its own hint of the window,
  but never longer than we have been sending), minus 5 %; sends are then spaced evenly, and a
  burst of workers waiting at the gate leaves it spaced too. Each later event lowers the cap
  to at most 95 % of itself. The cap creeps up by :data:`RATE_PROBE` per second without a
  wait, so a limit that was raised is found again. Fewer than :data:`MIN_SAMPLE` accepted
  requests teach nothing (a wait at the very start, an injected one-off fault).

Everything is per request type and per :class:`Pacer` — one per account (the export's
:class:`~tgx.telegram.runner.RequestRunner`), so chats exported together share one budget. Current values
are reported as metrics gauges ``pacing.<Type>.concurrency``, ``.in_flight`` and ``.rate_limit``
(requests/s, 0 while uncapped).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_INITIAL = 4  # concurrency a managed type starts with
DEFAULT_MAXIMUM = 16  # ... and never exceeds
MIN_SAMPLE = 4  # accepted requests needed before a flood wait teaches a rate
RATE_SAFETY = 0.95  # the learned cap is this fraction of what the server accepted
RATE_PROBE = 0.002  # the cap grows by this fraction per second without a flood wait
MIN_RATE = 0.2  # requests/s: a learned cap never goes below this
_STAMPS = 4096  # successful send times kept per type (for rate estimates)


async def wait_out(gate: Any, kind: str) -> float:
    """Sleep until ``gate.remaining(kind)`` is 0 (a wait may be extended meanwhile); the seconds
    slept."""
    waited = 0.0
    while (left := gate.remaining(kind)) > 0:
        await asyncio.sleep(left)
        waited += left
    return waited


@dataclass(slots=True)
class Pace:
    """The pacing state of one request type."""

    kind: str
    cwnd: float = math.inf  # concurrency window (inf: unmanaged and never flooded)
    minimum: float = 1.0
    maximum: float = math.inf
    managed: bool = False
    in_flight: int = 0
    peak_in_flight: int = 0
    rate: float | None = None  # requests/s cap; None: none learned
    rate_set_at: float = 0.0
    next_send: float = 0.0  # earliest moment the next send may go (rate spacing)
    until: float = 0.0  # flood gate: nobody sends this type before this moment
    last_event: float = -math.inf  # when the last flood *event* was registered
    events: int = 0
    waited: float = 0.0  # seconds of flood waits registered (events only)
    sent: deque[float] = field(default_factory=lambda: deque(maxlen=_STAMPS))  # successful sends
    live: set[Ticket] = field(default_factory=set)  # admitted, not released yet
    spacing: asyncio.Lock = field(default_factory=asyncio.Lock)  # rate: one sender waits at a time
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)

    @property
    def slots(self) -> int:
        return max(1, int(self.cwnd)) if math.isfinite(self.cwnd) else 1 << 30


@dataclass(slots=True, eq=False)
class Ticket:
    """One admitted request; give it back with :meth:`Pacer.release`."""

    pace: Pace
    sent_at: float
    released: bool = False


class Pacer:
    """Flood gate + AIMD concurrency + learned rate, per request type (see the module doc).

    The request runner's flood gate (``block``/``remaining``/``wait``), plus
    ``acquire``/``release`` around every send and ``flood`` for every flood-wait error.

    :param initial: starting concurrency of a managed type.
    :param maximum: the most requests of a managed type in flight.
    :param metrics: a :class:`tgx.metrics.collector.Metrics` (gauges), or None.
    :param clock: monotonic seconds (tests may pass a fake one for the pure logic).
    """

    def __init__(self, *, initial: int = DEFAULT_INITIAL, maximum: int = DEFAULT_MAXIMUM,
                 metrics: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.initial = max(1, initial)
        self.maximum = max(1, maximum)
        self.metrics = metrics
        self.clock = clock
        self._paces: dict[str, Pace] = {}

    # -- configuration ---------------------------------------------------------------------------
    def pace(self, kind: str) -> Pace:
        pace = self._paces.get(kind)
        if pace is None:
            pace = self._paces[kind] = Pace(kind)
        return pace

    def manage(self, kind: str, *, maximum: int | None = None, initial: int | None = None) -> Pace:
        """Bound ``kind``'s concurrency from now on: start at ``initial``, grow up to ``maximum``.

        Calling it again (another chat, same type) only raises the maximum if asked for more.
        """
        pace = self.pace(kind)
        top = float(max(1, maximum if maximum is not None else self.maximum))
        start = float(max(1, min(initial if initial is not None else self.initial, top)))
        if not pace.managed:
            pace.managed = True
            pace.maximum = top
            pace.cwnd = min(pace.cwnd, start)
        else:
            pace.maximum = max(pace.maximum, top)
        self._wake(pace)
        return pace

    def limit(self, kind: str) -> float:
        """The current concurrency window of ``kind`` (``inf`` when unbounded)."""
        return self.pace(kind).cwnd

    def rate(self, kind: str) -> float | None:
        """The current rate cap of ``kind`` in requests/s (None: none learned)."""
        pace = self.pace(kind)
        return self._current_rate(pace, self.clock()) if pace.rate is not None else None

    # -- the flood gate ----------------------------------------------------------------------------
    def block(self, kind: str, seconds: float) -> float:
        pace = self.pace(kind)
        pace.until = max(pace.until, self.clock() + seconds)
        return pace.until

    def remaining(self, kind: str) -> float:
        pace = self._paces.get(kind)
        return max(0.0, pace.until - self.clock()) if pace is not None else 0.0

    async def wait(self, kind: str) -> float:
        return await wait_out(self, kind)

    # -- admission -------------------------------------------------------------------------------
    async def acquire(self, kind: str) -> Ticket:
        """Wait for the flood gate, a free slot of the window and the rate spacing; take the slot."""
        pace = self.pace(kind)
        while True:
            await self.wait(kind)
            if pace.in_flight < pace.slots and not pace.waiters:
                break
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            pace.waiters.append(fut)
            try:
                await fut
            except BaseException:
                if fut in pace.waiters:
                    pace.waiters.remove(fut)
                elif fut.done() and not fut.cancelled():
                    self._wake(pace)  # we were woken for a slot we will not take: pass it on
                raise
            if pace.in_flight < pace.slots:
                break
        pace.in_flight += 1
        if pace.in_flight > pace.peak_in_flight:
            pace.peak_in_flight = pace.in_flight
        try:
            while pace.rate is not None:
                # One sender at a time waits for its moment, and the next moment is counted from
                # when it really went: a late wake-up never lets two sends go closer than 1/rate.
                async with pace.spacing:
                    left = pace.next_send - self.clock()
                    if left > 0:
                        await asyncio.sleep(left)
                    if self.remaining(kind) <= 0:
                        now = self.clock()
                        pace.next_send = now + 1.0 / self._current_rate(pace, now)
                        break
                await self.wait(kind)  # a flood wait arrived meanwhile: wait, then queue again
        except BaseException:
            pace.in_flight -= 1
            self._wake(pace)
            raise
        self._gauge(pace, "in_flight", pace.in_flight)
        ticket = Ticket(pace, self.clock())
        pace.live.add(ticket)
        return ticket

    def release(self, ticket: Ticket, *, ok: bool) -> None:
        """Give the slot back; ``ok``: the server answered (grow the window if it was in use)."""
        if ticket.released:
            return
        ticket.released = True
        pace = ticket.pace
        pace.live.discard(ticket)
        busy = pace.in_flight >= pace.slots or bool(pace.waiters)
        pace.in_flight -= 1
        if ok:
            pace.sent.append(ticket.sent_at)
            if busy and math.isfinite(pace.cwnd) and pace.cwnd < pace.maximum:
                pace.cwnd = min(pace.maximum, pace.cwnd + 1.0 / pace.cwnd)
                self._gauge(pace, "concurrency", int(pace.cwnd))
        self._wake(pace)

    def has_room(self, kind: str) -> bool:
        """True when a request of ``kind`` sent now would go without queueing: the window has a
        free slot nobody waits for, and no flood wait is running."""
        pace = self.pace(kind)
        return pace.in_flight + len(pace.waiters) < pace.slots and self.remaining(kind) <= 0

    def _wake(self, pace: Pace) -> None:
        free = pace.slots - pace.in_flight
        while free > 0 and pace.waiters:
            fut = pace.waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                free -= 1

    # -- flood waits -----------------------------------------------------------------------------
    def flood(self, kind: str, seconds: float, sent_at: float | None = None) -> bool:
        """A request of ``kind`` sent at ``sent_at`` got ``FLOOD_WAIT_<seconds>``.

        Blocks the type for ``seconds`` (never shortening a wait already set). Returns True for a
        *new* event — the request was sent after the last event was registered — which halves
        the window and, when events repeat, learns a rate cap; False for a request of a burst
        already answered by a flood wait (count it, sleep it and learn from it once).
        """
        pace = self.pace(kind)
        now = self.clock()
        new = sent_at is None or sent_at > pace.last_event
        pace.until = max(pace.until, now + seconds)
        pace.next_send = max(pace.next_send, pace.until)
        if not new:
            return False
        pace.last_event = now
        pace.events += 1
        pace.waited += seconds
        if not math.isfinite(pace.cwnd):  # first flood of an unmanaged type: start from what was in flight
            pace.cwnd = float(max(1, pace.in_flight))
            pace.maximum = min(pace.maximum, max(pace.cwnd, float(pace.peak_in_flight)))
        pace.cwnd = max(pace.minimum, pace.cwnd / 2.0)
        self._learn_rate(pace, now, seconds, sent_at)
        self._gauges(pace)
        return True

    def _learn_rate(self, pace: Pace, now: float, seconds: float, sent_at: float | None) -> None:
        # What the server accepted over the last N seconds (N: its own hint of the window), but
        # never over more time than we have been sending: a wait early in a run says little.
        first = pace.sent[0] if pace.sent else now
        span = max(1.0, min(float(seconds), now - first))
        accepted = sum(1 for t in pace.sent if t > now - span)
        # Requests sent before the refused one and still in flight reached the server first: accepted.
        before = sent_at if sent_at is not None else now
        accepted += sum(1 for t in pace.live if now - span < t.sent_at < before)
        if accepted < MIN_SAMPLE:
            return  # too few to tell a rate from a one-off wait
        estimate = max(MIN_RATE, RATE_SAFETY * accepted / span)
        current = self._current_rate(pace, now) if pace.rate is not None else None
        if current is not None:
            estimate = min(estimate, max(MIN_RATE, RATE_SAFETY * current))
        pace.rate = estimate
        pace.rate_set_at = now

    def _current_rate(self, pace: Pace, now: float) -> float:
        """The cap, grown by :data:`RATE_PROBE` per second since it was set (probing upwards)."""
        assert pace.rate is not None
        return pace.rate * (1.0 + RATE_PROBE) ** max(0.0, now - pace.rate_set_at)

    # -- reporting -------------------------------------------------------------------------------
    def stats(self) -> dict[str, dict[str, float | int | None]]:
        now = self.clock()
        return {kind: {
            "concurrency": int(p.cwnd) if math.isfinite(p.cwnd) else None,
            "peak_in_flight": p.peak_in_flight,
            "rate_limit": round(self._current_rate(p, now), 3) if p.rate is not None else None,
            "flood_events": p.events,
            "flood_wait_seconds": p.waited,
        } for kind, p in self._paces.items()}

    def _gauges(self, pace: Pace) -> None:
        if math.isfinite(pace.cwnd):
            self._gauge(pace, "concurrency", int(pace.cwnd))
        if pace.rate is not None:
            self._gauge(pace, "rate_limit", round(self._current_rate(pace, self.clock()), 3))

    def _gauge(self, pace: Pace, what: str, value: float) -> None:
        if self.metrics is not None:
            self.metrics.gauge(f"pacing.{pace.kind}.{what}", value)


__all__ = ["DEFAULT_INITIAL", "DEFAULT_MAXIMUM", "Pace", "Pacer", "Ticket"]
