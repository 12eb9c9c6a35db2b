"""Memory: Redis bytes per live device at 100k devices (trails apart; goal <= 1 KB), bytes per
trail fix, the retention a 24 h trail at one fix per 10 s implies, and the ingest worker's
peak RSS under load (measured by bench_ingest, which runs real workers; goal <= 150 MB)."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import redis

from bench.bench_nearest import populate
from gridwatch.services import RedisServer, ensure_on_path
from gridwatch.settings import Settings
from telemetry.protocols import Fix
from telemetry.store import LiveStore

N = 100_000
TRAIL_DEVICES = 50
FIXES_PER_DAY = 24 * 3600 // 10


def main(argv: list[str] | None = None) -> int:
    ensure_on_path()
    with tempfile.TemporaryDirectory() as tmp, RedisServer(workdir=Path(tmp), appendonly=False) as srv:
        return run(srv)


def used(r: redis.Redis) -> int:
    return r.info("memory")["used_memory"]


def run(srv: RedisServer) -> int:
    r = redis.Redis.from_url(srv.url)
    settings = Settings(redis_url=srv.url)
    now = time.time()
    base = used(r)
    # ids as long as the demo's: device dev-NNNNNN, grids of 9 and 12 digits
    populate(r, settings, N, now)
    live = used(r) - base
    per_device = live / N
    # a day of trail for a few devices at one fix per 10 s, written as the ingest writes it
    store = LiveStore(r, settings)
    before = used(r)
    pipe = store.batch()
    t0 = now - 24 * 3600
    for d in range(TRAIL_DEVICES):
        for i in range(FIXES_PER_DAY):
            store.queue_trail(pipe, Fix(f"dev-{d:06d}", t0 + i * 10, 28.2 + i * 1e-5, 117.0 + d * 1e-3, 8.0,
                                        vel=4.0, cog=90.0, batt=80.0))
            if len(pipe) >= 5000:
                pipe.execute()
                pipe = store.batch()
    pipe.execute()
    per_fix = (used(r) - before) / (TRAIL_DEVICES * FIXES_PER_DAY)
    day = per_fix * FIXES_PER_DAY
    retention_days = settings.trail_retention_s / 86400
    print(f"memory, Redis {r.info('server')['redis_version']}")
    print(f"  live store: {per_device:.0f} bytes per live device at {N} devices (trails apart); goal <= 1024")
    print(f"  trail: {per_fix:.0f} bytes per fix; a 24 h trail at 1 fix / 10 s = {day / 2**20:.2f} MB per device")
    print(f"  retention {retention_days:.0f} days (trail_retention_s): {day * retention_days / 2**20:.1f} MB per "
          f"device, {day * retention_days * 1000 / 2**30:.1f} GB per 1000 devices reporting all day")
    print("  ingest worker peak RSS under load: see bench ingest")
    ok = per_device <= 1024
    print(f"  goal <= 1 KB per live device: {'met' if ok else 'MISSED'}")
    r.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
