"""Which formats a command renders, and with which options: the names on the command line
checked against the registered formats, each with its option values. Shared by ``tgx export``
and ``tgx render`` (which must not import the fetching engine, and with it Telethon, to start)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

from tgx.config import Config
from tgx.errors import UsageError
from tgx.host import registry
from tgx.host.manager import disabled_format_providers


def select_formats(pm: pluggy.PluginManager, names: Sequence[str]) -> dict[str, registry.RegisteredFormat]:
    """The registered formats named on the command line; an unknown name is a usage error (one
    that names the disabled plugin providing it, when there is one)."""
    available = registry.formats(pm)
    wanted: dict[str, registry.RegisteredFormat] = {}
    for name in names:
        if name not in available:
            known = ", ".join(sorted(available)) or "none (all format plugins are disabled)"
            provider = disabled_format_providers(pm).get(name)
            if provider is not None:
                why = f" ({provider.note})" if provider.note else ""
                raise UsageError(f"format '{name}' is provided by plugin '{provider.name}', which is not "
                                 f"enabled{why}", hint=f"`tgx plugins enable {provider.name}`, or "
                                 f"`tgx -p {provider.name} ...` for one run")
            raise UsageError(f"unknown format '{name}'", hint=f"available formats: {known} (see `tgx formats`)")
        wanted[name] = available[name]
    if not wanted:
        raise UsageError("no output format given", hint="pass --format, e.g. --format jsonl")
    return wanted


def format_options(selected: Mapping[str, registry.RegisteredFormat], config: Config,
                   cli: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each selected format's options (flag, else its plugin's tgx.toml table, else default)."""
    return {name: registry.option_values(item.plugin, item.spec, config, cli) for name, item in selected.items()}


__all__ = ["format_options", "select_formats"]
