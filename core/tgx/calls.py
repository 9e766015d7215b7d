"""Every Telegram request of an export goes through :class:`RequestRunner`.

Telethon sleeps through short flood waits by itself, invisibly, and after repeated ones raises a
bare ``ValueError('Request was unsuccessful…')``. tgx sets the client's own threshold to 0 and
handles waits here instead, so that a wait is shown ("waiting 12 s: Telegram rate limit"),
counted in metrics, slept *once* for every worker sending that request type, and bounded by
``--max-flood-wait``: beyond it the export stops with its checkpoint committed (exit 6).
Dropped connections are retried with backoff and a reconnect; after ``max_reconnects`` failures
the export stops the same clean way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from telethon import errors as tl_errors

from .errors import AuthError, ChatNotFound, NetworkError

StatusCallback = Callable[[str | None], None]

_TRANSIENT_RPC = (tl_errors.ServerError, tl_errors.TimedOutError, tl_errors.RpcCallFailError,
                  tl_errors.RpcMcgetFailError, tl_errors.InterdcCallErrorError,
                  tl_errors.InterdcCallRichErrorError)
_FLOOD = (tl_errors.FloodWaitError, tl_errors.FloodPremiumWaitError, tl_errors.FloodTestPhoneWaitError)
_REVOKED = (tl_errors.AuthKeyUnregisteredError, tl_errors.SessionRevokedError,
            tl_errors.SessionExpiredError, tl_errors.UserDeactivatedError,
            tl_errors.UserDeactivatedBanError, tl_errors.AuthKeyDuplicatedError)
_GONE = (tl_errors.ChannelPrivateError, tl_errors.ChannelInvalidError, tl_errors.ChatForbiddenError,
         tl_errors.PeerIdInvalidError, tl_errors.ChatIdInvalidError)


def request_kind(request: Any) -> str:
    """The key flood waits are remembered by: the *outer* request's type, as Telegram does."""
    return type(request).__name__


class FloodGate:
    """Per request type, the moment before which nobody may send it (a wait is slept once)."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def block(self, kind: str, seconds: float) -> float:
        until = time.monotonic() + seconds
        self._until[kind] = max(self._until.get(kind, 0.0), until)
        return self._until[kind]

    def remaining(self, kind: str) -> float:
        return max(0.0, self._until.get(kind, 0.0) - time.monotonic())

    async def wait(self, kind: str) -> float:
        waited = 0.0
        while (left := self.remaining(kind)) > 0:
            await asyncio.sleep(left)
            waited += left
        return waited


class RequestRunner:
    """Sends requests with flood-wait handling, retries and reconnects (see the module doc)."""

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
        self.gate = FloodGate()
        self.requests = 0
        self.flood_waits = 0
        self.flood_wait_seconds = 0.0
        self._reconnect_lock = asyncio.Lock()
        # We handle every flood wait ourselves (visible, counted, shared by workers).
        client.flood_sleep_threshold = 0

    async def __call__(self, request: Any, *, stage: str = "fetch", chat: str | None = None) -> Any:
        kind = request_kind(request)
        failures = 0
        while True:
            if self.gate.remaining(kind) > 0:
                await self._sleep_flood(kind)
            try:
                self.requests += 1
                return await self.client(request)
            except _FLOOD as exc:
                seconds = max(1, int(getattr(exc, "seconds", 1) or 1))
                if seconds > self.max_flood_wait:
                    raise NetworkError(
                        f"Telegram asks to wait {seconds} s before the next {kind} "
                        f"(more than --max-flood-wait {int(self.max_flood_wait)} s); progress is saved",
                        hint="run the same command again later to resume where it stopped",
                    ) from None
                if self.gate.remaining(kind) < seconds:  # a new wait, not one a peer already saw
                    self.gate.block(kind, seconds)
                    self.flood_waits += 1
                    self.flood_wait_seconds += seconds
                    if self.metrics is not None:
                        self.metrics.flood_wait(stage, seconds)
            except _REVOKED as exc:
                raise AuthError(f"the Telegram session is no longer valid ({type(exc).__name__})",
                                hint="run `tgx login` again") from None
            except _GONE as exc:
                what = f"chat {chat}" if chat else "the chat"
                raise ChatNotFound(f"{what} is no longer accessible ({type(exc).__name__}): "
                                   "it became private, was deleted, or you were removed",
                                   hint="what was exported so far is kept") from None
            except (TimeoutError, *_TRANSIENT_RPC, ConnectionError, OSError) as exc:
                failures += 1
                self._count("retry", stage)
                if failures > self.max_reconnects:
                    raise NetworkError(
                        f"connection to Telegram failed {failures} times ({type(exc).__name__}: {exc}); "
                        "progress is saved",
                        hint="check the network and run the same command again to resume",
                    ) from None
                delay = min(30.0, self.backoff * 2 ** (failures - 1))
                self.status(f"connection problem ({type(exc).__name__}); retrying in {delay:.0f} s")
                await asyncio.sleep(delay)
                await self._reconnect()
                self.status(None)
            except ValueError as exc:
                # Telethon's "Request was unsuccessful N time(s)" after its own internal retries.
                if "unsuccessful" not in str(exc):
                    raise
                failures += 1
                if failures > self.max_reconnects:
                    raise NetworkError(f"Telegram kept failing {kind}; progress is saved",
                                       hint="run the same command again to resume") from None
                await asyncio.sleep(min(30.0, self.backoff * 2 ** (failures - 1)))

    async def _sleep_flood(self, kind: str) -> None:
        self.status(f"waiting {self.gate.remaining(kind):.0f} s: Telegram rate limit ({kind})")
        await self.gate.wait(kind)
        self.status(None)

    async def _reconnect(self) -> None:
        async with self._reconnect_lock:
            if self.client.is_connected():
                return
            try:
                await self.client.connect()
            except (ConnectionError, OSError):
                pass  # the next attempt counts as another failure

    def _count(self, what: str, stage: str) -> None:
        if self.metrics is not None and what == "retry":
            self.metrics.retry(stage)
