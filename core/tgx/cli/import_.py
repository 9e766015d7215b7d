"""``tgx import``: a Telegram Desktop export (JSON or HTML) into an archive, then rendered offline.

All or nothing, which is what keeps OUT whole on bad input: the export's head is read first
(not an export at all: one line, OUT untouched); then OUT is locked and the archive written
(:func:`tgx.importer.stage.import_items`) as ONE transaction (:meth:`tgx.archive.store.Archive.held`),
committed only once the reader has read the export to its last byte — a file that breaks off,
a ``--chat-id`` it does not hold, Ctrl-C: the transaction is rolled back and the files placed
meanwhile removed (:class:`_Undo`), with one line. Then the formats are rendered as ``tgx render``
renders them (:func:`tgx.cli.render.render_chats`). A JSON export is read in a process of its
own where two cores allow (:mod:`tgx.importer.process`).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
from tgx.errors import ExitCode, TgxError, UsageError, first_line

IMPORT_HELP = """Import a Telegram Desktop export into OUT: its chats become archived chats, rendered into every \
format (--format), and `tgx export CHAT --out OUT` later continues them online.

PATH is the export's folder, its result.json (a chat or the whole account, JSON) or its messages.html (HTML). \
Files are copied into OUT/<chat>/media/ (--link: hard-linked), each distinct file once. Running it again changes \
nothing; an interrupted import is finished by running it again; a second, overlapping export of the same chat \
merges (the newer version of each message wins, the older is kept as a version). See docs/import.md."""

READERS = {"json": ("tgx.importer.tdjson", "read_json_export"), "html": ("tgx.importer.tdhtml", "read_html_export")}


def locate(path: Path) -> tuple[str, Path, Path]:
    """``(kind, what the reader reads, the export folder)`` for PATH; one line when it is not an export."""
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if path.is_dir():
        if (path / "result.json").is_file():
            return "json", path / "result.json", path
        if any(path.glob("messages*.html")) or (path / "export_results.html").is_file() \
                or (path / "lists" / "chats.html").is_file():
            return "html", path, path
        raise UsageError(f"{path} is not a Telegram Desktop export (no result.json or messages.html in it)",
                         hint="point at the folder Telegram Desktop wrote, or at its result.json / messages.html")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json", path, path.parent
    if suffix in (".html", ".htm"):
        return "html", path, path.parent
    raise UsageError(f"{path} is not a Telegram Desktop export (expected result.json or messages.html)")


def reader(kind: str) -> Callable[..., Iterator[Any]]:
    import importlib

    module, name = READERS[kind]
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise UsageError(f"this tgx cannot read Telegram Desktop's {kind.upper()} exports yet") from None


def _unreadable(path: Path, exc: BaseException) -> UsageError:
    """A reader's failure as one line (a reader's own TgxError is passed through by the caller)."""
    return UsageError(f"{path} is not a readable Telegram Desktop export: {first_line(exc)}",
                      hint="a truncated result.json (an export interrupted, a copy cut short) cannot be imported")


def read_through(kind: str, source: Path, check: Callable[[Iterator[Any]], Any], warn: Callable[[str, str], None],
                 ids: ChatIds, *, child: Iterator[Any] | None = None) -> Any:
    """Run ``check`` over the reader's items, every failure of the reader as one line. An HTML
    export names no chat ids: the reader gets them from ``--chat-id``. ``child``: the items of a
    reader process already started (:func:`_reader_process`), read instead."""
    read = reader(kind)
    try:
        if child is not None:
            return check(child)
        if kind == "html":
            single = ids.plain[0] if len(ids.plain) == 1 else None
            return check(read(source, warn, chat_id=single, chat_ids=ids.folders or None))
        return check(read(source, warn, rows=True))
    except TgxError:
        raise
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a reader of untrusted input raises: one line
        raise _unreadable(source, exc) from None


