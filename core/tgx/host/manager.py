"""The plugin manager: built-ins and installed plugins, enabled or not, one name everywhere.

:func:`get_plugin_manager` is a factory (no global): the CLI builds one per run and tests build
their own. It registers the built-in plugins by short name (module ``tgx_<name>``), then the
plugins installed under the ``tgx`` entry-point group (**contract**; the entry point's name is
the plugin's name), honouring, in this order of strength:

* ``-p NAME`` on the command line (``config.enable``): forces a plugin on, even an external one
  outside ``TGX_LOAD_PLUGINS``;
* ``-p no:NAME``, ``TGX_DISABLE_PLUGINS``, ``[plugins] disable`` (``config.disable``): the plugin
  is blocked (``pm.set_blocked``) and not even imported, so a broken one can be silenced;
* ``TGX_LOAD_PLUGINS`` / ``[plugins] load`` (``config.load``): allow-list of *external* plugins
  (empty = none; unset = all). Built-ins are not affected.

A name that matches no plugin is never ignored: given with ``-p`` it is a :class:`PluginError`
(exit 3); from the config file or the environment it is a warning that names it (a plugin
uninstalled while still named in a shell profile must not make every command fail).

A plugin that fails to import, or whose hook implementations do not validate, is reported in
one warning line with the fix and skipped; everything else keeps working. Every plugin, loaded
or not, gets a :class:`PluginInfo` for ``tgx plugins``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import importlib_metadata
import pluggy

from tgx import __version__, console, hookspecs
from tgx.config import Config
from tgx.console import Warn
from tgx.errors import PluginError

ENTRYPOINT_GROUP = "tgx"  # **contract**: third-party plugins register here

BUILTIN_PLUGINS: dict[str, str] = {
    "telegram": "tgx_telegram",
    "simulated": "tgx_simulated",
    "peer_cache": "tgx_peer_cache",
    "jsonl": "tgx_jsonl",
    "json": "tgx_json",
    "html": "tgx_html",
    "markdown": "tgx_markdown",
    "csv": "tgx_csv",
    "txt": "tgx_txt",
    "sqlite": "tgx_sqlite",
    "cpu": "tgx_cpu",
    "vaapi": "tgx_vaapi",
    "metrics_json": "tgx_metrics_json",
    "openmetrics": "tgx_openmetrics",
}

BUILTIN_SOURCE = "built-in"



@dataclass(slots=True)
class PluginInfo:
    """What ``tgx plugins`` shows about one plugin."""

    name: str
    version: str
    source: str  # "built-in" or the distribution's name
    module: str  # the module (or entry-point value) that implements it
    hooks: list[str] = field(default_factory=list)  # hook names it implements (when loaded)
    enabled: bool = False  # registered and its hooks are called
    error: str | None = None  # why it failed to load
    note: str | None = None  # why it is not enabled, when that is not an error
    problems: list[str] = field(default_factory=list)  # hooks that raised or returned invalid specs

    @property
    def builtin(self) -> bool:
        return self.source == BUILTIN_SOURCE

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "source": self.source, "module": self.module,
                "hooks": list(self.hooks), "enabled": self.enabled, "error": self.error, "note": self.note,
                "problems": list(self.problems)}


class TgxPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers the config and what happened to every plugin."""

    def __init__(self, config: Config) -> None:
        super().__init__(hookspecs.PROJECT)
        self.config = config
        self.infos: dict[str, PluginInfo] = {}
        self.registry_cache: dict[Any, Any] = {}  # tgx.host.registry memoizes collected specs here




def _fix_hint(name: str) -> str:
    return f"fix it or disable it with `tgx plugins disable {name}`"


def _describe_exc(exc: BaseException) -> str:
    """One line with the whole reason: pluggy's PluginValidationError puts it on its last line
    ("Plugin 'x' for hook 'tgx_y' / hookimpl definition: ... / Argument(s) {'extra'} are
    declared in the hookimpl but can not be found in the hookspec")."""
    text = "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Hook implementations with a ``tgx_`` name that no hookspec declares (typos, removed hooks)."""
    names = []
    for caller in pm.get_hookcallers(plugin) or []:
        if not caller.has_spec():
            impls = [i for i in caller.get_hookimpls() if i.plugin is plugin]
            if any(not i.optionalhook for i in impls):
                names.append(caller.name)
    return sorted(names)


