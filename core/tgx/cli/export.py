"""``tgx export``: the main job. Plugins' options (``FormatSpec.options``,
``MetricsSinkSpec.options``) become flags of this command, so a format plugin can add
``--markdown-split`` without the core knowing it.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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
from tgx.errors import ConfigError, ExitCode, UsageError
from tgx.specs import OptionSpec

if TYPE_CHECKING:  # the engine is imported when the command runs, not to build `tgx --help`
    from tgx.export.conductor import ExportRequest
    from tgx.fetch.workers import Spares

EXPORT_HELP = """Export the history of one or more chats (--all-dialogs: of every chat) into OUT/<chat>/.

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


def export_request_from_cli(state: AppState, values: dict[str, Any], plugin_opts: list[OptionSpec],
                            spares: Spares | None = None) -> ExportRequest:
    from tgx.export.conductor import ExportRequest
    from tgx.fetch.history import FetchOptions

    defaults = state.config.export
    formats = split_formats(values["format"] or [defaults.get("format", "jsonl")])
    if values["limit"] is not None and values["limit"] < 1:
        raise UsageError("--limit must be at least 1")
    fetch = FetchOptions(
        since=parse_date(values["since"], "--since"),
        until=parse_date(values["until"], "--until"),
        limit=values["limit"],
        concurrency=values["concurrency"],
        decode_workers=values["decode_workers"],
    )
    if fetch.since and fetch.until and fetch.since > fetch.until:
        raise UsageError("--since is after --until")
    from tgx.telegram.dialogs import parse_dialog_types

    dialog_types = parse_dialog_types(values["dialog_type"] or [])
    if dialog_types and not values["all_dialogs"]:
        raise UsageError("--dialog-type only applies with --all-dialogs")
    if not values["chats"] and not values["all_dialogs"]:
        raise UsageError("no CHAT to export", hint="name chats (see `tgx chats`) or pass --all-dialogs")
    from tgx.media import MediaOptions
    from tgx.media.options import parse_kinds, parse_size

    def pick(name: str, default: Any) -> Any:
        """The flag when given, else tgx.toml's [export] key, else the built-in default."""
        return values[name] if values[name] is not None else defaults.get(name, default)

    # A value from tgx.toml that is well-typed but wrong is the file's error, not a flag's.
    for key, parse in (("media", parse_kinds), ("max_size", parse_size)):
        if values[key] is None and defaults.get(key) is not None:
            try:
                parse(defaults[key], flag=f"{state.config.path}: export.{key}")
            except UsageError as exc:
                raise ConfigError(exc.message) from None

    media = MediaOptions.from_cli(
        media=pick("media", "none"), max_size=pick("max_size", None),
        parallel_files=pick("parallel_files", 4), transcode=pick("transcode", "never"),
        encoder=pick("encoder", None), crf=pick("crf", None), replace_originals=values["replace_originals"])
    return ExportRequest(
        media=media,
        chats=values["chats"] or [],
        all_dialogs=values["all_dialogs"],
        dialog_types=sorted(dialog_types),
        out=_out_dir(values["out"], defaults),
        formats=formats,
        fetch=fetch,
        plugin_options={o.name: values[py_name(o.name)] for o in plugin_opts},
        max_flood_wait=float(pick("max_flood_wait", 900.0)),
        metrics_interval=float(pick("metrics_interval", 5.0)),
        quiet=values["quiet"],
        max_reconnects=values["max_reconnects"],
        takeout=values["takeout"] or values["takeout_fallback"],
        takeout_fallback=values["takeout_fallback"],
        refresh_edits=values["refresh_edits"],
        refetch_imported=bool(values.get("refetch_imported") if values.get("refetch_imported") is not None
                              else defaults.get("refetch_imported", False)),
        comments=bool(pick("comments", False)),
        topics=values["topic"] or (),
        wait_lock=values["wait_lock"],
        spares=spares,
        accounts=accounts_of_run(state, values),
    )


def accounts_of_run(state: AppState, values: dict[str, Any]) -> list[str]:
    """``--accounts a,b`` or ``--account NAME``, else tgx.toml's ``[accounts] use``; empty: the
    default account alone (what tgx did before accounts existed)."""
    from tgx.cli.accounts import account_names

    several = account_names(values.get("accounts"))
    one = account_names(values.get("account"), "--account")
    if several and one:
        raise UsageError("--account and --accounts together", hint="name every account in --accounts a,b")
    if len(one) > 1:
        raise UsageError("--account takes one name", hint="several accounts: --accounts a,b")
    return several or one or list(state.config.accounts_use)


