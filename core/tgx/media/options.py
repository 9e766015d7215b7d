"""What ``tgx export --media ...`` asks of the media stage, parsed once from the command line.

Parsing lives here (not in the CLI module) so that every malformed value is reported the same
way — one line, exit code 2 — whether it came from a flag or from ``tgx.toml``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from tgx.errors import UsageError
from tgx.media.encoders import parse_transcode_mode
from tgx.model import FILE_MEDIA_KINDS

# Video kinds that --transcode applies to.
VIDEO_KINDS = frozenset({"video", "animation", "round"})

# One GetFile request may ask for at most 1 MiB; more than this many in flight across all files
# only queues at Telegram's side and makes flood waits likelier.
MAX_IN_FLIGHT = 32

_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kb": 1000, "kib": 1024,
    "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1024**3, "gb": 1000**3, "gib": 1024**3,
    "t": 1024**4, "tb": 1000**4, "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)
_ALIASES = {"photos": "photo", "videos": "video", "voices": "voice", "documents": "document",
            "docs": "document", "doc": "document", "stickers": "sticker", "animations": "animation",
            "gif": "animation", "gifs": "animation", "rounds": "round", "video_note": "round",
            "video_notes": "round"}


def parse_size(value: str | int | None, flag: str = "--max-size") -> int | None:
    """``"50MB"`` → 50_000_000, ``"2GiB"`` → 2_147_483_648, ``"1500000"`` → 1_500_000.

    KB/MB/GB/TB are decimal (SI), KiB/MiB/GiB/TiB and the bare letters K/M/G/T binary, as in
    ``ls -h``. None passes through; zero, negative and malformed values are a usage error.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageError(f"{flag} {value!r} is not a size (use e.g. 50MB, 2GiB or a number of bytes)")
    if isinstance(value, int):
        number, unit = float(value), ""
    else:
        match = _SIZE.match(str(value))
        if match is None or match.group(2).lower() not in _UNITS:
            raise UsageError(f"{flag} {value!r} is not a size (use e.g. 50MB, 2GiB or a number of bytes)")
        number, unit = float(match.group(1)), match.group(2).lower()
    size = math.floor(number * _UNITS[unit])
    if size < 1:
        raise UsageError(f"{flag} must be at least 1 byte, not {value!r}")
    return size


def parse_kinds(value: str | None, flag: str = "--media") -> frozenset[str]:
    """``all`` | ``none`` | a comma list of :data:`tgx.model.FILE_MEDIA_KINDS` (plurals accepted)."""
    if value is None:
        return frozenset()
    names = [v.strip().lower() for v in str(value).split(",") if v.strip()]
    if not names or names == ["none"]:
        return frozenset()
    if "all" in names:
        return frozenset(FILE_MEDIA_KINDS)
    kinds: set[str] = set()
    for name in names:
        kind = _ALIASES.get(name, name)
        if kind not in FILE_MEDIA_KINDS:
            known = ", ".join(FILE_MEDIA_KINDS)
            what = ("'none' cannot be combined with kinds" if kind == "none"
                    else f"unknown media kind '{name}'")
            raise UsageError(f"{flag}: {what} (use all, none, or a comma list of: {known})")
        kinds.add(kind)
    return frozenset(kinds)


@dataclass
class MediaOptions:
    """The media stage's settings. ``kinds`` empty means no media stage at all."""

    kinds: frozenset[str] = field(default_factory=frozenset)
    max_size: int | None = None  # bytes; larger files are skipped
    parallel_files: int = 4
    parallel_parts: int = 4  # GetFile requests in flight for one file
    transcode: str = "never"  # never | incompatible | always
    encoder: str | None = None
    crf: int | None = None
    replace_originals: bool = False
    max_in_flight: int | None = None  # GetFile requests in flight overall (None: derived)

    def __post_init__(self) -> None:
        self.kinds = frozenset(self.kinds)
        unknown = self.kinds - set(FILE_MEDIA_KINDS)
        if unknown:
            raise UsageError(f"unknown media kind(s): {', '.join(sorted(unknown))}")
        if self.parallel_files < 1 or self.parallel_parts < 1:
            raise UsageError("--parallel-files and parallel parts must be at least 1")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise UsageError("the GetFile in-flight cap must be at least 1")
        if self.crf is not None and not 0 <= self.crf <= 51:
            raise UsageError(f"--crf must be between 0 and 51, not {self.crf}")
        self.transcode = parse_transcode_mode(self.transcode)

    @property
    def enabled(self) -> bool:
        return bool(self.kinds)

    @property
    def in_flight_cap(self) -> int:
        """GetFile requests allowed in flight across all files."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        return max(self.parallel_parts, min(self.parallel_files * self.parallel_parts, MAX_IN_FLIGHT))

    @classmethod
    def from_cli(cls, *, media: str | None, max_size: str | None, parallel_files: int, transcode: str | None,
                 encoder: str | None, crf: int | None, replace_originals: bool, **extra: Any) -> MediaOptions:
        """Build from the ``tgx export`` flags; malformed values raise :class:`UsageError`."""
        return cls(
            kinds=parse_kinds(media),
            max_size=parse_size(max_size),
            parallel_files=int(parallel_files),
            transcode=transcode or "never",
            encoder=(encoder or "").strip() or None,
            crf=crf,
            replace_originals=bool(replace_originals),
            **extra,
        )


__all__ = ["MAX_IN_FLIGHT", "VIDEO_KINDS", "MediaOptions", "parse_kinds", "parse_size"]
