"""Built-in plugin ``simulated``: the simulated Telegram as the run's client.

It answers ``tgx_telegram_client`` only when the config has a ``[simulated]`` table or the
``TGX_SIMULATED`` environment variable is set (``1``, inline JSON, or a scenario file);
otherwise it returns None and the real ``telegram`` plugin answers. The scenario's keys are
listed in docs/testing.md; an unknown key or fault type is a ConfigError that names it.

A world that starts logged out (``[simulated.login] authorized = false``) keeps its session
where the real ``telegram`` plugin does (``<data dir>/sessions/<name>.session``, 0600 in a 0700
folder), so ``tgx login`` and the commands after it share it; otherwise the session lives in
memory and every run is logged in.
"""

from __future__ import annotations

import os
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
    session = None
    if not scenario.get("login", {}).get("authorized", True):
        session = _session_file(config)
    return world.client(session, api_id=config.api_id, api_hash=config.api_hash,
                        flood_sleep_threshold=config.flood_sleep_threshold)


def _session_file(config: Config) -> str:
    """The session file's path for Telethon (without ``.session``), created 0600 in a 0700 folder."""
    path = config.session_path.with_name(config.session_path.name + ".session")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.chmod(path, 0o600)
    return str(config.session_path)


__all__ = ["tgx_telegram_client"]
