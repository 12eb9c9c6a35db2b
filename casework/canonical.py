"""Canonical JSON (RFC 8785, JCS) of a record, the bytes a seal hashes.

`rfc8785` (the maintained pure-Python implementation) defines the bytes. It costs ~200 us for
a record, which is a minute for a history of 300,000 sealed records and as long again to verify
them. orjson (sorted keys, compact) writes the same bytes ~100x faster except where the two
differ: object keys outside ASCII (JCS sorts by UTF-16 units), floats with an integral value
(JCS writes 2.0 as 2), in exponent form or beyond 2^53 (JCS writes 1e20 in full, refuses big
integers), -0.0. `canonical` looks for those keys and numbers in the document (keys and
numbers only: strings are never looked at) and hands such a document to rfc8785, else writes
it with orjson; tests/casework/test_canonical.py checks the two agree on generated documents."""
from __future__ import annotations

import orjson
import rfc8785

_SAFE_INT = 2 ** 53
_CONTAINERS = (dict, list)


def _orjson_agrees(doc) -> bool:
    """No key outside ASCII, no float that is integral, outside [1e-5, 1e15) or not finite,
    no integer beyond 2^53: walks the containers, looking only at keys and numbers."""
    stack = [doc]
    while stack:
        v = stack.pop()
        values = v.values() if type(v) is dict else v
        if type(v) is dict and not all(k.isascii() for k in v):
            return False
        for x in values:
            t = type(x)
            if t is float:
                if not (1e-5 <= abs(x) < 1e15) or x.is_integer():
                    return False
            elif t is int:
                if not -_SAFE_INT < x < _SAFE_INT:
                    return False
            elif t in _CONTAINERS:
                stack.append(x)
    return True


def canonical(doc) -> bytes:
    if type(doc) in _CONTAINERS and _orjson_agrees(doc):
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return rfc8785.dumps(doc)
