"""`python -m bench [NAME ...]`: runs bench/bench_NAME.py's main() for each NAME given, or every
bench/bench_*.py when none is; exits non-zero if any benchmark missed its goal."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = argv or sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    failed = []
    for name in names:
        mod = importlib.import_module(f"bench.bench_{name}")
        print(f"== bench {name}", flush=True)
        if mod.main([]) not in (0, None):
            failed.append(name)
    if failed:
        print(f"missed their goals: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
