"""``tgx export``: the main job. Plugins' options (``FormatSpec.options``,
``MetricsSinkSpec.options``) become flags of this command, so a format plugin can add
``--markdown-split`` without the core knowing it.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pluggy
import typer

from .. import console, registry
from ..errors import ExitCode, UsageError
from ..export import ExportRequest, run_export
from ..fetch import FetchOptions
from ..progress import ExportProgress
from ..specs import OptionSpec
from . import AppState, get_state, run_async

EXPORT_HELP = """Export the history of one or more chats into OUT/<chat>/.

CHAT is @username, username, https://t.me/username, https://t.me/c/ID/MSG, a numeric id, or me.
Rerunning the same command resumes an interrupted export and then fetches only what is new."""


def parse_date(value: str | None, flag: str) -> datetime | None:
    """YYYY-MM-DD or full ISO 8601; naive values are UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{flag} {value!r} is not a date (use YYYY-MM-DD or ISO 8601)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def split_formats(values: list[str]) -> list[str]:
    names: list[str] = []
    for value in values:
        names += [v.strip() for v in value.split(",") if v.strip()]
    return list(dict.fromkeys(names))


def plugin_option_specs(pm: pluggy.PluginManager) -> list[OptionSpec]:
    """Every option a format or sink plugin adds, once each (first registration wins)."""
    seen: dict[str, OptionSpec] = {}
    specs = [item.spec for item in registry.formats(pm).values()]
    specs += [item.spec for item in registry.metrics_sinks(pm).values()]
    for spec in specs:
        for opt in spec.options:
            seen.setdefault(opt.name, opt)
    return list(seen.values())


def option_parameter(opt: OptionSpec) -> inspect.Parameter:
    kwargs: dict[str, Any] = {"help": opt.help, "show_default": opt.default is not None}
    annotation: Any = Literal[opt.choices] if opt.choices else opt.type
    if opt.default is None and opt.type is not bool:
        annotation = annotation | None
    default = typer.Option(opt.default, f"--{opt.name}", **kwargs)
    return inspect.Parameter(_py_name(opt.name), inspect.Parameter.KEYWORD_ONLY,
                             default=default, annotation=annotation)


def _py_name(flag: str) -> str:
    return "opt_" + flag.replace("-", "_")


def export_request_from_cli(state: AppState, values: dict[str, Any], plugin_opts: list[OptionSpec]) -> ExportRequest:
    defaults = state.config.export
    formats = split_formats(values["format"] or [defaults.get("format", "jsonl")])
    if values["limit"] is not None and values["limit"] < 1:
        raise UsageError("--limit must be at least 1")
    fetch = FetchOptions(
        since=parse_date(values["since"], "--since"),
        until=parse_date(values["until"], "--until"),
        limit=values["limit"],
        concurrency=values["concurrency"],
    )
    if fetch.since and fetch.until and fetch.since > fetch.until:
        raise UsageError("--since is after --until")
    from ..media import MediaOptions

    def pick(name: str, default: Any) -> Any:
        """The flag when given, else tgx.toml's [export] key, else the built-in default."""
        return values[name] if values[name] is not None else defaults.get(name, default)

    media = MediaOptions.from_cli(
        media=pick("media", "none"), max_size=pick("max_size", None),
        parallel_files=pick("parallel_files", 4), transcode=pick("transcode", "never"),
        encoder=pick("encoder", None), crf=pick("crf", None), replace_originals=values["replace_originals"])
    return ExportRequest(
        media=media,
        chats=values["chats"],
        out=Path(values["out"] or defaults.get("out", "tgx-export")),
        formats=formats,
        fetch=fetch,
        plugin_options={o.name: values[_py_name(o.name)] for o in plugin_opts},
        max_flood_wait=float(pick("max_flood_wait", 900.0)),
        metrics_interval=float(pick("metrics_interval", 5.0)),
        quiet=values["quiet"],
    )


