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
    # transaction=True: a cluster client's pipelines default to none (every watched and written
    # key carries the `{orders}` tag, so the transaction stays in one slot there too)
    with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(*watch)
                result = fn(pipe)
                if _in_multi(pipe):
                    pipe.execute()
                else:
                    pipe.reset()
                return result
            except redis.WatchError:
                continue


def _in_multi(pipe) -> bool:
    """Whether `fn` called MULTI. A cluster pipeline keeps the flag in its strategy object."""
    if hasattr(pipe, "explicit_transaction"):
        return pipe.explicit_transaction
    return pipe._execution_strategy._explicit_transaction
