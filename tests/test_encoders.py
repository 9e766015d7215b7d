"""Video encoders: ffmpeg discovery and probing, the cpu and vaapi plugins, selection and fallback.

The CPU path runs the real ffmpeg from imageio-ffmpeg on clips generated here (lavfi testsrc2 +
sine). The VA-API path runs against tests/fakes/fake_ffmpeg.py and fake_vainfo.py, which print
what real ffmpeg/vainfo print on a working GPU, with no VA display, with a driver that fails to
initialise and with one that cannot encode H.264; their non-VA-API commands go to the real ffmpeg.
A test marked ``vaapi`` runs the real GPU path where a /dev/dri/renderD* node exists.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pluggy
import pytest
import tgx_cpu
import tgx_vaapi
from tgx import ffmpeg, hookspecs
from tgx.config import Config
from tgx.errors import DependencyError, EncodeError, Interrupted, UsageError
from tgx.host.manager import get_plugin_manager
from tgx.media.encoders import EncodePool, EncoderChain, incompatibility, needs_transcode, parse_transcode_mode
from tgx.specs import Availability, EncodeJob, EncoderSpec

FAKES = Path(__file__).parent / "fakes"


# ---------------------------------------------------------------------------------------------
# Fixtures: real ffmpeg, generated clips, fake ffmpeg/vainfo


@pytest.fixture(scope="session")
def real_ffmpeg() -> str:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    return imageio_ffmpeg.get_ffmpeg_exe()


def _generate(ffmpeg_exe: str, out: Path, *args: str) -> Path:
    subprocess.run([ffmpeg_exe, "-y", "-hide_banner", "-loglevel", "error", *args, str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def clips(real_ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    return {
        # Already what Telegram plays inline: H.264 High yuv420p + AAC in MP4, 320x240, 2 s.
        "compatible": _generate(real_ffmpeg, d / "compatible.mp4", "-f", "lavfi", "-i",
                                "testsrc2=size=320x240:rate=25", *sine, "-t", "2", "-c:v", "libx264",
                                "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
        # Everything wrong: WebM, VP9 profile 2 (10-bit), Opus, 2560x1440.
        "webm10": _generate(real_ffmpeg, d / "big10bit.webm", "-f", "lavfi", "-i",
                            "testsrc2=size=2560x1440:rate=10", *sine, "-t", "1", "-c:v", "libvpx-vp9",
                            "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
                            "-pix_fmt", "yuv420p10le", "-c:a", "libopus"),
        # Odd-sized portrait video without audio, in Matroska (lossless FFV1 takes odd sizes).
        "portrait_odd": _generate(real_ffmpeg, d / "portrait.mkv", "-f", "lavfi", "-i",
                                  "testsrc2=size=181x321:rate=10", "-t", "1", "-c:v", "ffv1"),
        "audio_only": _generate(real_ffmpeg, d / "voice.m4a", *sine, "-t", "1", "-c:a", "aac"),
    }


@pytest.fixture(scope="session")
def sample_mp4(clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real libx264 MP4 made by the cpu encoder; the fake VA-API ffmpeg "encodes" to it."""
    out = tmp_path_factory.mktemp("sample") / "sample.mp4"
    tgx_cpu.CpuEncoder(Config(env=dict(os.environ))).encode(EncodeJob(clips["compatible"], out))
    return out


@pytest.fixture
def corrupt(tmp_path: Path) -> Path:
    """64 KiB of noise, the same bytes every run: fresh random bytes are now and then probed as
    some raw format by ffmpeg and decode "fine" (a flaky test, seen in a full run)."""
    path = tmp_path / "broken.mp4"
    path.write_bytes(random.Random(1).randbytes(64 * 1024))
    return path


def _wrapper(path: Path, script: str) -> None:
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / script}" "$@"\n')
    path.chmod(0o755)


