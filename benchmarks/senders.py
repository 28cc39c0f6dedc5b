"""Senders in a process of their own: they time requests without sharing a loop with Slack.

    python benchmarks/senders.py        # driven by benchmarks/ack_under_load.py over stdin

The Slack Web API stand-in answers the apps' calls (views.open after every slash command, the
thread replies after every approval) in the benchmark's process. Timing the apps' acks from that
same event loop would count the stand-in's work as the apps' latency: twenty forms opened at once
keep the loop from reading the next acks. So the benchmark builds and signs every request, and
this process only sends them and times each one.

Protocol, one JSON object per line: in, `{"concurrency": N, "requests": [{"url", "body" (base64),
"headers"}]}`; out, `{"samples": [[seconds, status], ...]}` in the order the requests were given.
Each of the N senders sends its next request as soon as the previous one is answered.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from typing import Any

import aiohttp


async def send_round(
    http: aiohttp.ClientSession, concurrency: int, requests: list[dict[str, Any]]
) -> list[tuple[float, int]]:
    samples: list[tuple[float, int]] = [(0.0, 0)] * len(requests)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(requests)):
        queue.put_nowait(i)

    async def sender() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            r = requests[i]
            body = base64.b64decode(r["body"])
            started = time.perf_counter()
            async with http.post(r["url"], data=body, headers=r["headers"]) as res:
                await res.read()
                samples[i] = (time.perf_counter() - started, res.status)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(sender())
    return samples


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while line := await reader.readline():
            order = json.loads(line)
            samples = await send_round(http, order["concurrency"], order["requests"])
            sys.stdout.write(json.dumps({"samples": samples}) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