def _register(pm: TgxPluginManager, info: PluginInfo, plugin: object, warn: Warn) -> None:
    """Register ``plugin`` under ``info.name``; on any validation problem, warn and undo."""
    label = f"'{info.name}'" if info.builtin else f"'{info.name}' ({info.source} {info.version})"
    try:
        pm.register(plugin, name=info.name)
    except Exception as exc:  # pluggy.PluginValidationError, ValueError (name clash), ...
        if pm.get_plugin(info.name) is plugin:  # pluggy leaves a half-registered plugin behind
            pm.unregister(plugin)
        info.error = _describe_exc(exc)
        warn(f"plugin {label} is invalid: {info.error} — {_fix_hint(info.name)}")
        return
    unknown = _unknown_hooks(pm, plugin)
    if unknown:
        pm.unregister(plugin)
        info.error = f"implements unknown hook {', '.join(unknown)}"
        warn(f"plugin {label} {info.error} (a typo? see docs/plugins.md) — {_fix_hint(info.name)}")
        return
    info.enabled = True
    info.hooks = sorted({c.name for c in pm.get_hookcallers(plugin) or []})


def _env_names(config: Config, var: str) -> set[str]:
    return {n.strip() for n in config.env.get(var, "").split(",") if n.strip()}


def _disable_note(name: str, config: Config, cli_disabled: set[str]) -> str:
    if name in cli_disabled:
        return f"disabled by -p no:{name}"
    if name in _env_names(config, "TGX_DISABLE_PLUGINS"):
        return "disabled by TGX_DISABLE_PLUGINS"
    where = f" in {config.path}" if config.path else ""
    return f"disabled by [plugins] disable{where}"


def _cli_names(cli_plugins: Sequence[str]) -> tuple[set[str], set[str]]:
    disabled = {a[3:] for a in cli_plugins if a.startswith("no:")}
    enabled = {a for a in cli_plugins if not a.startswith("no:")}
    return disabled, enabled


def get_plugin_manager(
    config: Config,
    *,
    load_entrypoints: bool = True,
    cli_plugins: Sequence[str] = (),
    warn: Warn | None = None,
) -> TgxPluginManager:
    """Build the plugin manager for one run.

    :param config: the resolved configuration (``disable`` / ``enable`` / ``load`` / ``tables``).
    :param load_entrypoints: load third-party plugins from the ``tgx`` entry-point group.
    :param cli_plugins: the raw ``-p`` values from the command line; names among them that match
        no plugin raise :class:`PluginError` (other sources only warn). ``config.enable`` always
        comes from ``-p`` and is checked strictly too.
    :param warn: where warnings go (default: ``tgx.console.warn``).
    """
    warn = console.warn if warn is None else warn
    pm = TgxPluginManager(config)
    pm.add_hookspecs(hookspecs)
    cli_disabled, cli_enabled = _cli_names(cli_plugins)
    strict = cli_disabled | cli_enabled | set(config.enable)

    # 1. Built-ins: registered first, so their specs win name clashes (see tgx.host.registry).
    for name, module_name in BUILTIN_PLUGINS.items():
        info = PluginInfo(name, __version__, BUILTIN_SOURCE, module_name)
        pm.infos[name] = info
        if config.is_disabled(name):
            pm.set_blocked(name)
            info.note = _disable_note(name, config, cli_disabled)
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            info.error = _describe_exc(exc)
            warn(f"built-in plugin '{name}' ({module_name}) failed to load: {info.error} — "
                 f"{_fix_hint(name)}")
            continue
        _register(pm, info, module, warn)

    # 2. Installed plugins, from the `tgx` entry-point group.
    if load_entrypoints:
        _load_entrypoints(pm, config, cli_disabled, warn)

    # 3. Names that match nothing.
    known = set(pm.infos)
    _check_names(config, known, strict, warn)
    _check_tables(config, known, warn)
    return pm


def _load_entrypoints(pm: TgxPluginManager, config: Config, cli_disabled: set[str], warn: Warn) -> None:
    seen: dict[str, str] = {}
    allowed = None if config.load is None else set(config.load)
    for ep in importlib_metadata.entry_points(group=ENTRYPOINT_GROUP):
        dist = ep.dist
        dist_name = (dist.name if dist is not None else None) or "unknown distribution"
        version = (dist.version if dist is not None else None) or "unknown"
        name = ep.name
        if name in seen:
            if seen[name] != dist_name:  # the same dist on sys.path twice is not a clash
                warn(f"plugin name '{name}' from {dist_name} is already used by {seen[name]}; "
                     f"the one from {dist_name} is skipped — uninstall one of them")
            continue
        seen[name] = dist_name
        info = PluginInfo(name, version, dist_name, ep.value)
        if name in pm.infos:
            warn(f"plugin '{name}' from {dist_name} has the name of a built-in plugin and is skipped "
                 f"— ask its author to rename the entry point")
            continue
        pm.infos[name] = info
        if config.is_disabled(name):
            pm.set_blocked(name)
            info.note = _disable_note(name, config, cli_disabled)
            continue
        if allowed is not None and name not in allowed and name not in config.enable:
            info.note = "not in TGX_LOAD_PLUGINS / [plugins] load"
            continue
        label = f"'{name}' ({dist_name} {version})"
        try:
            plugin = ep.load()
        except Exception as exc:
            info.error = _describe_exc(exc)
            warn(f"plugin {label} failed to load: {info.error} — {_fix_hint(name)}")
            continue
        _register(pm, info, plugin, warn)


