"""The simulated Telegram as tests, the ``simulated`` plugin and ``tgx demo`` use it: a
:class:`~tgx.simulator.world.World` that hands out Telethon clients and is built from scenarios.

Top of the simulator: it ties the world (state), the fake network sender (clients) and the
scenario format (``[simulated]`` tables) together, so none of those needs to import another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from tgx.errors import ConfigError
from tgx.simulator.scenario import validate
from tgx.simulator.sender import SimulatedClient
from tgx.simulator.timeline import Timeline, apply_change
from tgx.simulator.world import World

if TYPE_CHECKING:
    from telethon.sessions import Session


T = TypeVar("T")


class SimulatedTelegram(World):
    """A deterministic Telegram account and server (see :class:`World` for its parameters)
    whose :meth:`client` is a real Telethon client talking to it through a fake sender."""

    def client(self, session: Session | None = None, **kwargs: Any) -> SimulatedClient:
        """A new, not yet connected Telethon client of this world (logged in as "me")."""
        return SimulatedClient(self, session, **kwargs)

    def run(self, fn: Callable[[SimulatedClient], Awaitable[T]], **client_kwargs: Any) -> T:
        """Connect a client, ``await fn(client)``, disconnect — inside one ``asyncio.run`` — and
        return fn's result: the whole life of a test's client in one call."""
        async def main() -> T:
            client = self.client(**client_kwargs)
            await client.connect()
            try:
                return await fn(client)
            finally:
                await client.disconnect()

        return asyncio.run(main())

    @classmethod
    def from_scenario(cls, scenario: Mapping[str, Any]) -> SimulatedTelegram:
        """A world from a ``[simulated]`` table (see :mod:`tgx.simulator.scenario`)."""
        return build_world(scenario)


def build_world(scenario: Mapping[str, Any]) -> SimulatedTelegram:
    """A :class:`SimulatedTelegram` from a scenario (validated again here)."""
    s = validate(scenario)
    chats = s.get("chats")
    world = SimulatedTelegram(
        seed=s.get("seed", 1), messages=s.get("messages", 2000), media=s.get("media", True),
        latency=s.get("latency_ms", 0) / 1000.0, rate_limit=s.get("rate_limit"),
        rate_window=s.get("rate_window", 1.0), big_file_mb=s.get("big_file_mb", 4),
        request_log=s.get("request_log"), log_limit=s.get("log_limit", 50_000),
        default_chats=chats is None, difference_horizon=s.get("difference_horizon", 100_000),
    )
    world.login_settings = dict(s.get("login", {}))  # tgx.simulator.login: QR tokens, 2FA, unauthorized start
    for account in s.get("accounts", ()):
        add_account(world, dict(account))
    for i, chat in enumerate(chats or ()):
        place = f"[simulated] chats[{i}]"
        kind = chat["kind"]
        common = {"media": chat.get("media")}
        try:
            if kind in ("channel", "supergroup", "forum"):
                spec = world.add_channel(
                    chat.get("username"), chat.get("title"), chat.get("messages", 1000),
                    megagroup=kind != "channel", forum=kind == "forum", topics=chat.get("topics"),
                    joined=chat.get("joined", True), signatures=chat.get("signatures", kind == "channel"),
                    id=chat.get("id"), general_hidden=chat.get("general_hidden", False), **common)
                comments = chat.get("comments")
                if comments:
                    table = dict(comments) if isinstance(comments, Mapping) else {}
                    edited, deleted = table.pop("edited", ()), table.pop("deleted", ())
                    group = world.add_discussion(spec, **table)
                    world.edit_messages(group, edited)
                    world.delete_messages(group, deleted)
            elif kind == "group":
                spec = world.add_group(chat.get("title", "basic group"), chat.get("messages", 200),
                                id=chat.get("id"),
                                **common)
            else:
                spec = world.add_private(chat["user"], chat.get("messages", 200), **common)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{place}: {exc.args[0] if exc.args else exc}") from None
        if "members" in chat:
            spec.readers = frozenset(chat["members"])
        world.edit_messages(spec, chat.get("edited", ()))
        world.delete_messages(spec, chat.get("deleted", ()))
    for key in ("changes", "timeline"):
        for i, change in enumerate(s.get(key, ())):
            if "chat" in change:
                try:
                    world.chat(change["chat"])
                except KeyError:
                    raise ConfigError(f"[simulated] {key}[{i}]: no simulated chat {change['chat']!r}") from None
                if "post" in change and world.chat(change["chat"]).linked is not None:
                    raise ConfigError(f"[simulated] {key}[{i}]: cannot post to a chat with comments "
                                      "or to a discussion group")
    for i, change in enumerate(s.get("changes", ())):
        try:
            apply_change(world, change)
        except ValueError as exc:
            raise ConfigError(f"[simulated] changes[{i}]: {exc}") from None
    if s.get("timeline"):
        world.timeline = Timeline(world, s["timeline"])
    for i, fault in enumerate(s.get("faults", ())):
        args = dict(fault)
        kind = args.pop("type")
        if kind == "private":
            try:
                world.chat(args["chat"])
            except KeyError:
                raise ConfigError(f"[simulated] faults[{i}]: no simulated chat {args['chat']!r}") from None
        if kind in ("revoked", "private") and "times" not in args:
            args["times"] = 0
        if kind == "takeout_delay" and "times" not in args:
            args["times"] = 0
        world.faults.add(kind, **args)
    return world


def add_account(world: World, table: dict[str, Any]) -> None:
    """One ``accounts`` table: a new account, or the ``default`` one's premium, phone, login and
    rate limit."""
    name = table.pop("name")
    if name == "default":
        default = world.accounts.pop("default")
        world.add_account("default", **table)
        world.accounts["default"].takeouts = default.takeouts
        world.viewer = world.accounts["default"]
        return
    try:
        world.add_account(name, **table)
    except ValueError as exc:
        raise ConfigError(f"[simulated] accounts: {exc}") from None


__all__ = ["SimulatedTelegram", "add_account", "build_world"]
