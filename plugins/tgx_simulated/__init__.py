"""Built-in plugin ``simulated``: the simulated Telegram as the run's client.

It answers ``tgx_telegram_client`` only when the config has a ``[simulated]`` table or the
``TGX_SIMULATED`` environment variable is set (``1``, inline JSON, or a scenario file);
otherwise it returns None and the real ``telegram`` plugin answers. The scenario's keys are
listed in docs/testing.md; an unknown key or fault type is a ConfigError that names it.
"""

from __future__ import annotations

from typing import Any

import tgx
from tgx.config import Config


@tgx.hookimpl
def tgx_telegram_client(config: Config) -> Any:
    from tgx.testing import build_world, scenario_from_config

    scenario = scenario_from_config(config)
    if scenario is None:
        return None
    world = build_world(scenario)
    return world.client(api_id=config.api_id, api_hash=config.api_hash,
                        flood_sleep_threshold=config.flood_sleep_threshold)


__all__ = ["tgx_telegram_client"]
