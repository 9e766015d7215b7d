"""Built-in plugin ``simulated``: the simulated Telegram as the run's client.

It answers ``tgx_telegram_client`` only when the config has a ``[simulated]`` table or the
``TGX_SIMULATED`` environment variable is set (``1``, inline JSON, or a scenario file);
otherwise it returns None and the real ``telegram`` plugin answers. The scenario's keys are
listed in docs/testing.md; an unknown key or fault type is a ConfigError that names it.

The client is the one of the account the config is for (``Config.account``: ``default``, or
``--account NAME`` / ``--accounts``), which must be one of the scenario's ``accounts``. With
``session_files = true`` its session is a real Telethon session file in the data dir (0600, as
the real plugin keeps it), so ``tgx accounts``, ``tgx logout`` and an old data dir can be tested.
"""

from __future__ import annotations

from typing import Any

import tgx
from tgx.config import Config
from tgx.errors import AuthError
from tgx.fsutil import private_file


@tgx.hookimpl
def tgx_telegram_client(config: Config) -> Any:
    from tgx.testing import build_world, scenario_from_config

    scenario = scenario_from_config(config)
    if scenario is None:
        return None
    world = build_world(scenario)
    if config.account not in world.accounts:
        raise AuthError(f"account {config.account!r} is not logged in (the simulated Telegram has no such "
                        "account)", hint="add it to [simulated] accounts, or pick one of: "
                                         + ", ".join(world.accounts))
    session: Any = None
    if scenario.get("session_files") or not scenario.get("login", {}).get("authorized", True):
        # a world that starts logged out keeps its session where tgx login writes it
        path = config.session_path.with_name(config.session_path.name + ".session")
        private_file(path)
        session = str(config.session_path)
    client = world.client(session, api_id=config.api_id, api_hash=config.api_hash, account=config.account,
                          flood_sleep_threshold=config.flood_sleep_threshold)
    if session is not None:
        private_file(path)  # Telethon's SQLite may have recreated it
    return client


__all__ = ["tgx_telegram_client"]