def _check_names(config: Config, known: set[str], strict: set[str], warn: Warn) -> None:
    known_list = ", ".join(sorted(known))
    for name in sorted(strict):
        if name not in known:
            flag = f"-p no:{name}" if name in config.disable else f"-p {name}"
            raise PluginError(f"unknown plugin '{name}' in {flag}; known: {known_list}",
                              hint="`tgx plugins` lists every plugin")
    for name in config.disable:
        if name not in known and name not in strict:
            source = ("TGX_DISABLE_PLUGINS" if name in _env_names(config, "TGX_DISABLE_PLUGINS")
                      else f"[plugins] disable in {config.path}")
            warn(f"unknown plugin '{name}' in {source} (ignored); known: {known_list}")
    for name in config.load or []:
        if name not in known:
            warn(f"unknown plugin '{name}' in TGX_LOAD_PLUGINS / [plugins] load (ignored); "
                 f"known: {known_list}")


def _check_tables(config: Config, known: set[str], warn: Warn) -> None:
    for table in sorted(config.tables):
        if table not in known:
            warn(f"{config.path}: table [{table}] matches no plugin (ignored); "
                 f"known plugins: {', '.join(sorted(known))}")


# -- queries ---------------------------------------------------------------------------------------


def disabled_format_providers(pm: pluggy.PluginManager) -> dict[str, PluginInfo]:
    """Format name → the plugin, disabled or not loaded, whose ``tgx_register_formats`` offers it.

    For the error path of an unknown ``--format`` only ("'mbox' is provided by the disabled plugin
    'mbox'"): it imports those plugins' modules without registering them and calls that one hook,
    and anything they raise is ignored.
    """
    from tgx.specs import iter_specs

    found: dict[str, PluginInfo] = {}
    for info in getattr(pm, "infos", {}).values():
        if info.enabled or info.error:
            continue
        try:
            module_name, _, attr = info.module.partition(":")
            target: Any = importlib.import_module(module_name.strip())
            for part in filter(None, attr.strip().split(".")):
                target = getattr(target, part)
            hook = getattr(target, "tgx_register_formats", None)
            specs = list(iter_specs(hook())) if callable(hook) else []
        except Exception:  # noqa: BLE001 - a disabled plugin may well be broken: it only goes unnamed
            continue
        for spec in specs:
            name = getattr(spec, "name", None)
            if isinstance(name, str):
                found.setdefault(name, info)
    return found


def plugin_infos(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Every plugin the manager knows (built-ins first, then installed ones), loaded or not."""
    infos = getattr(pm, "infos", None)
    if infos is not None:
        return list(infos.values())
    # A plain pluggy manager (tests): describe what is registered.
    return [PluginInfo(name, "unknown", "unknown", type(plugin).__name__, enabled=True,
                       hooks=sorted(c.name for c in pm.get_hookcallers(plugin) or []))
            for name, plugin in pm.list_name_plugin() if plugin is not None]


def known_plugin_names(pm: pluggy.PluginManager) -> list[str]:
    return sorted(info.name for info in plugin_infos(pm))


def check_plugin_name(pm: pluggy.PluginManager, name: str) -> PluginInfo:
    """The info for ``name``, or a :class:`PluginError` (exit 3) naming the known plugins."""
    for info in plugin_infos(pm):
        if info.name == name:
            return info
    raise PluginError(f"unknown plugin '{name}'; known: {', '.join(known_plugin_names(pm))}")


__all__ = [
    "BUILTIN_PLUGINS", "BUILTIN_SOURCE", "ENTRYPOINT_GROUP", "PluginInfo", "TgxPluginManager",
    "check_plugin_name", "get_plugin_manager", "known_plugin_names", "plugin_infos",
]
