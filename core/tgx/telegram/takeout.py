"""``--takeout``: fetch history inside a Telegram takeout (data export) session.

Telegram gives data-export sessions gentler flood limits for history requests. The session is
opened with ``account.InitTakeoutSession`` and each wrapped request is sent as
``InvokeWithTakeout(takeout_id, request)``; at the end ``account.FinishTakeoutSession(success)``
(itself wrapped) tells Telegram whether the export completed — on success *and* on failure.

Why not Telethon's ``client.takeout()`` proxy: tgx sends every request through its
:class:`~tgx.telegram.runner.RequestRunner` (flood waits, reconnects), so the runner wraps the requests of
the history stage itself (:attr:`RequestRunner.takeout`). Downloads are not wrapped (Telethon
does not wrap them either: ``upload.GetFile`` goes to the file's DC). Facts this module relies on
(Telethon 1.45):

* ``files=True`` without ``file_max_size`` fails when serialized: both are set together, with
  the ``--max-size`` limit (else 4000 MiB, Telegram's largest file) when media is requested.
* ``TAKEOUT_INIT_DELAY_N`` (a ``FloodError`` subclass, but no rate limit): the user must confirm
  the export in a Telegram app and may start it only after N seconds. tgx stops with exit 6 and
  says so, or — with ``--takeout-fallback`` — warns and continues with the normal API.
* Flood waits inside a takeout are keyed by the outer request type (every takeout call shares
  one key), which is what :func:`tgx.telegram.runner.request_kind` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from telethon import errors as tl_errors
from telethon.tl import functions

from tgx.errors import NetworkError
from tgx.text import human_seconds

MAX_TELEGRAM_FILE = 4000 * 1024 * 1024
FINISH_TIMEOUT = 15.0


class TakeoutSession:
    """One takeout session for one export run. Inactive (a no-op) unless ``enabled``."""

    def __init__(self, client: Any, runner: Any, *, enabled: bool, fallback: bool = False,
                 files: bool = False, max_file_size: int | None = None,
                 warn: Callable[[str], None] | None = None, metrics: Any = None) -> None:
        self.client = client
        self.runner = runner
        self.enabled = enabled
        self.fallback = fallback
        self.files = files
        self.max_file_size = max_file_size
        self.warn = warn or (lambda _msg: None)
        self.metrics = metrics
        self.id: int | None = None
        self.finished: bool | None = None  # the success flag sent to Telegram, once finished

    @classmethod
    def for_export(cls, client: Any, runner: Any, req: Any, *, metrics: Any = None) -> TakeoutSession:
        """From an :class:`tgx.export.conductor.ExportRequest` (``takeout``, ``takeout_fallback``, ``media``)."""
        from tgx import console

        media = getattr(req, "media", None)
        files = bool(media is not None and getattr(media, "kinds", None))
        max_size = min(getattr(media, "max_size", None) or MAX_TELEGRAM_FILE, MAX_TELEGRAM_FILE) if files else None
        return cls(client, runner, enabled=bool(getattr(req, "takeout", False)),
                   fallback=bool(getattr(req, "takeout_fallback", False)), files=files,
                   max_file_size=max_size, warn=console.warn, metrics=metrics)

    @property
    def active(self) -> bool:
        return self.id is not None and self.finished is None

    def wrap(self, request: Any) -> Any:
        if self.id is None or isinstance(request, functions.InvokeWithTakeoutRequest):
            return request
        wrapped = functions.InvokeWithTakeoutRequest(takeout_id=self.id, query=request)
        if "read_result" in vars(request):  # tgx.fetch.pages.keep_raw: the wrapper must keep the bytes too
            wrapped.read_result = request.read_result
        return wrapped

    def init_request(self) -> Any:
        return functions.account.InitTakeoutSessionRequest(
            contacts=False, message_users=True, message_chats=True, message_megagroups=True,
            message_channels=True, files=True if self.files else None,
            file_max_size=self.max_file_size if self.files else None)

    async def start(self) -> None:
        """Open the session and make the runner wrap history requests (no-op when disabled)."""
        if not self.enabled or self.id is not None:
            return
        try:
            answer = await self.runner(self.init_request(), stage="takeout")
        except tl_errors.TakeoutInitDelayError as exc:
            seconds = int(getattr(exc, "seconds", 0) or 0)
            what = (f"Telegram allows this takeout (data export) session only in {human_seconds(seconds)}: "
                    "confirm the data export request in a Telegram app first")
            if self.fallback:
                self.warn(f"{what}; continuing without --takeout (--takeout-fallback)")
                self._count("takeout_fallback")
                return
            raise NetworkError(f"{what}; stopped before fetching anything",
                               hint="run the same command again once it is allowed, or add "
                                    "--takeout-fallback to export now with the normal API") from None
        self.id = int(answer.id)
        self.runner.takeout = self
        self._count("takeout_sessions")

    async def finish(self, success: bool) -> None:
        """Tell Telegram the export ended (once; errors only warn — the export's outcome stands)."""
        if self.id is None or self.finished is not None:
            return
        self.finished = success
        if getattr(self.runner, "takeout", None) is self:
            self.runner.takeout = None
        request = self.wrap(functions.account.FinishTakeoutSessionRequest(success=success or None))
        try:
            await asyncio.wait_for(self.client(request), FINISH_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed goodbye must not hide the real outcome
            self.warn(f"could not finish the takeout session ({type(exc).__name__}); Telegram ends it by itself")

    def _count(self, name: str) -> None:
        if self.metrics is not None:
            self.metrics.incr(name)


__all__ = ["MAX_TELEGRAM_FILE", "TakeoutSession"]
