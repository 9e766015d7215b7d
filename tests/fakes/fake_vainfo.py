"""A stand-in for ``vainfo --display drm --device NODE`` (libva-utils), per FAKE_VAINFO.

ok           Intel iHD with H.264 encode (VAEntrypointEncSlice)
no_display   the node is not a usable DRM device
init_failed  the iHD driver fails to initialise (libva error ... init failed)
no_encode    an AMD Mesa driver built without H.264 encode (decode entrypoints only)
"""

import os
import sys

HEAD = ["libva info: VA-API version 1.20.0"]

OK = HEAD + [
    "libva info: Trying to open /usr/lib/x86_64-linux-gnu/dri/iHD_drv_video.so",
    "libva info: Found init function __vaDriverInit_1_20",
    "libva info: va_openDriver() returns 0",
    "vainfo: VA-API version: 1.20 (libva 2.20.0)",
    "vainfo: Driver version: Intel iHD driver for Intel(R) Gen Graphics - 24.1.0 ()",
    "vainfo: Supported profile and entrypoints",
    "      VAProfileNone                   :\tVAEntrypointVideoProc",
    "      VAProfileNone                   :\tVAEntrypointStats",
    "      VAProfileMPEG2Simple            :\tVAEntrypointVLD",
    "      VAProfileH264Main               :\tVAEntrypointVLD",
    "      VAProfileH264Main               :\tVAEntrypointEncSlice",
    "      VAProfileH264Main               :\tVAEntrypointEncSliceLP",
    "      VAProfileH264High               :\tVAEntrypointVLD",
    "      VAProfileH264High               :\tVAEntrypointEncSlice",
    "      VAProfileH264High               :\tVAEntrypointEncSliceLP",
    "      VAProfileHEVCMain               :\tVAEntrypointVLD",
]

NO_ENCODE = HEAD + [
    "libva info: Trying to open /usr/lib/x86_64-linux-gnu/dri/radeonsi_drv_video.so",
    "libva info: Found init function __vaDriverInit_1_20",
    "libva info: va_openDriver() returns 0",
    "vainfo: VA-API version: 1.20 (libva 2.20.0)",
    "vainfo: Driver version: Mesa Gallium driver 24.0.5 for AMD Radeon RX 6600 (radeonsi, navi23, "
    "LLVM 17.0.6, DRM 3.57, 6.8.0-31-generic)",
    "vainfo: Supported profile and entrypoints",
    "      VAProfileMPEG2Simple            :\tVAEntrypointVLD",
    "      VAProfileMPEG2Main              :\tVAEntrypointVLD",
    "      VAProfileVC1Simple              :\tVAEntrypointVLD",
    "      VAProfileJPEGBaseline           :\tVAEntrypointVLD",
    "      VAProfileVP9Profile0            :\tVAEntrypointVLD",
    "      VAProfileAV1Profile0            :\tVAEntrypointVLD",
    "      VAProfileNone                   :\tVAEntrypointVideoProc",
]

INIT_FAILED = HEAD + [
    "libva info: Trying to open /usr/lib/x86_64-linux-gnu/dri/iHD_drv_video.so",
    "libva info: Found init function __vaDriverInit_1_20",
    "libva error: /usr/lib/x86_64-linux-gnu/dri/iHD_drv_video.so init failed",
    "libva info: va_openDriver() returns 1",
    "libva info: Trying to open /usr/lib/x86_64-linux-gnu/dri/i965_drv_video.so",
    "libva info: va_openDriver() returns -1",
    "vaInitialize failed with error code -1 (unknown libva error),exit",
]

NO_DISPLAY = ["Trying display: drm", "error: failed to initialize display 'drm'"]


def main() -> None:
    scenario = os.environ.get("FAKE_VAINFO", "ok")
    lines = {"ok": OK, "no_encode": NO_ENCODE, "init_failed": INIT_FAILED, "no_display": NO_DISPLAY}[scenario]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.exit(0 if scenario in ("ok", "no_encode") else 1)


if __name__ == "__main__":
    main()
