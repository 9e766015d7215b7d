"""Configuration: ``tgx.toml``, then ``TGX_*`` environment variables, then CLI flags (CLI wins).

Where the file is: ``--config PATH``, else ``$TGX_CONFIG``, else ``./tgx.toml`` when present,
else ``<user config dir>/tgx/tgx.toml`` (platformdirs). A missing default file is fine; a
missing explicit one, a syntax error or an unknown key is a :class:`ConfigError` naming the
file, line and key. Tables other than the core ones below belong to plugins (``[html]``,
``[simulated]``, ...) and are checked against the loaded plugins' names by the manager.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from tgx.errors import ConfigError

APP_NAME = "tgx"
CONFIG_FILE_NAME = "tgx.toml"

# The core's own tables and their keys. Anything else at top level must be a plugin's table.
CORE_KEYS: dict[str, set[str]] = {
    "telegram": {"api_id", "api_hash", "session", "bot_token", "flood_sleep_threshold"},
    "plugins": {"disable", "load"},
    "export": {"out", "format", "media", "parallel_files", "max_size", "transcode", "encoder",
               "crf", "max_flood_wait", "metrics_interval"},
}


def _split_names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


@dataclass
class Config:
    path: Path | None = None  # the file that was read (or would be written by `plugins disable`)
    api_id: int | None = None
    api_hash: str | None = field(default=None, repr=False)
    bot_token: str | None = field(default=None, repr=False)
    session: str = "tgx"
    flood_sleep_threshold: int = 60
    disable: list[str] = field(default_factory=list)  # [plugins] disable + TGX_DISABLE_PLUGINS + -p no:
    load: list[str] | None = None  # allow-list of external plugins; None = every installed one
    enable: list[str] = field(default_factory=list)  # -p NAME: force-enable despite config
    export: dict[str, Any] = field(default_factory=dict)  # [export] defaults for CLI flags
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # plugin tables
    verbose: int = 0
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)

    # -- locations (XDG via platformdirs; TGX_DATA_DIR overrides for tests and portable installs)
    @property
    def data_dir(self) -> Path:
        override = self.env.get("TGX_DATA_DIR")
        return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))

    @property
    def session_path(self) -> Path:
        """The Telethon session file (without the ``.session`` suffix Telethon adds)."""
        return self.data_dir / "sessions" / self.session

    def table(self, name: str) -> dict[str, Any]:
        """A plugin's table from tgx.toml (empty when absent)."""
        return dict(self.tables.get(name, {}))

    def is_disabled(self, name: str) -> bool:
        return name in self.disable and name not in self.enable


def default_config_path(env: Mapping[str, str]) -> Path:
    if env.get("TGX_CONFIG"):
        return Path(env["TGX_CONFIG"])
    local = Path.cwd() / CONFIG_FILE_NAME
    if local.is_file():
        return local
    return Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_FILE_NAME


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}", hint="fix the file or pass --config") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None


def load_config(
    path: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cli_plugins: list[str] | tuple[str, ...] = (),
    verbose: int = 0,
) -> Config:
    """Build the :class:`Config` for one command: file, then env, then ``-p`` flags."""
    env = dict(os.environ if env is None else env)
    explicit = path is not None
    cfg_path = Path(path) if explicit else default_config_path(env)
    data: dict[str, Any] = {}
    if cfg_path.is_file():
        data = read_toml(cfg_path)
    elif explicit:
        raise ConfigError(f"{cfg_path}: config file not found")

    config = Config(path=cfg_path, env=env, verbose=verbose)
    for table, keys in CORE_KEYS.items():
        section = data.get(table, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{cfg_path}: [{table}] must be a table")
        unknown = sorted(set(section) - keys)
        if unknown:
            raise ConfigError(
                f"{cfg_path}: unknown key {table}.{unknown[0]}",
                hint=f"known keys in [{table}]: {', '.join(sorted(keys))}",
            )
    for name, value in data.items():
        if name in CORE_KEYS:
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{cfg_path}: unknown top-level key {name!r}",
                              hint="plugin settings go in a table named after the plugin, e.g. [html]")
        config.tables[name] = value

    telegram = data.get("telegram", {})
    plugins = data.get("plugins", {})
    config.export = dict(data.get("export", {}))

    api_id = env.get("TGX_API_ID") or telegram.get("api_id")
    if api_id not in (None, ""):
        try:
            config.api_id = int(api_id)
        except (TypeError, ValueError):
            raise ConfigError("api_id must be a number (TGX_API_ID or [telegram] api_id)") from None
    config.api_hash = env.get("TGX_API_HASH") or telegram.get("api_hash")
    config.bot_token = env.get("TGX_BOT_TOKEN") or telegram.get("bot_token")
    config.session = env.get("TGX_SESSION") or telegram.get("session") or "tgx"
    if "/" in config.session or config.session.startswith("."):
        raise ConfigError(f"session name {config.session!r} must be a plain name, not a path")
    config.flood_sleep_threshold = int(telegram.get("flood_sleep_threshold", 60))

    disable = list(plugins.get("disable", []))
    disable += _split_names(env.get("TGX_DISABLE_PLUGINS")) or []
    load = _split_names(env.get("TGX_LOAD_PLUGINS"))
    if load is None and "load" in plugins:
        load = list(plugins["load"])
    for arg in cli_plugins:
        if arg.startswith("no:"):
            disable.append(arg[3:])
        else:
            config.enable.append(arg)
    config.disable = list(dict.fromkeys(disable))
    config.load = load
    return config
