"""How much the simulated server costs next to Telethon: ``python -m tgx.simulator.bench``.

The server runs in the benchmark's own process, so its per-message cost must stay well
below Telethon's parsing. This prints messages per second for: building and serializing
GetHistory answers (server), parsing them (Telethon's ``read_result``), and a whole
``iter_messages(wait_time=0)`` through the real client. CPU seconds are reported beside wall
seconds because shared machines are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from telethon.extensions import BinaryReader
from telethon.tl import functions

from tgx.simulator.sender import server_of
from tgx.simulator.server import Connection
from tgx.simulator.simulated import SimulatedTelegram


def server_and_parse(answers: int, media: bool, seed: int = 1) -> dict[str, float]:
    """Server-side and Telethon-side cost of ``answers`` 100-message GetHistory answers."""
    size = answers * 100 + 100
    world = SimulatedTelegram(seed=seed, default_chats=False, media=media, log_limit=1000)
    chat = world.add_channel("bench", "Bench", size)
    server, conn = server_of(world), Connection(world.home_dc, True)
    peer = chat.input_peer()
    requests = [bytes(functions.messages.GetHistoryRequest(peer, size - i * 100 + 1, None, 0, 100, 0, 0, 0))
                for i in range(answers)]
    for data in requests[: min(answers, 200)]:  # build the variants' templates once
        server.handle(data, conn)
    wall, cpu = time.perf_counter(), time.process_time()
    blobs = [server.handle(data, conn) for data in requests]
    server_wall, server_cpu = time.perf_counter() - wall, time.process_time() - cpu
    parser = functions.messages.GetHistoryRequest(peer, 0, None, 0, 100, 0, 0, 0)
    wall, cpu = time.perf_counter(), time.process_time()
    for blob in blobs:
        parser.read_result(BinaryReader(blob))
    parse_wall, parse_cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = answers * 100
    return {"messages": n, "server_msg_s": n / server_wall, "server_cpu_msg_s": n / server_cpu,
            "parse_msg_s": n / parse_wall, "parse_cpu_msg_s": n / parse_cpu,
            "bytes_per_message": sum(map(len, blobs)) / n}


def iterate(count: int, media: bool, seed: int = 1) -> dict[str, float]:
    """``iter_messages(wait_time=0)`` over a ``count``-message channel, through the real client."""
    world = SimulatedTelegram(seed=seed, default_chats=False, media=media, log_limit=1000)
    world.add_channel("bench", "Bench", count)

    async def go() -> tuple[int, float, float]:
        client = world.client()
        await client.connect()
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            seen = 0
            async for _ in client.iter_messages("bench", wait_time=0):
                seen += 1
            return seen, time.perf_counter() - wall, time.process_time() - cpu
        finally:
            await client.disconnect()

    seen, wall, cpu = asyncio.run(go())
    return {"messages": seen, "iter_msg_s": seen / wall, "iter_cpu_msg_s": seen / cpu}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1000, help="GetHistory answers to time")
    parser.add_argument("--iterate", type=int, default=100_000, help="messages for iter_messages")
    args = parser.parse_args(argv)
    for media in (True, False):
        label = "media" if media else "text-only"
        s = server_and_parse(args.answers, media)
        print(f"{label:9} server {s['server_msg_s']:>9,.0f} msg/s ({s['server_cpu_msg_s']:,.0f} CPU)   "
              f"telethon parse {s['parse_msg_s']:>9,.0f} msg/s ({s['parse_cpu_msg_s']:,.0f} CPU)   "
              f"{s['bytes_per_message']:.0f} B/msg")
        it = iterate(args.iterate, media)
        print(f"{label:9} iter_messages(wait_time=0) over {it['messages']:,}: {it['iter_msg_s']:,.0f} msg/s "
              f"({it['iter_cpu_msg_s']:,.0f} CPU)")


if __name__ == "__main__":
    main()
