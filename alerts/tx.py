"""The optimistic transaction every alerts write goes through (WATCH, read, decide, MULTI)."""
from __future__ import annotations

from typing import Callable

import redis


def transact(r: redis.Redis, watch: list[str], fn: Callable):
    """Run `fn(pipe)` under WATCH until its MULTI commits and return what `fn` returned.

    `fn` reads through `pipe` (immediate mode), then either calls `pipe.multi()` and queues
    its writes, or returns without MULTI when there is nothing to write. A concurrent write
    to a watched key aborts the EXEC and `fn` runs again on the new state.
    """
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(*watch)
                result = fn(pipe)
                if pipe.explicit_transaction:
                    pipe.execute()
                else:
                    pipe.reset()
                return result
            except redis.WatchError:
                continue
