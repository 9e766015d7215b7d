"""Scenarios: the ``[simulated]`` table of tgx.toml (or ``TGX_SIMULATED``) as a world.

This is how a CLI subprocess gets the same world a test built: the test writes the table,
the ``simulated`` plugin reads it back. Every key and fault type is validated; a typo is a
:class:`tgx.errors.ConfigError` that names it.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tgx.errors import ConfigError
from tgx.simulator.faults import FAULT_TYPES
from tgx.simulator.login import validate_login

ENV_VAR = "TGX_SIMULATED"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")

# key -> (accepted types, description for errors)
TOP_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "seed": ((int,), "an integer"),
    "messages": ((int,), "a whole number of messages"),
    "media": ((bool,), "true or false"),
    "latency_ms": ((int, float), "milliseconds"),
    "rate_limit": ((int, float), "GetHistory requests per second"),
    "rate_window": ((int, float), "seconds"),
    "big_file_mb": ((int,), "whole MiB"),
    "request_log": ((str,), "a file path"),
    "log_limit": ((int,), "a number of requests"),
    "chats": ((list,), "a list of chat tables"),
    "faults": ((list,), "a list of fault tables"),
    "changes": ((list,), "a list of {chat, post | edit | delete} tables, applied in order"),
    "timeline": ((list,), "a list of {at, chat, post | edit | delete} or {at, drop} tables"),
    "difference_horizon": ((int,), "a number of pts"),
    "login": ((dict,), "a table of authorized, qr_expires, qr_scan_after, qr_scan_token, password"),
    "accounts": ((list,), "a list of account tables ({name, user_id, username, premium, ...})"),
    "session_files": ((bool,), "true: each account's session is a real file in the data dir"),
}
# one account of the world (World.add_account); "default" is the world's own user
ACCOUNT_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "an account name"),
    "user_id": ((int,), "a user id"),
    "username": ((str,), "a username"),
    "first_name": ((str,), "a first name"),
    "premium": ((bool,), "true or false"),
    "phone": ((str,), "a phone number such as +4915112345678"),
    "rate_limit": ((int, float), "GetHistory requests per second (this account's)"),
    "rate_window": ((int, float), "seconds"),
    "logged_in": ((bool,), "true or false (false: every request answers 401)"),
}
# one change (top-level ``changes`` and ``timeline``): a chat and exactly one action
CHANGE_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "chat": ((str, int), "a chat key, username or marked id"),
    "post": ((int,), "a whole number of new messages"),
    "edit": ((list,), "a list of message ids to edit (again)"),
    "delete": ((list,), "a list of message ids to delete"),
    "pin": ((list,), "a list of message ids to pin"),
    "unpin": ((list,), "a list of message ids to unpin"),
}
ACTIONS = ("post", "edit", "delete", "pin", "unpin")
STEP_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    **CHANGE_KEYS,
    "at": ((int, float), "seconds after the first client connected"),
    "drop": ((bool,), "true: drop every connection"),
    "fatal": ((bool,), "true: a fatal drop (pending calls fail; the client must reconnect)"),
    "seconds": ((int, float), "how long a transient drop lasts"),
}
CHAT_KINDS = ("channel", "supergroup", "forum", "group", "private")
CHAT_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "kind": ((str,), "one of " + ", ".join(CHAT_KINDS)),
    "username": ((str,), "a username"),
    "title": ((str,), "a title"),
    "messages": ((int,), "a whole number of messages"),
    "media": ((bool,), "true or false"),
    "id": ((int,), "a bare chat id"),
    "joined": ((bool,), "true or false"),
    "signatures": ((bool,), "true or false"),
    "topics": ((int, list), "a number of topics, or a list of titles or "
                            "{title, closed, pinned, icon_emoji_id, deleted} tables"),
    "general_hidden": ((bool,), "true or false"),
    "comments": ((bool, dict), "true, or a table of commented, most, private, later, username, title, key, "
                               "id, media, edited, deleted"),
    "user": ((str,), "a simulated user (alice, bob, carol, dave, erin, bot, deleted)"),
    "edited": ((list,), "a list of message ids edited since an earlier run"),
    "deleted": ((list,), "a list of message ids deleted since an earlier run"),
    "members": ((list,), "a list of account names that are members (default: every account)"),
}
TOPIC_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "title": ((str,), "a title"),
    "closed": ((bool,), "true or false"),
    "pinned": ((bool,), "true or false"),
    "deleted": ((bool,), "true or false"),
    "icon_emoji_id": ((int,), "a custom emoji document id"),
}
# a broadcast channel's discussion group (World.add_discussion)
COMMENT_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "commented": ((int, float), "a share of the posts (0..1) or a number of posts"),
    "most": ((int,), "a whole number of comments (at least 1)"),
    "private": ((bool,), "true or false"),
    "later": ((list,), "a list of [post id, comments] pairs"),
    "username": ((str,), "a username"),
    "title": ((str,), "a title"),
    "key": ((str,), "a chat key"),
    "id": ((int,), "a bare chat id"),
    "media": ((bool,), "true or false"),
    "edited": ((list,), "a list of message ids (of the group) edited since an earlier run"),
    "deleted": ((list,), "a list of message ids (of the group) deleted since an earlier run"),
}
FAULT_COMMON = {"type", "request", "after", "times", "account"}
FAULT_KEYS: dict[str, set[str]] = {
    "flood_wait": FAULT_COMMON | {"seconds"},
    "flood_premium_wait": FAULT_COMMON | {"seconds"},
    "drop": FAULT_COMMON | {"fatal"},
    "file_reference_expired": FAULT_COMMON,
    "takeout_delay": FAULT_COMMON | {"seconds"},
    "revoked": FAULT_COMMON,
    "private": FAULT_COMMON | {"chat"},
    "rpc_error": FAULT_COMMON | {"code", "message"},
}
FAULT_TYPES_OF: dict[str, tuple[tuple[type, ...], str]] = {
    "type": ((str,), "a fault type"),
    "request": ((str,), "a request name such as GetHistoryRequest"),
    "after": ((int,), "a whole number of requests"),
    "times": ((int,), "a whole number (0: every time)"),
    "seconds": ((int,), "whole seconds"),
    "fatal": ((bool,), "true or false"),
    "chat": ((str, int), "a chat username or id"),
    "code": ((int,), "an RPC error code"),
    "message": ((str,), "an RPC error message such as RPC_CALL_FAIL"),
    "account": ((str,), "an account name (only its requests; default: every account's)"),
}
assert set(FAULT_KEYS) == set(FAULT_TYPES)


def _check(where: str, key: str, value: Any, spec: tuple[tuple[type, ...], str]) -> None:
    accepted, what = spec
    if isinstance(value, bool) and bool not in accepted:
        raise ConfigError(f"{where}: {key} must be {what}, not {value!r}")
    if not isinstance(value, accepted):
        raise ConfigError(f"{where}: {key} must be {what}, not {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0 and key != "chat":
        raise ConfigError(f"{where}: {key} must not be negative")  # (a change's chat may be a marked id)


def _ids(place: str, key: str, value: list[Any]) -> None:
    if not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in value):
        raise ConfigError(f"{place}: {key} must be a list of positive message ids")


def _table(place: str, table: Mapping[str, Any], keys: dict[str, tuple[tuple[type, ...], str]]) -> None:
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(f"{place}: unknown key {key!r}", hint="known keys: " + ", ".join(sorted(keys)))
        _check(place, key, value, keys[key])


def _topics(place: str, topics: Any) -> None:
    if not isinstance(topics, list):
        return
    for i, topic in enumerate(topics):
        where = f"{place} topics[{i}]"
        if isinstance(topic, str):
            continue
        if not isinstance(topic, Mapping):
            raise ConfigError(f"{where} must be a title or a table")
        _table(where, topic, TOPIC_KEYS)
        if "title" not in topic:
            raise ConfigError(f"{where}: a topic table needs title = \"...\"")


def _comments(place: str, comments: Any) -> None:
    if isinstance(comments, bool):
        return
    where = f"{place} comments"
    _table(where, comments, COMMENT_KEYS)
    commented = comments.get("commented")
    if isinstance(commented, float) and commented > 1:
        raise ConfigError(f"{where}: commented must be a share between 0 and 1 (a float) or a number of "
                          f"posts (an integer), not {commented!r}")
    if "most" in comments and comments["most"] < 1:
        raise ConfigError(f"{where}: most must be at least 1")
    for pair in comments.get("later", ()):
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
                and pair[0] >= 1 and pair[1] >= 0):
            raise ConfigError(f"{where}: later must be a list of [post id, comments] pairs, not {pair!r}")
    if comments.get("private") and "username" in comments:
        raise ConfigError(f"{where}: a private discussion group has no username")
    for key in ("edited", "deleted"):
        if key in comments:
            _ids(where, key, comments[key])


def validate(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """Check a scenario table; returns a plain copy. Unknown keys and types are ConfigErrors."""
    where = "[simulated]"
    if not isinstance(scenario, Mapping):
        raise ConfigError(f"{where} must be a table")
    out: dict[str, Any] = {}
    for key, value in scenario.items():
        if key not in TOP_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}",
                              hint="known keys: " + ", ".join(sorted(TOP_KEYS)))
        _check(where, key, value, TOP_KEYS[key])
        out[key] = value
    for name in ("rate_limit", "rate_window"):
        if name in out and out[name] <= 0:
            raise ConfigError(f"{where}: {name} must be positive")
    if "login" in out:
        out["login"] = validate_login(out["login"], f"{where} login")
    accounts = ["default"]
    tables = []
    for i, account in enumerate(out.get("accounts", [])):
        place = f"{where} accounts[{i}]"
        if not isinstance(account, Mapping):
            raise ConfigError(f"{place} must be a table")
        _table(place, account, ACCOUNT_KEYS)
        name = account.get("name")
        if not name:
            raise ConfigError(f"{place}: an account needs name = \"...\"")
        if name in accounts and name != "default" or name in accounts[1:]:
            raise ConfigError(f"{place}: account {name!r} is listed twice")
        for key in ("rate_limit", "rate_window"):
            if key in account and account[key] <= 0:
                raise ConfigError(f"{place}: {key} must be positive")
        if name == "default" and {"user_id", "username", "first_name"} & set(account):
            raise ConfigError(f"{place}: the default account is the world's own user (no user_id, username, "
                              "first_name)")
        if name != "default":
            accounts.append(name)
        tables.append(dict(account))
    if "accounts" in out:
        out["accounts"] = tables
    chats = []
    for i, chat in enumerate(out.get("chats", [])):
        place = f"{where} chats[{i}]"
        if not isinstance(chat, Mapping):
            raise ConfigError(f"{place} must be a table")
        for key, value in chat.items():
            if key not in CHAT_KEYS:
                raise ConfigError(f"{place}: unknown key {key!r}",
                                  hint="known keys: " + ", ".join(sorted(CHAT_KEYS)))
            _check(place, key, value, CHAT_KEYS[key])
            if key in ("edited", "deleted"):
                _ids(place, key, value)
            if key == "members":
                unknown = [m for m in value if m not in accounts]
                if unknown:
                    raise ConfigError(f"{place}: members names no account {unknown[0]!r}",
                                      hint="known accounts: " + ", ".join(accounts))
        kind = chat.get("kind")
        if kind not in CHAT_KINDS:
            raise ConfigError(f"{place}: kind must be one of {', '.join(CHAT_KINDS)}, not {kind!r}")
        _topics(place, chat.get("topics"))
        if "comments" in chat:
            if kind != "channel":
                raise ConfigError(f"{place}: comments only apply to kind = \"channel\" (a broadcast channel)")
            _comments(place, chat["comments"])
        if "general_hidden" in chat and kind != "forum":
            raise ConfigError(f"{place}: general_hidden only applies to kind = \"forum\"")
        if kind == "private" and "user" not in chat:
            raise ConfigError(f"{place}: a private chat needs user = \"alice\" (or another simulated user)")
        if kind != "private" and "user" in chat:
            raise ConfigError(f"{place}: user only applies to kind = \"private\"")
        chats.append(dict(chat))
    if "chats" in out:
        out["chats"] = chats
    faults = []
    for i, fault in enumerate(out.get("faults", [])):
        place = f"{where} faults[{i}]"
        if not isinstance(fault, Mapping):
            raise ConfigError(f"{place} must be a table")
        kind = fault.get("type")
        if kind not in FAULT_KEYS:
            raise ConfigError(f"{place}: unknown fault type {kind!r}",
                              hint="known types: " + ", ".join(FAULT_TYPES))
        for key, value in fault.items():
            if key not in FAULT_KEYS[kind]:
                raise ConfigError(f"{place}: unknown key {key!r} for a {kind} fault",
                                  hint="known keys: " + ", ".join(sorted(FAULT_KEYS[kind])))
            _check(place, key, value, FAULT_TYPES_OF[key])
        if kind == "private" and "chat" not in fault:
            raise ConfigError(f"{place}: a private fault needs chat = \"USERNAME\"")
        if "account" in fault and fault["account"] not in accounts:
            raise ConfigError(f"{place}: no account {fault['account']!r}",
                              hint="known accounts: " + ", ".join(accounts))
        if kind == "rpc_error" and "message" not in fault:
            raise ConfigError(f"{place}: an rpc_error fault needs message = \"ERROR_NAME\"")
        faults.append(dict(fault))
    if "faults" in out:
        out["faults"] = faults
    if "changes" in out:
        out["changes"] = [_change(f"{where} changes[{i}]", c, CHANGE_KEYS) for i, c in enumerate(out["changes"])]
    if "timeline" in out:
        out["timeline"] = [_step(f"{where} timeline[{i}]", t) for i, t in enumerate(out["timeline"])]
    return out


def _change(place: str, change: Any, keys: dict[str, tuple[tuple[type, ...], str]]) -> dict[str, Any]:
    if not isinstance(change, Mapping):
        raise ConfigError(f"{place} must be a table")
    _table(place, change, keys)
    actions = [a for a in ACTIONS if a in change]
    if len(actions) != 1 or "chat" not in change:
        raise ConfigError(f"{place}: a change needs chat = \"...\" and exactly one of post, edit, delete, pin, "
                          "unpin")
    for key in ("edit", "delete", "pin", "unpin"):
        if key in change:
            _ids(place, key, change[key])
    return dict(change)


def _step(place: str, step: Any) -> dict[str, Any]:
    if not isinstance(step, Mapping):
        raise ConfigError(f"{place} must be a table")
    if "at" not in step:
        raise ConfigError(f"{place}: a timeline step needs at = SECONDS")
    if step.get("drop"):
        _table(place, step, STEP_KEYS)
        extra = [k for k in step if k not in ("at", "drop", "fatal", "seconds")]
        if extra:
            raise ConfigError(f"{place}: a drop step takes only at, drop, fatal, seconds (not {extra[0]})")
        return dict(step)
    for key in ("drop", "fatal", "seconds"):
        if key in step and key != "drop":
            raise ConfigError(f"{place}: {key} only applies to a drop step")
    return _change(place, step, STEP_KEYS)


def _load_env(value: str) -> dict[str, Any]:
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{ENV_VAR}: invalid JSON: {exc.msg} at column {exc.colno}") from None
    else:
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"{ENV_VAR}: expected 1, inline JSON or a scenario file; "
                              f"{value!r} is none of these")
        try:
            if path.suffix == ".json":
                data = json.loads(path.read_text(encoding="utf-8"))
            else:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
                data = data.get("simulated", data)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError, OSError) as exc:
            raise ConfigError(f"{ENV_VAR}: cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{ENV_VAR}: the scenario must be a JSON object / TOML table")
    return data


def scenario_from_config(config: Any) -> dict[str, Any] | None:
    """The validated scenario when ``[simulated]`` or ``TGX_SIMULATED`` asks for one, else None.

    ``TGX_SIMULATED`` may be ``1`` (defaults, or the table as is), inline JSON, or the path of a
    JSON/TOML scenario file; its keys override the table's.
    """
    tables = getattr(config, "tables", {}) or {}
    table = tables.get("simulated")
    env = ((getattr(config, "env", None) or {}).get(ENV_VAR) or "").strip()
    if table is None and env.lower() in _FALSE:
        return None
    scenario = dict(table or {})
    if env and env.lower() not in _TRUE and env.lower() not in _FALSE:
        scenario.update(_load_env(env))
    return validate(scenario)
