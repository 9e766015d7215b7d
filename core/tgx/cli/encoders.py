"""``tgx encoders [--json]``: every registered video encoder, whether it works here, and why not.

Each encoder is probed exactly as ``tgx export --transcode`` would (for ``vaapi`` that is a
one-frame test encode on the GPU), so "available" here means "will be used". The first
available one, in priority order, is marked as the one ``--transcode`` picks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy
import typer
from rich.table import Table
from rich.text import Text

from tgx import console
from tgx.config import Config
from tgx.errors import TgxError
from tgx.ffmpeg import FfmpegInfo, find_ffmpeg

if TYPE_CHECKING:
    from tgx.media.encoders import EncoderStatus


def collect(pm: pluggy.PluginManager, config: Config) -> dict[str, Any]:
    """What the command shows, as plain data (the ``--json`` document)."""
    ffmpeg: FfmpegInfo | None = None
    ffmpeg_error: str | None = None
    try:
        ffmpeg = find_ffmpeg(config.env)
    except TgxError as exc:  # TGX_FFMPEG set but broken
        ffmpeg_error = exc.message
    if ffmpeg is None and ffmpeg_error is None:
        ffmpeg_error = "ffmpeg not found"
    from tgx.media.encoders import EncoderChain

    statuses: list[EncoderStatus] = EncoderChain.from_plugins(pm, config).statuses()
    selected = next((s.name for s in statuses if s.available), None)
    return {
        "ffmpeg": None if ffmpeg is None else {"path": ffmpeg.path, "version": ffmpeg.version,
                                               "source": ffmpeg.source},
        "ffmpeg_error": ffmpeg_error,
        "selected": selected,
        "encoders": [
            {**s.as_dict(), "selected": s.name == selected,
             "ffmpeg": ffmpeg.path if ffmpeg is not None else None}
            for s in statuses
        ],
    }


def _print_table(data: dict[str, Any]) -> None:
    out = console.stdout()
    ff = data["ffmpeg"]
    if ff:
        out.print(Text(f"ffmpeg: {ff['path']} (version {ff['version']}, found via {ff['source']})"),
                  soft_wrap=True)
    else:
        out.print(Text(f"ffmpeg: none ({data['ffmpeg_error']})"))
    table = Table(show_edge=False, pad_edge=False)
    for col in ("", "encoder", "plugin", "priority", "available", "reason / description"):
        table.add_column(col, justify="right" if col == "priority" else "left",
                         overflow="fold", no_wrap=not col.startswith("reason"))
    for row in data["encoders"]:
        table.add_row("*" if row["selected"] else "", Text(row["name"]), Text(row["plugin"] or "-"),
                      str(row["priority"]), "yes" if row["available"] else "no",
                      Text(row["reason"] or row["description"] or ""))
    out.print(table)
    if data["selected"]:
        out.print(Text(f"--transcode uses '{data['selected']}' (falls back to the next available one)"))
    elif data["encoders"]:
        out.print(Text("no encoder is available: --transcode keeps originals (see the reasons above)"))
    else:
        out.print(Text("no encoder is registered: enable the cpu or vaapi plugin (`tgx plugins`)"))


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    @app.command("encoders")
    def encoders(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print a JSON document instead of a table."),
    ) -> None:
        """List video encoders for --transcode: priority, availability, and why one is unavailable."""
        from tgx.cli import get_state

        state = get_state(ctx)
        data = collect(state.pm, state.config)
        if as_json:
            console.print_json(data)
        else:
            _print_table(data)
