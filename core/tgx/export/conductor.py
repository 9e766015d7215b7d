"""``tgx export``: resolve → fetch into the archive → (media) → render → metrics.

Archive first, render second: every fetched page is committed with its checkpoint, so whatever
instant the process dies, a rerun continues where it stopped, and rendering always streams from
the archive (a resumed export renders byte-identical files). This module only orchestrates;
each stage lives in its own module.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from tgx.archive.lock import hold_output
from tgx.archive.store import STATE_DIR, Archive
from tgx.config import Config
from tgx.errors import ChatNotFound, ExitCode, OutputError, TgxError
from tgx.fetch.history import FetchOptions, FetchResult, HistoryFetcher, quiet_gc
from tgx.fetch.pages import PageDecoder
from tgx.fetch.resync import refresh_recent
from tgx.host.manager import plugin_infos
from tgx.metrics.collector import Metrics, build_sinks
from tgx.metrics.progress import ExportProgress
from tgx.model import Peer
from tgx.render.selection import format_options, select_formats
from tgx.specs import PeerRef
from tgx.telegram.peers import PeerResolution, parse_chat
from tgx.telegram.runner import RequestCounter, RequestRunner
from tgx.telegram.takeout import TakeoutSession

RESOLVE_AT_ONCE = 4  # chats named on the command line resolved at a time (ResolveUsername is rate-limited)


@dataclass
class ExportRequest:
    chats: Sequence[str]
    out: Path
    formats: Sequence[str] = ("jsonl",)
    fetch: FetchOptions = field(default_factory=FetchOptions)
    plugin_options: Mapping[str, Any] = field(default_factory=dict)  # --<option> values by name
    media: Any = None  # tgx.media.MediaOptions; None or no kinds: no media stage
    max_flood_wait: float = 900.0
    max_reconnects: int = 5  # consecutive connection failures of one request before stopping (exit 6)
    takeout: bool = False  # fetch history in a takeout session (tgx.telegram.takeout)
    takeout_fallback: bool = False  # TAKEOUT_INIT_DELAY: warn and go on without takeout
    refresh_edits: int | None = None  # re-check the last N days for edits/deletions (tgx.fetch.resync)
    all_dialogs: bool = False  # also export every dialog of the account (tgx.telegram.dialogs)
    dialog_types: Sequence[str] = ()  # with all_dialogs: only these Peer kinds (empty: every kind)
    chats_at_once: int = 16  # chats fetched concurrently; they share one pacing budget (tgx.telegram.pacing)
    metrics_interval: float = 5.0
    quiet: bool = False
    command: str = "export"
    wait_lock: float = 0.0  # seconds to wait for another tgx process writing OUT (tgx.archive.lock)


@dataclass
class ChatOutcome:
    peer: Peer
    fetch: FetchResult
    folder: Path


@dataclass
class ExportOutcome:
    chats: list[ChatOutcome]
    report: dict[str, Any]
    outputs: dict[str, str]
    render_errors: list[str]
    exit_code: int = ExitCode.OK
    media: Any = None  # tgx.media.MediaResult when the media stage ran


def prepare_out_dir(out: Path) -> Path:
    """Create OUT/ and check it is writable, before anything else happens."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {out} is not writable")
    return out


def check_folder_owner(archive: Archive, peer: Peer) -> None:
    """OUT/<chat>/ belongs to one chat: a username now naming another chat must not mix them."""
    for known in archive.chats():
        if known.folder_name == peer.folder_name and known.id != peer.id:
            raise OutputError(
                f"{peer.folder_name}/ in this output belongs to another chat (id {known.id}, "
                f"now @{peer.username} is id {peer.id})",
                hint="export into a different --out directory",
            )


async def run_export(pm: Any, config: Config, req: ExportRequest, client: Any,
                     progress: ExportProgress, *, render: Any) -> ExportOutcome:
    """Export every chat of ``req`` with a connected, logged-in ``client``.

    ``render`` is the render engine's ``render_chat`` (passed in so the orchestration is testable).
    """
    refs: list[PeerRef] = [parse_chat(c) for c in req.chats]  # malformed CHAT: fail before any I/O
    selected = select_formats(pm, req.formats)
    fmt_options = format_options(selected, config, req.plugin_options)
    out = prepare_out_dir(req.out)
    with hold_output(out, req.command, wait_s=req.wait_lock):  # one writer per OUT, for the whole run
        return await _export_into(out, pm, config, req, client, progress, render=render, refs=refs,
                                  selected=selected, fmt_options=fmt_options)


