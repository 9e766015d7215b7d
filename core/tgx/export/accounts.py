"""Several accounts in one export (``--accounts a,b,c``): who exports which chat.

Each account has its own client, :class:`~tgx.telegram.runner.RequestRunner` (so its own pacer
and flood gate: a flood wait on one never stalls the others), its own resolver chain (its
``peer_cache`` owns that account's access hashes: ``OUT/.tgx/`` for ``default``,
``OUT/.tgx/accounts/<name>/`` for the others) and its own username look-up budget
(:class:`~tgx.telegram.peers.ResolveBudget`). The archive, the metrics and the progress display
are shared: one writer, one process.

Scheduling (:class:`Scheduler`): every chat is a :class:`Job` in the queue of the account that
resolved (or listed) it — an account that can read it. Each account runs ``slots`` workers; a
worker takes from its own queue, then from the orphans (chats another account gave up), then
steals the newest job of the longest other queue — resolving it for itself first, cache first;
an account that cannot read it marks it and leaves it. When an account hits a flood wait
longer than ``--max-flood-wait`` it takes no more chats: the chat it was fetching becomes an
orphan and its queue is stolen by the others. The move is resumable for free: the archive
does not care who fetched a page, the next account continues from the committed checkpoint.
A chat no account can take any more stops the export with its error (exit 6 for a flood wait,
4 for a chat nobody can read), everything committed kept.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tgx.config import Config
from tgx.errors import ChatNotFound, TgxError
from tgx.run import RunContext
from tgx.specs import PeerRef, ResolvedPeer
from tgx.telegram.peers import PeerResolution, ResolveBudget
from tgx.telegram.runner import FloodWaitTooLong, RequestCounter


@dataclass(eq=False)
class Account:
    """One account of the run and everything that is its own."""

    name: str
    config: Config
    client: Any
    run: RunContext  # the export's context with this account's runner and client
    resolution: PeerResolution
    budget: ResolveBudget
    counter: RequestCounter
    chats: list[int] = field(default_factory=list)  # chats it exported (ids)
    moved_out: list[int] = field(default_factory=list)  # chats it gave to another account
    stolen: int = 0  # chats it took from another account's queue
    exhausted: FloodWaitTooLong | None = None  # its flood wait beyond --max-flood-wait
    busy: int = 0  # its workers exporting a chat now

    def report(self) -> dict[str, Any]:
        runner = self.run.runner
        return {"requests": self.counter.count, "flood_waits": runner.flood_waits,
                "flood_wait_seconds": round(runner.flood_wait_seconds, 3), "retries": runner.retries,
                "chats": len(self.chats), "moved_out": len(self.moved_out), "stolen": self.stolen,
                "resolve_lookups": self.budget.used, "resolve_deferred": self.budget.deferred,
                "stopped_by_flood_wait": self.exhausted is not None}


@dataclass(eq=False)
class Job:
    """One chat to export: who resolved it (``peers``, per account) and who cannot read it."""

    ref: PeerRef | None
    peers: dict[str, ResolvedPeer]
    cannot: set[str] = field(default_factory=set)
    error: TgxError | None = None  # why the last account gave it up

    @property
    def peer_id(self) -> int:
        return next(iter(self.peers.values())).peer.id


Fetch = Callable[[Account, Job, ResolvedPeer], Awaitable[Any]]
Resolve = Callable[[Account, Job], Awaitable[ResolvedPeer | None]]


class Scheduler:
    """Work queues per account with stealing (see the module doc)."""

    def __init__(self, accounts: list[Account], fetch: Fetch, resolve: Resolve, *, slots: int) -> None:
        self.accounts = accounts
        self.fetch = fetch
        self.resolve = resolve
        self.slots = max(1, slots)
        self.queues: dict[str, deque[Job]] = {a.name: deque() for a in accounts}
        self.orphans: deque[Job] = deque()
        self.running = 0
        self.results: dict[int, Any] = {}
        self.order: list[int] = []  # peer ids in the order they were queued (outcomes come back in it)
        self._changed = asyncio.Condition()

    def add(self, account: Account, job: Job) -> None:
        self.queues[account.name].append(job)
        self.order.append(job.peer_id)

    async def run(self) -> list[Any]:
        """Every job exported; the outcomes in the order the jobs were added. The first failure
        that no account can take over stops the others (their committed pages stay)."""
        try:
            async with asyncio.TaskGroup() as group:
                for account in self.accounts:
                    for _ in range(self.slots):
                        group.create_task(self._worker(account))
        except BaseExceptionGroup as group_error:
            raise _first(group_error) from None
        return [self.results[i] for i in self.order if i in self.results]

    # -- taking work -------------------------------------------------------------------------------
    def _usable(self, account: Account, job: Job) -> bool:
        return account.name not in job.cannot

    def _find(self, account: Account) -> tuple[deque[Job], Job, bool] | None:
        """(where, job, stolen) for ``account``: its own queue, the orphans, then the longest queue
        of an account that cannot start them itself (stopped, or every worker busy)."""
        if account.exhausted is not None:
            return None
        own = self.queues[account.name]
        if own:
            return own, own[0], False
        for job in self.orphans:
            if self._usable(account, job):
                return self.orphans, job, True
        owners = {a.name: a for a in self.accounts}
        victims = sorted((q for name, q in self.queues.items() if name != account.name and q
                          and (owners[name].exhausted is not None or owners[name].busy >= self.slots)),
                         key=lambda q: -len(q))
        for queue in victims:
            for job in reversed(queue):
                if self._usable(account, job):
                    return queue, job, True
        return None

    def _take(self, account: Account) -> tuple[Job, bool] | None:
        found = self._find(account)
        if found is None:
            return None
        where, job, stolen = found
        where.remove(job)
        return job, stolen

    def _stuck(self) -> Job | None:
        """A job nobody can take any more (every live account cannot, or none is live)."""
        live = [a for a in self.accounts if a.exhausted is None]
        for job in [*self.orphans, *(j for q in self.queues.values() for j in q)]:
            if not any(self._usable(a, job) for a in live):
                return job
        return None

    def _left(self) -> bool:
        return bool(self.orphans) or any(self.queues.values())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _worker(self, account: Account) -> None:
        while True:
            taken = self._take(account)
            if taken is not None:
                job, stolen = taken
                self.running += 1
                account.busy += 1
                try:
                    await self._one(account, job, stolen)
                finally:
                    self.running -= 1
                    account.busy -= 1
                    await self._notify()
                continue
            if account.exhausted is not None:
                return
            if self.running == 0:
                stuck = self._stuck()
                if stuck is not None:
                    raise stuck.error or ChatNotFound(f"chat {rp_name(stuck)} cannot be read by any account")
                if not self._left():
                    return
            async with self._changed:
                if self._find(account) is not None:
                    continue  # something came (or was left) while we looked
                if self.running == 0 and not self._left():
                    return
                await self._changed.wait()

    def _jobs(self) -> list[Job]:
        return [*self.orphans, *(j for q in self.queues.values() for j in q)]

    async def _one(self, account: Account, job: Job, stolen: bool) -> None:
        rp = job.peers.get(account.name)
        if rp is None:
            rp = await self.resolve(account, job)
            if rp is None:  # this account cannot read it: leave it to the others
                job.cannot.add(account.name)
                job.error = job.error or ChatNotFound(
                    f"chat {rp_name(job)} cannot be read by any account of this export")
                self.orphans.append(job)
                return
            job.peers[account.name] = rp
        account.stolen += stolen
        try:
            outcome = await self.fetch(account, job, rp)
        except FloodWaitTooLong as exc:
            account.exhausted = account.exhausted or exc
            account.moved_out.append(rp.peer.id)
            job.cannot.add(account.name)
            job.error = exc
            self.orphans.appendleft(job)
            account.run.warn(f"{rp.peer.folder_name}: account {account.name!r} must wait "
                             f"{exc.seconds} s (more than --max-flood-wait): its chats move to the other accounts")
            return
        account.chats.append(rp.peer.id)
        self.results[rp.peer.id] = outcome


def _first(group: BaseExceptionGroup) -> BaseException:
    """The error to report from a task group: a TgxError before anything else."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for kind in (TgxError, KeyboardInterrupt, Exception):
        for exc in leaves:
            if isinstance(exc, kind):
                return exc
    return leaves[0]


def rp_name(job: Job) -> str:
    rp = next(iter(job.peers.values()))
    return rp.peer.folder_name


__all__ = ["Account", "Job", "Scheduler"]
