"""The store's Lua scripts, each in its own file beside the module that calls it (store.lua,
nearest.lua, ...), with the constants they share with Python filled in from Python: a script
writes `${NAME}` where Python owns the value (`$${...}` in a comment), and `load` fails on a name it was not given."""
from __future__ import annotations

import hashlib
from pathlib import Path
from string import Template
from typing import NamedTuple

HERE = Path(__file__).parent


class Script(NamedTuple):
    source: str
    sha: str


def literal(v: object) -> str:
    """A Python constant as Lua source: strings quoted, numbers exact."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    raise TypeError(f"no Lua literal for {v!r}")


def load(name: str, **constants: object) -> Script:
    """The script `telemetry/<name>` with its `${NAME}`s filled in, and its SHA-1 (EVALSHA)."""
    source = Template((HERE / name).read_text()).substitute({k: literal(v) for k, v in constants.items()})
    return Script(source, hashlib.sha1(source.encode()).hexdigest())
