"""``tgx plugins``: list plugins; ``tgx plugins disable/enable NAME``: persist the choice.

Enable/disable edit ``[plugins] disable`` in the config file (``config.path``: ``--config``,
``$TGX_CONFIG``, ``./tgx.toml`` or the user config dir), created with its parent directories
if missing, with tomlkit so the user's comments and layout survive.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy
import typer

from tgx import console
from tgx.cli import get_state
from tgx.cli.table import print_table
from tgx.config import Config, default_config_path
from tgx.errors import ConfigError, PluginError, TgxError
from tgx.fsutil import write_atomic
from tgx.host import registry
from tgx.host.manager import PluginInfo, check_plugin_name, known_plugin_names, plugin_infos

if TYPE_CHECKING:
    import tomlkit

HELP = """List plugins — built-in and installed — with their version, source, hooks and state.

Disable one for every run with `tgx plugins disable NAME`, for one run with `tgx -p no:NAME ...`
(or TGX_DISABLE_PLUGINS=a,b). See docs/plugins.md to write your own."""


def _state_word(info: PluginInfo) -> str:
    if info.error:
        return "error"
    if info.enabled and info.problems:
        return "yes, failing"
    return "yes" if info.enabled else "no"


def _call_registration_hooks(pm: pluggy.PluginManager) -> None:
    """Ask every ``tgx_register_*`` hook once, so that one that raises (or returns something
    invalid) shows in the list, not only as a warning during some later export."""
    for collect in (registry.formats, registry.encoders, registry.metrics_sinks, registry.peer_resolvers):
        try:
            collect(pm)
        except TgxError as exc:  # duplicate names and the like: said, and the list still shows
            console.warn(exc.message)


def _config_file(config: Config) -> Path:
    return config.path or default_config_path(config.env)


def _load_doc(path: Path) -> tomlkit.TOMLDocument:
    import tomlkit

    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except Exception as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}", hint="fix the file or pass --config") from None


def _disable_array(doc: tomlkit.TOMLDocument, path: Path, *, create: bool) -> tomlkit.items.Array | None:
    import tomlkit

    table = doc.get("plugins")
    if table is None:
        if not create:
            return None
        table = tomlkit.table()
        doc["plugins"] = table
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [plugins] must be a table")
    array = table.get("disable")
    if array is None:
        if not create:
            return None
        array = tomlkit.array()
        table["disable"] = array
    if not isinstance(array, tomlkit.items.Array):
        raise ConfigError(f"{path}: plugins.disable must be a list of plugin names")
    return array


def _write_atomically(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600  # it may hold the API hash
    try:
        write_atomic(path, text, mode=mode)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write config: {exc.strerror or exc}") from None


def set_disabled(path: Path, name: str, disabled: bool) -> bool:
    """Add ``name`` to (or remove it from) ``[plugins] disable`` in ``path``; True if it changed."""
    doc = _load_doc(path)
    array = _disable_array(doc, path, create=disabled)
    names = [str(item) for item in array] if array is not None else []
    if disabled == (name in names):
        return False
    if disabled:
        array.append(name)  # type: ignore[union-attr]
    else:
        for index in reversed(range(len(names))):
            if names[index] == name:
                del array[index]  # type: ignore[union-attr]
    import tomlkit

    _write_atomically(path, tomlkit.dumps(doc))
    return True


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    plugins_app = typer.Typer(help=HELP, no_args_is_help=False, rich_markup_mode="rich")

    @plugins_app.callback(invoke_without_command=True)
    def plugins(
        ctx: typer.Context,
        json_output: bool = typer.Option(False, "--json", help="Print the list as JSON on stdout."),
    ) -> None:
        if ctx.invoked_subcommand is not None:
            return
        pm = get_state(ctx).pm
        _call_registration_hooks(pm)
        infos = plugin_infos(pm)
        if json_output:
            console.print_json([info.to_dict() for info in infos])
            return
        # Plain-text cells (print_table): a note quoting "[plugins] disable" is not rich markup.
        print_table(["name", "version", "source", "enabled", "hooks", "note"], [
            (info.name, info.version, info.source, _state_word(info),
             ", ".join(h.removeprefix("tgx_") for h in info.hooks),
             "; ".join(filter(None, [info.error or info.note, *info.problems])))
            for info in infos])

    @plugins_app.command("disable")
    def disable(
        ctx: typer.Context,
        name: str = typer.Argument(..., metavar="NAME", help="The plugin's name, as `tgx plugins` shows it."),
    ) -> None:
        """Disable plugin NAME in the config file (all later runs)."""
        state = get_state(ctx)
        check_plugin_name(state.pm, name)
        path = _config_file(state.config)
        if set_disabled(path, name, True):
            console.info(f"disabled plugin '{name}' in {path}")
        else:
            console.info(f"plugin '{name}' is already disabled in {path}")

    @plugins_app.command("enable")
    def enable(
        ctx: typer.Context,
        name: str = typer.Argument(..., metavar="NAME", help="The plugin's name, as `tgx plugins` shows it."),
    ) -> None:
        """Enable plugin NAME again (removes it from \\[plugins] disable in the config file)."""
        state = get_state(ctx)
        path = _config_file(state.config)
        listed = name in (state.config.disable or [])
        try:
            check_plugin_name(state.pm, name)
        except PluginError:
            if not listed:  # an uninstalled plugin may still be cleaned out of the file
                raise
        if set_disabled(path, name, False):
            console.info(f"enabled plugin '{name}' (removed from [plugins] disable in {path})")
        else:
            console.info(f"plugin '{name}' is not disabled in {path}")
        env_names = {n.strip() for n in state.config.env.get("TGX_DISABLE_PLUGINS", "").split(",")}
        if name in env_names:
            console.warn(f"plugin '{name}' is still disabled by TGX_DISABLE_PLUGINS in the environment")

    app.add_typer(plugins_app, name="plugins", help=HELP)


__all__ = ["known_plugin_names", "register", "set_disabled"]
