"""pytest fixtures of the simulated Telegram (load with ``pytest -p tgx.testing``).

Tests stay synchronous and drive Telethon with ``asyncio.run`` (no pytest-asyncio needed).
A Telethon client is bound to the event loop it connected in, so fixtures hand out
clients that are *not yet connected*; ``sim_run`` connects, runs and disconnects for you.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tgx.simulator.scenario import validate
from tgx.simulator.sender import SimulatedClient
from tgx.simulator.simulated import SimulatedTelegram

T = TypeVar("T")


@pytest.fixture
def sim_world() -> SimulatedTelegram:
    """A fresh default world: ``@tgx_demo`` (2000 posts of every kind), ``@tgx_forum``, a basic
    group, private chats with ``@alice`` and a bot; seed 1, no latency, no faults."""
    return SimulatedTelegram(seed=1)


@pytest.fixture
def sim_client(sim_world: SimulatedTelegram) -> SimulatedClient:
    """A not-yet-connected client of ``sim_world``: ``async with sim_client: ...`` inside
    ``asyncio.run`` (the client is logged in as the world's "me")."""
    return sim_world.client()


@pytest.fixture
def sim_run(sim_world: SimulatedTelegram) -> Callable[..., Any]:
    """``sim_run(fn, world=None, **client_kwargs)``: connect a client, ``await fn(client)``,
    disconnect, and return fn's result, all inside one ``asyncio.run``."""

    def run(fn: Callable[[SimulatedClient], Awaitable[T]], *, world: SimulatedTelegram | None = None,
            **client_kwargs: Any) -> T:
        return (world or sim_world).run(fn, **client_kwargs)

    return run


@pytest.fixture
def sim_config(tmp_path: Path) -> Callable[..., Path]:
    """``sim_config(path=None, extra=None, **scenario) -> Path``: write a tgx.toml whose
    ``[simulated]`` table is ``scenario`` (validated first) plus any ``extra`` tables, for
    CLI subprocess tests (pass ``--config PATH`` or set ``TGX_CONFIG``)."""
    import tomlkit

    def make(path: str | Path | None = None, *, extra: dict[str, Any] | None = None, **scenario: Any) -> Path:
        table = validate(scenario)
        doc = dict(extra or {})
        doc["simulated"] = table
        target = Path(path) if path is not None else tmp_path / "tgx.toml"
        target.write_text(tomlkit.dumps(doc), encoding="utf-8")
        return target

    return make


__all__ = ["sim_client", "sim_config", "sim_run", "sim_world"]
