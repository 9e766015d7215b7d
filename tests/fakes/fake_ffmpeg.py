"""A stand-in for ffmpeg on a machine with a (pretend) VA-API GPU.

Commands with ``-vaapi_device NODE`` behave as ``FAKE_VAAPI`` says, printing what a real ffmpeg
prints in that situation; every other command is handed to the real ffmpeg (``FAKE_FFMPEG_REAL``),
so probing, ``-encoders`` and libx264 encodes stay real.

FAKE_VAAPI:
  ok            test encode passes; a file encode writes a copy of FAKE_FFMPEG_SAMPLE (a real
                libx264 MP4) to the output path, with -progress output when asked
  no_display    "No VA display found" (no usable DRM device: a VM, a container, a wrong node)
  init_failed   the iHD driver fails to initialise
  no_encode     the driver initialises but has no H.264 encode entrypoint
  encode_fails  the test encode passes, every real encode fails mid-stream
FAKE_FFMPEG_NO_VAAPI=1   drop h264_vaapi from `-encoders` (an ffmpeg built without VA-API)
FAKE_FFMPEG_LOG=PATH     append each argv as one JSON line (tests count the test encodes)
"""

import json
import os
import shutil
import subprocess
import sys

ADDR = "0x55d0c8a1e5c0"


def device_lines(scenario: str, device: str) -> tuple[list[str], int] | None:
    """stderr and exit status of a failure that happens while the VA-API device is created."""
    if scenario == "no_display":
        return [
            f"[AVHWDeviceContext @ {ADDR}] No VA display found for device {device}.",
            "Device creation failed: -22.",
            f"Failed to set value '{device}' for option 'vaapi_device': Invalid argument",
            "Error parsing global options: Invalid argument",
        ], 1
    if scenario == "init_failed":
        return [
            "libva error: /usr/lib/x86_64-linux-gnu/dri/iHD_drv_video.so init failed",
            f"[AVHWDeviceContext @ {ADDR}] Failed to initialise VAAPI connection: -1 (unknown libva error).",
            "Device creation failed: -5.",
            f"Failed to set value '{device}' for option 'vaapi_device': Input/output error",
            "Error parsing global options: Input/output error",
        ], 1
    return None


NO_ENCODE = [
    f"[h264_vaapi @ {ADDR}] No usable encoding entrypoint found for profile VAProfileH264High (7).",
    "[vost#0:0/h264_vaapi @ 0x55d0c8a1d2c0] Error while opening encoder - maybe incorrect parameters "
    "such as bit_rate, rate, width or height.",
    "[vf#0:0 @ 0x55d0c8a1e140] Error sending frames to consumers: Function not implemented",
    "[vf#0:0 @ 0x55d0c8a1e140] Task finished with error code: -38 (Function not implemented)",
    "[vf#0:0 @ 0x55d0c8a1e140] Terminating thread with return code -38 (Function not implemented)",
    "[vost#0:0/h264_vaapi @ 0x55d0c8a1d2c0] Could not open encoder before EOF",
    "[vost#0:0/h264_vaapi @ 0x55d0c8a1d2c0] Task finished with error code: -22 (Invalid argument)",
    "[vost#0:0/h264_vaapi @ 0x55d0c8a1d2c0] Terminating thread with return code -22 (Invalid argument)",
    "[out#0/null @ 0x55d0c8a1cf40] Nothing was written into output file, because at least one of its "
    "streams received no packets.",
    "Conversion failed!",
]

ENCODE_FAILS = [
    f"[h264_vaapi @ {ADDR}] Failed to end picture encode issue: 24 (internal encoding error).",
    f"[h264_vaapi @ {ADDR}] Encode failed: -5.",
    "[vost#0:0/h264_vaapi @ 0x55d0c8a1d2c0] Error submitting video frame to the encoder",
    "[vost#0:0/h264_vaapi @ 0x55d0c8a1d2c0] Task finished with error code: -5 (I/O error)",
    "[vost#0:0/h264_vaapi @ 0x55d0c8a1d2c0] Terminating thread with return code -5 (I/O error)",
    "[out#0/mp4 @ 0x55d0c8a1cf40] Nothing was written into output file, because at least one of its "
    "streams received no packets.",
    "Conversion failed!",
]


def fail(lines: list[str], status: int) -> None:
    sys.stderr.write("\n".join(lines) + "\n")
    sys.exit(status)


def vaapi(argv: list[str]) -> None:
    scenario = os.environ.get("FAKE_VAAPI", "ok")
    device = argv[argv.index("-vaapi_device") + 1]
    early = device_lines(scenario, device)
    if early:
        fail(*early)
    output = argv[-1]
    test_encode = output == "-" and "null" in argv
    if scenario == "no_encode":
        fail(NO_ENCODE, 234)
    if scenario == "encode_fails" and not test_encode:
        source = argv[argv.index("-i") + 1]
        sys.stderr.write(f"Input #0, mov,mp4,m4a,3gp,3g2,mj2, from '{source}':\n  Duration: 00:00:02.00, "
                         "start: 0.000000, bitrate: 352 kb/s\n")
        fail(ENCODE_FAILS, 251)
    if test_encode:
        sys.exit(0)
    if "-progress" in argv:
        for us in (500000, 1000000, 2000000):
            sys.stdout.write(f"frame=1\nout_time_us={us}\nprogress=continue\n")
        sys.stdout.write("out_time_us=2000000\nprogress=end\n")
        sys.stdout.flush()
    sys.stderr.write("Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x':\n  Duration: 00:00:02.00, start: 0.0\n")
    shutil.copyfile(os.environ["FAKE_FFMPEG_SAMPLE"], output)
    sys.exit(0)


def main() -> None:
    argv = sys.argv[1:]
    log = os.environ.get("FAKE_FFMPEG_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(json.dumps(argv) + "\n")
    if "-vaapi_device" in argv:
        vaapi(argv)
    real = os.environ["FAKE_FFMPEG_REAL"]
    if "-encoders" in argv and os.environ.get("FAKE_FFMPEG_NO_VAAPI") == "1":
        out = subprocess.run([real, *argv], capture_output=True, text=True)
        sys.stdout.write("".join(line for line in out.stdout.splitlines(keepends=True)
                                 if " h264_vaapi " not in line))
        sys.exit(out.returncode)
    os.execv(real, [real, *argv])


if __name__ == "__main__":
    main()
