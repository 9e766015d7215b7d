"""``tgx verify OUT``: the archive's full self-check, and the way out of what it finds.

The export's own check on open is cheap (row counts per block, the checkpoint's shape); this one
reads everything: SQLite's ``quick_check``, every message row decoded, rows missing under each
chat's checkpoint, every downloaded media file present with its recorded size, and every file the
last render wrote still there and rendered from as many messages as the archive holds now.

Without ``--repair`` it changes nothing and takes no lock (an export may run meanwhile). With it,
under the output lock: unreadable rows are removed and the checkpoint stops claiming what is
missing, so that the next ``tgx export`` fetches those messages again (media with the wrong size
are fetched again by the next ``--media`` export anyway, and ``tgx render`` rewrites stale files).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
import typer

from tgx import console
from tgx.cli import get_state
from tgx.errors import ExitCode, OutputError

if TYPE_CHECKING:  # the engine is imported when the command runs, not to build `tgx --help`
    from tgx.archive.store import Archive

ROW_BATCH = 2000


@dataclass
class Problem:
    kind: str  # corrupt | unreadable_row | missing_rows | bad_checkpoint | media | rendered
    where: str  # the chat's folder, a file, or "archive"
    detail: str
    repaired: bool = False


@dataclass
class Report:
    out: str
    chats: int = 0
    messages: int = 0
    media_files: int = 0
    rendered_files: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(out: Path, *, repair: bool = False, hashes: bool = False) -> Report:
    """Check everything in ``out`` (and repair what can be, with ``repair``)."""
    from tgx.archive.lock import hold_output
    from tgx.archive.store import ARCHIVE_NAME, STATE_DIR, Archive
    from tgx.render.engine import read_manifest

    if not (out / STATE_DIR / ARCHIVE_NAME).is_file():
        raise OutputError(f"{out} holds no tgx archive ({STATE_DIR}/{ARCHIVE_NAME})",
                          hint="point at the --out directory of a previous `tgx export`")
    report = Report(str(out))
    lock = hold_output(out, "verify --repair") if repair else contextlib.nullcontext()
    with lock, Archive.open(out) as archive:
        for problem in archive.integrity_check():
            report.problems.append(Problem("corrupt", "archive", problem))
        if report.problems:
            return report  # damaged pages: nothing below can be trusted; the error says what to do
        manifest = read_manifest(out)
        for chat in archive.chats():
            report.chats += 1
            _check_chat(archive, chat, out, manifest.get(str(chat.id)), report, repair=repair)
        _check_media(archive, out, report, hashes=hashes)
    return report


def _check_chat(archive: Archive, chat: Any, out: Path, rendered: Any, report: Report, *, repair: bool) -> None:
    label = chat.folder_name
    bad: list[int] = []
    rows = 0
    from tgx.archive.store import decode_rows

    for batch in archive.iter_records(chat.id, ROW_BATCH):
        rows += len(batch)
        bad += [msg_id for msg_id, _exc in decode_rows(batch)[1]]
    report.messages += rows - len(bad)
    for msg_id in bad:
        report.problems.append(Problem("unreadable_row", label, f"message {msg_id} does not decode", repaired=repair))
    if repair and bad:
        archive.quarantine(chat.id, bad)  # its block's count stays: the check below sees the hole

    from tgx.fetch.checkpoint import read_checkpoint

    notes: list[str] = []
    if repair:
        read_checkpoint(archive, chat.id, label=label, warn=notes.append)  # drops bad ranges, commits
        for note in notes:
            kind = "bad_checkpoint" if "checkpoint" in note else "missing_rows"
            report.problems.append(Problem(kind, label, note.split(": ", 1)[-1], repaired=True))
    else:
        from tgx.fetch.checkpoint import parse_checkpoint

        why = None
        try:
            parse_checkpoint(archive.checkpoint(chat.id))  # what the next export would read
        except ValueError as exc:
            why = str(exc)
        if why is not None:
            report.problems.append(Problem("bad_checkpoint", label, f"the checkpoint is unreadable ({why})"))
        for lo, hi, missing in archive.missing_rows(chat.id):
            report.problems.append(Problem("missing_rows", label, f"{missing:,} message(s) missing in ids {lo}–{hi}"))

    if isinstance(rendered, dict):
        count = archive.count(chat.id)
        if rendered.get("messages") != count:
            report.problems.append(Problem(
                "rendered", label, f"rendered from {rendered.get('messages')} messages, the archive holds {count:,}: "
                                   "run `tgx render`"))
        for name, files in (rendered.get("formats") or {}).items():
            for rel in files if isinstance(files, list) else ():
                report.rendered_files += 1
                if not (out / label / rel).is_file():
                    report.problems.append(Problem("rendered", label, f"{rel} ({name}) is missing: run `tgx render`"))


def _check_media(archive: Archive, out: Path, report: Report, *, hashes: bool) -> None:
    from tgx.fsutil import sha256_file

    for record in archive.media_records("done"):
        report.media_files += 1
        path = out / (record.path or "")
        if not record.path or not path.is_file():
            report.problems.append(Problem("media", record.path or f"media {record.media_id}",
                                           "missing: the next export with --media fetches it again"))
        elif record.size is not None and path.stat().st_size != record.size:
            report.problems.append(Problem("media", record.path, f"{path.stat().st_size:,} bytes on disk, "
                                           f"{record.size:,} recorded: the next export with --media fetches it again"))
        elif hashes and record.sha256 and sha256_file(path) != record.sha256:
            report.problems.append(Problem("media", record.path, "its content is not what was downloaded "
                                           "(SHA-256 differs): delete it and export with --media again"))


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    @app.command("verify")
    def verify_command(
        ctx: typer.Context,
        out: Path = typer.Argument(..., metavar="OUT", help="The output directory of an earlier export."),
        repair: bool = typer.Option(False, "--repair", help="Remove unreadable rows and stop claiming missing "
                                    "ones, so that the next `tgx export` fetches them again (takes the lock)."),
        hashes: bool = typer.Option(False, "--hashes", help="Also read every media file and compare its SHA-256 "
                                    "with the one recorded when it was downloaded (slow for big media)."),
        json_output: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
    ) -> None:
        """Check an export completely: archive pages, every message row, rows missing under the
        checkpoints, media files and their sizes, rendered files. Exit 0 when all is well, 1 when not."""
        get_state(ctx)
        report = verify(out, repair=repair, hashes=hashes)
        if json_output:
            console.print_json({**asdict(report), "ok": report.ok})
        else:
            for p in report.problems:
                fixed = " (repaired: run `tgx export` again to fetch it)" if p.repaired else ""
                console.info(f"{p.kind}: {p.where}: {p.detail}{fixed}")
            verdict = "ok" if report.ok else f"{len(report.problems)} problem(s)"
            console.info(f"{report.out}: {report.chats} chat(s), {report.messages:,} messages, {report.media_files} "
                         f"media file(s), {report.rendered_files} rendered file(s): {verdict}")
            if any(p.kind == "corrupt" for p in report.problems):
                console.info("the archive file itself is damaged: move it away and export again, or try "
                             "`sqlite3 archive.sqlite .recover` and then `tgx verify --repair`")
        if not report.ok:
            raise typer.Exit(ExitCode.FAILURE)


__all__ = ["Problem", "Report", "register", "verify"]
