"""Configuration: ``tgx.toml``, then ``TGX_*`` environment variables, then CLI flags (CLI wins).

Where the file is: ``--config PATH``, else ``$TGX_CONFIG``, else ``./tgx.toml`` when present,
else ``<user config dir>/tgx/tgx.toml`` (platformdirs). A missing default file is fine; a
missing explicit one, a syntax error or an unknown key is a :class:`ConfigError` naming the
file, line and key. Tables other than the core ones below belong to plugins (``[html]``,
``[simulated]``, ...) and are checked against the loaded plugins' names by the manager.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from tgx.errors import ConfigError

APP_NAME = "tgx"
CONFIG_FILE_NAME = "tgx.toml"



@dataclass(frozen=True)
class Key:
    """One core key's type: ``check`` turns the TOML value into what the code uses, or returns
    None when the value has the wrong type (reported as "<table>.<key> must be <expected>")."""

    expected: str
    check: Callable[[Any], Any]
    secret: bool = False  # never echo the value back (an API hash typed as a number is still a hash)


def _integer(low: int | None = None, high: int | None = None) -> Callable[[Any], Any]:
    def check(value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            return None
        return value
    return check


def _number(low: float = 0.0, *, above: bool = False) -> Callable[[Any], Any]:
    def check(value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if (value > low if above else value >= low) else None
    return check


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _names(value: Any) -> list[str] | None:
    """A list of names, or one comma-separated string (how the CLI flag spells it)."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return [v.strip() for v in value if v.strip()]


def _comma_text(value: Any) -> str | None:
    """A comma list for a flag that takes one: ``["jsonl", "html"]`` reads as ``"jsonl,html"``."""
    names = _names(value)
    return ",".join(names) if names else None