async def export_with_client(state: AppState, req: ExportRequest, *, json_output: bool) -> int:
    from ..render import render_chat
    from ..summary import render_summary

    with ExportProgress(quiet=req.quiet or json_output) as progress:
        async with state.connected_client() as client:
            outcome = await run_export(state.pm, state.config, req, client, progress, render=render_chat)
    for line in outcome.render_errors:
        console.error(line)
    if json_output:
        console.print_json({
            "out": str(req.out),
            "chats": [{"id": o.peer.id, "title": o.peer.title, "folder": str(o.folder),
                       "fetched": o.fetch.fetched, "complete": o.fetch.complete,
                       "server_count": o.fetch.server_count} for o in outcome.chats],
            "media": outcome.media.as_dict() if outcome.media is not None else None,
            "exit_code": outcome.exit_code,
            "metrics": outcome.outputs,
        })
    elif not req.quiet:
        render_summary(outcome.report, outputs=outcome.outputs)
        for o in outcome.chats:
            console.info(f"{o.peer.title}: {o.folder}")
    return outcome.exit_code


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    plugin_opts = plugin_option_specs(pm)

    def export(ctx: typer.Context, **values: Any) -> None:
        state = get_state(ctx)
        req = export_request_from_cli(state, values, plugin_opts)
        code = run_async(export_with_client(state, req, json_output=values["json_output"]))
        if code != ExitCode.OK:
            raise typer.Exit(code)

    P = inspect.Parameter
    params = [
        P("ctx", P.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        P("chats", P.POSITIONAL_OR_KEYWORD, annotation=list[str],
          default=typer.Argument(..., metavar="CHAT...", help="Chats to export (see above).")),
        P("out", P.KEYWORD_ONLY, annotation=Path | None, default=typer.Option(
            None, "--out", "-o",
            help="Output directory (default: out in tgx.toml's export table, else ./tgx-export).")),
        P("format", P.KEYWORD_ONLY, annotation=list[str] | None, default=typer.Option(
            None, "--format", "-f", metavar="FORMATS",
            help="Output formats, comma-separated or repeated (see `tgx formats`). Default: jsonl.")),
        P("since", P.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--since", metavar="DATE", help="Only messages from DATE on (YYYY-MM-DD or ISO 8601, UTC).")),
        P("until", P.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--until", metavar="DATE", help="Only messages up to DATE.")),
        P("limit", P.KEYWORD_ONLY, annotation=int | None, default=typer.Option(
            None, "--limit", metavar="N", help="At most the N newest messages (per chat) this run.")),
        P("concurrency", P.KEYWORD_ONLY, annotation=int, default=typer.Option(
            4, "--concurrency", min=1, max=32, help="History windows in flight at once per chat.")),
        P("media", P.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--media", metavar="KINDS", help="Media to download: all, none, or a comma list of photo, "
            "video, voice, audio, document, sticker, animation, round. Default: none.")),
        P("max_size", P.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--max-size", metavar="SIZE", help="Skip media files larger than SIZE (e.g. 50MB, 2GiB).")),
        P("parallel_files", P.KEYWORD_ONLY, annotation=int | None, default=typer.Option(
            None, "--parallel-files", min=1, max=32, help="Media files downloaded at once (default 4).")),
        P("transcode", P.KEYWORD_ONLY, annotation=Literal["never", "incompatible", "always"] | None,
          default=typer.Option(None, "--transcode",
            help="Re-encode videos: never (default); incompatible (not playable inline by Telegram clients); always.")),
        P("encoder", P.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--encoder", metavar="NAME", help="Pin a video encoder (see `tgx encoders`).")),
        P("crf", P.KEYWORD_ONLY, annotation=int | None, default=typer.Option(
            None, "--crf", min=0, max=51, help="Quality for re-encoding (lower is better; default 23).")),
        P("replace_originals", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, "--replace-originals", help="Delete an original video once its re-encode is verified.")),
        P("max_flood_wait", P.KEYWORD_ONLY, annotation=float | None, default=typer.Option(
            None, "--max-flood-wait", metavar="SECONDS",
            help="Wait out Telegram rate limits up to this long (default 900); beyond it, stop (resumable).")),
        P("metrics_interval", P.KEYWORD_ONLY, annotation=float | None, default=typer.Option(
            None, "--metrics-interval", metavar="SECONDS", help="Seconds between metrics snapshots (default 5).")),
        P("quiet", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, "--quiet", "-q", help="No progress display and no summary.")),
        P("json_output", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, "--json", help="Print a machine-readable result on stdout.")),
        *(option_parameter(o) for o in plugin_opts),
    ]
    export.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    export.__doc__ = EXPORT_HELP
    app.command("export", help=EXPORT_HELP)(export)


__all__ = ["register", "export_with_client", "parse_date", "split_formats"]
