"""An export's files into tgx's media layout: checked, deduplicated by content, copied or linked.

Every :class:`~tgx.importer.source.SourceFile` names a file *as the export wrote it*: untrusted.
It is resolved against the export folder (symbolic links followed) and refused — recorded as
missing with the reason, never opened — when it leaves the folder (``..``, an absolute path, a
link pointing elsewhere), or when it is not a regular file.

A file that passes is hashed (SHA-256) while it is copied to a temporary name beside its final
one (``--link``: hard-linked instead, read once for the hash; across file systems it is copied).
Its media id in the archive is derived from that hash (:func:`content_id`: Telegram Desktop
exports no file ids), so the same bytes are one file whatever the number of messages, chats and
exports that show them — and bytes the archive already holds under any id (a download by ``tgx
export``) are not copied again. Names are tgx's (:func:`tgx.media.names.safe_name` of the export's
file name, in ``<chat>/media/<kind>/``), unique in their folder; a file left at its final name by
a killed import is recognised by its bytes and adopted, never copied beside itself.

Finishing a file, in this order: the temporary file fsynced → renamed to its name → the ``media``
row recorded (``done``, size, hash) → the message rows that name it committed. A kill between
any two steps leaves nothing that the next run would misread.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path

from tgx.archive.store import Archive
from tgx.fsutil import fsync_dir
from tgx.media.index import MediaIndex, chat_relative
from tgx.media.names import MediaFolders, ext_for_mime, open_nofollow, safe_name, split_ext
from tgx.model import FILE_MEDIA_KINDS, Media

CHUNK = 1 << 20
TEMP_SUFFIX = ".part"

__all__ = ["FilePlacer", "Placed", "content_id"]


def content_id(sha256: str) -> int:
    """The media id of an imported file: negative (Telegram's file ids are positive), from the
    first 63 bits of its SHA-256 — the same bytes, the same id, in every import."""
    return -(int(sha256[:16], 16) & ((1 << 63) - 1)) - 1


@dataclass(slots=True)
class Placed:
    """Where a file went: ``relpath`` relative to OUT/ (None when it is missing), or why not."""

    relpath: str | None = None
    media_id: int | None = None
    missing: str | None = None  # why there is no file (the export's note, or the refusal)
    how: str = ""  # copied | linked | deduped | present | missing | refused


@dataclass(slots=True)
class FileCounts:
    copied: int = 0
    linked: int = 0
    deduped: int = 0  # bytes already in OUT (this import or an earlier one, any chat)
    missing: int = 0  # the export says it has no file
    refused: int = 0  # a path outside the export, or not a file
    bytes: int = 0  # copied or linked


class FilePlacer:
    """Places the files of one import (see the module doc)."""

    def __init__(self, archive: Archive, out: Path, root: Path, *, link: bool = False,
                 created: list[Path] | None = None) -> None:
        self.archive = archive
        self.created = created if created is not None else []  # files this import put into OUT
        self.out = out
        self.root = root
        self.root_real = root.resolve()
        self.link = link
        self.index = MediaIndex(archive)
        self.counts = FileCounts()
        self._folder = MediaFolders(out, self.index.path_taken)
        self._done: dict[str, Placed] = {}  # sha256 → where this run put it

    # -- checking ------------------------------------------------------------------------------
    def resolve(self, relpath: str) -> Path | str:
        """The export's file for ``relpath``, or why it is refused (the path is never opened then)."""
        if not relpath or "\x00" in relpath:
            return "an empty or invalid path"
        if relpath.startswith(("/", "\\")) or (len(relpath) > 1 and relpath[1] == ":") or "\\" in relpath:
            return f"{relpath!r} is not a path inside the export"
        path = (self.root / relpath)
        try:
            real = path.resolve(strict=True)
        except FileNotFoundError:
            return f"{relpath} is not in the export"
        except (OSError, RuntimeError) as exc:  # a loop of links, a name too long
            return f"{relpath} cannot be read ({getattr(exc, 'strerror', None) or exc})"
        if not real.is_relative_to(self.root_real):
            return f"{relpath} points outside the export folder: refused"
        try:
            st = real.stat()
        except OSError as exc:
            return f"{relpath} cannot be read ({exc.strerror or exc})"
        if not stat.S_ISREG(st.st_mode):
            return f"{relpath} is not a regular file"
        return real

    # -- placing -------------------------------------------------------------------------------
    def place(self, folder: str, media: Media, relpath: str | None, missing: str | None) -> Placed:
        """Put the export's ``relpath`` (for ``media`` of a message of the chat in ``OUT/<folder>``)
        into tgx's layout; ``missing``: the export's note that it has no file."""
        if relpath is None or missing is not None:
            self.counts.missing += 1
            return Placed(missing=missing or "not in the export", how="missing")
        source = self.resolve(relpath)
        if isinstance(source, str):
            self.counts.refused += 1
            return Placed(missing=source, how="refused")
        kind = media.kind if media.kind in FILE_MEDIA_KINDS else "document"
        try:
            return self._place(folder, kind, media, relpath, source)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES):
                raise  # the output's problem, not the file's: the import stops (one line, exit 7)
            self.counts.refused += 1
            return Placed(missing=f"{relpath} cannot be read ({exc.strerror or exc})", how="refused")

    def _place(self, folder: str, kind: str, media: Media, relpath: str, source: Path) -> Placed:
        if self.link:
            digest, size = _hash(source)
            known = self._known(digest, size)
            if known is not None:
                return known
            return self._new(folder, kind, media, relpath, digest, size, source=source)
        # copy while hashing (one read), then keep the copy only when the bytes are new
        reldir = f"{folder}/media/{kind}"
        directory, _names = self._folder(reldir)
        temp = directory / f".import-{os.getpid()}{TEMP_SUFFIX}"
        digest, size = _copy(source, temp)
        try:
            known = self._known(digest, size)
            if known is not None:
                return known
            return self._new(folder, kind, media, relpath, digest, size, temp=temp)
        finally:
            _unlink(temp)

    def _known(self, digest: str, size: int) -> Placed | None:
        """These bytes are in OUT already: this run, an earlier import, or a download."""
        placed = self._done.get(digest)
        if placed is not None:
            self.counts.deduped += 1
            return Placed(placed.relpath, placed.media_id, how="deduped")
        media_id = content_id(digest)
        record = self.archive.media(media_id)
        if record is None or record.status != "done" or not self._present(record.path, size):
            record = self.archive.media_with_hash(digest)
            if record is not None and not self._present(record.path, size):
                record = None
            if record is not None and record.path is not None:  # downloaded (or imported) under another id
                self.index.done(media_id, record.path, size, sha256=digest)
        if record is None or record.path is None:
            return None
        self.counts.deduped += 1
        placed = self._done[digest] = Placed(record.path, media_id, how="deduped")
        return placed

    def _new(self, folder: str, kind: str, media: Media, relpath: str, digest: str, size: int, *,
             source: Path | None = None, temp: Path | None = None) -> Placed:
        media_id = content_id(digest)
        reldir = f"{folder}/media/{kind}"
        directory, names = self._folder(reldir)
        fallback = f"{digest[:16]}{split_ext(posixpath.basename(relpath))[1] or ext_for_mime(media.mime_type, kind)}"
        wanted = safe_name(posixpath.basename(relpath), fallback)
        name = None
        existing = directory / wanted
        if (existing.is_file() and not existing.is_symlink() and existing.stat().st_size == size
                and not self.index.path_taken(f"{reldir}/{wanted}", media_id) and _hash(existing)[0] == digest):
            name = wanted  # left by a killed import (or the same bytes put there by hand): adopt it
            names.keep(name, media_id)
            how = "present"
        else:
            name = names.claim(wanted, media_id, tag=digest[:8])
            final = directory / name
            how = self._put(final, source=source, temp=temp)
            self.created.append(final)
            fsync_dir(directory)
        rel = f"{reldir}/{name}"
        self.index.done(media_id, rel, size, sha256=digest)
        if how == "linked":
            self.counts.linked += 1
        elif how == "copied":
            self.counts.copied += 1
        if how in ("linked", "copied"):
            self.counts.bytes += size
        placed = self._done[digest] = Placed(rel, media_id, how=how)
        return placed

    def _put(self, final: Path, *, source: Path | None, temp: Path | None) -> str:
        if final.is_symlink():
            raise OSError(errno.ELOOP, f"{final} is a symbolic link")
        if source is not None:  # --link
            staged = final.with_name(final.name + TEMP_SUFFIX)
            _unlink(staged)
            try:
                os.link(source, staged)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                _copy(source, staged)  # another file system (or one without hard links): a copy
                os.replace(staged, final)
                return "copied"
            os.replace(staged, final)
            return "linked"
        assert temp is not None
        os.replace(temp, final)
        return "copied"

    def _present(self, relpath: str | None, size: int) -> bool:
        if not relpath:
            return False
        try:
            st = (self.out / relpath).lstat()
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size == size

    def chat_path(self, placed: Placed, folder: str) -> str | None:
        """``placed`` as a render links it from ``OUT/<folder>/``."""
        return chat_relative(placed.relpath, folder) if placed.relpath else None


def _hash(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _copy(source: Path, dest: Path) -> tuple[str, int]:
    """Copy ``source`` to ``dest`` (created anew, never through a link), fsynced; its hash and size."""
    _unlink(dest)
    h = hashlib.sha256()
    size = 0
    fd = open_nofollow(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with open(source, "rb") as src:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink(dest)
        raise
    os.close(fd)
    return h.hexdigest(), size


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
