"""``tgx demo``: the whole pipeline on the simulated Telegram — no account, no network."""

from __future__ import annotations

from pathlib import Path

import pluggy
import typer

from tgx import console
from tgx.cli import get_state, run_async
from tgx.cli.export import export_with_client
from tgx.cli.options import verbose_option
from tgx.errors import ExitCode, PluginError
from tgx.host import registry

DEMO_CHAT = "@tgx_demo"


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    @app.command("demo")
    def demo(
        ctx: typer.Context,
        out: Path = typer.Option(Path("tgx-demo"), "--out", "-o", metavar="DIR",
                                 help="Where to write the demo export."),
        messages: int = typer.Option(2000, "--messages", "-n", min=1, max=10_000_000, metavar="N",
                                     help="Messages in the simulated channel."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
        verbose: int = verbose_option(),
    ) -> None:
        """Export a simulated channel with every built-in format, to see what tgx produces.

        Runs the real Telethon client against tgx's simulated Telegram (no account needed).
        """
        state = get_state(ctx)
        if "simulated" not in dict(state.pm.list_name_plugin()) or state.pm.is_blocked("simulated"):
            raise PluginError("the demo needs the built-in 'simulated' plugin, which is disabled",
                              hint="`tgx plugins enable simulated`")
        scenario = dict(state.config.tables.get("simulated", {}))
        scenario["messages"] = messages
        state.config.tables["simulated"] = scenario
        formats = sorted(registry.formats(state.pm))
        from tgx.export.conductor import ExportRequest
        from tgx.media import MediaOptions

        media = MediaOptions.from_cli(media="all", max_size=None, parallel_files=4, transcode="never",
                                      encoder=None, crf=None, replace_originals=False)
        req = ExportRequest(chats=[DEMO_CHAT], out=out, formats=formats, quiet=quiet, command="demo", media=media)
        code = run_async(export_with_client(state, req, json_output=False))
        console.info(f"demo export written to {out.resolve()} (formats: {', '.join(formats)})")
        if code != ExitCode.OK:
            raise typer.Exit(code)


__all__ = ["register", "DEMO_CHAT"]
