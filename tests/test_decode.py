"""tgx.fetch.pages: raw history pages → archive rows, inline and in worker processes.

The worker path must give byte-identical rows to the inline path (it parses into Telethon's
generated TL classes, not its wrapper), and a worker that dies or fails must cost no page.
Real worker processes, the real Telethon client against the simulated Telegram.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest
from telethon.tl import functions
from tgx.archive.records import message_row
from tgx.fetch import workers as spawning
from tgx.fetch.normalize import convert_message
from tgx.fetch.pages import PageDecoder, decode_page, keep_raw
from tgx.run import RunContext
from tgx.testing import SimulatedTelegram
from tgxrun import read_jsonl, tgx


def _history(chat: Any, offset_id: int, *, raw: bool = True) -> Any:
    request = functions.messages.GetHistoryRequest(peer=chat.input_peer(), offset_id=offset_id, offset_date=None,
                                                   add_offset=0, limit=100, max_id=0, min_id=0, hash=0)
    return keep_raw(request) if raw else request


async def _pages(world: SimulatedTelegram, key: str, *, raw: bool = True) -> list[Any]:
    """Every GetHistory answer of chat ``key``, newest page first (raw bytes or parsed)."""
    chat = world.chat(key)
    client = world.client()
    await client.connect()
    try:
        answers, offset = [], 0
        while True:
            answer = await client(_history(chat, offset, raw=raw))
            page = decode_page(answer, chat.marked_id)
            if not page.raw_count:
                return answers
            answers.append(answer)
            offset = page.min_id
    finally:
        await client.disconnect()


def _every_kind() -> SimulatedTelegram:
    return SimulatedTelegram(seed=3)  # the demo chats: every message kind, service actions, forums


KEYS = ("tgx_demo", "tgx_forum", "group", "alice")


@pytest.mark.parametrize("key", KEYS)
def test_raw_bytes_decode_like_telethons_parsed_answer(key):
    world = _every_kind()
    chat_id = world.chat(key).marked_id
    raw = asyncio.run(_pages(world, key))
    parsed = asyncio.run(_pages(world, key, raw=False))
    assert raw and all(isinstance(a, bytes) for a in raw)
    assert not any(isinstance(a, bytes) for a in parsed)
    for data, obj in zip(raw, parsed, strict=True):
        a, b = decode_page(data, chat_id), decode_page(obj, chat_id)
        assert a.rows == b.rows and a.peers == b.peers
        assert (a.raw_count, a.min_id, a.max_id, a.count) == (b.raw_count, b.min_id, b.max_id, b.count)
        # ... and what convert_message + message_row make of Telethon's own objects, one by one
        assert a.rows == [message_row(chat_id, m) for m in (convert_message(x, chat_id) for x in obj.messages)
                          if m is not None]
    assert sum(len(decode_page(d, chat_id).rows) for d in raw) == len(world.expected_ids(key))


async def _decoded_in_worker(answers: list[bytes], chat_id: int, workers: int = 1) -> tuple[list[Any], PageDecoder]:
    decoder = PageDecoder(workers, min_messages=0)
    decoder.expect(1)
    try:
        await _until(lambda: any(w.usable for w in decoder._pool))
        pages = await asyncio.gather(*(decoder.decode(a, chat_id) for a in answers))
        return list(pages), decoder
    finally:
        await decoder.aclose()


async def _until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_worker_rows_are_identical_to_inline_rows():
    world = _every_kind()
    answers = [a for key in KEYS for a in asyncio.run(_pages(world, key))]
    chat_id = world.chat("tgx_demo").marked_id
    pages, decoder = asyncio.run(_decoded_in_worker(answers, chat_id))
    assert decoder.pages_in_workers == len(answers) and decoder.pages_inline == 0
    inline = [decode_page(a, chat_id) for a in answers]
    assert [p.rows for p in pages] == [p.rows for p in inline]
    assert [p.peers for p in pages] == [p.peers for p in inline]
    assert [len(p.entities) for p in pages] == [len(p.entities) for p in inline]


def test_a_killed_worker_costs_no_page():
    world = SimulatedTelegram(seed=4, default_chats=False)
    world.add_channel("big", "Big", 3_000, media=False)
    chat_id = world.chat("big").marked_id
    answers = asyncio.run(_pages(world, "big"))
    expected = [decode_page(a, chat_id).rows for a in answers]

    async def main() -> tuple[list[Any], PageDecoder]:
        decoder = PageDecoder(1, min_messages=0, warn=warnings.append)
        decoder.expect(1)
        await _until(lambda: any(w.usable for w in decoder._pool))
        worker = decoder._pool[0]
        pending = [asyncio.ensure_future(decoder.decode(a, chat_id)) for a in answers]
        await asyncio.sleep(0)  # every page is handed to the worker ...
        worker.proc.kill()  # ... which dies with most of them unanswered
        pages = await asyncio.gather(*pending)
        later = await decoder.decode(answers[0], chat_id)  # no worker left: inline
        await decoder.aclose()
        return [*pages, later], decoder

    warnings: list[str] = []
    pages, decoder = asyncio.run(main())
    assert [p.rows for p in pages] == [*expected, expected[0]]
    assert decoder.lost_workers == 1 and decoder.pages_inline >= 2
    assert warnings == ["a decode worker exited; decoding its pages in this process"]


def test_a_page_the_worker_cannot_parse_raises_the_inline_error():
    """Garbage from the wire: the worker reports a failure, the page is decoded again here and
    the caller gets the parser's own exception (what an unknown TL constructor would raise)."""
    garbage = b"\x01\x02\x03\x04" + bytes(60)
    with pytest.raises(Exception) as inline:
        decode_page(garbage, -1)

    async def main() -> PageDecoder:
        decoder = PageDecoder(1, min_messages=0)
        decoder.expect(1)
        try:
            await _until(lambda: any(w.usable for w in decoder._pool))
            with pytest.raises(type(inline.value)):
                await decoder.decode(garbage, -1)
            assert decoder._pool and decoder._pool[0].alive  # the worker survives a bad page
            return decoder
        finally:
            await decoder.aclose()

    decoder = asyncio.run(main())
    assert decoder.pages_in_workers == 0


