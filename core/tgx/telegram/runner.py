"""Every Telegram request of an export goes through :class:`RequestRunner`.

Telethon sleeps through short flood waits by itself, invisibly, and after repeated ones raises a
bare ``ValueError('Request was unsuccessful…')``. tgx sets the client's own threshold to 0 and
handles waits here instead, so that a wait is shown ("waiting 12 s: Telegram rate limit"),
counted in metrics, slept *once* for every worker sending that request type, and bounded by
``--max-flood-wait``: beyond it the export stops with its checkpoint committed (exit 6).
``FLOOD_PREMIUM_WAIT_N`` (a limit of non-Premium accounts) is handled the same way.

Dropped connections: a request that fails with a connection error (Telethon fails every pending
request with ``ConnectionError`` when its own reconnects give up) is retried after a backoff
(1, 2, 4 … s, at most 30 s) and a reconnect; nothing is lost because the caller has not
committed anything for that request yet. After ``max_reconnects`` consecutive failures of one
request the export stops the same clean, resumable way (exit 6).

Errors that mean "stop" become one-line :mod:`tgx.errors`: a revoked session → AuthError
(exit 5), a chat that became private or was deleted → ChatNotFound (exit 4). Any other RPC error
is raised unchanged: callers handle the ones they expect (the media stage refreshes expired file
references, for example).

A takeout session (``--takeout``, see :mod:`tgx.telegram.takeout`) plugs in as :attr:`RequestRunner.takeout`:
requests of the wrapped stages (history fetching) are sent as ``InvokeWithTakeout``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from telethon import errors as tl_errors

from tgx.errors import AuthError, ChatNotFound, NetworkError
from tgx.telegram import adapter
from tgx.telegram.pacing import Pacer
from tgx.text import human_seconds

StatusCallback = Callable[[str | None], None]

_TRANSIENT_RPC = (tl_errors.ServerError, tl_errors.TimedOutError, tl_errors.RpcCallFailError,
                  tl_errors.RpcMcgetFailError, tl_errors.InterdcCallErrorError,
                  tl_errors.InterdcCallRichErrorError)
# Explicit classes, not FloodError: TAKEOUT_INIT_DELAY (also a FloodError) is not a rate limit
# to sleep through but a days-long confirmation delay that tgx.telegram.takeout reports.
_FLOOD = (tl_errors.FloodWaitError, tl_errors.FloodPremiumWaitError, tl_errors.FloodTestPhoneWaitError,
          tl_errors.SlowModeWaitError)
_REVOKED = (tl_errors.AuthKeyUnregisteredError, tl_errors.SessionRevokedError,
            tl_errors.SessionExpiredError, tl_errors.UserDeactivatedError,
            tl_errors.UserDeactivatedBanError, tl_errors.AuthKeyDuplicatedError)
_GONE = (tl_errors.ChannelPrivateError, tl_errors.ChannelInvalidError, tl_errors.ChatForbiddenError,
         tl_errors.PeerIdInvalidError, tl_errors.ChatIdInvalidError)
_CONNECTION = (TimeoutError, ConnectionError, OSError, EOFError)
MAX_BACKOFF = 30.0


class FloodWaitTooLong(NetworkError):
    """Telegram asks this account to wait longer than ``--max-flood-wait``: the export stops
    (exit 6), or — with several accounts — the chat moves to another account."""

    def __init__(self, message: str, *, seconds: int, kind: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.seconds = seconds
        self.kind = kind


def request_kind(request: Any) -> str:
    """The key flood waits are remembered by: the *outer* request's type, as Telegram does."""
    return type(request).__name__