class FakeGpu:
    """A PATH with the fake ffmpeg (and optionally vainfo), a fake render node, and a config."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real: str, sample: Path):
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.log = tmp_path / "ffmpeg-calls.jsonl"
        self.device = tmp_path / "renderD128"
        self.device.write_bytes(b"")
        self.monkeypatch = monkeypatch
        _wrapper(self.bin / "ffmpeg", "fake_ffmpeg.py")
        monkeypatch.delenv("TGX_FFMPEG", raising=False)
        monkeypatch.delenv("FORCE_CPU_TRANSCODE", raising=False)
        monkeypatch.setenv("PATH", str(self.bin))
        monkeypatch.setenv("FAKE_FFMPEG_REAL", real)
        monkeypatch.setenv("FAKE_FFMPEG_SAMPLE", str(sample))
        monkeypatch.setenv("FAKE_FFMPEG_LOG", str(self.log))
        monkeypatch.setenv("VAAPI_DEVICE_PATH", str(self.device))

    def config(self, vaapi: str = "ok", vainfo: str | None = "ok", *, no_vaapi_encoder: bool = False,
               **env: str) -> Config:
        self.monkeypatch.setenv("FAKE_VAAPI", vaapi)
        if vainfo is not None:
            _wrapper(self.bin / "vainfo", "fake_vainfo.py")
            self.monkeypatch.setenv("FAKE_VAINFO", vainfo)
        if no_vaapi_encoder:
            self.monkeypatch.setenv("FAKE_FFMPEG_NO_VAAPI", "1")
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)
        return Config(env=dict(os.environ))

    def calls(self, kind: str) -> list[list[str]]:
        """Logged fake-ffmpeg argvs: "vaapi_test" (one-frame probes) or "vaapi_encode" (files)."""
        if not self.log.exists():
            return []
        argvs = [json.loads(line) for line in self.log.read_text().splitlines()]
        vaapi = [a for a in argvs if "-vaapi_device" in a]
        if kind == "vaapi_test":
            return [a for a in vaapi if a[-1] == "-"]
        return [a for a in vaapi if a[-1] != "-"]


@pytest.fixture
def gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_ffmpeg: str, sample_mp4: Path) -> FakeGpu:
    return FakeGpu(tmp_path, monkeypatch, real_ffmpeg, sample_mp4)


def builtin_specs(config: Config) -> list[EncoderSpec]:
    return [tgx_vaapi.tgx_register_encoders(config=config), tgx_cpu.tgx_register_encoders(config=config)]


def chain_of(config: Config, pinned: str | None = None, **kw) -> EncoderChain:
    warnings: list[str] = []
    chain = EncoderChain(builtin_specs(config), config, pinned, warn=warnings.append, **kw)
    chain.warnings = warnings  # type: ignore[attr-defined]
    return chain


def top_level_boxes(path: Path) -> list[str]:
    """MP4 top-level box types, read independently of tgx's own parser."""
    data = path.read_bytes()
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        pos += size
    return boxes


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# tgx.ffmpeg: discovery