def test_workers_start_once_the_export_has_enough_to_fetch():
    async def main() -> list[bool]:
        started = []
        for workers, announced in ((1, [100]), (0, [10**6]), (1, [600, 500]), (1, [1_000])):
            decoder = PageDecoder(workers, min_messages=1_000)
            for n in announced:  # one chat each
                decoder.expect(n)
            started.append(decoder.started)
            await decoder.aclose()
        return started

    # too few; disabled; two chats that together have enough; one that has
    assert asyncio.run(main()) == [False, False, True, True]


def test_aclose_ends_the_workers():
    async def main() -> list[int]:
        decoder = PageDecoder(2, min_messages=0)
        decoder.expect(1)
        await _until(lambda: len(decoder._pool) == 2 and all(w.usable for w in decoder._pool))
        procs = [w.proc for w in decoder._pool]
        await decoder.aclose()
        await decoder.aclose()  # idempotent
        return [p.returncode for p in procs]

    codes = asyncio.run(main())
    assert codes == [0, 0]  # they exited at EOF, not killed


_ORPHAN_SCRIPT = """
import asyncio, sys, time
from tgx.fetch.pages import PageDecoder
async def main():
    d = PageDecoder(2, min_messages=0)
    d.expect(1)
    while not (len(d._pool) == 2 and all(w.usable for w in d._pool)):
        await asyncio.sleep(0.01)
    print(" ".join(str(w.proc.pid) for w in d._pool), flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_workers_die_with_a_killed_parent():
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)
    finally:
        parent.kill()
        parent.wait()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_export_with_workers_writes_the_same_files(tmp_path):
    """End to end: the real CLI with --decode-workers 1 (the pool starts: 20,000 messages to fetch)
    and with 0 writes byte-identical jsonl, and the report says where pages were decoded."""
    scenario = tmp_path / "tgx.toml"
    # 50 ms round trips: the fetch lasts ~1 s, well past the worker's start-up (~0.4 s).
    scenario.write_text('[simulated]\nlatency_ms = 50\n'
                        'chats = [{kind = "channel", username = "bigchan", messages = 20000}]\n')
    outs = {}
    for workers in (1, 0):
        out = tmp_path / f"out{workers}"
        r = tgx(tmp_path, "export", "@bigchan", "-o", str(out), "-q", "--decode-workers", str(workers), config=scenario)
        assert r.returncode == 0, r.stderr
        outs[workers] = out
    jsonl = [(outs[w] / "bigchan" / "messages.jsonl").read_bytes() for w in (1, 0)]
    assert jsonl[0] == jsonl[1]
    assert [m["id"] for m in read_jsonl(outs[1] / "bigchan" / "messages.jsonl")] == list(range(1, 20001))
    report = json.loads((outs[1] / "export_metrics.json").read_text())
    counters = report["counters"]
    assert counters["decode.pages_in_workers"] > 0, counters
    assert report["gauges"]["decode.workers"]["last"] == 1
    report0 = json.loads((outs[0] / "export_metrics.json").read_text())
    assert report0["counters"].get("decode.pages_in_workers", 0) == 0


def test_telethons_session_still_learns_the_senders(tmp_path):
    """Raw answers skip Telethon's own entity bookkeeping; the fetcher feeds its session instead,
    so access hashes of senders seen in history are known afterwards, as with parsed answers."""
    from tgx.archive.store import Archive
    from tgx.fetch.history import HistoryFetcher
    from tgx.telegram.runner import RequestRunner

    world = SimulatedTelegram(seed=8)
    chat = world.chat("tgx_forum")

    async def main() -> tuple[set[int], set[int]]:
        client = world.client()
        await client.connect()
        decoder = PageDecoder(1, min_messages=0)
        try:
            with Archive.open(tmp_path) as archive:
                await HistoryFetcher(RunContext.for_stage(RequestRunner(client), archive), chat.marked_id,
                                     chat.input_peer(), decoder=decoder).run()
                senders = {m.sender_id for batch in archive.iter_messages(chat.marked_id) for m in batch
                           if m.sender_id and m.sender_id > 0}
            known = {uid for uid in senders if client.session.get_entity_rows_by_id(uid) is not None}
            return senders, known
        finally:
            await decoder.aclose()
            await client.disconnect()

    senders, known = asyncio.run(main())

    async def parsed() -> set[int]:  # what Telethon's session knows after the same pages, parsed
        client = world.client()
        await client.connect()
        try:
            offset = 0
            while True:
                answer = await client(_history(chat, offset, raw=False))
                if not answer.messages:
                    break
                offset = min(m.id for m in answer.messages)
            return {uid for uid in senders if client.session.get_entity_rows_by_id(uid) is not None}
        finally:
            await client.disconnect()

    assert len(known) >= 2 and known == asyncio.run(parsed())


def _workers_of(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if any("worker_main" in part for part in child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


@pytest.mark.skipif(sys.platform == "win32", reason="process groups")
def test_ctrl_c_to_the_whole_group_stops_cleanly_and_resumes(tmp_path):
    """A terminal's Ctrl-C reaches tgx AND its workers: the workers ignore it, tgx stops, commits,
    ends them, exits 130; the rerun completes the export with every message once."""
    from tgxrun import tgx_env

    scenario = tmp_path / "tgx.toml"
    scenario.write_text('[simulated]\nlatency_ms = 20\n'
                        'chats = [{kind = "channel", username = "bigchan", messages = 20000}]\n')
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "tgx", "export", "@bigchan", "-o", str(out), "-q", "--decode-workers", "1"]
    proc = subprocess.Popen(argv, env=tgx_env(tmp_path, scenario), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        workers: list[psutil.Process] = []
        while not workers:
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "no decode worker started"
            workers = _workers_of(proc.pid)
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = err.decode()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    psutil.wait_procs(workers, timeout=10)
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    r = tgx(tmp_path, "export", "@bigchan", "-o", str(out), "-q", config=scenario)
    assert r.returncode == 0, r.stderr
    assert [m["id"] for m in read_jsonl(out / "bigchan" / "messages.jsonl")] == list(range(1, 20001))


def test_a_worker_that_cannot_start_is_reported_once_and_pages_are_decoded_inline(monkeypatch):
    monkeypatch.setattr(spawning, "WORKER_ARGV", ("-c", "raise SystemExit(3)"))  # starts, then dies
    world = SimulatedTelegram(seed=4, default_chats=False)
    world.add_channel("small", "Small", 300, media=False)
    chat_id = world.chat("small").marked_id
    answers = asyncio.run(_pages(world, "small"))
    warnings: list[str] = []

    async def main() -> tuple[list[Any], PageDecoder]:
        decoder = PageDecoder(1, min_messages=0, warn=warnings.append)
        decoder.expect(1)
        await _until(lambda: decoder.lost_workers == 1)
        pages = [await decoder.decode(a, chat_id) for a in answers]
        await decoder.aclose()
        return pages, decoder

    pages, decoder = asyncio.run(main())
    assert [p.rows for p in pages] == [decode_page(a, chat_id).rows for a in answers]
    assert decoder.pages_inline == len(answers) and decoder.pages_in_workers == 0
    assert warnings == ["a decode worker did not start; decoding in this process"]


# -- workers started ahead (tgx export starts them with the command) -----------------------------


def test_spares_are_taken_and_decode_from_the_first_page():
    world = SimulatedTelegram(seed=4, default_chats=False)
    world.add_channel("small", "Small", 300, media=False)
    chat_id = world.chat("small").marked_id
    answers = asyncio.run(_pages(world, "small"))

    async def main() -> tuple[list[Any], PageDecoder, int]:
        with spawning.prestart(1) as spares:
            assert len(spares) == 1
            decoder = PageDecoder(1, min_messages=10**9, spares=spares)  # expect() would never start it
            left = len(spares)
            try:
                await _until(lambda: any(w.usable for w in decoder._pool))
                pages = [await decoder.decode(a, chat_id) for a in answers]
            finally:
                await decoder.aclose()
            return pages, decoder, left

    pages, decoder, left = asyncio.run(main())
    assert left == 0 and decoder.started_workers == 1
    assert decoder.pages_in_workers == len(answers) and decoder.pages_inline == 0
    assert [p.rows for p in pages] == [decode_page(a, chat_id).rows for a in answers]


def test_spares_nobody_takes_are_killed():
    with spawning.prestart(2) as spares:
        procs = list(spares._procs)
        assert len(procs) == 2
    assert all(p.returncode is not None for p in procs)
    with spawning.prestart(0) as spares:
        assert len(spares) == 0


def test_more_spares_than_workers_and_a_disabled_decoder_kill_the_extra():
    async def main() -> list[Any]:
        with spawning.prestart(2) as two, spawning.prestart(1) as one:
            procs = [*two._procs, *one._procs]
            keep_one = PageDecoder(1, spares=two)
            disabled = PageDecoder(0, spares=one)
            await _until(lambda: keep_one._pool and keep_one._pool[0].usable)
            assert keep_one.started_workers == 1 and disabled.started_workers == 0
            await keep_one.aclose()
            await disabled.aclose()
            return procs

    procs = asyncio.run(main())
    assert all(p.poll() is not None for p in procs)


def test_a_spare_still_starting_is_killed_at_close_not_waited_for(monkeypatch):
    """A small export is over before its worker has imported Telethon: closing must not wait."""
    monkeypatch.setattr(spawning, "WORKER_ARGV", ("-c", "import time; time.sleep(60)"))  # never ready

    async def main() -> tuple[Any, float]:
        with spawning.prestart(1) as spares:
            decoder = PageDecoder(1, spares=spares)
            await _until(lambda: bool(decoder._pool))
            proc = decoder._pool[0].proc
            started = time.monotonic()
            await decoder.aclose()
            return proc, time.monotonic() - started

    proc, took = asyncio.run(main())
    assert proc.returncode == -signal.SIGKILL
    assert took < 30  # killed, not waited for until its sleep ends


def test_cli_export_runs_its_prestarted_worker_and_leaves_none(tmp_path):
    """The real CLI: the worker started with the command decodes (the report says where), and no
    worker outlives tgx; --decode-workers 0 starts none."""
    scenario = tmp_path / "tgx.toml"
    scenario.write_text('[simulated]\nlatency_ms = 50\n'
                        'chats = [{kind = "channel", username = "bigchan", messages = 3000}]\n')
    for n in ("1", "0"):
        out = tmp_path / f"out{n}"
        r = tgx(tmp_path, "export", "@bigchan", "-o", str(out), "-q", "--decode-workers", n, config=scenario)
        assert r.returncode == 0, r.stderr
        report = json.loads((out / "export_metrics.json").read_text())
        if n == "1":  # 3,000 messages: below POOL_MIN_MESSAGES, so only the prestart runs a worker
            assert report["gauges"]["decode.workers"]["last"] == 1
            assert report["counters"]["decode.pages_in_workers"] > 0
        else:
            assert "decode.workers" not in report["gauges"]
            assert report["counters"].get("decode.pages_in_workers", 0) == 0
        assert len(read_jsonl(out / "bigchan" / "messages.jsonl")) == 3000
    assert _workers_started_by(tmp_path) == []


def _workers_started_by(tmp_path: Any) -> list[psutil.Process]:
    """Decode workers still running whose tgx ran with this test's data dir (they inherit its env)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if (any("worker_main" in part for part in (proc.info["cmdline"] or []))
                    and proc.environ().get("TGX_DATA_DIR") == str(tmp_path / "data")
                    and proc.status() != psutil.STATUS_ZOMBIE):
                found.append(proc)
        except psutil.Error:
            pass
    return found
