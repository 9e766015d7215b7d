"""The watch loop: signals in, exact catch-ups, committed changes, periodic refreshes.

* **Signals.** A Telethon raw-update handler names the chat an update is about (a channel's own
  updates name it; private chats and basic groups share the account's stream) and wakes the
  loop. Every :data:`POLL_SECONDS` every chat is caught up anyway, and at once after the
  connection comes back: updates Telegram pushed while it was down are gone, the difference is not.
* **Changes.** A woken chat is caught up with :func:`tgx.sync.difference.catch_up_channel` (or
  the account's :func:`catch_up_account`): new, edited and deleted messages are committed to the
  archive before the loop sleeps again — within a second of the push.
* **Refresh.** At most every ``render_interval`` seconds the chats that changed get their media
  (as ``export --media`` would) and their files refreshed from the archive, only what changed
  (:func:`tgx.render.engine.refresh_chat` when the engine has it).
* **Status.** A line per chat and refresh that changed it — new messages, edits, deletions
  seen while watching, the last update's time — so a busy chat prints at most one per interval.
* **Stop.** Ctrl-C / SIGTERM cancels the loop: the commit under way finishes (SQLite
  transactions are atomic), the changed chats are refreshed a last time, and the command exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tgx import console
from tgx.errors import NetworkError
from tgx.export.conductor import ExportRun
from tgx.model import Peer
from tgx.sync.changes import Applied, Change
from tgx.sync.difference import STREAM_KINDS, CatchUp, catch_up_account, catch_up_channel
from tgx.telegram import adapter

POLL_SECONDS = 60.0  # every chat caught up at least this often, pushes or not
TICK_SECONDS = 0.5  # how often the loop looks at the connection and the render clock
SETTLE_SECONDS = 0.2  # a burst of pushes for one chat becomes one catch-up
OUTAGE_SECONDS = 30.0  # after the runner gave up on a request (no network): retry then (or at --poll)
TOPIC_ACTIONS = ("topic_created", "topic_edit")  # service messages that change a forum's topic list

__all__ = ["ChatWatch", "POLL_SECONDS", "WatchOptions", "Watcher"]


@dataclass(slots=True)
class WatchOptions:
    render_interval: float = 30.0
    poll_seconds: float = POLL_SECONDS
    on_change: Callable[[Change], None] | None = None  # --json: one event per applied change
    status: Callable[[str], None] | None = None  # the status line


@dataclass(slots=True)
class ChatWatch:
    """What the watcher knows of one watched chat."""

    peer: Peer
    input_peer: Any
    seen: int = 0  # new messages applied while watching
    edits: int = 0
    deletions: int = 0
    last_update: datetime | None = None
    changed: set[int] | None = field(default_factory=set)  # ids to refresh; None: the whole chat
    comments: set[int] | None = field(default_factory=set)  # a channel's: its discussion group's changed ids

    def add(self, applied: Applied) -> None:
        self.seen += applied.new
        self.edits += applied.edited
        self.deletions += applied.deleted
        if applied.new or applied.edited or applied.deleted:
            self.last_update = datetime.now(UTC)
        if applied.rescanned or applied.renamed:
            # which ids a re-scan changed is not known; a new name shows on pages no id names: all of it
            self.changed = None
        elif self.changed is not None:  # counters show on the pages too: their ids are refreshed, not counted
            self.changed.update(c.id for c in applied.changes)
            self.changed.update(i for _chat, i in applied.touched)

    def line(self) -> str:
        when = self.last_update.strftime("%H:%M:%S") if self.last_update else "—"
        return (f"{self.peer.folder_name}: {self.seen:,} new · {self.edits:,} edits · {self.deletions:,} "
                f"deletions · last update {when}")


class Watcher:
    """One ``tgx watch`` after its export: see the module doc."""

    def __init__(self, export: ExportRun, options: WatchOptions, *, refresh: Callable[..., Any],
                 account: Any = None) -> None:
        """``account`` (several accounts, ``tgx.export.accounts.Account``): this watcher follows
        the chats that account exported, through its own client and runner — one watcher each."""
        self.export = export
        self.run = export.run if account is None else account.run
        self.options = options
        self.refresh = refresh
        self.self_id = adapter.self_id(self.run.client)
        self.first = account is None or account is export.accounts[0]  # says what the start caught up
        self.chats: dict[int, ChatWatch] = {}
        for o in export.chats:
            input_peer = export.input_peers.get(o.peer.id)
            if input_peer is not None and (account is None or export.exported_by.get(o.peer.id) is account):
                self.chats[o.peer.id] = ChatWatch(o.peer, input_peer)
        # a discussion group's comments are rendered with its channel too
        self.channel_of = {o.peer.id: o.discussion_of for o in export.chats if o.discussion_of is not None}
        self.stream = {i for i, w in self.chats.items() if w.peer.kind in STREAM_KINDS}
        self.pending: set[int] = set()
        self.wake = asyncio.Event()

    # -- signals -----------------------------------------------------------------------------
    def on_update(self, update: Any) -> None:
        """Telethon's raw update handler: which watched chat it is about, if any."""
        chat = _chat_of(update)
        if chat is None:
            return
        if chat == STREAM:
            self.pending.update(self.stream)
        elif chat in self.chats:
            self.pending.add(chat)
        else:
            return
        self.wake.set()

    def _report_catch_up(self) -> None:
        """The changes the export's own catch-up applied (since the last run) are events too
        (said once, by the first of several watchers)."""
        if not self.first:
            return
        caught = [o.sync for o in self.export.chats if o.sync is not None]
        if self.export.account_sync is not None:
            caught.append(self.export.account_sync)
        for c in caught:
            for change in c.applied.changes:
                if self.options.on_change is not None:
                    self.options.on_change(change)

    def on_reconnect(self) -> None:
        """Back after a drop: what Telegram pushed meanwhile is lost, so every chat catches up."""
        self.pending.update(self.chats)
        self.wake.set()

    async def _handler(self, update: Any) -> None:
        self.on_update(update)

    # -- the loop ----------------------------------------------------------------------------
    async def run_until_stopped(self) -> None:
        from telethon import events

        client = self.run.client
        client.add_event_handler(self._handler, events.Raw)
        undo = adapter.on_reconnect(client, self.on_reconnect)
        self._report_catch_up()
        self._say(f"watching {len(self.chats)} chat(s); Ctrl-C to stop")
        try:
            await self._loop()
        except (asyncio.CancelledError, KeyboardInterrupt):
            # A stop asked for, not an error: the loop was cancelled (or, mid-refresh, the render
            # unwound: its files are as before and its chats still marked changed). Finish below.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                task.uncancel()
        finally:
            undo()
            with contextlib.suppress(Exception):
                client.remove_event_handler(self._handler, events.Raw)
        await self._refresh_changed()
        for w in self.chats.values():  # the watch's totals, once more at the end
            self._say(w.line())

    async def _loop(self) -> None:
        client = self.run.client
        now = time.monotonic
        next_poll = now() + self.options.poll_seconds
        next_render = now() + self.options.render_interval
        connected = True
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), TICK_SECONDS)
            if self.wake.is_set():
                await asyncio.sleep(SETTLE_SECONDS)  # let a burst arrive
                self.wake.clear()
            up = bool(client.is_connected()) or await self.run.runner.reconnect()
            if up and not connected:  # back after a drop: what was pushed meanwhile is lost
                self.pending.update(self.chats)
            connected = up
            if now() >= next_poll:
                self.pending.update(self.chats)
                next_poll = now() + self.options.poll_seconds
            if self.pending and connected:
                try:
                    await self._catch_up(self.pending)
                except NetworkError as exc:  # Telegram unreachable for a while: a watch waits, it does not end
                    pause = min(OUTAGE_SECONDS, self.options.poll_seconds)
                    self.run.warn(f"{exc.message}; trying again in {pause:.0f} s")
                    self.pending.update(self.chats)
                    await asyncio.sleep(pause)
            if now() >= next_render:
                await self._refresh_changed()
                next_render = now() + self.options.render_interval

    async def _catch_up(self, chats: set[int]) -> None:
        todo, self.pending = set(chats), set()
        stream = todo & self.stream
        if stream and self.self_id is not None:
            archived = [p for p in self.run.archive.chats() if p.kind in STREAM_KINDS]
            caught = await catch_up_account(self.run, self.self_id, archived,
                                            {i: self.chats[i].input_peer for i in stream})
            for chat_id in stream:
                self._applied(chat_id, _only(caught, chat_id))
        for chat_id in todo - stream:
            w = self.chats[chat_id]
            caught = await catch_up_channel(self.run, chat_id, w.input_peer, label=w.peer.folder_name,
                                            self_id=self.self_id)
            self._applied(chat_id, caught.applied)
            if w.peer.forum and (caught.applied.new or caught.applied.rescanned or caught.applied.edited):
                await self._refresh_topics(w, renamed=self._topics_changed(chat_id, caught.applied))

    def _topics_changed(self, chat_id: int, applied: Applied) -> bool:
        """A topic created, renamed, closed or reopened: its service message was among the changes."""
        archive = self.run.archive
        for change in applied.changes:
            if change.kind != "delete":
                m = archive.message(chat_id, change.id)
                if m is not None and m.action is not None and m.action.type in TOPIC_ACTIONS:
                    return True
        return applied.rescanned

    async def _refresh_topics(self, w: ChatWatch, *, renamed: bool) -> None:
        """The forum's topic list as it is now — each topic's newest message moves with every post
        (topics.json), a title or state with a topic action (then every page naming it is redone):
        one request per 100 topics."""
        from tgx.errors import UsageError
        from tgx.telegram.topics import list_topics

        try:
            topics = await list_topics(self.run.runner, w.input_peer, title=w.peer.folder_name)
        except UsageError as exc:
            self.run.warn(f"{w.peer.folder_name}: topics not listed: {exc.message}")
            return
        self.run.archive.set_topics(w.peer.id, topics)
        if renamed:
            w.changed = None  # titles appear on the topic index and pages: the whole chat's files

    def _applied(self, chat_id: int, applied: Applied) -> None:
        w = self.chats[chat_id]
        w.add(applied)
        channel = self.channel_of.get(chat_id)
        if channel is not None and channel in self.chats:  # the comments show with their channel's posts
            posts = self.chats[channel]
            if applied.rescanned or posts.comments is None:
                posts.comments = None
            else:
                posts.comments.update(c.id for c in applied.changes)
                posts.comments.update(i for _chat, i in applied.touched)
        if self.options.on_change is not None:
            for change in applied.changes:
                self.options.on_change(change)

    async def _refresh_changed(self) -> None:
        dirty = [w for w in self.chats.values() if w.changed is None or w.changed or w.comments is None or w.comments]
        if not dirty:
            return
        export = self.export
        if export.req.media is not None and export.req.media.kinds:
            from tgx.media import run_media_stage

            # the changed messages' media (all of a chat's after a re-scan), before the files name them
            only = {w.peer.id: w.changed for w in dirty if w.changed is not None}
            await run_media_stage(self.run, [w.peer for w in dirty], export.req.media,
                                  input_peers={w.peer.id: w.input_peer for w in dirty}, only=only)
        specs = {n: r.spec for n, r in export.selected.items()}
        for w in dirty:
            changed, w.changed = w.changed, set()
            comments, w.comments = w.comments, set()
            try:
                result = self.refresh(self.run.archive, w.peer.id, self.run.out, specs, export.fmt_options,
                                      changed=changed, comments=comments)
            except BaseException:
                # not refreshed: still to do (with whatever changed meanwhile)
                w.changed = None if changed is None or w.changed is None else changed | w.changed
                w.comments = None if comments is None or w.comments is None else comments | w.comments
                raise
            for name, error in getattr(result, "errors", {}).items():
                console.error(f"{w.peer.folder_name}: format '{name}' failed: {error}")
            self._say(w.line())  # the status: at most a line per chat and refresh, however busy it is

    def _say(self, line: str) -> None:
        if self.options.status is not None:
            self.options.status(line)