async def import_export(state: AppState, path: Path, out: Path, formats: list[str], options: dict[str, Any], *,
                        link: bool = False, chat_ids: ChatIds | None = None, json_output: bool = False,
                        quiet: bool = False, wait_lock: float = 0.0) -> int:
    """The command (a coroutine so that :func:`~tgx.cli.interrupt.run_cli` handles SIGINT/SIGTERM)."""
    from tgx.archive.lock import hold_output_async, prepare_out_dir
    from tgx.archive.store import Archive
    from tgx.cli.interrupt import sync_section
    from tgx.cli.render import render_chats
    from tgx.importer.stage import HoleWatch, Warnings, import_items
    from tgx.metrics.progress import ExportProgress
    from tgx.render.selection import format_options, select_formats

    kind, source, root = locate(path)
    selected = select_formats(state.pm, formats)  # an unknown format: before anything is read
    fmt_options = format_options(selected, state.config, options)
    specs = {n: r.spec for n, r in selected.items()}
    ids = chat_ids or ChatIds()
    warnings = Warnings()
    watch = HoleWatch()  # the warnings that mean messages were left out, counted per chat

    def reader_warns(kind_: str, detail: str) -> None:
        watch(kind_, detail)
        warnings(kind_, detail)

    started = time.perf_counter()
    child = _reader_process(kind, source, ids.plain, reader_warns)  # reading ahead while this gets ready
    try:
        with sync_section():  # the head: not an export at all is one line, before OUT exists
            read_through(kind, source, _first_item, lambda _k, _d: None, ids)
        undo = _Undo(out)
        out = prepare_out_dir(out)
        exported_at = int(source.stat().st_mtime)
        try:
            async with hold_output_async(out, "import", wait_s=wait_lock):
                with Archive.open(out) as archive, ExportProgress(quiet=quiet or json_output, atomic=True) as progress:
                    # All or nothing: every write is one transaction, committed once the reader has
                    # read the export to its last byte; anything before that (a file that breaks off,
                    # a --chat-id it lacks, Ctrl-C) rolls it back and the undo removes what was placed.
                    with archive.held() as commit, sync_section():
                        result = read_through(kind, source, lambda items: import_items(
                            archive, out, items, root=root, exported_at=exported_at, link=link, chat_ids=ids.plain,
                            warn=warnings, watch=watch, created=undo.files,
                            on_chat=lambda chat: progress.add_chat(chat.folder, 0),
                            on_batch=lambda chat, n: progress.advance(chat.folder, n)), reader_warns, ids, child=child)
                        commit()
                        undo.committed = True
                    imported = time.perf_counter() - started
                    with sync_section():
                        progress.finish()
                        chats = [archive.chat(c.peer.id) or c.peer for c in result.chats]
                        failures = render_chats(archive, out, chats, specs, fmt_options, quiet=quiet or json_output)
        except BaseException:
            undo.run()
            raise
        for line in warnings.lines():
            console.warn(line)
        files = result.files
        if json_output:
            console.print_json({
                "out": str(out), "source": str(source), "kind": kind,
                "chats": [c.to_dict() for c in result.chats], "peers": result.peers,
                "files": {"copied": files.copied, "linked": files.linked, "deduped": files.deduped,
                          "missing": files.missing, "refused": files.refused, "bytes": files.bytes},
                "warnings": warnings.counts(),
                "seconds": {"import": round(imported, 3), "total": round(time.perf_counter() - started, 3)},
                "exit_code": int(ExitCode.FAILURE if failures else ExitCode.OK),
            })
        elif not quiet:
            for c in result.chats:
                n = c.counts
                console.info(f"{c.peer.title or c.folder}: {c.messages:,} messages read: {n.new:,} new, "
                             f"{n.replaced:,} newer than the archive's, {n.unchanged:,} unchanged, {n.older:,} older "
                             f"({n.versions:,} kept as versions) → {out / c.folder}")
            console.info(f"files: {files.copied + files.linked:,} placed ({files.linked:,} linked), {files.deduped:,} "
                         f"already there, {files.missing:,} not in the export, {files.refused:,} refused")
        return ExitCode.FAILURE if failures else ExitCode.OK
    finally:
        if child is not None:
            child.close()


def _first_item(items: Iterator[Any]) -> None:
    """Read an export's head: its shape and its first peer or chat header (not its messages)."""
    first = next(items, None)
    if first is not None and hasattr(items, "close"):
        items.close()


def _reader_process(kind: str, source: Path, wanted: list[int], warn: Callable[[str, str], None]) -> Any:
    """A JSON export's reader started in a process of its own (tgx.importer.process), or None
    where one core (or no process to be had) makes reading it here the faster way."""
    from tgx.importer.process import read_json_in_process, two_cores

    if kind != "json" or not two_cores():
        return None
    try:
        return read_json_in_process(source, warn, chat_ids=wanted)
    except OSError:
        return None


