"""The simulated Telegram, for tgx's tests and for plugin authors' (``pytest -p tgx.testing``).

A deterministic Telegram account and server that Telethon's *real* client talks to through
a fake network sender (see docs/testing.md). Importing this package is cheap: the simulator
lives in submodules loaded on first use, and the pytest fixtures (``sim_world``,
``sim_client``, ``sim_run``, ``sim_config``) are only defined when pytest is running.

    from tgx.testing import SimulatedTelegram
    world = SimulatedTelegram(seed=7)
    world.add_channel("big", "Big channel", 1_000_000, media=False)
    client = world.client()          # a telethon.TelegramClient; connect() inside your loop

For format plugins, :func:`render_messages` renders messages with a ``FormatSpec`` through the
real archive and render engine (see tgx.testing.render).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

_LAZY = {
    "SimulatedTelegram": "simulated", "World": "world",
    "ChatSpec": "chats", "UserSpec": "chats", "TopicSpec": "chats",
    "SimulatedClient": "sender", "SimulatedSender": "sender", "SimulatorError": "sender",
    "Fault": "faults", "Faults": "faults", "RateLimiter": "faults", "RequestLog": "faults",
    "FAULT_TYPES": "faults", "read_request_log": "faults",
    "scenario_from_config": "scenario", "build_world": "simulated", "validate_scenario": "scenario",
    "file_bytes": "content", "IdsView": "ids",
}
_HERE = {"render_messages": "render", "Rendered": "render"}  # in tgx.testing itself, not the simulator

if TYPE_CHECKING:
    from tgx.simulator.chats import ChatSpec, TopicSpec, UserSpec
    from tgx.simulator.content import file_bytes
    from tgx.simulator.faults import FAULT_TYPES, Fault, Faults, RateLimiter, RequestLog, read_request_log
    from tgx.simulator.ids import IdsView
    from tgx.simulator.scenario import scenario_from_config
    from tgx.simulator.scenario import validate as validate_scenario
    from tgx.simulator.sender import SimulatedClient, SimulatedSender, SimulatorError
    from tgx.simulator.simulated import SimulatedTelegram, build_world
    from tgx.simulator.world import World
    from tgx.testing.render import Rendered, render_messages


def __getattr__(name: str) -> Any:
    if name in _HERE:
        value = getattr(importlib.import_module(f"tgx.testing.{_HERE[name]}"), name)
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tgx.testing' has no attribute {name!r}")
    attr = "validate" if name == "validate_scenario" else name
    value = getattr(importlib.import_module(f"tgx.simulator.{module}"), attr)
    globals()[name] = value
    return value


if "pytest" in sys.modules:  # loaded as a pytest plugin (or under pytest): expose the fixtures
    from tgx.testing.plugin import sim_client, sim_config, sim_run, sim_world  # noqa: F401

__all__ = [
    "FAULT_TYPES", "ChatSpec", "Fault", "Faults", "IdsView", "RateLimiter", "Rendered", "RequestLog", "SimulatedClient",
    "SimulatedSender", "SimulatedTelegram", "SimulatorError", "TopicSpec", "UserSpec", "World", "build_world",
    "file_bytes", "read_request_log", "render_messages", "scenario_from_config", "validate_scenario",
]