async def _export_into(out: Path, pm: Any, config: Config, req: ExportRequest, client: Any,
                       progress: ExportProgress, *, render: Any, refs: list[PeerRef],
                       selected: dict[str, Any], fmt_options: dict[str, dict]) -> ExportOutcome:
    """:func:`run_export`'s work, with OUT locked."""
    archive = Archive.open(out)
    sinks = build_sinks(pm, config, out, req.plugin_options)
    metrics = Metrics(
        sinks, interval=req.metrics_interval,
        run_info={"command": req.command, "plugins_enabled": _enabled_plugins(pm),
                  "chats": list(req.chats), "formats": list(selected), "out_dir": str(out)},
        secrets=(config.api_hash, config.bot_token),
    )
    metrics.start()
    status = "ok"
    exit_code = ExitCode.OK
    outcomes: list[ChatOutcome] = []
    render_errors: list[str] = []
    media_result = None
    resolution = PeerResolution.from_plugins(pm, client, out / STATE_DIR, config=config)
    for name in [*resolution.resolver_names, "network"]:  # one cache entry per resolver: hits, misses...
        metrics.add_cache_source(name, lambda name=name: resolution.stats().get(name, {}))
    counter = RequestCounter(client)
    runner = RequestRunner(client, metrics=metrics, status=progress.status,
                           max_flood_wait=req.max_flood_wait, max_reconnects=req.max_reconnects)
    takeout = TakeoutSession.for_export(client, runner, req, metrics=metrics)
    decoder = PageDecoder(req.fetch.decode_workers, metrics=metrics)
    try:
        resolved: list[tuple[PeerRef | None, Any]] = []  # (what the user named, its resolution)
        at_a_time = asyncio.Semaphore(RESOLVE_AT_ONCE)

        async def resolve(ref: PeerRef) -> Any:
            async with at_a_time:
                with metrics.span("resolve", items=1):
                    return await resolution.resolve(ref)

        # Concurrently (ten chats at 50 ms: 0.05 s, not 0.5 s); the first failure in argv order wins.
        answers = await asyncio.gather(*(resolve(ref) for ref in refs), return_exceptions=True)
        for ref, rp in zip(refs, answers, strict=True):
            if isinstance(rp, BaseException):
                raise rp
            if any(rp.peer.id == seen.peer.id for _ref, seen in resolved):
                continue  # `news`, `@news`, `t.me/news` and its -100… id are one chat, fetched once
            check_folder_owner(archive, rp.peer)
            archive.set_chat(rp.peer)
            resolved.append((ref, rp))
        if req.all_dialogs:
            from tgx.telegram.dialogs import list_dialogs

            with metrics.span("resolve") as span:
                listed = await list_dialogs(runner, kinds=req.dialog_types or None)
                span.items = len(listed)
            named = {rp.peer.id for _ref, rp in resolved}
            for rp in listed:
                if rp.peer.id not in named:
                    check_folder_owner(archive, rp.peer)
                    archive.set_chat(rp.peer)
                    resolved.append((None, rp))
        await takeout.start()
        input_peers = {rp.peer.id: rp.input_peer for _ref, rp in resolved}

        async def fetch_chat(rp: Any, on_chat: Any = None, pages: list[int] | None = None) -> ChatOutcome:
            label = rp.peer.folder_name
            archived = archive.count(rp.peer.id)  # one COUNT(*) for the bar and the decoder's estimate
            progress.add_chat(label, archived)
            fetcher = HistoryFetcher(
                runner, archive, rp.peer.id, rp.input_peer, options=req.fetch, metrics=metrics,
                on_progress=lambda n, total: progress.advance(label, n, total), label=label, decoder=decoder,
                on_chat=on_chat, archived=archived)
            try:
                result = await fetcher.run()
            finally:
                if pages is not None:
                    pages.append(fetcher.result.pages)
            if req.refresh_edits:
                await refresh_recent(runner, archive, rp.peer.id, rp.input_peer, days=req.refresh_edits,
                                     label=label, metrics=metrics, note=progress.stage)
            return ChatOutcome(rp.peer, result, out / rp.peer.folder_name)

        async def one(ref: PeerRef | None, rp: Any) -> ChatOutcome:
            """Fetch a chat; a cached resolution that turns out stale — the chat is gone, or the
            first page shows the username now belongs to someone else — is asked of Telegram
            again, and the export goes on with (or refuses, see check_folder_owner) its answer."""
            cached = ref is not None and resolution.from_resolver(rp)
            pages: list[int] = []
            try:
                return await fetch_chat(rp, _username_check(ref) if cached else None, pages)
            except (ChatNotFound, _StaleResolution) as exc:
                if not cached or (isinstance(exc, ChatNotFound) and pages and pages[0] > 0):
                    raise  # not from a cache, or gone after pages came: the chat changed, not the cache
                stale: BaseException = exc
            assert ref is not None
            fresh = await resolution.refresh(ref)  # unknown now: ChatNotFound, the right error
            if fresh.peer.id == rp.peer.id and isinstance(stale, ChatNotFound):
                raise stale
            if fresh.peer.id != rp.peer.id:
                check_folder_owner(archive, fresh.peer)
            archive.set_chat(fresh.peer)
            input_peers[fresh.peer.id] = fresh.input_peer
            return await fetch_chat(fresh)

        at_once = asyncio.Semaphore(max(1, req.chats_at_once))

        async def bounded(ref: PeerRef | None, rp: Any) -> ChatOutcome:
            async with at_once:
                return await one(ref, rp)

        outcomes = list(await asyncio.gather(*(bounded(ref, rp) for ref, rp in resolved)))
        await decoder.aclose()  # its workers are done: free their memory before media and render
        metrics.incr("messages", sum(o.fetch.fetched for o in outcomes))

        if req.media is not None and req.media.kinds:
            from tgx.media import run_media_stage

            media_result = await run_media_stage(
                archive=archive, client=client, runner=runner, chats=[o.peer for o in outcomes],
                out_dir=out, options=req.media, metrics=metrics, progress=progress, pm=pm, config=config,
                input_peers=input_peers)
        await takeout.finish(success=True)

        for o in outcomes:
            started = perf_counter()
            with quiet_gc():  # rendering allocates like fetching does: fewer full GC scans
                result = render(archive, o.peer.id, out, {n: r.spec for n, r in selected.items()}, fmt_options)
            metrics.record("render", perf_counter() - started, items=archive.count(o.peer.id))
            for name, error in result.errors.items():
                render_errors.append(f"{o.peer.folder_name}: format '{name}' failed: {error}")
        if render_errors:
            status, exit_code = "render_failed", ExitCode.FAILURE
    except TgxError as exc:
        status, exit_code = type(exc).__name__, exc.exit_code
        raise
    except (KeyboardInterrupt, asyncio.CancelledError):
        status, exit_code = "interrupted", ExitCode.INTERRUPTED
        raise
    finally:
        await decoder.aclose()
        resolution.close()
        metrics.incr("requests", counter.count)
        report = metrics.finish(status=status, exit_code=exit_code)
        archive.close()
        await takeout.finish(success=False)  # no-op unless a takeout is still open (a failure)
    return ExportOutcome(outcomes, report, metrics.outputs(), render_errors, exit_code, media_result)


class _StaleResolution(Exception):
    """The chat's first page shows a username other than the one the cache resolved."""


def _username_check(ref: PeerRef) -> Any:
    """For a chat named by username: a check of the chat's current peer (from its first page)
    that raises :class:`_StaleResolution` when the username is not (or no longer) its own."""
    if ref.kind != "username":
        return None  # ids and `me`: a stale access hash fails the first request instead
    wanted = str(ref.value).lower()

    def check(peer: Peer) -> None:
        if (peer.username or "").lower() != wanted:
            raise _StaleResolution(f"@{wanted} resolved from the cache to {peer.id}, now @{peer.username}")

    return check


def _enabled_plugins(pm: Any) -> list[str]:
    return sorted(info.name for info in plugin_infos(pm) if info.enabled)


__all__ = ["ExportOutcome", "ExportRequest", "run_export"]
