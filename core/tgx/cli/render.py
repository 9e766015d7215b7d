"""``tgx render``: re-render formats from the archive in OUT/.tgx/, without the network."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pluggy
import typer

from tgx import console
from tgx.cli import AppState, get_state
from tgx.cli.options import (
    option_parameter,
    plugin_option_specs,
    py_name,
    report_parameters,
    split_formats,
    wait_lock_parameter,
)
from tgx.errors import ExitCode, OutputError, UsageError
from tgx.model import Peer

RENDER_HELP = """Render output formats again from an export's archive (no network, no login).

Useful after installing a format plugin, or to change format options: `tgx render OUT --format html`."""


def _is(peer: Peer, value: str | int) -> bool:
    """Whether a parsed CHAT value (a marked id, or a username in any case) names ``peer``."""
    if isinstance(value, int):
        return peer.id == value
    return peer.username is not None and peer.username.lower() == value.lower()


async def render_archive(state: AppState, out: Path, formats: list[str], chats: list[str], options: dict[str, Any],
                         *, quiet: bool = False, wait_lock: float = 0.0) -> int:
    """Render ``formats`` of the archived ``chats`` (default: all) with OUT locked against other
    writers. A coroutine only so that :func:`~tgx.cli.interrupt.run_cli` handles SIGINT/SIGTERM
    (the engine aborts the writer and keeps the files rendered before) and a full disk (exit 7)."""
    from tgx.archive.lock import hold_output_async
    from tgx.archive.store import STATE_DIR, Archive
    from tgx.render.selection import format_options, select_formats
    from tgx.telegram.peers import parse_chat

    if not (out / STATE_DIR / "archive.sqlite").is_file():
        raise OutputError(f"{out} holds no tgx archive ({STATE_DIR}/archive.sqlite)",
                          hint="point at the --out directory of a previous `tgx export`")
    selected = select_formats(state.pm, formats)
    fmt_options = format_options(selected, state.config, options)
    specs = {n: r.spec for n, r in selected.items()}
    failures = 0
    async with hold_output_async(out, "render", wait_s=wait_lock):
        with Archive.open(out) as archive:
            known = archive.chats()
            wanted = known
            if chats:
                wanted = []
                for arg in chats:
                    ref = parse_chat(arg)
                    match = [p for p in known if _is(p, ref.value) and p not in wanted]
                    if not match and not any(_is(p, ref.value) for p in wanted):
                        raise UsageError(f"chat {arg} is not in this archive",
                                         hint="archived chats: " + ", ".join(p.folder_name for p in known))
                    wanted += match
            failures = render_chats(archive, out, wanted, specs, fmt_options, quiet=quiet)
    return ExitCode.FAILURE if failures else ExitCode.OK


def render_chats(archive: Any, out: Path, chats: list[Peer], specs: dict[str, Any], fmt_options: Any, *,
                 quiet: bool = False) -> int:
    """Render ``chats`` of an open archive (OUT locked by the caller) with the selected formats'
    ``specs``: what ``tgx render`` does, and ``tgx import`` after it. Returns the failed formats."""
    from tgx.cli.interrupt import guarded_render
    from tgx.render.engine import render_chat

    render = guarded_render(render_chat)
    failures = 0
    for peer in chats:
        result = render(archive, peer.id, out, specs, fmt_options)
        for name, error in result.errors.items():
            failures += 1
            console.error(f"{peer.folder_name}: format '{name}' failed: {error}")
        done = [name for name in specs if name not in result.errors]
        if done and not quiet:
            console.info(f"{peer.title}: rendered {', '.join(done)} into {out / peer.folder_name}")
    return failures


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    plugin_opts = plugin_option_specs(pm, sinks=False)  # render runs no metrics sink

    def render(ctx: typer.Context, **values: Any) -> None:
        state = get_state(ctx)
        options = {o.name: values[py_name(o.name)] for o in plugin_opts}
        from tgx.cli.interrupt import run_cli

        code = run_cli(render_archive(state, values["out"], split_formats(values["format"]), values["chat"] or [],
                                      options, quiet=values["quiet"], wait_lock=values["wait_lock"]))
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
        wait_lock_parameter(),
        *report_parameters(quiet_help="Print only errors.", json_help=None),
        *(option_parameter(o) for o in plugin_opts),
    ])
    app.command("render", help=RENDER_HELP)(render)


__all__ = ["register", "render_archive", "render_chats"]
