"""Finding ffmpeg, running it with progress, and reading media metadata.

Public helper module: encoder plugins import it as ``tgx.ffmpeg``. Everything here shells out
to one ``ffmpeg`` binary, found at ``TGX_FFMPEG``, then on ``PATH``, then in the optional
``imageio-ffmpeg`` wheel (``pip install 'tgx[ffmpeg]'``). :func:`probe_media` asks the
``ffprobe`` installed beside that ffmpeg for JSON (a stable, documented format); the wheel
ships no ffprobe, so without one it parses ``ffmpeg -i``'s human-readable stderr instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import struct
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tgx.errors import DependencyError, EncodeError, Interrupted

if TYPE_CHECKING:
    from tgx.specs import EncodeJob

INSTALL_HINT = "install ffmpeg, `pip install 'tgx[ffmpeg]'`, or set TGX_FFMPEG to an ffmpeg binary"
_PROBE_TIMEOUT_S = 30.0
_STDERR_TAIL = 40


# ---------------------------------------------------------------------------------------------
# Discovery


@dataclass(frozen=True, slots=True)
class FfmpegInfo:
    path: str
    version: str  # "6.1.1", "n7.1-..."; "unknown" when -version said nothing parseable
    encoders: frozenset[str] = field(repr=False)  # names from `ffmpeg -hide_banner -encoders`
    source: str  # "TGX_FFMPEG" | "PATH" | "imageio-ffmpeg"

    def has_encoder(self, name: str) -> bool:
        return name in self.encoders


_info_cache: dict[tuple[str, int, int], tuple[str, frozenset[str]]] = {}
_info_lock = threading.Lock()
_ENCODER_LINE = re.compile(r"^\s*[VAS][A-Z.]{5}\s+(\S+)")
_VERSION_LINE = re.compile(r"^ffmpeg version (\S+)")


def _query(path: str) -> tuple[str, frozenset[str]]:
    """Version and encoder list of one binary, cached per (path, mtime, size)."""
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    with _info_lock:
        hit = _info_cache.get(key)
    if hit is not None:
        return hit
    try:
        ver = subprocess.run([path, "-hide_banner", "-version"], capture_output=True,
                             timeout=_PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
        enc = subprocess.run([path, "-hide_banner", "-encoders"], capture_output=True,
                             timeout=_PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise OSError(f"cannot run {path}: {exc}") from None
    if enc.returncode != 0:
        tail = _decode(enc.stderr).strip().splitlines()
        raise OSError(f"{path} -encoders exited with {enc.returncode}"
                      + (f": {tail[-1]}" if tail else ""))
    match = _VERSION_LINE.search(_decode(ver.stdout))
    version = match.group(1) if match else "unknown"
    names = frozenset(m.group(1) for line in _decode(enc.stdout).splitlines()
                      if (m := _ENCODER_LINE.match(line)) and m.group(1) != "=")
    with _info_lock:
        _info_cache[key] = (version, names)
    return version, names


def ffmpeg_info(path: str | os.PathLike[str], source: str = "PATH") -> FfmpegInfo:
    """Describe one ffmpeg binary; raises :class:`OSError` when it does not run."""
    path = os.fspath(path)
    version, encoders = _query(path)
    return FfmpegInfo(path=path, version=version, encoders=encoders, source=source)


def find_ffmpeg(env: Mapping[str, str] | None = None) -> FfmpegInfo | None:
    """The ffmpeg to use: ``TGX_FFMPEG``, then ``PATH``, then the imageio-ffmpeg wheel.

    Returns None when there is none. ``TGX_FFMPEG`` set to something that does not run is a
    :class:`DependencyError` naming it (a silent fallback would hide the user's mistake).
    """
    env = os.environ if env is None else env
    explicit = env.get("TGX_FFMPEG")
    if explicit:
        resolved = shutil.which(explicit, path=env.get("PATH")) if os.sep not in explicit else explicit
        if not resolved or not os.path.isfile(resolved):
            raise DependencyError(f"TGX_FFMPEG={explicit}: no such file", hint=INSTALL_HINT)
        try:
            return ffmpeg_info(resolved, "TGX_FFMPEG")
        except OSError as exc:
            raise DependencyError(f"TGX_FFMPEG={explicit} does not run: {exc}", hint=INSTALL_HINT) from None
    on_path = shutil.which("ffmpeg", path=env.get("PATH", os.defpath))
    if on_path:
        try:
            return ffmpeg_info(on_path, "PATH")
        except OSError:
            pass  # a broken ffmpeg on PATH: try the wheel before giving up
    try:
        import imageio_ffmpeg  # optional extra tgx[ffmpeg]
    except ImportError:
        return None
    try:
        bundled = imageio_ffmpeg.get_ffmpeg_exe()
        return ffmpeg_info(bundled, "imageio-ffmpeg")
    except (RuntimeError, OSError):
        return None


def require_ffmpeg(env: Mapping[str, str] | None = None) -> FfmpegInfo:
    """Like :func:`find_ffmpeg`, but a missing ffmpeg is a one-line :class:`DependencyError`."""
    info = find_ffmpeg(env)
    if info is None:
        raise DependencyError("ffmpeg not found (needed for --transcode)", hint=INSTALL_HINT)
    return info


# ---------------------------------------------------------------------------------------------
# Running


class FfmpegError(EncodeError):
    """ffmpeg exited non-zero. ``message`` is its most telling stderr line."""

    def __init__(self, message: str, *, returncode: int, stderr_tail: Sequence[str]):
        super().__init__(message)
        self.returncode = returncode
        self.stderr_tail = tuple(stderr_tail)


# Lines ffmpeg prints after the real cause (matched without their "[ctx @ 0x...] " prefix).
_GENERIC = re.compile(
    r"^(Conversion failed!|Error parsing global options|Failed to set value .* for option|"
    r"Device creation failed|Exiting normally|Error while filtering|Error initializing output stream|"
    r"Error opening output files?|Terminating thread with return code|Task finished with error code|"
    r"Error submitting (video|audio) frame to the encoder|Error sending frames to consumers|"
    r"Could not open encoder before EOF|Error while opening encoder|Nothing was written into output|"
    r"video:\S+ audio:\S+)"
)
_CONTEXT = re.compile(r"^\[[^\]]*\]\s*")


def summarize_stderr(lines: Iterable[str]) -> str:
    """The line of an ffmpeg error output that says why: the last one that is not a trailer."""
    kept = [line.strip() for line in lines if line.strip()]
    for line in reversed(kept):
        if not _GENERIC.match(_CONTEXT.sub("", line)):
            return _CONTEXT.sub("", line) if " @ 0x" in line else line
    return kept[-1] if kept else "ffmpeg failed without a message"


_running: dict[subprocess.Popen[bytes], bool] = {}  # child -> cancelled
_running_lock = threading.Lock()


def cancel_all() -> int:
    """Kill every ffmpeg started by :func:`run_ffmpeg` in this process; they raise Interrupted.

    The encode pool calls this on shutdown(cancel=True): worker threads never see
    KeyboardInterrupt, so their children must be stopped from outside.
    """
    with _running_lock:
        procs = list(_running)
        for proc in procs:
            _running[proc] = True
    for proc in procs:
        _kill(proc)
    return len(procs)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.kill()
    except OSError:
        pass


_DURATION = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")


def _hms(h: str, m: str, s: str) -> float:
    return int(h) * 3600 + int(m) * 60 + float(s)


def run_ffmpeg(
    args: Sequence[str | os.PathLike[str]],
    duration: float | None = None,
    progress_cb: Callable[[float], None] | None = None,
) -> list[str]:
    """Run ``args`` (``args[0]`` is the ffmpeg binary) and return the tail of its stderr.

    Adds ``-hide_banner -nostdin -nostats``, plus ``-progress pipe:1`` when ``progress_cb``
    is given: it is called with a 0..1 fraction (``out_time_us`` / duration; the duration is
    read from ffmpeg's own "Duration:" line when not passed) and with 1.0 at ``progress=end``.
    Raises :class:`FfmpegError` on a non-zero exit, :class:`Interrupted` when cancelled
    (KeyboardInterrupt in this thread or :func:`cancel_all`); the child is killed either way.
    """
    argv = [os.fspath(args[0]), "-hide_banner", "-nostdin", "-nostats"]
    if progress_cb is not None:
        argv += ["-progress", "pipe:1"]
    argv += [os.fspath(a) for a in args[1:]]
    tail: deque[str] = deque(maxlen=_STDERR_TAIL)
    total_us = [duration * 1e6 if duration else 0.0]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                stdout=subprocess.PIPE if progress_cb else subprocess.DEVNULL)
    except OSError as exc:
        raise FfmpegError(f"cannot run {argv[0]}: {exc.strerror or exc}", returncode=-1,
                          stderr_tail=()) from None
    with _running_lock:
        _running[proc] = False

    def read_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = _decode(raw).rstrip()
            if not total_us[0] and (m := _DURATION.match(line)):
                total_us[0] = _hms(*m.groups()) * 1e6
            tail.append(line)

    try:
        if progress_cb is None:
            read_stderr()
        else:
            reader = threading.Thread(target=read_stderr, name="ffmpeg-stderr", daemon=True)
            reader.start()
            assert proc.stdout is not None
            for raw in proc.stdout:
                key, _, value = raw.partition(b"=")
                if key == b"out_time_us" and total_us[0]:
                    try:
                        done = int(value)
                    except ValueError:  # "N/A" before the first frame
                        continue
                    progress_cb(min(max(done / total_us[0], 0.0), 1.0))
                elif key == b"progress" and value.strip() == b"end":
                    progress_cb(1.0)
            reader.join()
        returncode = proc.wait()
    except BaseException:
        _kill(proc)
        proc.wait()
        with _running_lock:
            _running.pop(proc, None)
        raise
    with _running_lock:
        cancelled = _running.pop(proc, False)
    if cancelled:
        raise Interrupted("encode cancelled")
    lines = list(tail)
    if returncode != 0:
        raise FfmpegError(summarize_stderr(lines), returncode=returncode, stderr_tail=lines)
    return lines


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------
# Probing


class ProbeError(EncodeError):
    """ffmpeg could not read the file as media (corrupt, truncated, not a media file)."""


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What ffprobe would say about the first video and audio streams."""

    container: str  # ffmpeg's demuxer names: "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...
    duration: float | None  # seconds
    video_codec: str | None = None  # "h264", "hevc", "vp9", ...
    video_profile: str | None = None  # "High", "Main", "Profile 2", ...
    pix_fmt: str | None = None  # "yuv420p", "yuv420p10le", ...
    width: int | None = None
    height: int | None = None
    bit_depth: int | None = None  # from pix_fmt: 8, 10, 12, 16
    audio_codec: str | None = None  # "aac", "opus", ...
    audio_profile: str | None = None  # "LC", "HE-AAC", ...
    major_brand: str | None = None  # MP4/MOV "isom", "mp42", "qt"

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    @property
    def long_side(self) -> int:
        return max(self.width or 0, self.height or 0)

    @property
    def is_mp4_family(self) -> bool:
        """An ISO-BMFF container (MP4 or MOV): ffmpeg's ``mov`` demuxer reads both."""
        return "mp4" in self.container.split(",") or "mov" in self.container.split(",")


_INPUT = re.compile(r"^Input #0, (.+?), from '")
_BRAND = re.compile(r"^\s*major_brand\s*: (\S+)")
_STREAM = re.compile(r"^\s*Stream #0:\d+\S*: (Video|Audio): (.*)$")
_SIZE = re.compile(r"(?<![\w.])(\d{1,5})x(\d{1,5})(?![\w.])")
_DEPTH = re.compile(r"(?:p|gray)(\d{2})(?:le|be)?$|^p0(\d\d)")


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses: 'yuv420p(tv, progressive), 320x240' has two parts."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _codec_and_profile(head: str) -> tuple[str, str | None]:
    """'h264 (High) (avc1 / 0x31637661)' -> ('h264', 'High'); the fourcc group is not a profile."""
    codec = head.split(" ", 1)[0]
    profile = None
    m = re.match(r"\S+ \(([^()]*)\)", head)
    if m and " / " not in m.group(1):
        profile = m.group(1)
    return codec, profile


def bit_depth(pix_fmt: str) -> int:
    """8 for yuv420p/nv12, 10 for yuv420p10le/p010le, and so on."""
    m = _DEPTH.search(pix_fmt)
    if not m:
        return 8
    return int(m.group(1) or m.group(2))


def parse_probe(stderr: str) -> MediaInfo | None:
    """Parse the stderr of ``ffmpeg -i PATH``; None when there is no ``Input #0``."""
    container = None
    duration: float | None = None
    brand = None
    video: dict[str, object] = {}
    audio: dict[str, object] = {}
    for line in stderr.splitlines():
        if container is None:
            if m := _INPUT.match(line):
                container = m.group(1)
            continue
        if line.startswith(("Output #", "Stream mapping:")):
            break
        if brand is None and (m := _BRAND.match(line)):
            brand = m.group(1)
        elif duration is None and (m := _DURATION.match(line)):
            duration = _hms(*m.groups())
        elif m := _STREAM.match(line):
            kind, desc = m.groups()
            parts = _split_top(desc)
            codec, profile = _codec_and_profile(parts[0])
            if kind == "Video" and (not video or video.get("cover")):
                fmt = parts[1].split("(", 1)[0].strip() if len(parts) > 1 else None
                size = next((s for p in parts[1:] if (s := _SIZE.search(p.split("[", 1)[0]))), None)
                video = {
                    "video_codec": codec, "video_profile": profile, "pix_fmt": fmt,
                    "width": int(size.group(1)) if size else None,
                    "height": int(size.group(2)) if size else None,
                    "bit_depth": bit_depth(fmt) if fmt and fmt != "none" else None,
                    "cover": "(attached pic)" in desc,
                }
            elif kind == "Audio" and not audio:
                audio = {"audio_codec": codec, "audio_profile": profile}
    if container is None:
        return None
    video.pop("cover", None)
    return MediaInfo(container=container, duration=duration, major_brand=brand,
                     **video, **audio)  # type: ignore[arg-type]


def find_ffprobe(ffmpeg: str | os.PathLike[str]) -> str | None:
    """The ``ffprobe`` beside ``ffmpeg`` (same folder, same build), or None.

    Only the sibling: an ffprobe elsewhere on PATH may be another version than the ffmpeg that
    will encode the file, and the two must agree on what they can read."""
    path = Path(ffmpeg)
    name = path.name.replace("ffmpeg", "ffprobe", 1)
    if name == path.name:
        return None
    sibling = path.with_name(name)
    return str(sibling) if sibling.is_file() and os.access(sibling, os.X_OK) else None


def parse_ffprobe_json(text: str) -> MediaInfo | None:
    """Parse ``ffprobe -of json -show_format -show_streams``; None when it has no format."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    fmt = doc.get("format") if isinstance(doc, dict) else None
    if not isinstance(fmt, dict) or not fmt.get("format_name"):
        return None
    video: dict[str, object] = {}
    audio: dict[str, object] = {}
    for stream in doc.get("streams") or []:
        if not isinstance(stream, dict):
            continue
        kind = stream.get("codec_type")
        profile = stream.get("profile")
        profile = profile if isinstance(profile, str) and profile != "unknown" else None
        if kind == "video" and not video and not (stream.get("disposition") or {}).get("attached_pic"):
            pix_fmt = stream.get("pix_fmt")
            video = {
                "video_codec": stream.get("codec_name"), "video_profile": profile, "pix_fmt": pix_fmt,
                "width": _int_or_none(stream.get("width")), "height": _int_or_none(stream.get("height")),
                "bit_depth": bit_depth(pix_fmt) if isinstance(pix_fmt, str) else None,
            }
        elif kind == "audio" and not audio:
            audio = {"audio_codec": stream.get("codec_name"), "audio_profile": profile}
    raw_tags = fmt.get("tags")
    tags: dict[str, Any] = raw_tags if isinstance(raw_tags, dict) else {}
    return MediaInfo(container=str(fmt["format_name"]), duration=_float_or_none(fmt.get("duration")),
                     major_brand=str(tags["major_brand"]).strip() if tags.get("major_brand") else None,
                     **video, **audio)  # type: ignore[arg-type]


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: object) -> float | None:
    try:
        return float(value) if isinstance(value, str | int | float) else None
    except ValueError:
        return None  # ffprobe writes "N/A" for a stream without a duration


def probe_media(path: str | os.PathLike[str], ffmpeg: str | FfmpegInfo | None = None) -> MediaInfo:
    """Stream metadata of ``path``: from the ffprobe beside ``ffmpeg`` when there is one, else
    from ``ffmpeg -hide_banner -i PATH``.

    Raises :class:`ProbeError` when the file cannot be read as media, :class:`DependencyError`
    when there is no ffmpeg at all.
    """
    exe = ffmpeg.path if isinstance(ffmpeg, FfmpegInfo) else ffmpeg or require_ffmpeg().path
    probe = find_ffprobe(exe)
    if probe is not None:
        info = _probe_with_ffprobe(probe, path)
        if info is not None:
            return info
    try:
        done = subprocess.run([exe, "-hide_banner", "-nostdin", "-i", os.fspath(path)],
                              capture_output=True, timeout=_PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ProbeError(f"cannot probe {Path(path).name}: {exc}") from None
    text = _decode(done.stderr)
    parsed = parse_probe(text)
    if parsed is None:
        lines = [line for line in text.splitlines() if "At least one output file" not in line]
        raise ProbeError(f"cannot read {Path(path).name}: {summarize_stderr(lines)}")
    return parsed


def _probe_with_ffprobe(probe: str, path: str | os.PathLike[str]) -> MediaInfo | None:
    """ffprobe's answer; None when ffprobe itself misbehaves (then ``ffmpeg -i`` is asked)."""
    try:
        done = subprocess.run([probe, "-v", "error", "-of", "json", "-show_format", "-show_streams",
                               os.fspath(path)], capture_output=True, timeout=_PROBE_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        lines = _decode(done.stderr).splitlines()
        if any(os.fspath(path) in line or "Invalid data" in line for line in lines):  # about the file
            raise ProbeError(f"cannot read {Path(path).name}: {summarize_stderr(lines)}")
        return None
    return parse_ffprobe_json(_decode(done.stdout))


# ---------------------------------------------------------------------------------------------
# MP4 structure (cheap, in-process verification of an encoder's output)


@dataclass(frozen=True, slots=True)
class Mp4Layout:
    boxes: tuple[str, ...]  # top-level box types in file order: ("ftyp", "moov", "mdat")
    video_codecs: tuple[str, ...]  # sample-entry fourccs of video tracks: ("avc1",)

    @property
    def faststart(self) -> bool:
        """``moov`` before ``mdat``: players can start before the whole file arrives."""
        if "moov" not in self.boxes or "mdat" not in self.boxes:
            return False
        return self.boxes.index("moov") < self.boxes.index("mdat")

    @property
    def is_h264(self) -> bool:
        return bool(self.video_codecs) and all(c in ("avc1", "avc3") for c in self.video_codecs)


_MAX_MOOV = 256 * 1024 * 1024
_CONTAINERS = {b"trak", b"mdia", b"minf", b"stbl"}


def _iter_boxes(buf: bytes, start: int, end: int) -> Iterable[tuple[bytes, int, int]]:
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack_from(">Q", buf, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _video_entries(moov: bytes) -> list[str]:
    found: list[str] = []

    def walk(start: int, end: int, is_video: bool) -> None:
        children = list(_iter_boxes(moov, start, end))
        if any(k == b"hdlr" and moov[s + 8:s + 12] == b"vide" for k, s, _ in children):
            is_video = True
        for kind, s, e in children:
            if kind in _CONTAINERS:
                walk(s, e, is_video)
            elif kind == b"stsd" and is_video and e - s >= 16:
                found.append(moov[s + 12:s + 16].decode("latin-1"))

    for kind, s, e in _iter_boxes(moov, 0, len(moov)):
        if kind == b"trak":
            walk(s, e, False)
    return found


def read_mp4_layout(path: str | os.PathLike[str]) -> Mp4Layout:
    """Top-level boxes and video codecs of an MP4/MOV without spawning anything.

    Reads box headers only, plus the ``moov`` box (the index, small next to the media).
    An unreadable or non-MP4 file gives an empty layout.
    """
    boxes: list[str] = []
    codecs: list[str] = []
    try:
        with open(path, "rb") as fh:
            size_total = os.fstat(fh.fileno()).st_size
            pos = 0
            while pos + 8 <= size_total:
                fh.seek(pos)
                head = fh.read(16)
                size, kind = struct.unpack_from(">I4s", head, 0)
                header = 8
                if size == 1 and len(head) == 16:
                    size, header = struct.unpack_from(">Q", head, 8)[0], 16
                elif size == 0:
                    size = size_total - pos
                if size < header or pos + size > size_total:
                    break
                boxes.append(kind.decode("latin-1"))
                if kind == b"moov" and size - header <= _MAX_MOOV:
                    fh.seek(pos + header)
                    codecs = _video_entries(fh.read(size - header))
                pos += size
    except OSError:
        return Mp4Layout((), ())
    return Mp4Layout(tuple(boxes), tuple(codecs))


# ---------------------------------------------------------------------------------------------
# Shared encoder plumbing: what every ffmpeg-based encoder plugin does around its own flags


def part_path(dest: Path) -> Path:
    """Where an encoder writes before the output is verified: ``dest + ".part"``."""
    return dest.with_name(dest.name + ".part")


def long_side_scale(max_long_side: int, filter_name: str = "scale") -> str:
    """A scale filter that caps the long side, keeps the aspect ratio and even sizes, never upscales."""
    cap = int(max_long_side)
    w = f"if(gte(iw,ih),trunc(min(iw,{cap})/2)*2,-2)"
    h = f"if(gte(iw,ih),-2,trunc(min(ih,{cap})/2)*2)"
    return f"{filter_name}=w='{w}':h='{h}'"


def encode_mp4(
    job: EncodeJob,
    before_input: Sequence[str],
    after_input: Sequence[str],
    *,
    encoder: str,
) -> None:
    """Run ``before_input -i SOURCE after_input -f mp4 DEST.part``, verify, rename to DEST.

    ``before_input`` starts with the ffmpeg binary. Verification is in-process (no second
    ffmpeg): the part must be a non-empty MP4 whose video track is H.264 with ``moov`` first.
    Any failure removes the part and raises :class:`EncodeError` (``FfmpegError``) prefixed
    with ``encoder``; the source is never touched.
    """
    dest = Path(job.dest)
    part = part_path(dest)
    argv = [*before_input, "-i", os.fspath(job.source), *after_input, "-f", "mp4", "-y", os.fspath(part)]
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            run_ffmpeg(argv, None, job.progress)
        except FfmpegError as exc:
            raise FfmpegError(f"{encoder}: {exc}", returncode=exc.returncode,
                              stderr_tail=exc.stderr_tail) from None
        problem = _verify_mp4(part)
        if problem:
            raise EncodeError(f"{encoder}: {problem}")
        os.replace(part, dest)
    except BaseException:
        with contextlib.suppress(OSError):  # never mask the real error with a cleanup one
            part.unlink()
        raise


def _verify_mp4(part: Path) -> str | None:
    try:
        size = part.stat().st_size
    except FileNotFoundError:
        return "ffmpeg exited 0 but wrote no file"
    if size == 0:
        return "ffmpeg wrote an empty file"
    layout = read_mp4_layout(part)
    if "moov" not in layout.boxes:
        return "output is not a complete MP4 (no moov box)"
    if not layout.is_h264:
        found = ", ".join(layout.video_codecs) or "no video track"
        return f"output video is not H.264 ({found})"
    if not layout.faststart:
        return "output is not fast-start (moov after mdat)"
    return None


__all__ = [
    "INSTALL_HINT", "FfmpegError", "FfmpegInfo", "MediaInfo", "Mp4Layout", "ProbeError", "bit_depth",
    "cancel_all", "ffmpeg_info", "find_ffmpeg", "parse_probe", "probe_media", "read_mp4_layout",
    "encode_mp4", "long_side_scale", "part_path", "require_ffmpeg", "run_ffmpeg", "summarize_stderr",
]
