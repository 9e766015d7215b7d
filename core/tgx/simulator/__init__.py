"""The simulated Telegram: a deterministic account and server that Telethon's *real* client
talks to through a fake network sender (see docs/testing.md). Histories are computed, never
stored, so a chat of any size costs O(1) memory.

Layers, bottom up: ``content``/``ids``/``faults`` (pure helpers) → ``chats`` (specs) →
``messages`` (TL bytes of one message) → ``world`` (the state) → ``server`` (answers requests)
→ ``sender`` (Telethon's side) → ``scenario`` (``[simulated]`` tables) → ``simulated``
(:class:`SimulatedTelegram`: a world that hands out clients). ``tgx.testing`` re-exports the
public names and adds the pytest fixtures; import from there.
"""

from __future__ import annotations

import importlib
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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tgx.simulator' has no attribute {name!r}")
    attr = "validate" if name == "validate_scenario" else name
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value
    return value


__all__ = [
    "FAULT_TYPES", "ChatSpec", "Fault", "Faults", "IdsView", "RateLimiter", "RequestLog", "SimulatedClient",
    "SimulatedSender", "SimulatedTelegram", "SimulatorError", "TopicSpec", "UserSpec", "World", "build_world",
    "file_bytes", "read_request_log", "scenario_from_config", "validate_scenario",
]