def test_find_ffmpeg_uses_tgx_ffmpeg_first(gpu: FakeGpu, real_ffmpeg: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TGX_FFMPEG", real_ffmpeg)
    info = ffmpeg.find_ffmpeg(dict(os.environ))
    assert info is not None and info.source == "TGX_FFMPEG" and info.path == real_ffmpeg
    assert info.has_encoder("libx264") and info.has_encoder("aac")
    assert info.version != "unknown"


def test_find_ffmpeg_then_path_then_wheel(gpu: FakeGpu, tmp_path: Path, real_ffmpeg: str):
    info = ffmpeg.find_ffmpeg(dict(os.environ))
    assert info is not None and info.source == "PATH" and info.path == str(gpu.bin / "ffmpeg")
    empty = tmp_path / "empty"
    empty.mkdir()
    info = ffmpeg.find_ffmpeg({"PATH": str(empty)})
    assert info is not None and info.source == "imageio-ffmpeg"
    assert os.path.samefile(info.path, real_ffmpeg)


@pytest.mark.parametrize("broken", ["missing", "not-ffmpeg"])
def test_broken_tgx_ffmpeg_is_an_error_naming_it(tmp_path: Path, broken: str):
    target = tmp_path / "ffmpeg"
    if broken == "not-ffmpeg":
        target.write_text("#!/bin/sh\necho 'segfault' >&2\nexit 3\n")
        target.chmod(0o755)
    with pytest.raises(DependencyError) as err:
        ffmpeg.find_ffmpeg({"TGX_FFMPEG": str(target), "PATH": str(tmp_path)})
    assert f"TGX_FFMPEG={target}" in err.value.message
    assert "\n" not in err.value.message


def test_no_ffmpeg_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # the optional extra is not installed
    env = {"PATH": str(tmp_path)}
    assert ffmpeg.find_ffmpeg(env) is None
    with pytest.raises(DependencyError) as err:
        ffmpeg.require_ffmpeg(env)
    assert "ffmpeg not found" in err.value.message and "tgx[ffmpeg]" in (err.value.hint or "")
    # The chain says it in one line, not once per encoder.
    chain = chain_of(Config(env=env))
    with pytest.raises(DependencyError) as err:
        chain.select()
    assert err.value.message.startswith("no video encoder is available: ffmpeg not found")
    assert "vaapi:" not in err.value.message and "\n" not in err.value.message


# ---------------------------------------------------------------------------------------------
# tgx.ffmpeg: probing and running


def test_probe_media_reports_what_ffprobe_would(clips: dict[str, Path], real_ffmpeg: str):
    info = ffmpeg.probe_media(clips["compatible"], real_ffmpeg)
    assert info.is_mp4_family and info.major_brand == "isom"
    assert (info.video_codec, info.video_profile) == ("h264", "High")
    assert (info.pix_fmt, info.bit_depth) == ("yuv420p", 8)
    assert (info.width, info.height, info.audio_codec) == (320, 240, "aac")
    assert info.duration == pytest.approx(2.0, abs=0.1)

    webm = ffmpeg.probe_media(clips["webm10"], real_ffmpeg)
    assert not webm.is_mp4_family and webm.container.startswith("matroska")
    assert (webm.video_codec, webm.pix_fmt, webm.bit_depth) == ("vp9", "yuv420p10le", 10)
    assert (webm.width, webm.height, webm.audio_codec) == (2560, 1440, "opus")

    audio = ffmpeg.probe_media(clips["audio_only"], real_ffmpeg)
    assert not audio.has_video and audio.audio_codec == "aac"


def test_probe_media_of_garbage_is_a_probe_error(corrupt: Path, real_ffmpeg: str):
    with pytest.raises(ffmpeg.ProbeError) as err:
        ffmpeg.probe_media(corrupt, real_ffmpeg)
    assert "broken.mp4" in err.value.message and "Invalid data" in err.value.message


# ffprobe's JSON for an iPhone-style MOV: cover art first, HEVC Main 10, HE-AAC (ffprobe 6.1).
FFPROBE_MOV = {
    "streams": [
        {"index": 0, "codec_name": "mjpeg", "profile": "Baseline", "codec_type": "video", "width": 600,
         "height": 600, "pix_fmt": "yuvj420p", "disposition": {"default": 0, "attached_pic": 1}},
        {"index": 1, "codec_name": "hevc", "profile": "Main 10", "codec_type": "video", "width": 3840,
         "height": 2160, "pix_fmt": "yuv420p10le", "duration": "62.500000",
         "disposition": {"default": 1, "attached_pic": 0}},
        {"index": 2, "codec_name": "aac", "profile": "HE-AAC", "codec_type": "audio", "sample_rate": "44100",
         "channels": 2, "disposition": {"default": 1, "attached_pic": 0}},
    ],
    "format": {"filename": "x.mov", "nb_streams": 3, "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
               "duration": "62.500000", "tags": {"major_brand": "qt  ", "minor_version": "0"}},
}


@pytest.fixture
def with_ffprobe(tmp_path: Path, real_ffmpeg: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """An ffmpeg (the real one, through a wrapper) with the fake ffprobe beside it."""
    bin_dir, answers = tmp_path / "probe-bin", tmp_path / "answers"
    bin_dir.mkdir()
    answers.mkdir()
    (bin_dir / "ffmpeg").write_text(f'#!/bin/sh\nexec "{real_ffmpeg}" "$@"\n')
    (bin_dir / "ffmpeg").chmod(0o755)
    _wrapper(bin_dir / "ffprobe", "fake_ffprobe.py")
    monkeypatch.setenv("FAKE_FFPROBE_ANSWERS", str(answers))
    monkeypatch.setenv("FAKE_FFPROBE_LOG", str(tmp_path / "ffprobe-calls.jsonl"))
    return {"ffmpeg": bin_dir / "ffmpeg", "answers": answers, "log": tmp_path / "ffprobe-calls.jsonl"}


def test_probe_media_asks_the_ffprobe_beside_ffmpeg(with_ffprobe: dict[str, Path], tmp_path: Path):
    movie = tmp_path / "x.mov"
    movie.write_bytes(b"not read by the fake")
    (with_ffprobe["answers"] / "x.mov.json").write_text(json.dumps(FFPROBE_MOV))
    assert ffmpeg.find_ffprobe(with_ffprobe["ffmpeg"]) == str(with_ffprobe["ffmpeg"].with_name("ffprobe"))
    info = ffmpeg.probe_media(movie, str(with_ffprobe["ffmpeg"]))
    assert info.container == "mov,mp4,m4a,3gp,3g2,mj2" and info.is_mp4_family
    assert info.duration == pytest.approx(62.5)
    assert (info.video_codec, info.video_profile, info.bit_depth) == ("hevc", "Main 10", 10)  # not the cover
    assert (info.width, info.height, info.pix_fmt) == (3840, 2160, "yuv420p10le")
    assert (info.audio_codec, info.audio_profile, info.major_brand) == ("aac", "HE-AAC", "qt")
    argv = json.loads(with_ffprobe["log"].read_text().splitlines()[0])
    assert argv[:6] == ["-v", "error", "-of", "json", "-show_format", "-show_streams"]


def test_ffprobe_and_ffmpeg_i_agree_on_a_real_clip(with_ffprobe: dict[str, Path], clips: dict[str, Path],
                                                    real_ffmpeg: str):
    """The same facts through both parsers: the fake answers with the JSON a real ffprobe gives
    for the 'compatible' clip (H.264 High + AAC LC in MP4, 320x240, 2 s)."""
    (with_ffprobe["answers"] / "compatible.mp4.json").write_text(json.dumps({
        "streams": [
            {"index": 0, "codec_name": "h264", "profile": "High", "codec_type": "video", "width": 320,
             "height": 240, "pix_fmt": "yuv420p", "disposition": {"attached_pic": 0}},
            {"index": 1, "codec_name": "aac", "profile": "LC", "codec_type": "audio",
             "disposition": {"attached_pic": 0}},
        ],
        "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "2.000000",
                   "tags": {"major_brand": "isom"}},
    }))
    from_json = ffmpeg.probe_media(clips["compatible"], str(with_ffprobe["ffmpeg"]))
    from_stderr = ffmpeg.probe_media(clips["compatible"], real_ffmpeg)  # imageio's: no ffprobe beside it
    assert ffmpeg.find_ffprobe(real_ffmpeg) is None
    keep = ("container", "video_codec", "video_profile", "pix_fmt", "width", "height", "bit_depth",
            "audio_codec", "audio_profile", "major_brand")
    assert {k: getattr(from_json, k) for k in keep} == {k: getattr(from_stderr, k) for k in keep}
    assert from_json.duration == pytest.approx(from_stderr.duration, abs=0.1)


def test_ffprobe_on_garbage_is_a_probe_error_naming_the_file(with_ffprobe: dict[str, Path], corrupt: Path):
    (with_ffprobe["answers"] / "broken.mp4.err").write_text("{path}: Invalid data found when processing input\n")
    with pytest.raises(ffmpeg.ProbeError) as err:
        ffmpeg.probe_media(corrupt, str(with_ffprobe["ffmpeg"]))
    assert "broken.mp4" in err.value.message and "Invalid data" in err.value.message


def test_a_broken_ffprobe_falls_back_to_ffmpeg_i(with_ffprobe: dict[str, Path], clips: dict[str, Path]):
    info = ffmpeg.probe_media(clips["compatible"], str(with_ffprobe["ffmpeg"]))  # no answer: exits 2
    assert with_ffprobe["log"].is_file()  # it was asked
    assert (info.video_codec, info.width, info.audio_codec) == ("h264", 320, "aac")


def test_parse_ffprobe_json_rejects_what_is_not_a_probe():
    assert ffmpeg.parse_ffprobe_json("not json") is None
    assert ffmpeg.parse_ffprobe_json('{"streams": []}') is None
    info = ffmpeg.parse_ffprobe_json('{"format": {"format_name": "ogg", "duration": "N/A"}, "streams": '
                                     '[{"codec_type": "audio", "codec_name": "opus", "profile": "unknown"}]}')
    assert info is not None and info.duration is None and not info.has_video
    assert (info.audio_codec, info.audio_profile) == ("opus", None)


def test_parse_probe_skips_cover_art_and_reads_profiles():
    stderr = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mov':
  Metadata:
    major_brand     : qt
  Duration: 00:01:02.50, start: 0.000000, bitrate: 1000 kb/s
  Stream #0:0[0x1](und): Video: mjpeg (Baseline) (jpeg / 0x6765706A), yuvj420p(pc, bt470bg/unknown/unknown), 600x600, 90k tbr (attached pic)
  Stream #0:1[0x2](und): Video: hevc (Main 10) (hvc1 / 0x31637668), yuv420p10le(tv, bt2020nc/bt2020/smpte2084), 3840x2160 [SAR 1:1 DAR 16:9], 30 fps
  Stream #0:2[0x3](und): Audio: aac (HE-AAC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 64 kb/s
At least one output file must be specified
"""  # noqa: E501
    info = ffmpeg.parse_probe(stderr)
    assert info is not None
    assert info.duration == pytest.approx(62.5)
    assert (info.video_codec, info.video_profile, info.bit_depth) == ("hevc", "Main 10", 10)
    assert (info.width, info.height) == (3840, 2160)
    assert (info.audio_codec, info.audio_profile, info.major_brand) == ("aac", "HE-AAC", "qt")
    assert ffmpeg.parse_probe("x.bin: Invalid data found when processing input") is None
    assert [ffmpeg.bit_depth(f) for f in ("yuv420p", "nv12", "p010le", "yuv444p12le", "gray10le")] == [
        8, 8, 10, 12, 10]


def test_run_ffmpeg_reports_progress_and_the_telling_error_line(real_ffmpeg: str, tmp_path: Path):
    seen: list[float] = []
    ffmpeg.run_ffmpeg([real_ffmpeg, "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25", "-t", "2",
                       "-f", "null", "-"], 2.0, seen.append)
    assert seen and seen[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in seen)
    assert seen == sorted(seen)
    with pytest.raises(ffmpeg.FfmpegError) as err:
        ffmpeg.run_ffmpeg([real_ffmpeg, "-i", str(tmp_path / "nope.mp4"), "-f", "null", "-"])
    assert "No such file or directory" in err.value.message
    assert err.value.returncode != 0 and err.value.stderr_tail


# ---------------------------------------------------------------------------------------------
# What needs transcoding


def test_needs_transcode_modes(clips: dict[str, Path], real_ffmpeg: str):
    good = ffmpeg.probe_media(clips["compatible"], real_ffmpeg)
    bad = ffmpeg.probe_media(clips["webm10"], real_ffmpeg)
    audio = ffmpeg.probe_media(clips["audio_only"], real_ffmpeg)
    assert [needs_transcode(good, m) for m in ("never", "incompatible", "always")] == [False, False, True]
    assert [needs_transcode(bad, m) for m in ("never", "incompatible", "always")] == [False, True, True]
    assert not any(needs_transcode(audio, m) for m in ("never", "incompatible", "always"))
    assert incompatibility(good) is None
    assert incompatibility(bad) == "container matroska"
    assert needs_transcode(good, "incompatible", max_long_side=200)  # 320 > 200
    assert parse_transcode_mode(None) == "never" and parse_transcode_mode("Always") == "always"
    with pytest.raises(UsageError):
        parse_transcode_mode("sometimes")


# ---------------------------------------------------------------------------------------------
# The cpu encoder, for real


def test_cpu_encode_makes_an_archive_friendly_mp4(clips: dict[str, Path], real_ffmpeg: str, tmp_path: Path):
    source = clips["webm10"]
    before = digest(source)
    dest = tmp_path / "out" / "big.mp4"
    seen: list[float] = []
    config = Config(env={**os.environ, "TGX_FFMPEG": real_ffmpeg})
    encoder = tgx_cpu.CpuEncoder(config)
    assert encoder.probe() == Availability(True)
    encoder.encode(EncodeJob(source, dest, progress=seen.append))

    info = ffmpeg.probe_media(dest, real_ffmpeg)
    assert info.is_mp4_family
    assert (info.video_codec, info.video_profile) == ("h264", "High")
    assert (info.pix_fmt, info.bit_depth) == ("yuv420p", 8)
    assert info.audio_codec == "aac"
    assert (info.width, info.height) == (1920, 1080)  # 2560x1440 capped at 1920, aspect kept
    boxes = top_level_boxes(dest)
    assert boxes.index("moov") < boxes.index("mdat"), f"not faststart: {boxes}"
    assert incompatibility(info) is None
    assert seen and seen[-1] == 1.0
    assert not (dest.parent / "big.mp4.part").exists()
    assert digest(source) == before


def test_cpu_keeps_small_videos_small_and_sizes_even(clips: dict[str, Path], real_ffmpeg: str,
                                                     tmp_path: Path):
    encoder = tgx_cpu.CpuEncoder(Config(env={**os.environ, "TGX_FFMPEG": real_ffmpeg}))
    same = tmp_path / "same.mp4"
    encoder.encode(EncodeJob(clips["portrait_odd"], same))  # 181x321: never upscaled, made even
    info = ffmpeg.probe_media(same, real_ffmpeg)
    assert (info.width, info.height) == (180, 320)
    assert info.audio_codec is None  # no audio in, none out
    small = tmp_path / "small.mp4"
    encoder.encode(EncodeJob(clips["portrait_odd"], small, max_long_side=100, crf=30))
    info = ffmpeg.probe_media(small, real_ffmpeg)
    assert info.height == 100 and info.width % 2 == 0 and 54 <= info.width <= 58


def test_cpu_on_a_corrupt_file_raises_and_leaves_nothing(corrupt: Path, real_ffmpeg: str, tmp_path: Path):
    before = digest(corrupt)
    dest = tmp_path / "out.mp4"
    encoder = tgx_cpu.CpuEncoder(Config(env={**os.environ, "TGX_FFMPEG": real_ffmpeg}))
    with pytest.raises(EncodeError) as err:
        encoder.encode(EncodeJob(corrupt, dest))
    assert err.value.message.startswith("cpu: ") and "Invalid data" in err.value.message
    assert digest(corrupt) == before
    assert not dest.exists() and not (tmp_path / "out.mp4.part").exists()


def test_corrupt_sources_fail_the_file_not_the_encoder(corrupt: Path, clips: dict[str, Path],
                                                       real_ffmpeg: str, tmp_path: Path):
    config = Config(env={**os.environ, "TGX_FFMPEG": real_ffmpeg, "FORCE_CPU_TRANSCODE": "1"})
    chain = chain_of(config)
    for i in range(4):  # more than max_failures: a broken source is not the encoder's fault
        with pytest.raises(EncodeError) as err:
            chain.encode(EncodeJob(corrupt, tmp_path / f"out{i}.mp4"))
        assert "kept the original" in err.value.message
    assert chain.encode(EncodeJob(clips["compatible"], tmp_path / "ok.mp4")) == "cpu"
    stats = chain.stats()
    assert stats["source_failures"] == 4
    assert stats["encoders"]["cpu"] == {"attempts": 5, "successes": 1, "failures": 4, "fallbacks": 0,
                                        "disabled": 0}
    assert list(tmp_path.glob("*.part")) == []


# ---------------------------------------------------------------------------------------------
# The vaapi encoder, against fake ffmpeg/vainfo


def test_vaapi_ok_is_chosen_and_encodes(gpu: FakeGpu, clips: dict[str, Path], tmp_path: Path,
                                        real_ffmpeg: str):
    chain = chain_of(gpu.config("ok"))
    assert chain.select().name == "vaapi"
    seen: list[float] = []
    dest = tmp_path / "v.mp4"
    assert chain.encode(EncodeJob(clips["webm10"], dest, progress=seen.append)) == "vaapi"
    assert ffmpeg.probe_media(dest, real_ffmpeg).video_codec == "h264"
    assert seen[-1] == 1.0 and seen == sorted(seen)
    argv = gpu.calls("vaapi_encode")[0]
    assert argv[argv.index("-vaapi_device") + 1] == str(gpu.device)
    vf = argv[argv.index("-vf") + 1]
    assert vf.startswith("format=nv12|vaapi,hwupload,scale_vaapi=") and "1920" in vf
    assert argv[argv.index("-c:v") + 1] == "h264_vaapi" and argv[argv.index("-qp") + 1] == "23"
    assert "+faststart" in argv and argv[-1].endswith("v.mp4.part")
    assert chain.stats()["encoders"]["vaapi"]["successes"] == 1


def test_vaapi_test_encode_is_cached_per_ffmpeg_and_device(gpu: FakeGpu):
    config = gpu.config("ok")
    assert tgx_vaapi.VaapiEncoder(config).probe().available
    assert tgx_vaapi.VaapiEncoder(config).probe().available
    assert len(gpu.calls("vaapi_test")) == 1


@pytest.mark.parametrize(
    ("vaapi", "vainfo", "expected"),
    [
        ("no_display", "no_display",
         ["VA-API driver failed to initialise", "No VA display found for device"]),
        ("init_failed", "init_failed",
         ["VA-API driver failed to initialise", "iHD_drv_video.so init failed", "intel-media-va-driver"]),
        ("no_encode", "no_encode",
         ["driver Mesa Gallium driver 24.0.5 for AMD Radeon RX 6600", "has no H.264 encode entrypoint"]),
        ("no_display", None, ["No VA display found", "install vainfo (libva-utils)"]),
        ("no_encode", None, ["h264_vaapi test encode failed", "No usable encoding entrypoint found"]),
    ],
)
def test_vaapi_unavailable_says_why(gpu: FakeGpu, vaapi: str, vainfo: str | None, expected: list[str]):
    config = gpu.config(vaapi, vainfo)
    availability = tgx_vaapi.VaapiEncoder(config).probe()
    assert not availability.available
    for text in expected:
        assert text in availability.reason
    assert str(gpu.device) in availability.reason
    assert "\n" not in availability.reason
    chain = chain_of(config)
    assert chain.select().name == "cpu"  # and the export goes on with the CPU


def test_vaapi_prechecks_in_order(gpu: FakeGpu, tmp_path: Path):
    reason = tgx_vaapi.VaapiEncoder(gpu.config("ok", FORCE_CPU_TRANSCODE="1")).probe().reason
    assert reason == "FORCE_CPU_TRANSCODE is set"
    gpu.monkeypatch.delenv("FORCE_CPU_TRANSCODE")
    missing = tmp_path / "renderD999"
    reason = tgx_vaapi.VaapiEncoder(gpu.config("ok", VAAPI_DEVICE_PATH=str(missing))).probe().reason
    assert reason == f"VA-API device {missing} does not exist (check VAAPI_DEVICE_PATH)"
    assert gpu.calls("vaapi_test") == []  # none of these got as far as a test encode


def test_vaapi_needs_h264_vaapi_in_ffmpeg(gpu: FakeGpu):
    reason = tgx_vaapi.VaapiEncoder(gpu.config("ok", no_vaapi_encoder=True)).probe().reason
    assert reason.startswith(f"{gpu.bin / 'ffmpeg'} has no h264_vaapi encoder")
    assert gpu.calls("vaapi_test") == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can open any file")
def test_vaapi_unreadable_device_points_at_the_render_group(gpu: FakeGpu):
    gpu.device.chmod(0)
    reason = tgx_vaapi.VaapiEncoder(gpu.config("ok")).probe().reason
    assert "permission denied" in reason and "'render' group" in reason


def test_force_cpu_transcode_selects_cpu(gpu: FakeGpu, clips: dict[str, Path], tmp_path: Path):
    chain = chain_of(gpu.config("ok", FORCE_CPU_TRANSCODE="1"))
    assert chain.encode(EncodeJob(clips["compatible"], tmp_path / "c.mp4")) == "cpu"
    assert gpu.calls("vaapi_test") == [] and gpu.calls("vaapi_encode") == []


# ---------------------------------------------------------------------------------------------
# Fallback, repeated failures, pinning, disabling


def test_vaapi_failure_falls_back_to_cpu_and_is_counted(gpu: FakeGpu, clips: dict[str, Path], tmp_path: Path,
                                                        real_ffmpeg: str):
    chain = chain_of(gpu.config("encode_fails"))
    assert chain.select().name == "vaapi"  # the test encode passes
    dest = tmp_path / "f.mp4"
    assert chain.encode(EncodeJob(clips["webm10"], dest)) == "cpu"
    info = ffmpeg.probe_media(dest, real_ffmpeg)
    assert (info.video_codec, info.width) == ("h264", 1920)
    assert chain.stats()["encoders"] == {
        "vaapi": {"attempts": 1, "successes": 0, "failures": 1, "fallbacks": 1, "disabled": 0},
        "cpu": {"attempts": 1, "successes": 1, "failures": 0, "fallbacks": 0, "disabled": 0},
    }
    assert any("encoder vaapi failed" in w and "Encode failed" in w for w in chain.warnings)
    assert list(tmp_path.glob("*.part")) == []


def test_an_encoder_that_keeps_failing_is_dropped(gpu: FakeGpu, clips: dict[str, Path], tmp_path: Path):
    chain = chain_of(gpu.config("encode_fails"), max_failures=2)
    for i in range(4):
        assert chain.encode(EncodeJob(clips["compatible"], tmp_path / f"{i}.mp4")) == "cpu"
    assert len(gpu.calls("vaapi_encode")) == 2  # tried twice, then left alone
    vaapi = chain.stats()["encoders"]["vaapi"]
    assert (vaapi["attempts"], vaapi["failures"], vaapi["disabled"]) == (2, 2, 1)
    assert chain.stats()["encoders"]["cpu"]["successes"] == 4
    assert chain.select().name == "cpu"
    assert any("not using it for the rest of this run" in w for w in chain.warnings)


def test_pinning_an_unavailable_encoder_says_why(gpu: FakeGpu, clips: dict[str, Path], tmp_path: Path):
    config = gpu.config("no_display", "no_display")
    with pytest.raises(DependencyError) as err:
        chain_of(config, pinned="vaapi").select()
    assert err.value.message.startswith("encoder 'vaapi' is unavailable: VA-API driver failed to initialise")
    with pytest.raises(DependencyError) as err:
        chain_of(config, pinned="vaapi").encode(EncodeJob(clips["compatible"], tmp_path / "x.mp4"))
    assert err.value.exit_code == 8
    with pytest.raises(DependencyError) as err:
        chain_of(config, pinned="nvenc").select()
    assert err.value.message == "unknown encoder 'nvenc' (known: vaapi, cpu)"


def test_pinned_encoder_does_not_fall_back(gpu: FakeGpu, clips: dict[str, Path], tmp_path: Path):
    chain = chain_of(gpu.config("encode_fails"), pinned="vaapi")
    with pytest.raises(EncodeError) as err:
        chain.encode(EncodeJob(clips["compatible"], tmp_path / "p.mp4"))
    assert "vaapi: Encode failed" in err.value.message
    assert chain.stats()["encoders"]["cpu"]["attempts"] == 0
    assert chain_of(gpu.config("ok"), pinned="cpu").encode(
        EncodeJob(clips["compatible"], tmp_path / "c.mp4")) == "cpu"


def test_disabling_the_vaapi_plugin_leaves_cpu(gpu: FakeGpu, clips: dict[str, Path], tmp_path: Path):
    config = gpu.config("ok")
    config.disable = ["vaapi"]
    pm = get_plugin_manager(config, load_entrypoints=False, warn=lambda message: None)
    chain = EncoderChain.from_plugins(pm, config, warn=lambda message: None)
    assert chain.names == ["cpu"]
    assert chain.encode(EncodeJob(clips["compatible"], tmp_path / "d.mp4")) == "cpu"
    assert gpu.calls("vaapi_test") == []

    only_cpu = pluggy.PluginManager(hookspecs.PROJECT)
    only_cpu.add_hookspecs(hookspecs)
    only_cpu.register(tgx_cpu, name="cpu")
    assert EncoderChain.from_plugins(only_cpu, config).names == ["cpu"]

    nothing = pluggy.PluginManager(hookspecs.PROJECT)
    nothing.add_hookspecs(hookspecs)
    with pytest.raises(DependencyError) as err:
        EncoderChain.from_plugins(nothing, config).select()
    assert "no video encoder is registered" in err.value.message


def test_a_broken_encoder_plugin_is_unavailable_not_fatal(real_ffmpeg: str):
    def explode(config: Config):
        raise RuntimeError("no such library")

    class BadProbe:
        name = "badprobe"

        def __init__(self, config: Config) -> None:
            pass

        def probe(self) -> Availability:
            raise OSError("probe crashed")

        def encode(self, job: EncodeJob) -> None:  # pragma: no cover - never chosen
            raise AssertionError

    config = Config(env={**os.environ, "TGX_FFMPEG": real_ffmpeg, "FORCE_CPU_TRANSCODE": "1"})
    chain = EncoderChain([EncoderSpec("boom", 99, explode), EncoderSpec("badprobe", 50, BadProbe),
                          tgx_cpu.tgx_register_encoders(config=config)], config)
    rows = {s.name: s for s in chain.statuses()}
    assert "RuntimeError: no such library" in rows["boom"].reason
    assert rows["badprobe"].reason == "probe crashed"
    assert chain.select().name == "cpu"


def test_an_encoder_that_crashes_falls_back_like_one_that_fails(clips: dict[str, Path], real_ffmpeg: str,
                                                                 tmp_path: Path):
    class Buggy:
        name = "buggy"

        def __init__(self, config: Config) -> None:
            pass

        def probe(self) -> Availability:
            return Availability(True)

        def encode(self, job: EncodeJob) -> None:
            raise KeyError("frame")

    config = Config(env={**os.environ, "TGX_FFMPEG": real_ffmpeg, "FORCE_CPU_TRANSCODE": "1"})
    warnings: list[str] = []
    chain = EncoderChain([EncoderSpec("buggy", 99, Buggy), tgx_cpu.tgx_register_encoders(config=config)],
                         config, warn=warnings.append)
    assert chain.encode(EncodeJob(clips["compatible"], tmp_path / "b.mp4")) == "cpu"
    assert chain.stats()["encoders"]["buggy"]["failures"] == 1
    assert "encoder buggy failed (KeyError: 'frame')" in warnings[0]


# ---------------------------------------------------------------------------------------------
# The pool


def test_pool_runs_encodes_beside_the_caller(clips: dict[str, Path], real_ffmpeg: str, tmp_path: Path):
    config = Config(env={**os.environ, "TGX_FFMPEG": real_ffmpeg, "FORCE_CPU_TRANSCODE": "1"})
    with EncodePool(chain_of(config), workers=2) as pool:
        futures = [pool.submit(EncodeJob(clips["compatible"], tmp_path / f"{i}.mp4")) for i in range(3)]
        assert [f.result(timeout=120) for f in futures] == ["cpu"] * 3
    assert pool.pending == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.mp4", "1.mp4", "2.mp4"]


def test_pool_cancel_kills_running_ffmpeg(real_ffmpeg: str, tmp_path: Path):
    started = threading.Event()

    class Slow:
        """An encoder that runs a long real ffmpeg (a third-party plugin would look like this)."""

        name = "slow"

        def __init__(self, config: Config) -> None:
            pass

        def probe(self) -> Availability:
            return Availability(True)

        def encode(self, job: EncodeJob) -> None:
            ffmpeg.run_ffmpeg([real_ffmpeg, "-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=5",
                               "-t", "120", "-f", "null", "-"], 120.0, lambda fraction: started.set())

    chain = EncoderChain([EncoderSpec("slow", 1, Slow)], Config(env={}))
    pool = EncodePool(chain, workers=1)
    running = pool.submit(EncodeJob(tmp_path / "a", tmp_path / "a.mp4"))
    queued = pool.submit(EncodeJob(tmp_path / "b", tmp_path / "b.mp4"))
    assert started.wait(30)
    pool.shutdown(cancel=True)
    with pytest.raises(Interrupted):
        running.result(timeout=30)
    assert queued.cancelled()


# ---------------------------------------------------------------------------------------------
# The real GPU, where there is one


@pytest.mark.vaapi
@pytest.mark.skipif(not glob.glob("/dev/dri/renderD*"), reason="no /dev/dri/renderD* node here")
def test_real_vaapi_encode(clips: dict[str, Path], real_ffmpeg: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_CPU_TRANSCODE", "VAAPI_DEVICE_PATH")}
    encoder = tgx_vaapi.VaapiEncoder(Config(env=env))
    availability = encoder.probe()
    if not availability.available:
        assert availability.reason  # a GPU without a working VA-API stack must say why
        pytest.skip(f"VA-API unavailable here: {availability.reason}")
    dest = tmp_path / "gpu.mp4"
    encoder.encode(EncodeJob(clips["webm10"], dest))
    info = ffmpeg.probe_media(dest, real_ffmpeg)
    assert (info.video_codec, info.pix_fmt, info.audio_codec) == ("h264", "yuv420p", "aac")
    assert info.long_side == 1920
    boxes = top_level_boxes(dest)
    assert boxes.index("moov") < boxes.index("mdat")