def _size(value: Any) -> str | None:
    """``"50MB"`` or a plain number of bytes."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return str(value)
    return _text(value)


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _choice(*choices: str) -> Callable[[Any], Any]:
    def check(value: Any) -> str | None:
        return value if value in choices else None
    return check


# The core's own tables, each key with its type. Anything else at top level must be a plugin's table.
SCHEMA: dict[str, dict[str, Key]] = {
    "telegram": {
        "api_id": Key("a number", lambda v: int(v) if isinstance(v, str) and v.strip().isdigit()
                      else _integer(1)(v)),
        "api_hash": Key("a string", _text, secret=True),
        "session": Key("a plain name", _text),
        "bot_token": Key("a string", _text, secret=True),
        "flood_sleep_threshold": Key("a whole number of seconds (0 or more)", _integer(0)),
        # checked as a URL by load_config (tgx.proxy); secret: never echo it, it may hold a password
        "proxy": Key('a proxy URL such as "socks5://host:1080"', _text, secret=True),
    },
    "plugins": {
        "disable": Key("a list of plugin names", _names),
        "load": Key("a list of plugin names", _names),
    },
    "export": {
        "out": Key("a non-empty path string", _text),
        "format": Key('a format name or a list of them, e.g. ["jsonl", "html"]', _comma_text),
        "media": Key('"all", "none" or a list of media kinds', _comma_text),
        "parallel_files": Key("a whole number from 1 to 32", _integer(1, 32)),
        "max_size": Key('a size such as "50MB" or a number of bytes', _size),
        "transcode": Key('one of "never", "incompatible", "always"', _choice("never", "incompatible", "always")),
        "encoder": Key("an encoder name (see `tgx encoders`)", _text),
        "crf": Key("a whole number from 0 to 51", _integer(0, 51)),
        "max_flood_wait": Key("a number of seconds (0 or more)", _number(0.0)),
        "metrics_interval": Key("a number of seconds above 0", _number(0.0, above=True)),
        "comments": Key("true or false", _flag),
        "refetch_imported": Key("true or false", _flag),
    },
}
CORE_KEYS: dict[str, set[str]] = {table: set(keys) for table, keys in SCHEMA.items()}


def check_table(path: Path, table: str, section: Mapping[str, Any]) -> dict[str, Any]:
    """One core table checked against :data:`SCHEMA`: unknown keys and wrong types are a
    :class:`ConfigError` naming the file and the key; the result holds the normalised values."""
    keys = SCHEMA[table]
    unknown = sorted(set(section) - set(keys))
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {table}.{unknown[0]}",
            hint=f"known keys in [{table}]: {', '.join(sorted(keys))}",
        )
    checked: dict[str, Any] = {}
    for name, value in section.items():
        normal = keys[name].check(value)
        if normal is None:
            got = _toml_type(value) if keys[name].secret else _show(value)
            raise ConfigError(f"{path}: {table}.{name} must be {keys[name].expected}, not {got}")
        checked[name] = normal
    return checked


def _toml_type(value: Any) -> str:
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
             dict: "a table"}
    return kinds.get(type(value), "a date")


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, bool) else str(value).lower()
    return text if len(text) <= 40 else text[:37] + "..."


DEFAULT_ACCOUNT = "default"
DEFAULT_RESOLVE_PER_MINUTE = 20.0  # username look-ups per account per minute (ResolveUsername floods)
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# [accounts.NAME] keys: what one account may set for itself (the rest comes from [telegram])
ACCOUNT_KEYS: dict[str, Key] = {
    "session": Key("a plain name", _text),
    "proxy": Key("a proxy URL string", _text, secret=True),  # may hold a password: never echoed
    "api_id": SCHEMA["telegram"]["api_id"],
    "api_hash": SCHEMA["telegram"]["api_hash"],
}
ACCOUNTS_KEYS: dict[str, Key] = {
    "use": Key("a list of account names", _names),
    "resolve_per_minute": Key("a number of look-ups per minute above 0", _number(0.0, above=True)),
}


def check_account_name(name: str, where: str = "account name") -> str:
    """An account name is a plain word (letters, digits, ``_``, ``-``): it names a file."""
    if not _ACCOUNT_NAME.match(name):
        raise ConfigError(f"{where} {name!r} is not a plain name (letters, digits, _ and -, at most 64)")
    return name


def _check_session_name(name: str, where: str) -> str:
    if "/" in name or "\\" in name or name.startswith("."):
        raise ConfigError(f"{where} {name!r} must be a plain name, not a path")
    return name


def check_accounts(path: Path, section: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``[accounts]``: its own keys (``use``, ``resolve_per_minute``) and one table per account."""
    own: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    for name, value in section.items():
        if isinstance(value, dict):
            check_account_name(name, f"{path}: [accounts.{name}]: account name")
            unknown = sorted(set(value) - set(ACCOUNT_KEYS))
            if unknown:
                raise ConfigError(f"{path}: unknown key accounts.{name}.{unknown[0]}",
                                  hint=f"known keys in [accounts.{name}]: {', '.join(sorted(ACCOUNT_KEYS))}")
            table: dict[str, Any] = {}
            for key, raw in value.items():
                normal = ACCOUNT_KEYS[key].check(raw)
                if normal is None:
                    got = _toml_type(raw) if ACCOUNT_KEYS[key].secret else _show(raw)
                    raise ConfigError(f"{path}: accounts.{name}.{key} must be {ACCOUNT_KEYS[key].expected}, "
                                      f"not {got}")
                table[key] = normal
            if "session" in table:
                _check_session_name(table["session"], f"{path}: accounts.{name}.session")
            if "proxy" in table:  # a bad URL is one line naming it, never its password
                from tgx.proxy import parse_proxy

                parse_proxy(table["proxy"], source=f"[accounts.{name}] proxy in {path}")
            tables[name] = table
            continue
        if name not in ACCOUNTS_KEYS:
            raise ConfigError(f"{path}: unknown key accounts.{name}",
                              hint="[accounts] takes use, resolve_per_minute and [accounts.NAME] tables")
        normal = ACCOUNTS_KEYS[name].check(value)
        if normal is None:
            raise ConfigError(f"{path}: accounts.{name} must be {ACCOUNTS_KEYS[name].expected}, not {_show(value)}")
        own[name] = normal
    for used in own.get("use", []):
        check_account_name(used, f"{path}: accounts.use:")
    return own, tables


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
    # The run's proxy URL (tgx.proxy; None: direct) and where it came from: "--proxy", "TGX_PROXY"
    # or "[telegram] proxy in FILE". One value for every client; see proxy_for for an account's.
    proxy: str | None = field(default=None, repr=False)
    proxy_source: str | None = None
    account: str = DEFAULT_ACCOUNT  # the account this config is for (Config.for_account)
    default_session: str | None = None  # the default account's session ([telegram] session); None: session
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # [accounts.NAME] tables, checked
    accounts_use: list[str] = field(default_factory=list)  # [accounts] use: the accounts of a run by default
    resolve_per_minute: float = DEFAULT_RESOLVE_PER_MINUTE  # [accounts] resolve_per_minute
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

    @property
    def sessions_dir(self) -> Path:
        return self.data_dir / "sessions"

    def session_name_of(self, account: str) -> str:
        """The session file name (without ``.session``) of an account: ``[accounts.NAME] session``,
        else the account's name; ``default`` keeps today's single session (``[telegram] session``,
        ``TGX_SESSION``, ``tgx``), read where it is: an old data dir needs no migration."""
        table = self.accounts.get(account, {})
        if "session" in table:
            return str(table["session"])
        base = self._base_session
        return base if account == DEFAULT_ACCOUNT else account

    @property
    def _base_session(self) -> str:
        return self.default_session or self.session

    def known_accounts(self) -> list[str]:
        """``default``, every ``[accounts.NAME]`` table, and every other session file in the data
        dir (``tgx login --account NAME`` needs no table), in that order, each once."""
        names = [DEFAULT_ACCOUNT, *self.accounts]
        taken = {self.session_name_of(n) for n in names}
        folder = self.sessions_dir
        if folder.is_dir():
            for path in sorted(folder.glob("*.session")):
                stem = path.name[: -len(".session")]
                if stem not in taken and _ACCOUNT_NAME.match(stem):
                    names.append(stem)
                    taken.add(stem)
        return list(dict.fromkeys(names))

    def for_account(self, name: str) -> Config:
        """This config as account ``name`` sees it: its session, and its own ``proxy``,
        ``api_id``/``api_hash`` where its ``[accounts.NAME]`` table sets them (over the
        ``[telegram]`` ones). What the ``tgx_telegram_client`` hook needs, in one object."""
        check_account_name(name)
        session = self.session_name_of(name)
        if name != DEFAULT_ACCOUNT and session == self.session_name_of(DEFAULT_ACCOUNT) \
                and "session" not in self.accounts.get(name, {}):
            raise ConfigError(f"account name {name!r} is the default account's session name",
                              hint="choose another name, or set [accounts.NAME] session")
        table = self.accounts.get(name, {})
        changes: dict[str, Any] = {"account": name, "session": session}
        for key in ("api_id", "api_hash"):
            if key in table:
                changes[key] = table[key]
        if "proxy" in table:  # the account's own, unless --proxy was given (Config.proxy_for)
            changes["proxy"] = self.proxy_for(table["proxy"])
            if changes["proxy"] != self.proxy:
                changes["proxy_source"] = f"[accounts.{name}] proxy"
        changes["default_session"] = self._base_session
        return dataclasses.replace(self, **changes)

    def table(self, name: str) -> dict[str, Any]:
        """A plugin's table from tgx.toml (empty when absent)."""
        return dict(self.tables.get(name, {}))

    @property
    def simulated_requested(self) -> bool:
        """The user chose the simulated Telegram: a ``[simulated]`` table or ``TGX_SIMULATED``.

        An explicit choice: the ``simulated`` plugin answers it alone, whatever third-party
        client plugin is installed."""
        return "simulated" in self.tables or bool(self.env.get("TGX_SIMULATED"))

    def set_proxy(self, url: str | None, source: str) -> None:
        """Make ``url`` the run's proxy (checked: a bad URL is a ConfigError naming ``source``);
        ``--proxy`` calls it, so the flag wins over TGX_PROXY and tgx.toml."""
        from tgx.console import register_secret
        from tgx.proxy import parse_proxy

        parsed = parse_proxy(url, source=source)
        for secret in parsed.secrets() if parsed is not None else ():
            register_secret(secret)  # a password or MTProxy secret never reaches a message
        self.proxy, self.proxy_source = url, source

    def proxy_for(self, account_proxy: str | None) -> str | None:
        """The proxy one account connects through: ``--proxy`` beats the account's own setting,
        which beats TGX_PROXY and ``[telegram] proxy`` (``"none"`` anywhere means direct). For the
        accounts' tables: check the account's value with ``tgx.proxy.parse_proxy`` when loading."""
        if account_proxy is None or self.proxy_source == "--proxy":
            return self.proxy
        return account_proxy

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
    may_create: bool = False,
) -> Config:
    """Build the :class:`Config` for one command: file, then env, then ``-p`` flags.

    A file named by ``--config`` or ``$TGX_CONFIG`` must exist (a typo must not silently mean
    "no settings"), unless ``may_create``: the command writes it (``tgx plugins disable``).
    A missing default file (``./tgx.toml``, the user config dir) is simply no settings.
    """
    env = dict(os.environ if env is None else env)
    explicit = path is not None
    cfg_path = Path(path) if path is not None else default_config_path(env)
    data: dict[str, Any] = {}
    if cfg_path.is_file():
        data = read_toml(cfg_path)
    elif explicit and not may_create:
        raise ConfigError(f"{cfg_path}: config file not found")
    elif env.get("TGX_CONFIG") and not may_create:
        raise ConfigError(f"{cfg_path}: config file not found (named by $TGX_CONFIG)",
                          hint="create it, fix the path, or unset TGX_CONFIG to use the default")

    config = Config(path=cfg_path, env=env, verbose=verbose)
    checked: dict[str, dict[str, Any]] = {}
    for table in SCHEMA:
        section = data.get(table, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{cfg_path}: [{table}] must be a table")
        checked[table] = check_table(cfg_path, table, section)
    accounts = data.get("accounts", {})
    if not isinstance(accounts, dict):
        raise ConfigError(f"{cfg_path}: [accounts] must be a table")
    own, config.accounts = check_accounts(cfg_path, accounts)
    config.accounts_use = list(own.get("use", []))
    config.resolve_per_minute = float(own.get("resolve_per_minute", DEFAULT_RESOLVE_PER_MINUTE))
    for name, value in data.items():
        if name in SCHEMA or name == "accounts":
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{cfg_path}: unknown top-level key {name!r}",
                              hint="plugin settings go in a table named after the plugin, e.g. [html]")
        config.tables[name] = value

    telegram = checked["telegram"]
    plugins = checked["plugins"]
    config.export = checked["export"]

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
    config.default_session = config.session
    config.flood_sleep_threshold = telegram.get("flood_sleep_threshold", 60)
    # every source is checked, not only the one that wins
    if "proxy" in telegram:
        config.set_proxy(telegram["proxy"], f"[telegram] proxy in {cfg_path}")
    if env.get("TGX_PROXY"):
        config.set_proxy(env["TGX_PROXY"], "TGX_PROXY")

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