@contextlib.asynccontextmanager
async def connected_clients(state: AppState, req: ExportRequest) -> AsyncIterator[tuple[Any, dict[str, Any] | None]]:
    """``(client, clients)``: the first account's connected client, and with several accounts
    every one's by name (each connected and logged in before anything is exported)."""
    names = list(req.accounts)
    if len(names) <= 1:
        async with state.connected_client(account=names[0] if names else None) as client:
            yield client, None
        return
    async with contextlib.AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(state.connected_client(account=name)) for name in names}
        yield clients[names[0]], clients


def _out_dir(flag: str | None, defaults: dict[str, Any]) -> Path:
    """``--out``, else tgx.toml's ``[export] out``, else ./tgx-export; an empty value is an error
    (``--out ''`` from an unset shell variable must not export into the current directory)."""
    if flag is not None:
        if not flag.strip():
            raise UsageError("--out is empty", hint="name the output directory, e.g. --out ./export")
        return Path(flag)
    return Path(defaults.get("out", "tgx-export"))


async def export_with_client(state: AppState, req: ExportRequest, *, json_output: bool) -> int:
    from tgx.cli.interrupt import guarded_render
    from tgx.cli.summary import render_summary
    from tgx.export.conductor import run_export
    from tgx.metrics.progress import ExportProgress
    from tgx.render.engine import render_chat

    with ExportProgress(quiet=req.quiet or json_output) as progress:
        async with connected_clients(state, req) as (client, clients):
            outcome = await run_export(state.pm, state.config, req, client, progress,
                                       render=guarded_render(render_chat), clients=clients)
    for line in outcome.render_errors:
        console.error(line)
    if json_output:
        console.print_json({
            "out": str(req.out),
            "chats": [{"id": o.peer.id, "title": o.peer.title, "folder": str(o.folder),
                       "fetched": o.fetch.fetched, "complete": o.fetch.complete,
                       "server_count": o.fetch.server_count, "discussion_of": o.discussion_of,
                       **({"account": outcome.exported_by[o.peer.id]} if o.peer.id in outcome.exported_by else {})}
                      for o in outcome.chats],
            "accounts": outcome.report.get("accounts"),
            "media": outcome.media.as_dict() if outcome.media is not None else None,
            "exit_code": outcome.exit_code,
            "metrics": outcome.outputs,
        })
    elif not req.quiet:
        render_summary(outcome.report, outputs=outcome.outputs)
        for o in outcome.chats:
            console.info(f"{o.peer.title}: {o.folder}")
    return outcome.exit_code


