"""A stand-in for the ffprobe that sits beside an ffmpeg (the imageio-ffmpeg wheel ships none).

It answers from files in ``FAKE_FFPROBE_ANSWERS``: for the probed file ``NAME``, ``NAME.json`` is
printed to stdout (exit 0) and ``NAME.err`` to stderr (exit 1); with neither it exits 2 with a
message that names no file (an ffprobe that is itself broken). The answers are what a real
ffprobe 6 writes for ``-v error -of json -show_format -show_streams``.
FAKE_FFPROBE_LOG=PATH   append each argv as one JSON line (tests check ffprobe was asked)
"""

import json
import os
import sys
from pathlib import Path

if os.environ.get("FAKE_FFPROBE_LOG"):
    with open(os.environ["FAKE_FFPROBE_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(sys.argv[1:]) + "\n")
answers = Path(os.environ.get("FAKE_FFPROBE_ANSWERS", "/nonexistent"))
name = Path(sys.argv[-1]).name
if (answers / f"{name}.json").is_file():
    sys.stdout.write((answers / f"{name}.json").read_text(encoding="utf-8"))
    sys.exit(0)
if (answers / f"{name}.err").is_file():
    sys.stderr.write((answers / f"{name}.err").read_text(encoding="utf-8").replace("{path}", sys.argv[-1]))
    sys.exit(1)
sys.stderr.write("ffprobe: error while loading shared libraries: libavdevice.so.60\n")
sys.exit(2)
