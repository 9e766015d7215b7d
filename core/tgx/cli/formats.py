"""``tgx formats``: the output formats ``--format`` accepts, and the plugin providing each."""

from __future__ import annotations

from typing import Any

import pluggy
import typer

from tgx import console
from tgx.cli import get_state
from tgx.cli.table import print_table
from tgx.host import registry


def _option_dict(option: Any) -> dict[str, Any]:
    return {"name": option.name, "help": option.help, "default": option.default,
            "type": getattr(option.type, "__name__", str(option.type)),
            "choices": list(option.choices) if option.choices else None}


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    @app.command("formats")
    def formats(
        ctx: typer.Context,
        json_output: bool = typer.Option(False, "--json", help="Print the list as JSON on stdout."),
    ) -> None:
        """List the output formats (for `tgx export --format`) and the plugin providing each."""
        found = registry.formats(get_state(ctx).pm)
        if json_output:
            console.print_json([
                {"name": name, "plugin": item.plugin, "description": item.spec.description,
                 "options": [_option_dict(o) for o in item.spec.options]}
                for name, item in sorted(found.items())
            ])
            return
        if not found:
            console.warn("no output formats are available (format plugins disabled? see `tgx plugins`)")
            return
        print_table(["format", "plugin", "description", "options"], [
            (name, item.plugin, item.spec.description, " ".join(f"--{o.name}" for o in item.spec.options))
            for name, item in sorted(found.items())])


__all__ = ["register"]
