"""Safe, stable, collision-free file names for downloaded media.

A file name from Telegram is untrusted input: ``../../etc/passwd``, ``con.txt``, ``a/b\\c:d``,
an RTL override that makes ``gpj.exe`` look like ``exe.jpg``, 300 bytes of emoji. Whatever the
input, :func:`safe_name` returns one path *component* that every common filesystem accepts
(Linux, macOS, Windows/NTFS, exFAT): no separators, no ``.``/``..``, no control or bidi
characters, no Windows-reserved device names or characters, no trailing dots/spaces, NFC,
at most :data:`MAX_NAME_BYTES` UTF-8 bytes with the extension kept, never empty.

:class:`FolderNames` hands such names out within one folder so that two files never share one
(case-insensitively, for macOS and Windows), and :func:`media_dir` creates the folder refusing
symlinks anywhere between OUT/ and it, so a planted link cannot redirect writes outside OUT/.
"""

from __future__ import annotations

import mimetypes
import os
import re
import stat
import unicodedata
from collections.abc import Callable
from pathlib import Path

from tgx.errors import OutputError

MAX_NAME_BYTES = 150  # leaves room below the 255-byte limit for ".part.journal" and suffixes
MAX_EXT_BYTES = 16

_WINDOWS_FORBIDDEN = frozenset('<>:"/\\|?*')
# Invisible characters that reorder or hide text: U+202E makes "gpj.exe" display as "exe.jpg".
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{dev}{n}" for dev in ("COM", "LPT") for n in (*"0123456789", "¹", "²", "³")}
)

# Extensions for MIME types Telegram uses, where mimetypes is missing or unhelpful.
_EXT_BY_MIME = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
    "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv",
    "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/x-m4a": ".m4a",
    "audio/aac": ".aac", "audio/flac": ".flac", "audio/wav": ".wav", "audio/x-wav": ".wav",
    "application/x-tgsticker": ".tgs", "application/pdf": ".pdf", "application/zip": ".zip",
    "application/gzip": ".gz", "application/octet-stream": ".bin", "text/plain": ".txt",
}
# What a file needs while it downloads; a scan of the folder counts these as the final name.
PART_SUFFIX = ".part"
JOURNAL_SUFFIX = ".part.journal"


def ext_for_mime(mime: str | None, kind: str | None = None) -> str:
    """``.jpg`` for ``image/jpeg`` ...; ``.bin`` when unknown. Photos are always ``.jpg``."""
    if kind == "photo":
        return ".jpg"
    mime = (mime or "").split(";")[0].strip().lower()
    ext = _EXT_BY_MIME.get(mime) or mimetypes.guess_extension(mime or "", strict=False) or ".bin"
    return ext if _is_ext(ext[1:]) else ".bin"


def _is_ext(ext: str) -> bool:
    return 0 < len(ext.encode()) <= MAX_EXT_BYTES and ext.isascii() and ext.isalnum()


def split_ext(name: str) -> tuple[str, str]:
    """(stem, ".ext") where ext is the last suffix if it is short ASCII alphanumerics, else ""."""
    stem, dot, ext = name.rpartition(".")
    if dot and stem and _is_ext(ext):
        return stem, "." + ext
    return name, ""


def _clean_char(ch: str) -> str:
    if ch in _WINDOWS_FORBIDDEN or ch in _BIDI:
        return "_"
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cs", "Zl", "Zp"):  # controls (NUL, newline, DEL, C1), lone surrogates
        return "_"
    if cat == "Zs":  # exotic spaces (NBSP, ideographic) become a plain space
        return " "
    return ch


def _truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")


def _tidy_end(stem: str) -> str:
    return stem.rstrip(" .")


def _is_reserved(name: str) -> bool:
    device = name.split(".", 1)[0].rstrip(" ").upper()
    return device in _RESERVED


_LEADING = re.compile(r"^[.\s]+")


