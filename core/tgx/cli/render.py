"""``tgx render``: re-render formats from the archive in OUT/.tgx/, without the network."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pluggy
import typer

from tgx import console
from tgx.archive.store import Archive
from tgx.cli import get_state
from tgx.cli.export import _py_name, option_parameter, plugin_option_specs, split_formats
from tgx.errors import ExitCode, OutputError, UsageError
from tgx.export.conductor import STATE_DIR, format_options, select_formats
from tgx.telegram.peers import parse_chat

RENDER_HELP = """Render output formats again from an export's archive (no network, no login).

Useful after installing a format plugin, or to change format options: `tgx render OUT --format html`."""


def _is(peer: Any, value: str | int) -> bool:
    """Whether a parsed CHAT value (a marked id, or a username in any case) names ``peer``."""
    if isinstance(value, int):
        return peer.id == value
    return bool(peer.username) and peer.username.lower() == value.lower()


def render_archive(state: Any, out: Path, formats: list[str], chats: list[str], options: dict[str, Any]) -> int:
    from tgx.render.engine import render_chat

    if not (out / STATE_DIR / "archive.sqlite").is_file():
        raise OutputError(f"{out} holds no tgx archive ({STATE_DIR}/archive.sqlite)",
                          hint="point at the --out directory of a previous `tgx export`")
    selected = select_formats(state.pm, formats)
    fmt_options = format_options(selected, state.config, options)
    failures = 0
    with Archive.open(out) as archive:
        known = archive.chats()
        wanted = known
        if chats:
            wanted = []
            for arg in chats:
                ref = parse_chat(arg)
                match = [p for p in known if _is(p, ref.value)]
                if not match:
                    raise UsageError(f"chat {arg} is not in this archive",
                                     hint="archived chats: " + ", ".join(p.folder_name for p in known))
                wanted += match
        for peer in wanted:
            result = render_chat(archive, peer.id, out, {n: r.spec for n, r in selected.items()}, fmt_options)
            for name, error in result.errors.items():
                failures += 1
                console.error(f"{peer.folder_name}: format '{name}' failed: {error}")
            console.info(f"{peer.title}: rendered {', '.join(selected)} into {out / peer.folder_name}")
    return ExitCode.FAILURE if failures else ExitCode.OK


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    plugin_opts = plugin_option_specs(pm)

    def render(ctx: typer.Context, **values: Any) -> None:
        state = get_state(ctx)
        options = {o.name: values[_py_name(o.name)] for o in plugin_opts}
        code = render_archive(state, values["out"], split_formats(values["format"]), values["chat"] or [], options)
        if code != ExitCode.OK:
            raise typer.Exit(code)

    P = inspect.Parameter
    render.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        P("ctx", P.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        P("out", P.POSITIONAL_OR_KEYWORD, annotation=Path, default=typer.Argument(
            ..., metavar="OUT", help="The output directory of an earlier export.")),
        P("format", P.KEYWORD_ONLY, annotation=list[str], default=typer.Option(
            ..., "--format", "-f", metavar="FORMATS", help="Formats to render, comma-separated or repeated.")),
        P("chat", P.KEYWORD_ONLY, annotation=list[str] | None, default=typer.Option(
            None, "--chat", metavar="CHAT", help="Only this chat (repeatable); default: every chat.")),
        *(option_parameter(o) for o in plugin_opts),
    ])
    app.command("render", help=RENDER_HELP)(render)


__all__ = ["register", "render_archive"]