def export_parameters(plugin_opts: list[OptionSpec], *, leave_out: frozenset[str] = frozenset()) -> list[Any]:
    """The ``tgx export`` command's parameters (``tgx watch`` shares them, less ``leave_out``)."""
    P = inspect.Parameter
    params = [
        P("ctx", P.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        P("chats", P.POSITIONAL_OR_KEYWORD, annotation=list[str] | None,
          default=typer.Argument(None, metavar="[CHAT]...", help="Chats to export (see above).")),
        P("all_dialogs", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, "--all-dialogs", help="Export every chat in your dialog list (each into its own folder).")),
        P("dialog_type", P.KEYWORD_ONLY, annotation=list[str] | None, default=typer.Option(
            None, "--dialog-type", metavar="TYPES",
            help="With --all-dialogs: only these kinds, comma-separated: channel, supergroup, group, user, bot.")),
        P("out", P.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--out", "-o", metavar="DIR",
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
            16, "--concurrency", min=1, max=32, metavar="N", help="Most history requests in flight at once (adaptive: "
            "starts at 4, grows while Telegram answers, halves on a flood wait).")),
        P("decode_workers", P.KEYWORD_ONLY, annotation=int | None, default=typer.Option(
            None, "--decode-workers", min=0, max=16, metavar="N", help="Processes that parse history pages "
            "on other cores, started with the command, ~50 MB each (default: 1 on two CPUs or more; "
            "0: all in this process).")),
        P("media", P.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--media", metavar="KINDS", help="Media to download: all, none, or a comma list of photo, "
            "video, voice, audio, document, sticker, animation, round. Default: none.")),
        P("max_size", P.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--max-size", metavar="SIZE", help="Skip media files larger than SIZE (e.g. 50MB, 2GiB).")),
        P("parallel_files", P.KEYWORD_ONLY, annotation=int | None, default=typer.Option(
            None, "--parallel-files", min=1, max=32, metavar="N", help="Media files downloaded at once (default 4).")),
        P("transcode", P.KEYWORD_ONLY, annotation=Literal["never", "incompatible", "always"] | None,
          default=typer.Option(None, "--transcode", metavar="MODE",
            help="Re-encode videos: never (default); incompatible (not playable inline by Telegram clients); always.")),
        P("encoder", P.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--encoder", metavar="NAME", help="Pin a video encoder (see `tgx encoders`).")),
        P("crf", P.KEYWORD_ONLY, annotation=int | None, default=typer.Option(
            None, "--crf", min=0, max=51, metavar="N", help="Quality for re-encoding (lower is better; default 23).")),
        P("replace_originals", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, "--replace-originals", help="Delete an original video once its re-encode is verified.")),
        P("account", P.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--account", metavar="NAME", help="Export with this account (see `tgx accounts`; default: "
            "use in tgx.toml's accounts table, else the default account).")),
        P("accounts", P.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--accounts", metavar="NAMES", help="Export with several accounts at once: each chat by "
            "one that can read it, each with its own rate limits; a chat whose account must wait longer "
            "than --max-flood-wait moves to another.")),
        P("max_flood_wait", P.KEYWORD_ONLY, annotation=float | None, default=typer.Option(
            None, "--max-flood-wait", metavar="SECONDS",
            help="Wait out Telegram rate limits up to this long (default 900); beyond it, stop (resumable).")),
        P("max_reconnects", P.KEYWORD_ONLY, annotation=int, default=typer.Option(
            5, "--max-reconnects", min=0, max=100, metavar="N",
            help="Retry a request this many times after a lost connection, then stop (resumable).")),
        P("takeout", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, "--takeout", help="Fetch history in a takeout (data export) session: gentler rate "
            "limits; Telegram may first ask you to confirm the export in an app.")),
        P("takeout_fallback", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, "--takeout-fallback",
            help="Use --takeout, but when Telegram delays it, warn and go on with the normal API.")),
        P("refresh_edits", P.KEYWORD_ONLY, annotation=int | None, default=typer.Option(
            None, "--refresh-edits", metavar="DAYS", min=1,
            help="Re-check the last DAYS days (up to the newest archived message; 7 is typical) "
                 "for edits and deletions.")),
        P("refetch_imported", P.KEYWORD_ONLY, annotation=bool | None, default=typer.Option(
            None, "--refetch-imported/--no-refetch-imported",
            help="Fetch again the messages `tgx import` archived from a Telegram Desktop export, replacing "
                 "them with Telegram's versions (views, reactions, files an export lacks). Default: "
                 "refetch_imported in tgx.toml's export table, else off.")),
        P("comments", P.KEYWORD_ONLY, annotation=bool | None, default=typer.Option(
            None, "--comments/--no-comments",
            help="Also export the comments of channel posts, from the channel's discussion group "
                 "(into comments.jsonl & co. beside the posts; the group gets its own folder too). "
                 "Default: comments in tgx.toml's export table, else off.")),
        P("topic", P.KEYWORD_ONLY, annotation=list[str] | None, default=typer.Option(
            None, "--topic", metavar="ID|TITLE",
            help="Export only this topic of the forum CHAT (repeatable; an id or the exact title, see "
                 "`tgx topics`): only its messages are fetched.")),
        P("metrics_interval", P.KEYWORD_ONLY, annotation=float | None, default=typer.Option(
            None, "--metrics-interval", metavar="SECONDS", help="Seconds between metrics snapshots (default 5).")),
        wait_lock_parameter(),
        *report_parameters(),
        *(option_parameter(o) for o in plugin_opts),
    ]
    return [p for p in params if p.name not in leave_out]


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    plugin_opts = plugin_option_specs(pm)

    def export(ctx: typer.Context, **values: Any) -> None:
        state = get_state(ctx)
        from tgx.fetch.workers import prestart

        # First, before the engine is imported: the decode workers' imports overlap ours.
        with prestart(values["decode_workers"]) as spares:
            req = export_request_from_cli(state, values, plugin_opts, spares=spares)
            from tgx.cli.interrupt import run_cli

            code = run_cli(export_with_client(state, req, json_output=values["json_output"]))
        if code != ExitCode.OK:
            raise typer.Exit(code)

    params = export_parameters(plugin_opts)
    export.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    export.__doc__ = EXPORT_HELP
    app.command("export", help=EXPORT_HELP)(export)


__all__ = ["export_parameters", "export_request_from_cli", "export_with_client", "parse_date", "register"]
