"""A dispatcher process over the small test jurisdiction, for the kill -9 test:
`python -m tests.alerts.dispatcher_proc NAME` with GRIDWATCH_* in the environment."""
from __future__ import annotations

import logging
import sys

from alerts.dispatcher import Dispatcher
from gridwatch.settings import Settings

from .field import small_dataset


def main() -> int:
    from alerts.live import RedisWorld

    logging.basicConfig(level=logging.INFO)
    settings = Settings()
    ds = small_dataset()
    return Dispatcher(settings, name=sys.argv[1],
                      world_factory=lambda r: RedisWorld(r, settings, dataset=ds)).run()


if __name__ == "__main__":
    sys.exit(main())
