"""The ``import`` bench: ``tgx import`` of a Telegram Desktop ``result.json`` (issue 16).

The file: one public channel's single-chat export, written here in Telegram Desktop's shape —
text messages with ``text_entities`` (bold, links, mentions), every tenth a reply, every seventh
a photo the export left out ("File not included"), service messages now and then. Two sizes: the
``archive`` size (100k messages in the full run) and the ``formats_big`` size (1M).

Measured as a user runs it: the whole ``tgx import FILE -o OUT -f jsonl`` process (start-up,
the reader process, the archive writes in one transaction, the jsonl render)
against the floor the issue names: the time ijson alone (its C backend) needs to iterate the
file's messages, in this process. Target <= 3x; peak RSS of the process tree at the big size
<= 150 MB and flat against the small one (the import streams: memory must not grow with the
file).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import ModuleType
from typing import Any

CHAT_ID = 1_800_000_001  # bare id of the channel


def write_result_json(path: Path, n: int) -> None:
    """A single-chat export of ``n`` messages, streamed to ``path`` (never held whole)."""
    base = 1_700_000_000
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{{\n "name": "Bench",\n "type": "public_channel",\n "id": {CHAT_ID},\n "messages": [')
        for i in range(1, n + 1):
            when = base + 37 * i
            date = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
            m: dict[str, Any] = {"id": i, "type": "message", "date": date, "date_unixtime": str(when)}
            if i % 97 == 0:
                m.update(type="service", actor="Bench", actor_id=f"channel{CHAT_ID}", action="pin_message",
                         message_id=i - 1, text="", text_entities=[])
            else:
                m.update({"from": "Bench", "from_id": f"channel{CHAT_ID}"})
                if i % 10 == 0:
                    m["reply_to_message_id"] = i - 3
                if i % 7 == 0:
                    m.update(photo="(File not included. Change data exporting settings to download.)",
                             photo_file_size=48_213, width=1280, height=720)
                words = f"post number {i} about the news of the day " + "and more " * (i % 5)
                parts = [{"type": "bold", "text": "Today:"}, {"type": "plain", "text": " " + words},
                         {"type": "mention", "text": "@tgx_demo"}, {"type": "plain", "text": " see "},
                         {"type": "link", "text": f"https://example.org/{i}"}]
                m["text"] = [parts[0], parts[1]["text"], parts[2], parts[3]["text"], parts[4]]
                m["text_entities"] = parts
                if i % 3 == 0:
                    m["reactions"] = [{"type": "emoji", "count": i % 40 + 1, "emoji": "\U0001f44d"}]
            out.write(("" if i == 1 else ",") + "\n  " + json.dumps(m, ensure_ascii=False))
        out.write("\n ]\n}\n")


def ijson_floor(path: Path) -> float:
    """Seconds ijson's C backend needs to build every message of the file (the best of two)."""
    import ijson  # type: ignore[import-untyped]

    try:
        backend = ijson.get_backend("yajl2_c")
    except (ImportError, ValueError):  # no C backend here: tgx's reader falls back too
        backend = ijson
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        with path.open("rb") as fh:
            for _m in backend.items(fh, "messages.item", use_float=True):
                pass
        best = min(best, time.perf_counter() - started)
    return best


def bench_import(ctx: Any, run: ModuleType) -> None:
    s = ctx.sizes
    measured: dict[int, Any] = {}
    for n in (s.archive, s.formats_big):
        work = ctx.dir(f"import-{n}")
        source = work / "result.json"
        write_result_json(source, n)
        floor = ijson_floor(source)
        cfg = run.scenario_file(work / "tgx.toml", chats=[])
        m = run.run_tgx(ctx, cfg, "import", str(source), "-o", str(work / "out"), "-f", "jsonl", "-q", cwd=work)
        measured[n] = m
        mb = source.stat().st_size / (1 << 20)
        run.ratio_row(ctx, "import", f"tgx import {n:,} msgs ({mb:.0f} MB) vs ijson alone", m.wall, floor, 3.0,
                      unit="s", higher_is_better=False,
                      note=f"whole process, jsonl rendered; ijson {floor:.2f} s; {n / m.wall:,.0f} msg/s")
    small, big = measured[s.archive], measured[s.formats_big]
    ctx.report.add(run.Row("import", f"peak RSS of tgx import at {s.formats_big:,} msgs (tree)", big.tree_mb, "MB",
                           None, None, "<= 150 MB", big.tree_mb <= 150))
    run.ratio_row(ctx, "import", f"peak RSS {s.formats_big:,} vs {s.archive:,} msgs (tree)", big.tree_mb,
                  small.tree_mb, 1.25, unit="MB", higher_is_better=False, note="flat: the import streams")