class RequestRunner:
    """Sends requests with flood-wait handling, retries and reconnects (see the module doc).

    :param max_flood_wait: longest wait (seconds) slept through; a longer one stops the export.
    :param max_reconnects: consecutive connection failures of one request before stopping.
    :param backoff: the first retry delay in seconds (doubled each time, capped at 30 s).
    """

    def __init__(
        self,
        client: Any,
        *,
        metrics: Any = None,
        status: StatusCallback | None = None,
        max_flood_wait: float = 900.0,
        max_reconnects: int = 5,
        backoff: float = 1.0,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.status = status or (lambda _msg: None)
        self.max_flood_wait = max_flood_wait
        self.max_reconnects = max_reconnects
        self.backoff = backoff
        self.gate = Pacer(metrics=metrics)  # flood gate + pacing per request type (tgx.telegram.pacing)
        self.requests = 0
        self.flood_waits = 0
        self.flood_wait_seconds = 0.0
        self.retries = 0
        self.reconnects = 0
        self.takeout: Any = None  # a tgx.telegram.takeout.TakeoutSession while one is active
        self.takeout_stages = frozenset({"fetch"})
        self._reconnect_lock = asyncio.Lock()
        # We handle every flood wait ourselves (visible, counted, shared by workers).
        client.flood_sleep_threshold = 0

    async def __call__(self, request: Any, *, stage: str = "fetch", chat: str | None = None) -> Any:
        takeout = self.takeout if stage in self.takeout_stages else None
        if takeout is not None:
            request = takeout.wrap(request)
        kind = request_kind(request)
        failures = 0
        while True:
            left = self.gate.remaining(kind)
            if left > self.max_flood_wait:  # a wait beyond the limit blocks every later request of the kind
                self._too_long(int(left) + 1, kind, False)
            if left > 0:
                await self._sleep_flood(kind)
            try:
                self.requests += 1
                return await self._send(request, kind)
            except _FLOOD as exc:
                self._flood(exc, kind, stage)
            except _REVOKED as exc:
                raise AuthError(f"the Telegram session is no longer valid ({type(exc).__name__})",
                                hint="run `tgx login` again, then the same command to resume") from None
            except _GONE as exc:
                what = f"chat {chat}" if chat else "the chat"
                raise ChatNotFound(f"{what} is no longer accessible ({type(exc).__name__}): "
                                   "it became private, was deleted, or you were removed",
                                   hint="what was exported so far is kept") from None
            except (*_CONNECTION, *_TRANSIENT_RPC) as exc:
                failures += 1
                await self._retry(failures, kind, stage, f"{type(exc).__name__}: {exc}", reconnect=True)
            except ValueError as exc:
                # Telethon's "Request was unsuccessful N time(s)" after its own internal retries
                # (server errors, zero-second flood waits): transient, retried like a drop.
                if "unsuccessful" not in str(exc):
                    raise
                failures += 1
                await self._retry(failures, kind, stage, "Telegram kept failing the request", reconnect=False)

    # -- flood waits -----------------------------------------------------------------------------
    def _flood(self, exc: Exception, kind: str, stage: str) -> None:
        seconds = max(1, int(getattr(exc, "seconds", 1) or 1))
        premium = isinstance(exc, tl_errors.FloodPremiumWaitError)
        if seconds > self.max_flood_wait:
            if self._new_flood(kind, seconds, getattr(exc, "tgx_sent_at", None)):
                self.flood_waits += 1
                self.flood_wait_seconds += seconds
                if self.metrics is not None:
                    self.metrics.flood_wait(stage, seconds)
            self._too_long(seconds, kind, premium)
        if self._new_flood(kind, seconds, getattr(exc, "tgx_sent_at", None)):
            self.flood_waits += 1
            self.flood_wait_seconds += seconds
            if self.metrics is not None:
                self.metrics.flood_wait(stage, seconds)

    def _too_long(self, seconds: int, kind: str, premium: bool) -> None:
        why = " (a limit of non-Premium accounts)" if premium else ""
        raise FloodWaitTooLong(
            f"Telegram asks to wait {human_seconds(seconds)} before the next {kind}{why}, more than "
            f"--max-flood-wait {int(self.max_flood_wait)} s; stopped, progress is saved",
            seconds=seconds, kind=kind,
            hint="run the same command again later to resume where it stopped "
                 "(or raise --max-flood-wait to wait it out)",
        ) from None

    def _new_flood(self, kind: str, seconds: int, sent_at: float | None) -> bool:
        """Block ``kind``; True for a new wait, False for one a peer in flight already saw."""
        flood = getattr(self.gate, "flood", None)
        if flood is not None:  # a tgx.telegram.pacing.Pacer: tells events apart by send time, halves, learns
            return flood(kind, seconds, sent_at)
        if self.gate.remaining(kind) >= seconds:
            return False
        self.gate.block(kind, seconds)
        return True

    async def _send(self, request: Any, kind: str) -> Any:
        """One send, admitted by the pacer (concurrency window, rate) when the gate has one."""
        acquire = getattr(self.gate, "acquire", None)
        if acquire is None:
            return await self.client(request)
        ticket = await acquire(kind)
        ok = False
        try:
            result = await self.client(request)
            ok = True
            return result
        except _FLOOD as exc:
            exc.tgx_sent_at = ticket.sent_at
            raise
        finally:
            self.gate.release(ticket, ok=ok)

    async def _sleep_flood(self, kind: str) -> None:
        self.status(f"waiting {self.gate.remaining(kind):.0f} s: Telegram rate limit ({kind})")
        try:
            await self.gate.wait(kind)
        finally:
            self.status(None)

    # -- connection problems -----------------------------------------------------------------------
    async def _retry(self, failures: int, kind: str, stage: str, why: str, *, reconnect: bool) -> None:
        self.retries += 1
        if self.metrics is not None:
            self.metrics.retry(stage)
        if failures > self.max_reconnects:
            raise NetworkError(
                f"connection to Telegram failed {failures} times in a row ({why}); stopped, progress is saved",
                hint="check the network and run the same command again to resume",
            ) from None
        delay = min(MAX_BACKOFF, self.backoff * 2 ** (failures - 1))
        self.status(f"connection problem ({why.split(':')[0]}); retry {failures}/{self.max_reconnects} "
                    f"of {kind} in {delay:.0f} s")
        try:
            await asyncio.sleep(delay)
            if reconnect:
                await self._reconnect()
        finally:
            self.status(None)

    async def reconnect(self) -> bool:
        """Connect again if the connection is down (``tgx watch`` between requests); True when up."""
        await self._reconnect()
        return bool(self.client.is_connected())

    async def _reconnect(self) -> None:
        async with self._reconnect_lock:
            if self.client.is_connected():
                return
            self.reconnects += 1
            try:
                await self.client.connect()
            except _CONNECTION:
                pass  # the next attempt counts as another failure


__all__ = ["FloodWaitTooLong", "RequestCounter", "RequestRunner", "request_kind"]


class RequestCounter:
    """Counts every request the client sends, whoever sends it (the runner, Telethon's own
    entity look-ups during resolution, downloads through other DCs' senders), for the report's
    ``totals.requests`` (:func:`tgx.telegram.adapter.wrap_calls`)."""

    def __init__(self, client: Any) -> None:
        self.count = 0

        def counting(inner: adapter.Call) -> adapter.Call:
            async def counting_call(sender: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
                self.count += len(request) if isinstance(request, list | tuple) else 1
                return await inner(sender, request, *args, **kwargs)

            return counting_call

        adapter.wrap_calls(client, counting)
