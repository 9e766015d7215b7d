"""``tgx export``: resolve → fetch into the archive → (media) → render → metrics.

Archive first, render second: every fetched page is committed with its checkpoint, so whatever
instant the process dies, a rerun continues where it stopped, and rendering always streams from
the archive (a resumed export renders byte-identical files). This module only orchestrates;
each stage lives in its own module.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any

import pluggy

from tgx.archive.lock import hold_output_async, prepare_out_dir
from tgx.archive.store import STATE_DIR, Archive
from tgx.archive.threads import FORUM
from tgx.config import Config
from tgx.errors import ChatNotFound, ExitCode, OutputError, TgxError, UsageError
from tgx.fetch.history import FetchOptions, FetchResult, HistoryFetcher, quiet_gc
from tgx.fetch.pages import PageDecoder
from tgx.fetch.resync import refresh_recent
from tgx.fetch.workers import Spares
from tgx.host import registry
from tgx.host.manager import plugin_infos
from tgx.metrics.collector import Metrics, build_sinks
from tgx.metrics.progress import ExportProgress
from tgx.model import Peer
from tgx.render.selection import format_options, select_formats
from tgx.run import RunContext
from tgx.specs import PeerRef, ResolvedPeer
from tgx.sync.difference import (
    STREAM_KINDS,
    CatchUp,
    catch_up_account,
    catch_up_channel,
    record_first_pts,
    start_account_stream,
)
from tgx.telegram import adapter
from tgx.telegram.peers import PeerResolution, ResolveBudget, parse_chat
from tgx.telegram.runner import RequestCounter, RequestRunner
from tgx.telegram.takeout import TakeoutSession

if TYPE_CHECKING:
    from tgx.media import MediaOptions, MediaResult
    from tgx.render.engine import RenderResult

RenderChat = Callable[..., "RenderResult"]  # tgx.render.engine.render_chat's shape
RESOLVE_AT_ONCE = 4  # chats named on the command line resolved at a time (ResolveUsername is rate-limited)


@dataclass
class ExportRequest:
    chats: Sequence[str]
    out: Path
    formats: Sequence[str] = ("jsonl",)
    fetch: FetchOptions = field(default_factory=FetchOptions)
    plugin_options: Mapping[str, Any] = field(default_factory=dict)  # --<option> values by name
    media: MediaOptions | None = None  # None or no kinds: no media stage
    max_flood_wait: float = 900.0
    max_reconnects: int = 5  # consecutive connection failures of one request before stopping (exit 6)
    takeout: bool = False  # fetch history in a takeout session (tgx.telegram.takeout)
    takeout_fallback: bool = False  # TAKEOUT_INIT_DELAY: warn and go on without takeout
    refresh_edits: int | None = None  # re-check the last N days for edits/deletions (tgx.fetch.resync)
    refetch_imported: bool = False  # fetch again what `tgx import` archived (tgx.fetch.imported)
    comments: bool = False  # also the comments of channel posts (tgx.threads.comments)
    topics: Sequence[str] = ()  # --topic: only these topics of the forum (ids or titles; tgx.threads.topics)
    all_dialogs: bool = False  # also export every dialog of the account (tgx.telegram.dialogs)
    dialog_types: Sequence[str] = ()  # with all_dialogs: only these Peer kinds (empty: every kind)
    chats_at_once: int = 16  # chats fetched concurrently; they share one pacing budget (tgx.telegram.pacing)
    metrics_interval: float = 5.0
    quiet: bool = False
    command: str = "export"
    wait_lock: float = 0.0  # seconds to wait for another tgx process writing OUT (tgx.archive.lock)
    spares: Spares | None = None  # decode workers started with the command (tgx.fetch.workers.prestart)
    accounts: Sequence[str] = ()  # --accounts: the accounts of the run, in order (empty: the client's own)


@dataclass
class ChatOutcome:
    peer: Peer
    fetch: FetchResult
    folder: Path
    discussion_of: int | None = None  # a discussion group fetched for --comments: the channel's id
    sync: CatchUp | None = None  # what changed since the last run, applied before the fetch (tgx.sync)


@dataclass
class ExportOutcome:
    chats: list[ChatOutcome]
    report: dict[str, Any]
    outputs: dict[str, str]
    render_errors: list[str]
    exit_code: int = ExitCode.OK
    media: MediaResult | None = None  # when the media stage ran
    exported_by: dict[int, str] = field(default_factory=dict)  # chat id → account, with several accounts


def check_folder_owner(archive: Archive, peer: Peer) -> None:
    """OUT/<chat>/ belongs to one chat: a username now naming another chat must not mix them."""
    for known in archive.chats():
        if known.folder_name == peer.folder_name and known.id != peer.id:
            raise OutputError(
                f"{peer.folder_name}/ in this output belongs to another chat (id {known.id}, "
                f"now @{peer.username} is id {peer.id})",
                hint="export into a different --out directory",
            )


async def run_export(pm: pluggy.PluginManager, config: Config, req: ExportRequest, client: Any,
                     progress: ExportProgress, *, render: RenderChat,
                     then: Callable[[ExportRun], Awaitable[None]] | None = None,
                     clients: Mapping[str, Any] | None = None) -> ExportOutcome:
    """Export every chat of ``req`` with a connected, logged-in ``client``.

    ``render`` is the render engine's ``render_chat`` (passed in so the orchestration is testable).
    ``then`` runs after the render, still holding OUT and the archive (``tgx watch`` stays there).
    ``clients``: with several accounts (``req.accounts``), each one's connected client by name
    (``client`` is the first's); chats are shared out between them (tgx.export.accounts).
    """
    refs: list[PeerRef] = [parse_chat(c) for c in req.chats]  # malformed CHAT: fail before any I/O
    if clients is not None and len(clients) > 1:
        for flag, used in (("--takeout", req.takeout), ("--topic", bool(req.topics))):
            if used:
                raise UsageError(f"{flag} works with one account, not with --accounts",
                                 hint="export those chats with --account NAME")
    selected = select_formats(pm, req.formats)
    fmt_options = format_options(selected, config, req.plugin_options)
    out = prepare_out_dir(req.out)
    async with hold_output_async(out, req.command, wait_s=req.wait_lock):  # one writer per OUT, whole run
        export = ExportRun(pm, config, req, client, progress, out, selected, clients=clients)
        try:
            await export.resolve(refs)
            await export.fetch_all()
            await export.media()
            export.render_all(render, fmt_options)
            export.compact()
            if then is not None:
                await then(export)
        except TgxError as exc:
            export.status, export.exit_code = type(exc).__name__, exc.exit_code
            raise
        except (KeyboardInterrupt, asyncio.CancelledError):
            export.status, export.exit_code = "interrupted", ExitCode.INTERRUPTED
            raise
        finally:
            await export.close()
        return export.outcome()


class ExportRun:
    """One run of :func:`run_export`: its :class:`RunContext` and what it found, stage by stage."""

    def __init__(self, pm: pluggy.PluginManager, config: Config, req: ExportRequest, client: Any,
                 progress: ExportProgress, out: Path, selected: Mapping[str, registry.RegisteredFormat],
                 clients: Mapping[str, Any] | None = None) -> None:
        self.req = req
        self.selected = selected
        archive = Archive.open(out)
        metrics = Metrics(
            build_sinks(pm, config, out, req.plugin_options), interval=req.metrics_interval,
            run_info={"command": req.command, "plugins_enabled": _enabled_plugins(pm),
                      "chats": list(req.chats), "formats": list(selected), "out_dir": str(out)},
            secrets=(config.api_hash, config.bot_token,
                     *(config.for_account(n).api_hash for n in (clients or {}) if n != config.account)),
        )
        metrics.start()
        runner = RequestRunner(client, metrics=metrics, status=progress.status,
                               max_flood_wait=req.max_flood_wait, max_reconnects=req.max_reconnects)
        self.run = RunContext(runner=runner, archive=archive, config=config, pm=pm, client=client, out=out,
                              metrics=metrics, progress=progress)
        self.budget = ResolveBudget(config.resolve_per_minute)  # username look-ups per minute
        self.resolution = PeerResolution.from_plugins(pm, client, out / STATE_DIR, config=config, budget=self.budget)
        for name in [*self.resolution.resolver_names, "network"]:  # one cache entry per resolver
            metrics.add_cache_source(name, self._cache_stats(name))
        self.counter = RequestCounter(client)
        self.takeout = TakeoutSession.for_export(client, runner, req, metrics=metrics)
        self.decoder = PageDecoder(req.fetch.decode_workers, metrics=metrics, spares=req.spares)
        self.resolved: list[tuple[PeerRef | None, ResolvedPeer]] = []  # (what the user named, its resolution)
        self.input_peers: dict[int, Any] = {}
        self.chats: list[ChatOutcome] = []
        self.media_result: MediaResult | None = None
        self.render_errors: list[str] = []
        self.status, self.exit_code = "ok", int(ExitCode.OK)
        self.report: dict[str, Any] = {}
        self.account_sync: CatchUp | None = None  # the account stream's catch-up, when it ran
        self.fmt_options: Mapping[str, Mapping[str, Any]] = {}
        self.accounts: list[Any] = []  # tgx.export.accounts.Account, with several accounts
        self.exported_by: dict[int, Any] = {}  # chat id → the Account that fetched it
        if clients is not None and len(clients) > 1:
            self._start_accounts(pm, config, clients)

    def _start_accounts(self, pm: pluggy.PluginManager, config: Config, clients: Mapping[str, Any]) -> None:
        """One :class:`tgx.export.accounts.Account` per client: its own runner (pacer, flood gate),
        resolvers (state in ``OUT/.tgx/`` for ``default``, ``OUT/.tgx/accounts/<name>/`` for
        others) and look-up budget; the first is the run's own client."""
        from tgx.export.accounts import Account

        for i, (name, client) in enumerate(clients.items()):
            cfg = config.for_account(name) if name != config.account else config
            if i == 0:
                run, resolution, budget, counter = self.run, self.resolution, self.budget, self.counter
            else:
                runner = RequestRunner(client, metrics=self.run.metrics, status=self.run.progress.status,
                                       max_flood_wait=self.req.max_flood_wait, max_reconnects=self.req.max_reconnects)
                run = dataclasses.replace(self.run, runner=runner, client=client, config=cfg)
                budget = ResolveBudget(config.resolve_per_minute)
                state = self.run.out / STATE_DIR / ("" if name == "default" else f"accounts/{name}")
                resolution = PeerResolution.from_plugins(pm, client, state, config=cfg, budget=budget)
                counter = RequestCounter(client)
            self.accounts.append(Account(name, cfg, client, run, resolution, budget, counter))

    def _cache_stats(self, name: str) -> Callable[[], Mapping[str, Any]]:
        return lambda: self.resolution.stats().get(name, {})

    # -- the stages ------------------------------------------------------------------------------
    async def resolve(self, refs: Sequence[PeerRef]) -> None:
        """The chats named (concurrently; the first failure in argv order wins), each once by
        marked id, then with ``--all-dialogs`` every dialog not named; each registered in the archive."""
        if self.accounts:
            return await self._resolve_accounts(refs)
        at_a_time = asyncio.Semaphore(RESOLVE_AT_ONCE)

        async def one(ref: PeerRef) -> ResolvedPeer:
            async with at_a_time:
                with self.run.metrics.span("resolve", items=1):
                    return await self.resolution.resolve(ref)

        answers = await asyncio.gather(*(one(ref) for ref in refs), return_exceptions=True)
        for ref, rp in zip(refs, answers, strict=True):
            if isinstance(rp, BaseException):
                raise rp
            self._add(ref, rp)  # `news`, `@news`, `t.me/news` and its -100… id are one chat, fetched once
        if self.req.all_dialogs:
            from tgx.telegram.dialogs import list_dialogs

            with self.run.metrics.span("resolve") as span:
                listed = await list_dialogs(self.run.runner, kinds=self.req.dialog_types or None)
                span.items = len(listed)
            for rp in listed:
                self._add(None, rp)
        if self.req.topics:
            named = [rp for ref, rp in self.resolved if ref is not None]
            if len(self.resolved) != 1 or len(named) != 1:
                raise UsageError("--topic needs exactly one CHAT: the forum whose topics to export")
            if not named[0].peer.forum:
                raise UsageError(f"{named[0].peer.folder_name} is not a forum: --topic applies to forums",
                                 hint="`tgx chats` marks forums with (forum)")
        await self.takeout.start()

    async def _resolve_accounts(self, refs: Sequence[PeerRef]) -> None:
        """Several accounts: each CHAT resolved by one account that can read it — cache first
        (every account's), then Telegram, the accounts taken in turn so look-ups spread over
        their budgets; ``--all-dialogs`` is the union of their dialog lists, each chat once, given
        to the account (of those that list it) with the fewest chats so far."""
        from tgx.export.accounts import Job

        at_a_time = asyncio.Semaphore(RESOLVE_AT_ONCE * len(self.accounts))
        accounts = self.accounts

        async def one(i: int, ref: PeerRef) -> tuple[str, ResolvedPeer]:
            turn = accounts[i % len(accounts):] + accounts[:i % len(accounts)]
            async with at_a_time:
                with self.run.metrics.span("resolve", items=1):
                    for account in turn:
                        hit = await account.resolution.cached(ref)
                        if hit is not None:
                            return account.name, hit
                    if ref.kind == "username":  # whoever has budget left now goes first
                        turn.sort(key=lambda a: -min(1, a.budget.available()))
                    first: ChatNotFound | None = None
                    for account in turn:
                        try:
                            return account.name, await account.resolution.resolve(ref)
                        except ChatNotFound as exc:  # this account cannot read it: another may
                            first = first or exc
                    assert first is not None
                    raise first

        answers = await asyncio.gather(*(one(i, ref) for i, ref in enumerate(refs)), return_exceptions=True)
        self.jobs: dict[int, Job] = {}
        self.homes: dict[int, str] = {}
        for ref, answer in zip(refs, answers, strict=True):
            if isinstance(answer, BaseException):
                raise answer
            name, rp = answer
            if rp.peer.id not in self.jobs:
                self.jobs[rp.peer.id] = Job(ref, {name: rp})
                self.homes[rp.peer.id] = name
            self._add(ref, rp)
        if self.req.all_dialogs:
            from tgx.telegram.dialogs import list_dialogs

            with self.run.metrics.span("resolve") as span:
                listed = await asyncio.gather(*(list_dialogs(a.run.runner, kinds=self.req.dialog_types or None)
                                                for a in accounts))
                span.items = sum(len(x) for x in listed)
            for account, found in zip(accounts, listed, strict=True):
                for rp in found:
                    job = self.jobs.setdefault(rp.peer.id, Job(None, {}))
                    job.peers.setdefault(account.name, rp)
                    self._add(None, rp)
            load = {a.name: 0 for a in accounts}
            for peer_id in self.homes:
                load[self.homes[peer_id]] += 1
            for peer_id, job in self.jobs.items():
                if peer_id not in self.homes:
                    home = min(job.peers, key=lambda n: (load[n], [a.name for a in accounts].index(n)))
                    self.homes[peer_id] = home
                    load[home] += 1

    def _add(self, ref: PeerRef | None, rp: ResolvedPeer) -> None:
        if any(rp.peer.id == seen.peer.id for _ref, seen in self.resolved):
            return
        self._adopt(rp, moved=True)
        self.resolved.append((ref, rp))

    def _adopt(self, rp: ResolvedPeer, moved: bool) -> None:
        """Record a chat's resolution in the archive (refusing a folder that belongs to another chat)."""
        if moved:
            check_folder_owner(self.run.archive, rp.peer)
        self.run.archive.set_chat(rp.peer)
        self.input_peers[rp.peer.id] = rp.input_peer

    async def fetch_all(self) -> None:
        """Every resolved chat, ``chats_at_once`` at a time (they share one pacing budget)."""
        if self.accounts:
            return await self._fetch_accounts()
        at_once = asyncio.Semaphore(max(1, self.req.chats_at_once))
        await self.catch_up_account()

        async def bounded(ref: PeerRef | None, rp: ResolvedPeer) -> ChatOutcome:
            async with at_once:
                return await self.resolution.fetch(ref, rp, self._fetch_chat, self._adopt)

        self.chats = list(await asyncio.gather(*(bounded(ref, rp) for ref, rp in self.resolved)))
        if self.req.comments:
            await self.fetch_comments(at_once)
        await self.decoder.aclose()  # its workers are done: free their memory before media and render
        self.run.archive.settle_counts()  # what each block holds now (the self-check's reference)
        self.run.metrics.incr("messages", sum(o.fetch.fetched for o in self.chats))

    async def _fetch_accounts(self) -> None:
        """Several accounts: the jobs in their accounts' queues, run by the scheduler."""
        from tgx.export.accounts import Account, Job, Scheduler

        by_name = {a.name: a for a in self.accounts}
        for account in self.accounts:  # each account's private chats and groups: its own update stream
            mine = {pid for pid, home in self.homes.items() if home == account.name}
            await self.catch_up_account(account.run, {pid: rp for pid, rp in
                                                       ((p, self.jobs[p].peers[account.name]) for p in mine)})

        async def fetch(account: Account, job: Job, rp: ResolvedPeer) -> ChatOutcome:
            self.input_peers[rp.peer.id] = rp.input_peer
            self.exported_by[rp.peer.id] = account
            fetch_chat = lambda r, on_chat, pages: self._fetch_chat(r, on_chat, pages, run=account.run)  # noqa: E731
            return await account.resolution.fetch(job.ref, rp, fetch_chat, self._adopt)

        async def resolve(account: Account, job: Job) -> ResolvedPeer | None:
            peer = next(iter(job.peers.values())).peer
            ref = job.ref if job.ref is not None else (
                PeerRef("username", peer.username, f"@{peer.username}") if peer.username
                else PeerRef("id", peer.id, str(peer.id)))
            try:
                rp = await account.resolution.resolve(ref)
            except ChatNotFound:
                return None
            return rp if rp.peer.id == peer.id else None

        scheduler = Scheduler(self.accounts, fetch, resolve, slots=self.req.chats_at_once)
        for peer_id in self.jobs:
            scheduler.add(by_name[self.homes[peer_id]], self.jobs[peer_id])
        self.chats = list(await scheduler.run())
        if self.req.comments:
            await self.fetch_comments(asyncio.Semaphore(max(1, self.req.chats_at_once)))
        await self.decoder.aclose()
        self.run.archive.settle_counts()
        self.run.metrics.incr("messages", sum(o.fetch.fetched for o in self.chats))

    async def catch_up_account(self, run: RunContext | None = None,
                               stream: Mapping[int, ResolvedPeer] | None = None) -> None:
        """Private chats and basic groups share the account's update stream: its changes since the
        last run are applied to every such chat of the archive at once (tgx.sync.difference); on
        a first run its state is stored, before any of them is fetched."""
        run = run or self.run
        self_id = adapter.self_id(run.client)
        chosen = [rp for _ref, rp in self.resolved] if stream is None else list(stream.values())
        inputs = {rp.peer.id: rp.input_peer for rp in chosen if rp.peer.kind in STREAM_KINDS}
        if self_id is None or not inputs:
            return
        archived = [p for p in run.archive.chats() if p.kind in STREAM_KINDS
                    and (stream is None or p.id in inputs)]
        caught = await catch_up_account(run, self_id, archived, inputs)
        if caught.how in ("difference", "rescan"):
            self.account_sync = caught
            self.run.progress.stage(caught.summary("private chats and groups"))
        await start_account_stream(run, self_id)

    async def fetch_comments(self, at_once: asyncio.Semaphore) -> None:
        """Comments of every broadcast channel fetched (after the histories: the fallback reads
        the posts' reply counts from the archive); each discussion group becomes a chat of the
        export (its own folder), fetched once even when it was also named."""
        from tgx.threads.comments import fetch_comments

        named = {o.peer.id for o in self.chats}
        channels = [o for o in self.chats if o.peer.kind == "channel"]
        for o in self.chats:
            if o.peer.kind != "channel":
                self.run.warn(f"{o.peer.folder_name}: --comments applies to channels only (this is a "
                              f"{o.peer.kind}): no comments fetched")
        by_id = {rp.peer.id: rp for _ref, rp in self.resolved}

        def source(o: ChatOutcome) -> tuple[RunContext, ResolvedPeer]:
            """With several accounts, the one that exported the channel fetches its comments,
            through its own client and with the input peer it resolved (access hashes are its own)."""
            account = self.exported_by.get(o.peer.id)
            if account is None:
                return self.run, by_id[o.peer.id]
            return account.run, ResolvedPeer(o.peer, self.input_peers[o.peer.id])

        def adopt(group: ResolvedPeer) -> None:
            if group.peer.id not in named:
                self._adopt(group, moved=True)

        async def one(o: ChatOutcome) -> ChatOutcome | None:
            run, rp = source(o)
            async with at_once:
                result = await fetch_comments(run, rp, options=self.req.fetch,
                                              decoder=self.decoder, fetched=named.__contains__, adopt=adopt)
            if result.group is None:
                self.run.warn(f"{o.peer.folder_name}: has no discussion group: no comments to fetch")
                return None
            group = result.group.peer
            if o.peer.id in self.exported_by:  # its comments came through the channel's account
                self.exported_by[group.id] = self.exported_by[o.peer.id]
            how = "its history" if result.readable else f"GetReplies on {result.threads} post(s)"
            self.run.progress.stage(f"{o.peer.folder_name}: comments from {group.folder_name} ({how}): "
                                    f"{result.fetch.fetched:,} new, "
                                    f"{self.run.archive.count_comments(o.peer.id):,} in the archive")
            if group.id in named:
                return None
            named.add(group.id)
            return ChatOutcome(group, result.fetch, self.run.out / group.folder_name, discussion_of=o.peer.id)

        found = await asyncio.gather(*(one(o) for o in channels))
        self.chats += [o for o in found if o is not None]

    async def _fetch_chat(self, rp: ResolvedPeer, on_chat: Callable[[Peer], None] | None,
                          pages: list[int], run: RunContext | None = None) -> ChatOutcome:
        run = run or self.run
        label = rp.peer.folder_name
        archived = run.archive.count(rp.peer.id)  # one COUNT(*) for the bar and the decoder's estimate
        run.progress.add_chat(label, archived)
        if rp.peer.forum:
            run.archive.set_threaded(rp.peer.id, FORUM)  # its rows are grouped by topic as they are written
        if self.req.topics and rp.peer.forum:
            pages.append(1)  # resolved and read: a failure now is the chat's, not a stale cache's
            return await self._fetch_topics(rp)
        caught: CatchUp | None = None
        if rp.peer.kind in ("channel", "supergroup"):
            caught = await catch_up_channel(run, rp.peer.id, rp.input_peer, label=label,
                                            self_id=adapter.self_id(run.client))
            if caught.how in ("difference", "rescan"):
                run.progress.stage(caught.summary(label))
        released: list[tuple[int, int]] = []
        if self.req.refetch_imported:
            from tgx.fetch.imported import release_imported

            released = release_imported(run.archive, rp.peer.id)  # its imported runs become gaps
        fetcher = HistoryFetcher(run, rp.peer.id, rp.input_peer, options=self.req.fetch, label=label,
                                 on_progress=lambda n, total: run.progress.advance(label, n, total),
                                 decoder=self.decoder, on_chat=on_chat, archived=archived,
                                 on_pts=lambda pts: record_first_pts(run, rp.peer.id, pts))
        try:
            result = await fetcher.run()
        finally:
            pages.append(fetcher.result.pages)
        if released:
            from tgx.fetch.imported import mark_gone

            gone = mark_gone(run.archive, rp.peer.id, released)
            run.progress.stage(f"{label}: imported messages fetched again from Telegram"
                               + (f"; {gone:,} no longer exist there (flagged deleted)" if gone else ""))
        if self.req.refresh_edits:
            await refresh_recent(run, rp.peer.id, rp.input_peer, days=self.req.refresh_edits, label=label,
                                 note=run.progress.stage)
        if rp.peer.forum:
            await self._refresh_topics(rp)
        return ChatOutcome(rp.peer, result, run.out / rp.peer.folder_name, sync=caught)

    async def _fetch_topics(self, rp: ResolvedPeer) -> ChatOutcome:
        """``--topic``: the forum's topics listed (and archived: their current state), the chosen
        ones fetched thread by thread."""
        from tgx.telegram.topics import list_topics
        from tgx.threads.topics import choose_topics, fetch_topics

        label = rp.peer.folder_name
        with self.run.metrics.span("resolve"):
            topics = await list_topics(self.run.runner, rp.input_peer, title=label)
        self.run.archive.set_topics(rp.peer.id, topics)
        chosen = choose_topics(topics, self.req.topics, forum=label)
        result = await fetch_topics(self.run, rp, chosen, options=self.req.fetch, decoder=self.decoder)
        if self.req.refresh_edits:
            self.run.warn(f"{label}: --refresh-edits is not applied with --topic (it re-reads the whole forum)")
        return ChatOutcome(rp.peer, result, self.run.out / label)

    async def _refresh_topics(self, rp: ResolvedPeer) -> None:
        """The forum's topics as they are now (renamed, closed), into the archive: one request per
        100 topics. A forum that says it has none (the flag changed) is a warning, not a failure."""
        from tgx.telegram.topics import list_topics

        label = rp.peer.folder_name
        try:
            with self.run.metrics.span("resolve"):  # timed with resolution; its items stay the chats
                topics = await list_topics(self.run.runner, rp.input_peer, title=label)
        except UsageError as exc:
            self.run.warn(f"{label}: topics not listed: {exc.message}")
            return
        self.run.archive.set_topics(rp.peer.id, topics)

    async def media(self) -> None:
        if self.req.media is not None and self.req.media.kinds:
            from tgx.media import run_media_stage

            if not self.accounts:
                self.media_result = await run_media_stage(self.run, [o.peer for o in self.chats], self.req.media,
                                                          input_peers=self.input_peers)
            for account in self.accounts:  # each chat's files through the account that fetched it
                peers = [o.peer for o in self.chats if self.exported_by.get(o.peer.id) is account]
                if peers:
                    result = await run_media_stage(account.run, peers, self.req.media, input_peers=self.input_peers)
                    self.media_result = result if self.media_result is None else _merge_media(self.media_result, result)
        await self.takeout.finish(success=True)

    def render_all(self, render: RenderChat, fmt_options: Mapping[str, Mapping[str, Any]]) -> None:
        self.fmt_options = fmt_options  # what a later refresh (tgx watch) renders with
        run, specs = self.run, {n: r.spec for n, r in self.selected.items()}
        for o in self.chats:
            started = perf_counter()
            with quiet_gc():  # rendering allocates like fetching does: fewer full GC scans
                result = render(run.archive, o.peer.id, run.out, specs, fmt_options)
            run.metrics.record("render", perf_counter() - started, items=run.archive.count(o.peer.id))
            for name, error in result.errors.items():
                self.render_errors.append(f"{o.peer.folder_name}: format '{name}' failed: {error}")
        if self.render_errors:
            self.status, self.exit_code = "render_failed", int(ExitCode.FAILURE)

    def compact(self) -> None:
        """An archive migrated from before compression: its older rows compressed, once, after a
        successful run (each batch its own transaction; an interrupted pass continues next run)."""
        archive = self.run.archive
        if self.status == "ok" and archive.compact_pending:
            self.run.progress.stage("compressing the archive's rows from before this version (once)")
            archive.compact()

    # -- the end -------------------------------------------------------------------------------
    async def close(self) -> None:
        """Whatever happened: workers stopped, resolvers persisted, the report written, the
        archive closed, a takeout still open finished."""
        await self.decoder.aclose()
        self.resolution.close()
        extra: dict[str, Any] | None = None
        if self.accounts:
            for account in self.accounts[1:]:
                account.resolution.close()
            self.run.metrics.incr("requests", sum(a.counter.count for a in self.accounts))
            extra = {"accounts": {a.name: a.report() for a in self.accounts}}
        else:
            self.run.metrics.incr("requests", self.counter.count)
        self.report = self.run.metrics.finish(status=self.status, exit_code=self.exit_code, extra=extra)
        self.run.archive.close()
        await self.takeout.finish(success=False)  # no-op unless a takeout is still open (a failure)

    def outcome(self) -> ExportOutcome:
        return ExportOutcome(self.chats, self.report, self.run.metrics.outputs(), self.render_errors,
                             self.exit_code, self.media_result,
                             {pid: account.name for pid, account in self.exported_by.items()})


def _merge_media(a: MediaResult, b: MediaResult) -> MediaResult:
    """Two accounts' media results as one (counts added, warnings joined, the larger peak)."""
    for name in a.__dataclass_fields__:
        mine, theirs = getattr(a, name), getattr(b, name)
        if name == "peak_in_flight":
            setattr(a, name, max(mine, theirs))
        elif isinstance(mine, list):
            mine.extend(theirs)
        elif isinstance(mine, int | float):
            setattr(a, name, mine + theirs)
    return a


def _enabled_plugins(pm: pluggy.PluginManager) -> list[str]:
    return sorted(info.name for info in plugin_infos(pm) if info.enabled)


__all__ = ["ChatOutcome", "ExportOutcome", "ExportRequest", "ExportRun", "run_export"]