def safe_name(raw: str | None, fallback: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """One safe file name from an untrusted ``raw`` name; ``fallback`` (trusted, e.g.
    ``"5012345.jpg"``) when nothing usable remains. See the module doc for the rules."""
    if max_bytes < 32:
        raise ValueError("max_bytes must leave room for a name and an extension")
    text = unicodedata.normalize("NFC", raw or "")
    text = "".join(_clean_char(ch) for ch in text)
    text = _LEADING.sub("", text.strip())  # no hidden files, no leading blanks (". .x" too)
    text = _tidy_end(text)
    if not text or set(text) <= {"_", " ", "."}:
        text = fallback
    if _is_reserved(text):
        text = "_" + text
    text = fit(text, max_bytes, fallback)
    if name_key(text).endswith((PART_SUFFIX, ".journal")):
        # never mistaken for (or clobbering) another file's download in progress
        text = fit(text, max_bytes - 1, fallback) + "_"
    return text


def fit(name: str, max_bytes: int = MAX_NAME_BYTES, fallback: str = "file") -> str:
    """``name`` shortened to ``max_bytes`` UTF-8 bytes, keeping its extension."""
    if len(name.encode()) <= max_bytes:
        return name
    stem, ext = split_ext(name)
    stem = _tidy_end(_truncate_utf8(stem, max_bytes - len(ext.encode())))
    if not stem:
        stem = _tidy_end(_truncate_utf8(split_ext(fallback)[0], max_bytes - len(ext.encode()))) or "file"
    return stem + ext


def name_key(name: str) -> str:
    """What two names must not share in one folder: case-folded NFC (macOS, Windows)."""
    return unicodedata.normalize("NFC", name).casefold()


def _strip_download_suffix(name: str) -> str:
    for suffix in (JOURNAL_SUFFIX, PART_SUFFIX):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class FolderNames:
    """Names handed out in one folder, unique case-insensitively, and stable across runs.

    A name is taken when a file with it (or its ``.part``) is in the folder, when this run
    handed it out, or when ``recorded(name, owner)`` says the archive has it for another file (so a
    partial download keeps its name for the next run). Collisions get ``-<id>`` before the
    extension, then ``-<id>(2)``, ``-<id>(3)``...
    """

    def __init__(self, folder: Path, recorded: Callable[[str, object], bool] | None = None,
                 max_bytes: int = MAX_NAME_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._recorded = recorded or (lambda _name, _owner: False)
        self._owner: dict[str, object] = {}
        self._on_disk: set[str] | None = None

    def _disk(self) -> set[str]:
        if self._on_disk is None:
            names: set[str] = set()
            try:
                with os.scandir(self.folder) as it:
                    for entry in it:
                        names.add(name_key(_strip_download_suffix(entry.name)))
            except FileNotFoundError:
                pass
            self._on_disk = names
        return self._on_disk

    def keep(self, name: str, owner: object) -> bool:
        """Reuse a name the archive recorded for ``owner`` (a resumed download); False when this
        run already gave it to someone else."""
        key = name_key(name)
        current = self._owner.get(key)
        if current is not None and current != owner:
            return False
        self._owner[key] = owner
        return True

    def _free(self, name: str, owner: object) -> bool:
        key = name_key(name)
        current = self._owner.get(key)
        if current is not None:
            return current == owner
        return key not in self._disk() and not self._recorded(name, owner)

    def claim(self, wanted: str, owner: object, tag: str | None = None) -> str:
        """A free name for ``owner``: ``wanted`` (already safe) or a suffixed variant of it."""
        tag = str(owner) if tag is None else tag
        stem, ext = split_ext(wanted)
        candidates = [wanted, f"{stem}-{tag}{ext}"]
        n = 2
        while True:
            for candidate in candidates:
                candidate = fit(candidate, self.max_bytes) if candidate == wanted else _fit_suffixed(
                    stem, candidate[len(stem):], self.max_bytes)
                if self._free(candidate, owner):
                    self._owner[name_key(candidate)] = owner
                    return candidate
            candidates = [f"{stem}-{tag}({n}){ext}"]
            n += 1

    def release(self, name: str, owner: object) -> None:
        key = name_key(name)
        if self._owner.get(key) == owner:
            del self._owner[key]


def _fit_suffixed(stem: str, suffix: str, max_bytes: int) -> str:
    """``stem + suffix`` within ``max_bytes``, shortening the stem, never the suffix."""
    room = max_bytes - len(suffix.encode())
    return _tidy_end(_truncate_utf8(stem, room)) + suffix


# ---------------------------------------------------------------------------------------------
# Paths on disk


def _refuse_link(path: Path, out_dir: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise OutputError(f"refusing to write media through the symbolic link {path}",
                          hint=f"replace it with a real directory inside {out_dir}")
    if not stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{path} exists and is not a directory")


class MediaFolders:
    """The media folders of one run, each created once (:func:`media_dir`) with its
    :class:`FolderNames`; ``taken(relpath, owner)``: whether the archive records ``relpath`` (a
    path under OUT) for another file — the download stage and the import share the rule."""

    def __init__(self, out_dir: Path, taken: Callable[[str, object], bool]) -> None:
        self.out_dir = Path(out_dir)
        self._taken = taken
        self._folders: dict[str, tuple[Path, FolderNames]] = {}

    def __call__(self, reldir: str) -> tuple[Path, FolderNames]:
        """``(the folder, its names)`` for ``reldir`` (POSIX, under OUT)."""
        entry = self._folders.get(reldir)
        if entry is None:
            folder = media_dir(self.out_dir, *reldir.split("/"))
            names = FolderNames(folder, lambda name, owner: self._taken(f"{reldir}/{name}", owner))
            entry = self._folders[reldir] = (folder, names)
        return entry


def media_dir(out_dir: Path, *parts: str) -> Path:
    """Create ``OUT/<parts...>`` (each part one safe component), refusing symlinks on the way
    and checking that the result resolves inside OUT/. Returns the folder."""
    root = Path(out_dir)
    root_real = root.resolve()
    path = root
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\\" in part or "\x00" in part:
            raise OutputError(f"unsafe folder name {part!r} under {out_dir}")
        path = path / part
        _refuse_link(path, root)
        try:
            path.mkdir(exist_ok=True)
        except FileExistsError:
            pass
        except OSError as exc:
            raise OutputError(f"cannot create {path}: {exc.strerror or exc}") from None
        _refuse_link(path, root)
    if not path.resolve().is_relative_to(root_real):
        raise OutputError(f"{path} resolves outside the output directory {out_dir}")
    return path


def inside(folder: Path, name: str) -> Path:
    """``folder/name``, checked to be a direct child of ``folder`` (not a link, not elsewhere)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise OutputError(f"unsafe file name {name!r}")
    path = folder / name
    if path.is_symlink():
        raise OutputError(f"refusing to write through the symbolic link {path}")
    if path.resolve(strict=False).parent != folder.resolve():
        raise OutputError(f"{name!r} does not stay inside {folder}")
    return path


NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that fails (ELOOP → :class:`OutputError`) when ``path`` is a symlink."""
    try:
        return os.open(path, flags | NOFOLLOW | CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == 40 or path.is_symlink():  # ELOOP
            raise OutputError(f"refusing to write through the symbolic link {path}") from None
        raise


__all__ = [
    "JOURNAL_SUFFIX", "MAX_NAME_BYTES", "PART_SUFFIX", "FolderNames", "MediaFolders", "ext_for_mime", "fit",
    "inside", "media_dir", "name_key", "open_nofollow", "safe_name", "split_ext",
]
