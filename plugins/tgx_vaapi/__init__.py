"""The ``vaapi`` encoder: H.264 on the GPU through VA-API (Intel, AMD), tried before ``cpu``.

Availability is decided by a one-frame test encode on the render node, because a device node,
a driver and an ``h264_vaapi`` in ffmpeg can each be present while encoding still fails. When
it fails, ``vainfo`` (libva-utils, if installed) is asked why, so the reason names the fix.

Environment: ``FORCE_CPU_TRANSCODE=1`` turns this encoder off; ``VAAPI_DEVICE_PATH`` picks the
render node (default: the first ``/dev/dri/renderD*``). ``tgx.toml``::

    [vaapi]
    qp = 23    # constant quantizer, used when the export does not pass --crf
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import tgx
from tgx import ffmpeg
from tgx.config import Config
from tgx.errors import EncodeError, TgxError
from tgx.specs import Availability, EncodeJob, EncoderSpec

NAME = "vaapi"
DEFAULT_QP = 23
TRUE_VALUES = ("1", "true", "yes", "on")
DRIVER_HINT = ("install the VA-API driver for this GPU (Intel: intel-media-va-driver or i965-va-driver; "
               "AMD: mesa-va-drivers) or pick it with LIBVA_DRIVER_NAME")
RENDER_GROUP_HINT = "add your user to the 'render' group (sudo usermod -aG render $USER, then log in again)"

# One test encode per (ffmpeg, device) per process.
_probe_cache: dict[tuple[str, str], Availability] = {}
_probe_lock = threading.Lock()


def default_device() -> str | None:
    nodes = sorted(glob.glob("/dev/dri/renderD*"))
    return nodes[0] if nodes else None


def in_render_group() -> bool | None:
    """Whether this process is in the ``render`` group; None when that cannot matter or be known."""
    if os.geteuid() == 0:
        return None
    try:
        import grp

        gid = grp.getgrnam("render").gr_gid
    except (ImportError, KeyError):
        return None
    return gid == os.getegid() or gid in os.getgroups()


# ---------------------------------------------------------------------------------------------
# Explaining a failed test encode


@dataclass(frozen=True, slots=True)
class VaInfo:
    """What ``vainfo --display drm --device NODE`` said."""

    driver: str | None  # "Intel iHD driver for Intel(R) Gen Graphics - 23.1.1 ()"
    h264_encode: bool  # some VAProfileH264* has VAEntrypointEncSlice(LP)
    init_error: str | None  # the line saying why the driver did not initialise


_DRIVER = re.compile(r"Driver version:\s*(.+?)\s*$")
_H264_ENC = re.compile(r"VAProfileH264\w*\s*:\s*VAEntrypointEncSlice")
_INIT_ERRORS = (
    re.compile(r"libva error: .*init failed"),
    re.compile(r"vaInitialize failed.*"),
    re.compile(r"error: failed to initialize display.*"),
    re.compile(r"Failed to open the given device.*"),
)


def parse_vainfo(text: str) -> VaInfo:
    driver = None
    init_error = None
    for line in text.splitlines():
        if driver is None and (m := _DRIVER.search(line)):
            driver = m.group(1)
        if init_error is None:
            for pattern in _INIT_ERRORS:
                if m := pattern.search(line):
                    init_error = m.group(0).rstrip(",exit").strip()
                    break
    return VaInfo(driver, bool(_H264_ENC.search(text)), init_error)


def run_vainfo(device: str, env: Mapping[str, str]) -> VaInfo | None:
    """Ask vainfo about ``device``; None when vainfo is not installed or does not answer."""
    exe = shutil.which("vainfo", path=env.get("PATH", os.defpath))
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "--display", "drm", "--device", device], capture_output=True,
                              timeout=15, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_vainfo(done.stdout.decode(errors="replace") + "\n" + done.stderr.decode(errors="replace"))


_ADDR = re.compile(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*")
_FFMPEG_INIT = (
    re.compile(r"libva error: .*init failed"),
    re.compile(r"Failed to initialise VAAPI connection.*"),
    re.compile(r"No VA display found.*"),
)


# Static ffmpeg builds (imageio-ffmpeg) load libva at run time and abort when it is absent:
# "libva-drm.so.2.init.c:122: load_library: Assertion `0 && ...' failed."
_LIB_MISSING = re.compile(r"(libva[\w-]*\.so(?:\.\d+)?)\S*: load_library")


def _ffmpeg_init_error(lines: Sequence[str]) -> str | None:
    for pattern in _FFMPEG_INIT:  # most specific first
        for line in lines:
            if m := pattern.search(_ADDR.sub("", line.strip())):
                return m.group(0).rstrip(".")
    return None


def explain_failure(device: str, error: ffmpeg.FfmpegError, vainfo: VaInfo | None,
                    render_member: bool | None) -> str:
    """One actionable sentence for a failed h264_vaapi test encode."""
    missing = next((m.group(1) for line in error.stderr_tail if (m := _LIB_MISSING.search(line))), None)
    init = _ffmpeg_init_error(error.stderr_tail) or (vainfo.init_error if vainfo else None)
    if missing:
        reason = (f"the VA-API library {missing} could not be loaded (install libva and libva-drm, "
                  f"e.g. libva-drm2, plus a VA-API driver); {DRIVER_HINT}")
    elif init:
        reason = f"VA-API driver failed to initialise on {device} ({init}); {DRIVER_HINT}"
    elif vainfo is not None and vainfo.driver and not vainfo.h264_encode:
        reason = (f"driver {vainfo.driver} on {device} has no H.264 encode entrypoint "
                  "(no VAProfileH264*: VAEntrypointEncSlice in vainfo) — this GPU/driver cannot "
                  "encode H.264")
    else:
        driver = f" (driver {vainfo.driver})" if vainfo and vainfo.driver else ""
        reason = f"h264_vaapi test encode failed on {device}{driver}: {error}"
    if vainfo is None:
        reason += "; install vainfo (libva-utils) for a diagnosis"
    if render_member is False:
        reason += f"; you are not in the 'render' group: {RENDER_GROUP_HINT}"
    return reason


# ---------------------------------------------------------------------------------------------
# The encoder


def _test_encode(info: ffmpeg.FfmpegInfo, device: str, env: Mapping[str, str]) -> Availability:
    key = (info.path, device)
    with _probe_lock:
        cached = _probe_cache.get(key)
        if cached is not None:
            return cached
        try:
            ffmpeg.run_ffmpeg([info.path, "-loglevel", "error", "-vaapi_device", device,
                               "-f", "lavfi", "-i", "testsrc2=size=256x144:rate=1",
                               "-vf", "format=nv12|vaapi,hwupload", "-c:v", "h264_vaapi",
                               "-frames:v", "1", "-f", "null", "-"])
            result = Availability(True)
        except ffmpeg.FfmpegError as exc:
            result = Availability(False, explain_failure(device, exc, run_vainfo(device, env),
                                                         in_render_group()))
        _probe_cache[key] = result
        return result


class VaapiEncoder:
    name = NAME

    def __init__(self, config: Config) -> None:
        self.config = config
        self.qp = int(config.table(NAME).get("qp", DEFAULT_QP))
        self.device: str | None = None
        self._info: ffmpeg.FfmpegInfo | None = None
        self._availability: Availability | None = None

    def probe(self) -> Availability:
        if self._availability is None:
            self._availability = self._check()
        return self._availability

    def _check(self) -> Availability:
        env = self.config.env
        if env.get("FORCE_CPU_TRANSCODE", "").strip().lower() in TRUE_VALUES:
            return Availability(False, "FORCE_CPU_TRANSCODE is set")
        try:
            info = ffmpeg.find_ffmpeg(env)
        except TgxError as exc:
            return Availability(False, str(exc))
        if info is None:
            return Availability(False, f"ffmpeg not found ({ffmpeg.INSTALL_HINT})")
        if not info.has_encoder("h264_vaapi"):
            return Availability(False, f"{info.path} has no h264_vaapi encoder (an ffmpeg built without "
                                       "--enable-vaapi; `pip install 'tgx[ffmpeg]'` has one)")
        device = env.get("VAAPI_DEVICE_PATH") or default_device()
        if device is None:
            return Availability(False, "no VA-API render device (/dev/dri/renderD* not found: no GPU, "
                                       "or a container started without --device /dev/dri); "
                                       "set VAAPI_DEVICE_PATH if it lives elsewhere")
        if not os.path.exists(device):
            return Availability(False, f"VA-API device {device} does not exist (check VAAPI_DEVICE_PATH)")
        if not os.access(device, os.R_OK | os.W_OK):
            return Availability(False, f"cannot open {device}: permission denied — {RENDER_GROUP_HINT}")
        result = _test_encode(info, device, env)
        if result.available:
            self._info, self.device = info, device
        return result

    def encode(self, job: EncodeJob) -> None:
        if self._info is None and not self.probe().available:
            raise EncodeError(f"vaapi: unavailable: {self.probe().reason}")
        assert self._info is not None and self.device is not None
        qp = job.crf if job.crf is not None else self.qp
        ffmpeg.encode_mp4(
            job,
            [self._info.path, "-vaapi_device", self.device],
            ["-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn",
             "-vf", f"format=nv12|vaapi,hwupload,{ffmpeg.long_side_scale(job.max_long_side, 'scale_vaapi')}",
             "-c:v", "h264_vaapi", "-qp", str(qp), "-profile:v", "high",
             "-c:a", "aac", "-movflags", "+faststart"],
            encoder=NAME,
        )


@tgx.hookimpl
def tgx_register_encoders(config: Config) -> EncoderSpec:
    return EncoderSpec(NAME, priority=20, factory=VaapiEncoder,
                       description="H.264 on the GPU via VA-API (Intel/AMD); fast, needs /dev/dri")
