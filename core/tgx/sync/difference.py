"""The catch-up: what changed in a chat since the archive's ``pts``, applied exactly.

A channel or supergroup: ``updates.GetChannelDifference`` from the chat's stored ``pts``, a
request per :data:`CHANNEL_LIMIT` changes, until Telegram says ``final``. The account's private
chats and basic groups share one stream: ``updates.GetDifference`` from the account's stored
``(pts, qts, date)``, applied to every such chat the archive holds (an id names one message
across them, which is how a deletion finds its chat).

When Telegram no longer keeps that far back (``differenceTooLong``, or a ``pts`` it rejects), the
chat is re-scanned instead — the history compared page by page with the archive, as
``--refresh-edits`` does, over the whole archived history — and the new ``pts`` is stored after
the re-scan; a one-line warning says so. The history fetch that follows a catch-up runs as
always (new messages the difference brought are found archived: nothing doubles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telethon import errors, utils
from telethon.tl import functions, types

from tgx.fetch.resync import refresh_recent
from tgx.model import Peer
from tgx.run import RunContext
from tgx.sync.changes import Applied, apply_deletions, apply_messages, apply_pins
from tgx.sync.state import AccountState, account_state, chat_pts, set_account_state, set_chat_pts

CHANNEL_LIMIT = 100  # changes one GetChannelDifference returns at most (Telegram's limit for user accounts)
STREAM_KINDS = ("user", "bot", "self", "group")  # chats on the account's common update stream

__all__ = ["CHANNEL_LIMIT", "STREAM_KINDS", "CatchUp", "catch_up_account", "catch_up_channel", "record_first_pts",
           "start_account_stream"]


@dataclass(slots=True)
class CatchUp:
    """How a chat (or the account's stream) was brought up to date."""

    how: str = "new"  # "new": no pts stored yet; "difference": exact; "rescan": the fallback; "skipped"
    applied: Applied = field(default_factory=Applied)
    requests: int = 0
    reason: str = ""  # why the fallback was taken

    def summary(self, label: str) -> str:
        if self.how == "rescan":
            return f"{label}: re-scanned ({self.reason}): {self.applied.summary()}"
        return f"{label}: since the last run: {self.applied.summary()}"


def record_first_pts(run: RunContext, chat_id: int, pts: int | None) -> None:
    """The ``pts`` of a chat's first fetched page, stored when the chat has none: from then on
    every change is the catch-up's to find."""
    if pts and chat_pts(run.archive, chat_id) is None:
        set_chat_pts(run.archive, chat_id, pts)


async def catch_up_channel(run: RunContext, chat_id: int, input_peer: Any, *, label: str,
                           self_id: int | None = None) -> CatchUp:
    """Apply every change of the channel since its stored ``pts`` (nothing to do without one)."""
    archive = run.archive
    result = CatchUp()
    pts = chat_pts(archive, chat_id)
    if pts is None:
        return result
    result.how = "difference"
    channel = utils.get_input_channel(input_peer)
    while True:
        request = functions.updates.GetChannelDifferenceRequest(
            channel=channel, filter=types.ChannelMessagesFilterEmpty(), pts=pts, limit=CHANNEL_LIMIT, force=True)
        try:
            answer = await run.runner(request, stage="sync", chat=label)
        except errors.RPCError as exc:
            if not _position_rejected(exc):
                return _skipped(run, label, result, exc)
            return await _rescan_channel(run, chat_id, input_peer, label, result,
                                         "Telegram no longer knows the archive's position", None)
        result.requests += 1
        if isinstance(answer, types.updates.ChannelDifferenceTooLong):
            new_pts = getattr(answer.dialog, "pts", None)
            return await _rescan_channel(run, chat_id, input_peer, label, result,
                                         "too many changes since the last run for Telegram's difference", new_pts)
        if isinstance(answer, types.updates.ChannelDifference):
            entities = [*answer.users, *answer.chats]
            result.applied.add(apply_messages(archive, chat_id, answer.new_messages, entities, self_id=self_id))
            _apply_updates(run, chat_id, answer.other_updates, entities, self_id, result.applied)
        pts = answer.pts
        set_chat_pts(archive, chat_id, pts)  # after the changes up to it are committed
        if getattr(answer, "final", True):
            return result


def _apply_updates(run: RunContext, chat_id: int, updates: Sequence[Any], entities: Sequence[Any],
                   self_id: int | None, applied: Applied) -> None:
    archive = run.archive
    for update in updates:
        if isinstance(update, types.UpdateNewChannelMessage | types.UpdateNewMessage):
            applied.add(apply_messages(archive, chat_id, [update.message], entities, self_id=self_id))
        elif isinstance(update, types.UpdateEditChannelMessage | types.UpdateEditMessage):
            applied.add(apply_messages(archive, chat_id, [update.message], entities, self_id=self_id, edits=True))
        elif isinstance(update, types.UpdateDeleteChannelMessages | types.UpdateDeleteMessages):
            applied.add(apply_deletions(archive, chat_id, update.messages))
        elif isinstance(update, types.UpdatePinnedChannelMessages | types.UpdatePinnedMessages):
            applied.add(apply_pins(archive, chat_id, update.messages, pinned=bool(update.pinned)))


async def _rescan_channel(run: RunContext, chat_id: int, input_peer: Any, label: str, result: CatchUp,
                          reason: str, new_pts: int | None) -> CatchUp:
    result.how, result.reason = "rescan", reason
    run.warn(f"{label}: {reason}: re-scanning its archived history for edits and deletions")
    if new_pts is None:  # ask where the chat is now, before the re-scan reads it
        full = await run.runner(functions.channels.GetFullChannelRequest(utils.get_input_channel(input_peer)),
                                stage="sync", chat=label)
        new_pts = getattr(full.full_chat, "pts", None)
        result.requests += 1
    await _rescan(run, chat_id, input_peer, label, result)
    if new_pts:
        set_chat_pts(run.archive, chat_id, new_pts)
    return result


async def _rescan(run: RunContext, chat_id: int, input_peer: Any, label: str, result: CatchUp) -> None:
    scan = await refresh_recent(run, chat_id, input_peer, days=None, label=label)
    result.requests += scan.pages
    result.applied.edited += scan.edited
    result.applied.deleted += scan.deleted
    result.applied.rescanned = True


# -- the account's common stream: private chats and basic groups -------------------------------

async def start_account_stream(run: RunContext, self_id: int) -> None:
    """Store the account's update state before its chats are first fetched (nothing when one is
    stored: the catch-up moves it)."""
    if account_state(run.archive, self_id) is not None:
        return
    state = await run.runner(functions.updates.GetStateRequest(), stage="sync")
    set_account_state(run.archive, self_id, AccountState(state.pts, state.qts, _seconds(state.date)))


async def catch_up_account(run: RunContext, self_id: int, chats: Sequence[Peer],
                           inputs: dict[int, Any]) -> CatchUp:
    """Apply the account's changes since its stored state to ``chats`` (archived private chats
    and basic groups); ``inputs``: their input peers, for the fallback re-scan."""
    archive = run.archive
    result = CatchUp()
    state = account_state(archive, self_id)
    if state is None or not chats:
        return result
    result.how = "difference"
    ids = {c.id for c in chats}
    while True:
        request = functions.updates.GetDifferenceRequest(pts=state.pts, date=_utc(state.date), qts=state.qts)
        try:
            answer = await run.runner(request, stage="sync")
        except errors.RPCError as exc:
            if not _position_rejected(exc):
                return _skipped(run, "private chats and groups", result, exc)
            return await _rescan_account(run, self_id, chats, inputs, result,
                                         "Telegram no longer knows the account's position")
        result.requests += 1
        if isinstance(answer, types.updates.DifferenceTooLong):
            return await _rescan_account(run, self_id, chats, inputs, result,
                                         "too many changes since the last run for Telegram's difference")
        if isinstance(answer, types.updates.DifferenceEmpty):
            set_account_state(archive, self_id, AccountState(state.pts, state.qts, _seconds(answer.date)))
            return result
        entities = [*answer.users, *answer.chats]
        by_chat: dict[int, list[Any]] = {}
        for raw in answer.new_messages:
            peer = getattr(raw, "peer_id", None)
            if peer is not None and utils.get_peer_id(peer) in ids:
                by_chat.setdefault(utils.get_peer_id(peer), []).append(raw)
        for chat_id, raws in by_chat.items():
            result.applied.add(apply_messages(archive, chat_id, raws, entities, self_id=self_id))
        for update in answer.other_updates:
            if isinstance(update, types.UpdateNewMessage | types.UpdateEditMessage):
                peer = getattr(update.message, "peer_id", None)
                where = utils.get_peer_id(peer) if peer is not None else None
                if where is not None and where in ids:
                    result.applied.add(apply_messages(archive, where, [update.message], entities, self_id=self_id,
                                                      edits=isinstance(update, types.UpdateEditMessage)))
            elif isinstance(update, types.UpdateDeleteMessages):
                for chat_id in ids:  # an id is one message across the account's chats
                    result.applied.add(apply_deletions(archive, chat_id, update.messages))
            elif isinstance(update, types.UpdatePinnedMessages):
                where = utils.get_peer_id(update.peer)
                if where in ids:
                    result.applied.add(apply_pins(archive, where, update.messages, pinned=bool(update.pinned)))
        new = answer.state if isinstance(answer, types.updates.Difference) else answer.intermediate_state
        state = AccountState(new.pts, new.qts, _seconds(new.date))
        set_account_state(archive, self_id, state)
        if isinstance(answer, types.updates.Difference):
            return result


async def _rescan_account(run: RunContext, self_id: int, chats: Sequence[Peer], inputs: dict[int, Any],
                          result: CatchUp, reason: str) -> CatchUp:
    result.how, result.reason = "rescan", reason
    names = ", ".join(c.folder_name for c in chats[:3]) + (" …" if len(chats) > 3 else "")
    run.warn(f"private chats and groups ({names}): {reason}: re-scanning their archived history for edits and "
             "deletions")
    state = await run.runner(functions.updates.GetStateRequest(), stage="sync")  # where it is now, first
    result.requests += 1
    for chat in chats:
        if chat.id in inputs:
            await _rescan(run, chat.id, inputs[chat.id], chat.folder_name, result)
    set_account_state(run.archive, self_id, AccountState(state.pts, state.qts, _seconds(state.date)))
    return result


def _skipped(run: RunContext, label: str, result: CatchUp, exc: errors.RPCError) -> CatchUp:
    """Telegram refused the difference for another reason (the fetch that follows reports a chat
    that is gone or private in its own words): this run applies no changes; the position stays, so
    the next run catches up from it."""
    generic = type(exc).__module__.endswith("rpcbaseerrors")  # Telethon's catch-alls keep Telegram's text
    name = (getattr(exc, "message", None) or type(exc).__name__) if generic else type(exc).__name__
    run.warn(f"{label}: Telegram refused to say what changed since the last run ({name}): edits and deletions "
             "are applied on a later run")
    result.how = "skipped"
    return result


def _position_rejected(exc: errors.RPCError) -> bool:
    """Telegram does not know the pts we asked from (``PERSISTENT_TIMESTAMP_INVALID`` and kin)."""
    return ("PERSISTENTTIMESTAMP" in type(exc).__name__.upper()  # Telethon's named errors (message: BAD_REQUEST)
            or "PERSISTENT_TIMESTAMP" in str(getattr(exc, "message", "") or ""))


def _seconds(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value or 0)


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
