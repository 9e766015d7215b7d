"""The simulated Telegram, for tgx's tests and for plugin authors' (``pytest -p tgx.testing``).

A deterministic Telegram account and server that Telethon's *real* client talks to through
a fake network sender (see docs/testing.md). Importing this package is cheap: the simulator
lives in submodules loaded on first use, and the pytest fixtures (``sim_world``,
``sim_client``, ``sim_run``, ``sim_config``) are only defined when pytest is running.

    from tgx.testing import SimulatedTelegram
    world = SimulatedTelegram(seed=7)
    world.add_channel("big", "Big channel", 1_000_000, media=False)
    client = world.client()          # a telethon.TelegramClient; connect() inside your loop
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

_LAZY = {
    "SimulatedTelegram": "world", "ChatSpec": "world", "UserSpec": "world", "TopicSpec": "world",
    "SimulatedClient": "sender", "SimulatedSender": "sender", "SimulatorError": "sender",
    "Fault": "faults", "Faults": "faults", "RateLimiter": "faults", "RequestLog": "faults",
    "FAULT_TYPES": "faults", "read_request_log": "faults",
    "scenario_from_config": "scenario", "build_world": "scenario", "validate_scenario": "scenario",
    "file_bytes": "content", "IdsView": "ids",
}

if TYPE_CHECKING:
    from .content import file_bytes
    from .faults import FAULT_TYPES, Fault, Faults, RateLimiter, RequestLog, read_request_log
    from .ids import IdsView
    from .scenario import build_world, scenario_from_config
    from .scenario import validate as validate_scenario
    from .sender import SimulatedClient, SimulatedSender, SimulatorError
    from .world import ChatSpec, SimulatedTelegram, TopicSpec, UserSpec


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tgx.testing' has no attribute {name!r}")
    attr = "validate" if name == "validate_scenario" else name
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value
    return value


if "pytest" in sys.modules:  # loaded as a pytest plugin (or under pytest): expose the fixtures
    from .plugin import sim_client, sim_config, sim_run, sim_world  # noqa: F401

__all__ = [
    "FAULT_TYPES", "ChatSpec", "Fault", "Faults", "IdsView", "RateLimiter", "RequestLog", "SimulatedClient",
    "SimulatedSender", "SimulatedTelegram", "SimulatorError", "TopicSpec", "UserSpec", "build_world",
    "file_bytes", "read_request_log", "scenario_from_config", "validate_scenario",
]
