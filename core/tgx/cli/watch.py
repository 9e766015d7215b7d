"""``tgx watch CHAT... --out DIR``: export, then stay connected and keep archive and files current.

Every ``tgx export`` flag that makes sense for a live archive applies (formats, media, comments,
``--all-dialogs``); ``--until``, ``--limit``, ``--topic`` and takeout do not (a watch has no end,
and a takeout session is for one pass).
"""

from __future__ import annotations

import inspect
import sys
from typing import TYPE_CHECKING, Any

import pluggy
import typer

from tgx import console
from tgx.cli import AppState, get_state
from tgx.cli.export import connected_clients, export_parameters, export_request_from_cli
from tgx.cli.options import plugin_option_specs
from tgx.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from tgx.export.conductor import ExportRequest

WATCH_HELP = (
    "Export the chats, then stay connected: new, edited and deleted messages reach the archive within a "
    "second, the files every --render-interval seconds (only what changed).\n\n"
    "Starts like `tgx export` (resuming, then catching up on what changed since the last run). Ctrl-C or "
    "SIGTERM finishes the commit under way, refreshes the files and exits 0. Restarted, it continues from the "
    "archive's position: nothing missed, nothing doubled.")

NOT_FOR_WATCH = frozenset({"until", "limit", "topic", "takeout", "takeout_fallback", "refresh_edits"})


async def watch_with_client(state: AppState, req: ExportRequest, *, render_interval: float, poll: float,
                            json_output: bool) -> int:
    import orjson

    from tgx.cli.interrupt import guarded_render
    from tgx.export.conductor import ExportRun, run_export
    from tgx.metrics.progress import ExportProgress
    from tgx.render.engine import render_chat
    from tgx.sync.changes import Change
    from tgx.watch.loop import Watcher, WatchOptions, refresh_function, watch_all

    def event(change: Change) -> None:
        sys.stdout.write(orjson.dumps(change.to_dict()).decode() + "\n")
        sys.stdout.flush()

    with ExportProgress(quiet=req.quiet or json_output) as progress:
        status = None if (req.quiet or json_output) else (lambda line: console.info(f"tgx: {line}"))

        async def then(export: ExportRun) -> None:
            options = WatchOptions(render_interval=render_interval, poll_seconds=poll,
                                   on_change=event if json_output else None, status=status)
            progress.finish()  # the export's bars are done: the watch prints status lines
            refresh = guarded_render(refresh_function())
            # several accounts: one watcher each, on the chats it exported, through its own client
            watchers = ([Watcher(export, options, refresh=refresh, account=a) for a in export.accounts]
                        or [Watcher(export, options, refresh=refresh)])
            await watch_all(watchers)

        async with connected_clients(state, req) as (client, clients):
            outcome = await run_export(state.pm, state.config, req, client, progress,
                                       render=guarded_render(render_chat), then=then, clients=clients)
    for line in outcome.render_errors:
        console.error(line)
    return outcome.exit_code


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    plugin_opts = plugin_option_specs(pm)

    def watch(ctx: typer.Context, **values: Any) -> None:
        state = get_state(ctx)
        from tgx.fetch.workers import prestart

        render_interval, poll = values.pop("render_interval"), values.pop("poll")
        if render_interval <= 0 or poll <= 0:
            raise UsageError("--render-interval and --poll must be positive (seconds)")
        values.update({name: None for name in ("until", "limit", "refresh_edits")})
        values.update({"topic": None, "takeout": False, "takeout_fallback": False})
        with prestart(values["decode_workers"]) as spares:
            req = export_request_from_cli(state, values, plugin_opts, spares=spares)
            req.command = "watch"
            from tgx.cli.interrupt import run_cli

            code = run_cli(watch_with_client(state, req, render_interval=render_interval, poll=poll,
                                             json_output=values["json_output"]))
        if code != ExitCode.OK:
            raise typer.Exit(code)

    P = inspect.Parameter
    params = export_parameters(plugin_opts, leave_out=NOT_FOR_WATCH)
    extra = [
        P("render_interval", P.KEYWORD_ONLY, annotation=float, default=typer.Option(
            30.0, "--render-interval", metavar="SECONDS",
            help="Refresh the rendered files at most this often (default 30); the archive is always current.")),
        P("poll", P.KEYWORD_ONLY, annotation=float, default=typer.Option(
            60.0, "--poll", metavar="SECONDS",
            help="Ask Telegram what changed at least this often, pushed updates or not (default 60).")),
    ]
    at = next(i for i, p in enumerate(params) if p.name == "json_output")
    params[at:at] = extra
    for i, p in enumerate(params):
        if p.name == "json_output":
            params[i] = p.replace(default=typer.Option(
                False, "--json", help="Print one JSON line per applied change on stdout: kind (new, edit, "
                                      "delete), chat, id, date."))
    watch.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    watch.__doc__ = WATCH_HELP
    app.command("watch", help=WATCH_HELP)(watch)


__all__ = ["register", "watch_with_client"]