class _Undo:
    """What an import abandoned before its writes were committed (the export broke off, Ctrl-C) must
    remove so that OUT is as it was: the files it placed, a fresh archive, OUT itself when the
    import created it. The archive's own rows are rolled back by SQLite (Archive.held)."""

    def __init__(self, out: Path) -> None:
        from tgx.archive.store import ARCHIVE_NAME, STATE_DIR

        self.out = out
        self.out_existed = out.exists()
        self.state = out / STATE_DIR
        self.state_existed = self.state.exists()
        self.archive = self.state / ARCHIVE_NAME
        self.archive_existed = self.archive.exists()
        self.files: list[Path] = []
        self.committed = False

    def run(self) -> None:
        import shutil

        if self.committed:
            return
        if not self.out_existed:
            shutil.rmtree(self.out, ignore_errors=True)
            return
        for path in reversed(self.files):
            path.unlink(missing_ok=True)
            for parent in path.parents:  # the media folders it made, while empty
                if parent == self.out or self.out not in parent.parents:
                    break
                try:
                    parent.rmdir()
                except OSError:
                    break
        if not self.state_existed:
            shutil.rmtree(self.state, ignore_errors=True)
        elif not self.archive_existed:
            for suffix in ("", "-wal", "-shm", "-journal"):
                self.archive.with_name(self.archive.name + suffix).unlink(missing_ok=True)


@dataclass(slots=True)
class ChatIds:
    """``--chat-id`` values: plain marked ids (which chats; a one-chat HTML export's id) and
    ``FOLDER=ID`` pairs (the chats of an HTML account export, by their folder under chats/)."""

    plain: list[int] = field(default_factory=list)
    folders: dict[str, int] = field(default_factory=dict)


def parse_chat_ids(values: list[str]) -> ChatIds:
    ids = ChatIds()
    for value in values:
        folder, eq, number = value.rpartition("=")
        try:
            marked = int(number)
        except ValueError:
            raise UsageError(f"--chat-id {value!r} is not a chat id (a marked id such as -1001234567890, "
                             "or FOLDER=ID for a chat of an HTML account export)") from None
        if eq:
            ids.folders[folder] = marked
        else:
            ids.plain.append(marked)
    return ids


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    plugin_opts = plugin_option_specs(pm, sinks=False)  # import runs no metrics sink

    def import_command(ctx: typer.Context, **values: Any) -> None:
        state = get_state(ctx)
        from tgx.cli.export import _out_dir
        from tgx.cli.interrupt import run_cli

        defaults = state.config.export
        formats = split_formats(values["format"] or [defaults.get("format", "jsonl")])
        options = {o.name: values[py_name(o.name)] for o in plugin_opts}
        code = run_cli(import_export(
            state, values["path"], _out_dir(values["out"], defaults), formats, options, link=values["link"],
            chat_ids=parse_chat_ids(values["chat_id"] or []), json_output=values["json_output"],
            quiet=values["quiet"], wait_lock=values["wait_lock"]))
        if code != ExitCode.OK:
            raise typer.Exit(code)

    P = inspect.Parameter
    import_command.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        P("ctx", P.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        P("path", P.POSITIONAL_OR_KEYWORD, annotation=Path, default=typer.Argument(
            ..., metavar="PATH", help="The export's folder, its result.json or its messages.html.")),
        P("out", P.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--out", "-o", metavar="DIR",
            help="Output directory, new or of earlier exports (default: out in tgx.toml's export table, "
                 "else ./tgx-export).")),
        P("format", P.KEYWORD_ONLY, annotation=list[str] | None, default=typer.Option(
            None, "--format", "-f", metavar="FORMATS",
            help="Formats to render, comma-separated or repeated (see `tgx formats`). Default: jsonl.")),
        P("link", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, "--link", help="Hard-link the export's files into OUT instead of copying them (same file "
                                  "system; copied where linking is not possible).")),
        P("chat_id", P.KEYWORD_ONLY, annotation=list[str] | None, default=typer.Option(
            None, "--chat-id", metavar="ID",
            help="Only the chat with this marked id (repeatable); an HTML export names no ids: ID is its "
                 "chat's, or FOLDER=ID for each chat of an HTML account export (chats/FOLDER/).")),
        wait_lock_parameter(),
        *report_parameters(),
        *(option_parameter(o) for o in plugin_opts),
    ])
    app.command("import", help=IMPORT_HELP)(import_command)


__all__ = ["ChatIds", "import_export", "locate", "parse_chat_ids", "register"]
