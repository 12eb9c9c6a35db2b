"""A light HTTP/1.1 load generator for the benches: keep-alive connections over plain asyncio
streams (uvloop when installed), spread over worker processes, so the clients' own cost stays
small and off the server's interpreter. Closed model (each client sends its next request when
the last is answered) or open-ish (each client waits an exponential think time first, as
people do). GET only; answers need a Content-Length (uvicorn gives one for every non-streamed
response)."""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import resource
import time
from dataclasses import dataclass


@dataclass
class Result:
    latencies: list[float]      # seconds, one per answered request
    status: dict[int, int]     # -1: connections the server had closed while idle, opened again
    wall_s: float               # from the common start to the last answer
    client_cpu_s: float         # what the generator's processes spent (user + system)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall_s if self.wall_s else 0.0


async def _client(host: str, port: int, queue: list[str], think_s: float, rng: random.Random,
                  lat: list[float], status: dict[int, int], start_at: float) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    host_line = f"Host: {host}:{port}\r\n\r\n".encode()
    try:
        while queue:
            if think_s:
                await asyncio.sleep(rng.expovariate(1 / think_s))
                if not queue:
                    break
            path = queue.pop()
            t = time.perf_counter()
            for attempt in (1, 2):
                if reader.at_eof():     # the server closed it while idle (uvicorn: after 5 s): a new one, timed
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    status[-1] = status.get(-1, 0) + 1
                writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + host_line)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    break
                except (asyncio.IncompleteReadError, ConnectionError):
                    if attempt == 2:
                        raise
                    reader.feed_eof()
            i = head.lower().find(b"content-length:")
            if i < 0:
                raise RuntimeError(f"no Content-Length in the answer to {path}: {head[:200]!r}")
            await reader.readexactly(int(head[i + 15:head.index(b"\r\n", i)]))
            lat.append(time.perf_counter() - t)
            code = int(head[9:12])
            status[code] = status.get(code, 0) + 1
    finally:
        writer.close()


def _worker(host: str, port: int, paths: list[str], clients: int, think_s: float, seed: int,
            start_at: float, out) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    lat: list[float] = []
    status: dict[int, int] = {}
    queue = list(reversed(paths))   # one list per process: its clients take the next path off it

    async def main():
        await asyncio.gather(*(_client(host, port, queue, think_s, random.Random(seed * 1000 + k), lat, status,
                                       start_at) for k in range(clients)))

    asyncio.run(main())
    end = time.time()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out.send((lat, status, end, ru.ru_utime + ru.ru_stime))
    out.close()


def run(host: str, port: int, paths: list[str], concurrency: int, *, think_s: float = 0.0,
        procs: int | None = None, seed: int = 17) -> Result:
    """`concurrency` connections in `procs` processes (default 2), the paths dealt among them."""
    procs = max(1, min(procs or 2, concurrency))
    ctx = multiprocessing.get_context("fork")
    start_at = time.time() + 0.5 + concurrency / 400      # every connection open before the first request
    workers = []
    for k in range(procs):
        mine = paths[k::procs]
        n = concurrency // procs + (1 if k < concurrency % procs else 0)
        rx, tx = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_worker, args=(host, port, mine, n, think_s, seed + k, start_at, tx), daemon=True)
        p.start()
        tx.close()
        workers.append((p, rx))
    lat: list[float] = []
    status: dict[int, int] = {}
    end, cpu = start_at, 0.0
    for p, rx in workers:
        w_lat, w_status, w_end, w_cpu = rx.recv()
        p.join()
        lat += w_lat
        for k, v in w_status.items():
            status[k] = status.get(k, 0) + v
        end, cpu = max(end, w_end), cpu + w_cpu
    return Result(lat, status, end - start_at, cpu)


def cores() -> int:
    return os.cpu_count() or 1
