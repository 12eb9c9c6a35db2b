"""Unified social credit codes (统一社会信用代码, GB 32100-2015): checksum test and a generator.

No maintained PyPI package does this, and the rule is a page of the standard: 18 characters
from a 31-character alphabet, the last one a mod-31 check over the first 17.
"""
from __future__ import annotations

import random

# GB 32100-2015 table 1: digits and capitals without I, O, Z, S, V (easily misread).
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
# Weights of positions 1..17 are 3^(i-1) mod 31 (the standard's table 3).
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
# GB 11714-1997 organisation code (positions 9..17): 8 characters and a mod-11 check.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def check_char(first17: str) -> str:
    """The 18th character for the first 17."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS))
    return ALPHABET[(31 - total % 31) % 31]


def problem(code: object) -> str | None:
    """None when `code` is a well-formed USCC, else what is wrong with it."""
    if not isinstance(code, str):
        return "USCC missing"
    if len(code) != 18:
        return f"USCC must have 18 characters, has {len(code)}"
    bad = sorted({c for c in code if c not in _VALUE})
    if bad:
        return f"USCC has characters outside GB 32100-2015's alphabet: {''.join(bad)}"
    if not code[2:8].isdigit():
        return "USCC positions 3-8 must be an administrative division code"
    expected = check_char(code[:17])
    if code[17] != expected:
        return f"USCC check character is {code[17]}, GB 32100-2015 gives {expected}"
    return None


def is_valid(code: object) -> bool:
    return problem(code) is None


def _org_code(rng: random.Random) -> str:
    body = "".join(rng.choice(_ORG_ALPHABET[:10] if i < 2 else _ORG_ALPHABET) for i in range(8))
    total = sum(_VALUE[c] * w for c, w in zip(body, _ORG_WEIGHTS))
    c9 = 11 - total % 11
    return body + ("X" if c9 == 10 else "0" if c9 == 11 else str(c9))


def generate(rng: random.Random, division: str, authority: str = "9", kind: str = "1") -> str:
    """A valid code: registration authority (9 = market regulation), entity kind (1 = enterprise,
    2 = individual business), 6-digit division, organisation code, check character."""
    if len(division) != 6 or not division.isdigit():
        raise ValueError(f"division must be 6 digits, got {division!r}")
    first17 = authority + kind + division + _org_code(rng)
    return first17 + check_char(first17)
