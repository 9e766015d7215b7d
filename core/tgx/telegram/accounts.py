"""Accounts: one Telethon session file per account in the data dir, and what tgx knows of each.

``<data dir>/sessions/<session>.session`` is the session (0600 in a 0700 folder);
``<session>.json`` beside it (0600) caches the account's profile as Telegram last showed it
(user id, @username, premium, the phone number *masked*) and when tgx last used it, so that
``tgx accounts`` lists every account offline, at once, without a request per account: the
profile is refreshed by ``tgx login``, ``tgx accounts --check`` and ``tgx doctor --online``.
The account ``default`` is today's single session (``[telegram] session``, ``tgx``), read where
it is: an old data dir keeps working with no migration step and no file moved.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

from tgx.config import Config
from tgx.fsutil import write_atomic

SESSION_SUFFIX = ".session"  # what Telethon's SQLiteSession appends
PROFILE_SUFFIX = ".json"


def session_file(config: Config) -> Path:
    """The account's Telethon session file (``Config.session_path`` + ``.session``)."""
    return config.session_path.with_name(config.session_path.name + SESSION_SUFFIX)


def profile_file(config: Config) -> Path:
    return config.session_path.with_name(config.session_path.name + PROFILE_SUFFIX)


def mask_phone(phone: str | None) -> str | None:
    """``+49•••••••78``: the country code's first digits and the last two, never the number."""
    if not phone:
        return None
    digits = "".join(c for c in str(phone) if c.isdigit())
    if len(digits) < 5:
        return "+" + "•" * len(digits)
    return "+" + digits[:2] + "•" * (len(digits) - 4) + digits[-2:]


def profile_of(me: Any) -> dict[str, Any]:
    """What is cached of a Telethon ``User`` (``get_me()``): never the phone number in full."""
    return {
        "user_id": getattr(me, "id", None),
        "username": getattr(me, "username", None),
        "first_name": getattr(me, "first_name", None),
        "last_name": getattr(me, "last_name", None),
        "premium": bool(getattr(me, "premium", False)),
        "bot": bool(getattr(me, "bot", False)),
        "phone": mask_phone(getattr(me, "phone", None)),
    }


def read_profile(config: Config) -> dict[str, Any]:
    try:
        data = json.loads(profile_file(config).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_profile(config: Config, data: dict[str, Any]) -> None:
    path = profile_file(config)
    if not path.parent.is_dir():
        return  # no sessions folder: nothing to describe (the simulated Telegram without files)
    with contextlib.suppress(OSError):
        write_atomic(path, json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n", mode=0o600)


def record_profile(config: Config, me: Any) -> None:
    """Cache the account's profile after Telegram answered ``get_me()``."""
    if me is None or not session_file(config).exists():
        return
    data = read_profile(config)
    data.update(profile_of(me), checked_at=_now())
    _write_profile(config, data)


def record_use(config: Config) -> None:
    """Note that a command used the account now (``tgx accounts``' *last used*)."""
    if not session_file(config).exists():
        return
    data = read_profile(config)
    data["last_used"] = _now()
    _write_profile(config, data)


def forget(config: Config) -> list[Path]:
    """Delete what tgx keeps of an account (after ``auth.LogOut``): the session and its profile."""
    removed = []
    for path in (session_file(config), profile_file(config),
                 session_file(config).with_name(session_file(config).name + "-journal")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def describe(config: Config) -> dict[str, Any]:
    """One row of ``tgx accounts``: offline, from the files (the profile as last cached)."""
    session = session_file(config)
    try:
        mode: str | None = f"{stat.S_IMODE(session.stat().st_mode):04o}"
    except FileNotFoundError:
        mode = None
    profile = read_profile(config) if mode is not None else {}
    return {
        "name": config.account,
        "session_file": str(session),
        "exists": mode is not None,
        "mode": mode,
        "private": mode is not None and not int(mode, 8) & 0o077
                   and not stat.S_IMODE(os.stat(session.parent).st_mode) & 0o077,
        "user_id": profile.get("user_id"),
        "username": profile.get("username"),
        "premium": profile.get("premium"),
        "bot": profile.get("bot"),
        "phone": profile.get("phone"),
        "last_used": profile.get("last_used"),
        "checked_at": profile.get("checked_at"),
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


__all__ = ["describe", "forget", "mask_phone", "profile_of", "read_profile", "record_profile", "record_use",
           "session_file"]