async def watch_all(watchers: Sequence[Watcher]) -> None:
    """Several watchers (one per account) side by side until stopped: a stop (the task cancelled,
    Ctrl-C / SIGTERM) reaches each, and each finishes as one watcher does — its last refresh."""
    if len(watchers) == 1:
        await watchers[0].run_until_stopped()
        return
    tasks = [asyncio.create_task(w.run_until_stopped()) for w in watchers]
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        for t in tasks:
            t.cancel()
        await asyncio.wait(tasks)
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            task.uncancel()
    else:
        for t in tasks:  # one failed: the others stop too, the error is the command's
            if not t.done():
                t.cancel()
        await asyncio.wait(tasks)
    for t in tasks:
        if not t.cancelled() and t.exception() is not None:
            raise t.exception()  # type: ignore[misc]


STREAM = 0  # _chat_of: an update of the account's common stream (private chats, basic groups)


def _chat_of(update: Any) -> int | None:
    """The marked id of the channel an update is about, :data:`STREAM` for the account's common
    stream, None for anything else (typing, read receipts, status ...)."""
    from telethon import utils
    from telethon.tl import types

    if isinstance(update, types.UpdateNewChannelMessage | types.UpdateEditChannelMessage):
        peer = getattr(update.message, "peer_id", None)
        return utils.get_peer_id(peer) if peer is not None else None
    if isinstance(update, types.UpdateDeleteChannelMessages | types.UpdateChannelTooLong
                  | types.UpdatePinnedChannelMessages):
        return utils.get_peer_id(types.PeerChannel(update.channel_id))
    if isinstance(update, types.UpdateNewMessage | types.UpdateEditMessage | types.UpdateDeleteMessages
                  | types.UpdateShortMessage | types.UpdateShortChatMessage | types.UpdatePinnedMessages):
        return STREAM
    if isinstance(update, types.Updates | types.UpdatesCombined):
        for inner in update.updates:
            found = _chat_of(inner)
            if found is not None:
                return found
    return None


def _only(caught: CatchUp, chat_id: int) -> Applied:
    """The part of the account stream's catch-up that concerns one chat."""
    mine = [c for c in caught.applied.changes if c.chat_id == chat_id]
    return Applied(sum(c.kind == "new" for c in mine), sum(c.kind == "edit" for c in mine),
                   sum(c.kind == "delete" for c in mine), mine, rescanned=caught.applied.rescanned,
                   renamed=caught.applied.renamed,
                   touched=[t for t in caught.applied.touched if t[0] == chat_id])


def refresh_function() -> Callable[..., Any]:
    """The engine's incremental refresh (imported when the watch starts, not with the CLI)."""
    from tgx.render.engine import refresh_chat

    return refresh_chat
