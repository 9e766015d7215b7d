"""Where an archive keeps the ``pts`` it has caught up to (``meta`` keys of the archive).

The rule that makes a catch-up exact: a stored ``pts`` promises that every change *before* it is
in the archive — not that every change after it is missing. So a chat's ``pts`` is stored from
the first page of its first fetch (every page after it shows the chat at that ``pts`` or later),
before any row of that fetch, and moves forward only after the changes up to the new value are
committed. A run killed anywhere re-applies some changes next time; applying one twice changes
nothing (same row, the same version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tgx.archive.store import Archive

__all__ = ["AccountState", "account_state", "chat_pts", "set_account_state", "set_chat_pts"]


def _chat_key(chat_id: int) -> str:
    return f"sync.pts.{chat_id}"


def _account_key(self_id: int) -> str:
    return f"sync.account.{self_id}"


def chat_pts(archive: Archive, chat_id: int) -> int | None:
    """The channel's (or supergroup's) pts the archive has caught up to; None: never fetched."""
    value = archive.meta(_chat_key(chat_id))
    return value if type(value) is int and value > 0 else None


def set_chat_pts(archive: Archive, chat_id: int, pts: int) -> None:
    archive.set_meta(_chat_key(chat_id), int(pts))


@dataclass(frozen=True, slots=True)
class AccountState:
    """``updates.State`` of the account's common update stream (private chats, basic groups)."""

    pts: int
    qts: int
    date: int  # Unix seconds

    def to_json(self) -> dict[str, int]:
        return {"pts": self.pts, "qts": self.qts, "date": self.date}


def account_state(archive: Archive, self_id: int) -> AccountState | None:
    value: Any = archive.meta(_account_key(self_id))
    if not isinstance(value, dict) or not all(type(value.get(k)) is int for k in ("pts", "qts", "date")):
        return None
    return AccountState(value["pts"], value["qts"], value["date"])


def set_account_state(archive: Archive, self_id: int, state: AccountState) -> None:
    archive.set_meta(_account_key(self_id), state.to_json())
