"""One bounded wait for tests and benchmarks: poll until something holds. Never a timing
assertion: the timeout only bounds how long a broken run hangs."""
from __future__ import annotations

import time


def wait_for(pred, timeout: float = 60.0, what: str = "condition", every: float = 0.05):
    """pred()'s first truthy value. An exception from pred counts as "not yet" (a page
    mid-render, a server restarting) and is chained to the AssertionError that names `what`
    once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            v = pred()
        except Exception as e:  # noqa: BLE001 - reported below if it never comes right
            v, last = None, e
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout} s") from last
        time.sleep(every)
