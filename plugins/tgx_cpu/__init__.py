"""The ``cpu`` encoder: H.264 with libx264, the fallback that works wherever ffmpeg does.

Output: MP4, H.264 High, ``yuv420p``, AAC, ``-movflags +faststart``, long side capped (never
upscaled). Options in ``tgx.toml``::

    [cpu]
    preset = "veryfast"   # libx264 preset: ultrafast .. veryslow
    crf = 23              # used when the export does not pass --crf

``veryfast`` is the default because an archive run converts many files on whatever machine it
has: it needs about half the CPU time of ``medium``; slower presets mostly buy smaller files.
"""

from __future__ import annotations

import threading

import tgx
from tgx import ffmpeg
from tgx.config import Config
from tgx.errors import EncodeError, TgxError
from tgx.specs import Availability, EncodeJob, EncoderSpec

NAME = "cpu"
DEFAULT_PRESET = "veryfast"
DEFAULT_CRF = 23
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")

# One test encode per ffmpeg binary per process: (path, version) -> result.
_probe_cache: dict[tuple[str, str], Availability] = {}
_probe_lock = threading.Lock()


def _test_encode(info: ffmpeg.FfmpegInfo) -> Availability:
    key = (info.path, info.version)
    with _probe_lock:
        cached = _probe_cache.get(key)
        if cached is not None:
            return cached
        try:
            ffmpeg.run_ffmpeg([info.path, "-loglevel", "error", "-f", "lavfi",
                               "-i", "testsrc2=size=64x64:rate=1",
                               "-frames:v", "1", "-c:v", "libx264", "-f", "null", "-"])
            result = Availability(True)
        except ffmpeg.FfmpegError as exc:
            result = Availability(False, f"libx264 test encode failed with {info.path}: {exc}")
        _probe_cache[key] = result
        return result


class CpuEncoder:
    name = NAME

    def __init__(self, config: Config) -> None:
        self.config = config
        table = config.table(NAME)
        self.preset = str(table.get("preset", DEFAULT_PRESET))
        self.crf = int(table.get("crf", DEFAULT_CRF))
        self._info: ffmpeg.FfmpegInfo | None = None
        self._availability: Availability | None = None

    def probe(self) -> Availability:
        if self._availability is None:
            self._availability = self._check()
        return self._availability

    def _check(self) -> Availability:
        if self.preset not in PRESETS:
            return Availability(False, f"[cpu] preset {self.preset!r} is not a libx264 preset "
                                       f"({', '.join(PRESETS)})")
        try:
            info = ffmpeg.find_ffmpeg(self.config.env)
        except TgxError as exc:  # TGX_FFMPEG set but broken
            return Availability(False, str(exc))
        if info is None:
            return Availability(False, f"ffmpeg not found ({ffmpeg.INSTALL_HINT})")
        if not info.has_encoder("libx264"):
            return Availability(False, f"{info.path} has no libx264 encoder (use an ffmpeg built with "
                                       "--enable-libx264, e.g. `pip install 'tgx[ffmpeg]'`)")
        result = _test_encode(info)
        if result.available:
            self._info = info
        return result

    def encode(self, job: EncodeJob) -> None:
        if self._info is None and not self.probe().available:
            raise EncodeError(f"cpu: unavailable: {self.probe().reason}")
        assert self._info is not None
        crf = job.crf if job.crf is not None else self.crf
        ffmpeg.encode_mp4(
            job,
            [self._info.path],
            ["-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn",
             "-vf", ffmpeg.long_side_scale(job.max_long_side),
             "-c:v", "libx264", "-preset", self.preset, "-crf", str(crf), "-profile:v", "high",
             "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart"],
            encoder=NAME,
        )


@tgx.hookimpl
def tgx_register_encoders(config: Config) -> EncoderSpec:
    return EncoderSpec(NAME, priority=10, factory=CpuEncoder,
                       description="H.264 in software (libx264); slower, works everywhere")
