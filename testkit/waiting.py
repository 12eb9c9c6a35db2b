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


def wait_for_web(base: str, proc=None, timeout: float = 90.0, healthy: bool = False) -> None:
    """Until `gridwatch web` at `base` answers /api/health (with 200 when `healthy`: Redis, MQTT
    and PostgreSQL all reached). `proc`, its Popen, exiting first ends the wait at once."""
    import urllib.error
    import urllib.request

    def up() -> bool:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"gridwatch web exited with {proc.returncode} before it answered")
        try:
            with urllib.request.urlopen(base + "/api/health", timeout=2) as res:
                return res.status == 200
        except urllib.error.HTTPError:   # it answered: up, though not every server is
            return not healthy
        except OSError:
            return False

    deadline = time.monotonic() + timeout
    while not up():
        if time.monotonic() >= deadline:
            raise AssertionError(f"gridwatch web at {base} did not answer /api/health in {timeout} s")
        time.sleep(0.2)
