"""Specs collected from the ``tgx_register_*`` hooks, each attributed to the plugin that made it.

Each hook implementation is called on its own (not through ``pm.hook``), so that a plugin whose
hook raises is reported by name and skipped while the others still register, and so that every
spec knows which plugin it came from (for ``tgx formats``, and for duplicate-name messages).

Order: *registration order* — built-ins first, then installed plugins — except that an
implementation marked ``tryfirst=True`` comes before the others and one marked ``trylast=True``
after them. Where two plugins register the same name, the first in that order wins.

Duplicate names: formats → one warning naming both plugins (the first wins; the hookspec says
so); encoders, metrics sinks and peer resolvers → :class:`PluginError` naming both (exit 3),
because picking one silently would change what an export does.

Results are memoized on a :class:`tgx.host.manager.TgxPluginManager` (``registry_cache``), so each
warning is printed once per run however often a command asks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pluggy

from tgx import console
from tgx.config import Config
from tgx.console import Warn
from tgx.errors import PluginError, TgxError
from tgx.specs import EncoderSpec, FormatSpec, MetricsSinkSpec, OptionSpec, PeerResolverSpec, iter_specs

S = TypeVar("S")

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True, slots=True)
class Registered(Generic[S]):
    """A spec and the name of the plugin that registered it."""

    spec: S
    plugin: str

    @property
    def name(self) -> str:
        return self.spec.name  # type: ignore[attr-defined]


RegisteredFormat = Registered[FormatSpec]
RegisteredEncoder = Registered[EncoderSpec]
RegisteredSink = Registered[MetricsSinkSpec]
RegisteredResolver = Registered[PeerResolverSpec]




def _order_key(impl: pluggy.HookImpl) -> int:
    return 0 if impl.tryfirst else 2 if impl.trylast else 1


def _config_of(pm: pluggy.PluginManager, config: Config | None) -> Config:
    if config is not None:
        return config
    config = getattr(pm, "config", None)
    if config is None:
        raise TypeError("config is required with a plain pluggy.PluginManager")
    return config


def _check_options(spec: Any) -> str | None:
    options = getattr(spec, "options", ())
    if not isinstance(options, tuple | list):
        return "options must be a tuple of OptionSpec"
    for option in options:
        if not isinstance(option, OptionSpec):
            return f"options must be OptionSpec instances, not {type(option).__name__}"
        if not NAME_RE.match(option.name or ""):
            return f"option name {option.name!r} must be lowercase letters, digits, '-', '_'"
    return None


def _problem(spec: Any, spec_type: type[Any], *, needs_priority: bool) -> str | None:
    """Why ``spec`` is unusable, in one phrase, or None when it is fine."""
    if not isinstance(spec, spec_type):
        return f"expected {spec_type.__name__}, got {type(spec).__name__}"
    if not isinstance(spec.name, str) or not NAME_RE.match(spec.name):
        return f"name {spec.name!r} must be lowercase letters, digits, '.', '-', '_'"
    if not callable(spec.factory):
        return f"{spec.name!r}: factory is not callable"
    if needs_priority and (not isinstance(spec.priority, int) or isinstance(spec.priority, bool)):
        return f"{spec.name!r}: priority must be an int"
    return _check_options(spec)


def collect(
    pm: pluggy.PluginManager,
    hook_name: str,
    spec_type: type[S],
    kwargs: dict[str, Any],
    *,
    warn: Warn | None = None,
    needs_priority: bool = False,
) -> list[Registered[S]]:
    """Call every implementation of ``hook_name`` and return the valid specs, attributed.

    A hook that raises, or a spec that is not a valid ``spec_type``, is reported with a warning
    naming the plugin and skipped; nothing else is affected. A :class:`TgxError` raised by a hook
    (say, a ``ConfigError`` for a bad value in the plugin's table) is deliberate and propagates.
    """
    warn = console.warn if warn is None else warn
    caller = getattr(pm.hook, hook_name)
    impls = [i for i in caller.get_hookimpls() if not (i.hookwrapper or i.wrapper)]
    impls.sort(key=_order_key)  # stable: registration order within each group
    found: list[Registered[S]] = []
    kind = hook_name.removeprefix("tgx_register_").rstrip("s").replace("_", " ")
    for impl in impls:
        try:
            result = impl.function(*[kwargs[arg] for arg in impl.argnames])
        except TgxError:
            raise  # deliberate and user-facing (e.g. a bad setting in the plugin's table)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            _remember(pm, impl.plugin_name, f"{hook_name} raised {reason}", exc)
            warn(f"plugin '{impl.plugin_name}' failed in {hook_name}: {reason} "
                 f"— its {kind}s are unavailable; fix it or disable it with "
                 f"`tgx plugins disable {impl.plugin_name}`")
            continue
        for spec in iter_specs(result):
            problem = _problem(spec, spec_type, needs_priority=needs_priority)
            if problem:
                _remember(pm, impl.plugin_name, f"{hook_name} returned an invalid {kind} ({problem})", None)
                warn(f"plugin '{impl.plugin_name}' registered an invalid {kind} ({problem}); skipped")
                continue
            found.append(Registered(spec, impl.plugin_name))
    return found


def _remember(pm: pluggy.PluginManager, plugin: str, problem: str, exc: BaseException | None) -> None:
    """Keep a hook's failure on the plugin's :class:`~tgx.host.manager.PluginInfo` (``tgx plugins``
    shows it), and with ``-v`` print its traceback (redacted) after the warning."""
    info = getattr(pm, "infos", {}).get(plugin)
    if info is not None and problem not in info.problems:
        info.problems.append(problem)
    config = getattr(pm, "config", None)
    if exc is not None and getattr(config, "verbose", 0) >= 1:
        import sys
        import traceback

        from tgx.console import redact

        sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        sys.stderr.flush()


def option_values(plugin: str, spec: Any, config: Config, cli: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A format's or sink's options (``spec.options``): the CLI value when given (not None), else
    the plugin's ``tgx.toml`` table (key with dashes or underscores), else the option's default."""
    cli = cli or {}
    table = config.table(plugin)
    values: dict[str, Any] = {}
    for opt in spec.options:
        value = cli.get(opt.name)
        if value is None:
            value = table.get(opt.name, table.get(opt.name.replace("-", "_")))
        values[opt.name] = opt.default if value is None else value
    return values


def _cached(pm: pluggy.PluginManager, key: Any, build: Callable[[], Any], warn: Warn | None) -> Any:
    """Memoize per manager — only with the default ``warn`` (a custom one wants every message)."""
    cache = getattr(pm, "registry_cache", None)
    if cache is None or warn is not None:
        return build()
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _unique(items: list[Registered[S]], kind: str) -> dict[str, Registered[S]]:
    by_name: dict[str, Registered[S]] = {}
    for item in items:
        first = by_name.get(item.name)
        if first is not None:
            raise PluginError(
                f"{kind} '{item.name}' is registered by both plugin '{first.plugin}' and plugin "
                f"'{item.plugin}'",
                hint=f"disable one of them, e.g. `tgx plugins disable {item.plugin}`",
            )
        by_name[item.name] = item
    return by_name


def formats(pm: pluggy.PluginManager, warn: Warn | None = None) -> dict[str, RegisteredFormat]:
    """Every output format by name. A duplicate name: one warning naming both; the first wins."""

    def build() -> dict[str, RegisteredFormat]:
        w = console.warn if warn is None else warn
        by_name: dict[str, RegisteredFormat] = {}
        for item in collect(pm, "tgx_register_formats", FormatSpec, {}, warn=w):
            first = by_name.get(item.name)
            if first is not None:
                w(f"format '{item.name}' is registered by both plugin '{first.plugin}' and plugin "
                  f"'{item.plugin}'; using the one from '{first.plugin}'")
                continue
            by_name[item.name] = item
        return by_name

    return _cached(pm, "formats", build, warn)


def encoders(pm: pluggy.PluginManager, config: Config | None = None,
             warn: Warn | None = None) -> list[RegisteredEncoder]:
    """Every encoder, highest ``priority`` first (ties: registration order). Duplicates: error."""
    cfg = _config_of(pm, config)

    def build() -> list[RegisteredEncoder]:
        items = collect(pm, "tgx_register_encoders", EncoderSpec, {"config": cfg}, warn=warn,
                        needs_priority=True)
        _unique(items, "encoder")
        return sorted(items, key=lambda r: -r.spec.priority)

    return _cached(pm, ("encoders", id(cfg)), build, warn)


def metrics_sinks(pm: pluggy.PluginManager, config: Config | None = None,
                  warn: Warn | None = None) -> dict[str, RegisteredSink]:
    """Every metrics sink by name (registration order). Duplicates: error."""
    cfg = _config_of(pm, config)

    def build() -> dict[str, RegisteredSink]:
        items = collect(pm, "tgx_register_metrics_sinks", MetricsSinkSpec, {"config": cfg}, warn=warn)
        return _unique(items, "metrics sink")

    return _cached(pm, ("sinks", id(cfg)), build, warn)


def peer_resolvers(pm: pluggy.PluginManager, config: Config | None = None,
                   warn: Warn | None = None) -> list[RegisteredResolver]:
    """Every peer resolver, highest ``priority`` first (ties: registration order). Duplicates: error."""
    cfg = _config_of(pm, config)

    def build() -> list[RegisteredResolver]:
        items = collect(pm, "tgx_register_peer_resolvers", PeerResolverSpec, {"config": cfg}, warn=warn,
                        needs_priority=True)
        _unique(items, "peer resolver")
        return sorted(items, key=lambda r: -r.spec.priority)

    return _cached(pm, ("resolvers", id(cfg)), build, warn)


__all__ = [
    "Registered", "RegisteredEncoder", "RegisteredFormat", "RegisteredResolver", "RegisteredSink",
    "collect", "encoders", "formats", "metrics_sinks", "peer_resolvers",
]
