"""The "double random" draw's pure core (CONTRACT.md section 10): which entities are checked
and by whom, from a seed and three lists, by a procedure anyone can redo with an HMAC-SHA256
tool (docs/draws.md has it step by step with `openssl`). No database here: the store
(casework/draw_store.py) gathers the lists, keeps them with the draw and calls `draw` again to
verify. The result depends only on the seed and the *sets* given (never on list order, process
or Python version: `random` is not used, ratios are exact decimals).
"""
from __future__ import annotations

import bisect
import gc
import hashlib
import hmac
import math

import numpy as np
import orjson
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Iterable

from alerts.errors import Invalid

ALGORITHM_ID = "gridwatch-draw-v1"
ALGORITHM = f"""{ALGORITHM_ID}
H(m) = HMAC-SHA256(key = the seed's UTF-8 bytes, message = m's UTF-8 bytes), as 64 lower-case hex digits.
1. Population: the active entities matching the filters, each with its level-2 grid and risky
   (a failed inspection or a founded complaint in the 12 months before the draw); R = risky, O = the others.
2. Entity number: h(u) = H(USCC), read as a 256-bit integer.
3a. Ratio r (exact decimal): take the ceil(r x |O|) entities of O with the smallest h, and the
   min(|R|, ceil(2 x r x |R|)) entities of R with the smallest h.
3b. Count n: key(u) = h(u) for an entity of O, floor(h(u) / 2) for an entity of R (twice as likely);
   take the n entities with the smallest (key, USCC).
4. The picks in ascending h(u). cap = ceil(per_entity x picks / N) + 1, N = the pool's size.
5. For each pick u in that order, its inspectors: L = the pool's person ids sorted; for step
   j = 0, 1, ..., N-1: x = H(USCC + "/" + j) as an integer mod (N - j); swap L[j] and L[j + x]
   (a Fisher-Yates shuffle driven by the HMAC); the candidate L[j] is taken unless he has a
   declared conflict with u (conflicts.csv), his grids include u's level-2 grid, or he already
   has cap entities; stop when per_entity are taken; the pool exhausted first: the draw is refused.
6. population_hash = SHA-256(JCS(sorted USCCs)); inspectors_hash = SHA-256(JCS(sorted person ids));
   inputs_hash = SHA-256(JCS(inputs)) where inputs = {{"population": {{"uscc": [...], "grid": [...], "risky": [0|1...]}}
   (three columns, by USCC), "inspectors": [[id, [grids sorted]]...] by id, "conflicts": [[person, USCC]...] sorted}}
   (JCS: RFC 8785 canonical JSON).
"""
MIN_PER_ENTITY = 2
DEFAULT_RATIO = Decimal("0.03")


@dataclass(frozen=True)
class Entity:
    uscc: str
    grid: str = ""          # its level-2 grid ("" when it lies in none)
    risky: bool = False


@dataclass(frozen=True)
class Inspector:
    id: str
    grids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    per_entity: int = MIN_PER_ENTITY
    ratio: Decimal | None = None
    count: int | None = None


@dataclass
class Result:
    picks: list[dict]                   # [{uscc, inspectors: [ids], risky}] in ascending h(u)
    population_size: int
    risk_population: int
    risk_picks: int
    inspector_pool_size: int
    cap: int
    population_hash: str
    inspectors_hash: str
    inputs_hash: str
    inputs: dict = field(repr=False)    # the canonical inputs document
    inputs_json: bytes = field(default=b"", repr=False)   # its JCS bytes (inputs_hash is their SHA-256)


class Infeasible(Invalid):
    """Fewer eligible inspectors than per_entity for some entity (HTTP 422, field per_entity)."""


def h(seed: str, message: str) -> str:
    return hmac.digest(seed.encode(), message.encode(), "sha256").hex()


def hmac_sha256(seed: str):
    """HMAC-SHA256 under the seed as a function of the message bytes: RFC 2104 with the two
    padded key blocks hashed once and their states copied per message, ~3x faster than
    `hmac.digest`'s per-call key set-up (OpenSSL 3); the same bytes (tests compare)."""
    k = seed.encode()
    if len(k) > 64:
        k = hashlib.sha256(k).digest()
    k = k.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(x ^ 0x36 for x in k)).copy
    outer = hashlib.sha256(bytes(x ^ 0x5C for x in k)).copy

    def mac(message: bytes) -> bytes:
        i = inner()
        i.update(message)
        o = outer()
        o.update(i.digest())
        return o.digest()
    return mac


def jcs(doc) -> bytes:
    """RFC 8785 bytes of an inputs document or id list: only ASCII keys, texts and the integers
    0/1, where orjson with sorted keys writes exactly JCS (casework/canonical.py), without
    canonical's walk over 700,000 rows to make sure."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def smallest(hs: list[bytes], tops: np.ndarray, among: np.ndarray, n: int, *, shift=None, exact=None) -> list[int]:
    """The n indices of `among` with the smallest HMAC (or, with `shift`, the HMAC halved where
    shift[i] is 1), exactly: a partition on the top 64 bits (`tops`, every HMAC's) finds the
    candidates (all those under the n-th value, and every tie with it), which are then sorted
    by the full key."""
    among = np.asarray(among, dtype=np.int64)
    if n <= 0 or len(among) == 0:
        return []
    top = tops[among]
    if shift is not None:
        top = top >> np.asarray(shift, dtype=np.uint64)[among]
    if n < len(among):
        t = np.partition(top, n - 1)[n - 1]
        cand = among[top <= t].tolist()
    else:
        cand = among.tolist()
    cand.sort(key=exact or hs.__getitem__)
    return cand[:n]


def parse_ratio(value) -> Decimal:
    """The ratio as the exact decimal written (0.03 is 3/100, not the nearest binary float)."""
    if isinstance(value, bool):
        raise Invalid("ratio is a number in (0, 1]", field="ratio")
    try:
        r = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise Invalid("ratio is a number in (0, 1]", field="ratio") from None
    if not r.is_finite() or not (0 < r <= 1):
        raise Invalid(f"ratio must lie in (0, 1], not {value}", field="ratio")
    return r


def ceil_dec(x: Decimal) -> int:
    return int(x.to_integral_value(rounding="ROUND_CEILING"))


DEFAULT_ROLES = ("l2_supervisor",)


def select_pool(people: Iterable[tuple[str, str, tuple[str, ...]]], roles=DEFAULT_ROLES, grids=(),
                parent_of: dict[str, str] | None = None) -> list[Inspector]:
    """The inspector pool: people (id, role, grids) of the roles, and, when `grids` is given
    (level-1 or level-2 ids), holding one of those grids or a level-2 grid under one of them."""
    parent_of = parent_of or {}
    want = set(grids)
    out = []
    for pid, role, held in people:
        if role not in roles:
            continue
        if want and not any(g in want or parent_of.get(g) in want for g in held):
            continue
        out.append(Inspector(pid, tuple(held)))
    return out


def inputs_document(population: Iterable[Entity], inspectors: Iterable[Inspector],
                    conflicts: Iterable[tuple[str, str]]) -> dict:
    """The inputs in their one canonical form (sorted; duplicates merged); conflicts kept only
    where both the person and the entity are in the lists."""
    pop = sorted({e.uscc: e for e in population}.values(), key=lambda e: e.uscc)
    return columns_document([e.uscc for e in pop], [e.grid or "" for e in pop],
                            [1 if e.risky else 0 for e in pop], inspectors, conflicts)


def columns_document(usccs: list[str], grids: list[str], risky: list[int], inspectors: Iterable[Inspector],
                     conflicts: Iterable[tuple[str, str]]) -> dict:
    """The inputs document from the population as three columns, already sorted by USCC (as the
    store reads them): {"population": {"uscc", "grid", "risky"}, "inspectors", "conflicts"}."""
    insp = sorted({i.id: i for i in inspectors}.values(), key=lambda i: i.id)
    in_pool = {i.id for i in insp}
    wanted = [(p, u) for p, u in conflicts if p in in_pool]
    # the population is sorted: its members found by binary search (no set of 700,000 codes)
    in_pop = {u for _p, u in wanted if (k := bisect.bisect_left(usccs, u)) < len(usccs) and usccs[k] == u}
    conf = sorted({(p, u) for p, u in wanted if u in in_pop})
    return {"population": {"uscc": usccs, "grid": grids, "risky": risky},
            "inspectors": [[i.id, sorted(set(i.grids))] for i in insp],
            "conflicts": [[p, u] for p, u in conf]}


def draw(seed: str, spec: Spec, population: Iterable[Entity], inspectors: Iterable[Inspector],
         conflicts: Iterable[tuple[str, str]] = ()) -> Result:
    """The draw of ALGORITHM. Raises Invalid naming the field (count, ratio, per_entity,
    population, inspectors) when it cannot be made."""
    return draw_inputs(seed, spec, inputs_document(population, inspectors, conflicts))


@contextmanager
def gc_paused():
    """The cyclic garbage collector paused (the draw makes no cycles): each collection walked
    the draw's 700,000-element lists, 0.15 s of a 1.0 s draw here. Process-wide while it lasts
    (a draw's second or so); nested uses keep it paused until the outermost ends."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def draw_inputs(seed: str, spec: Spec, doc: dict) -> Result:
    """`draw` over an inputs document (as stored with a draw: how verify redoes it)."""
    with gc_paused():
        return _draw_inputs(seed, spec, doc)


def _draw_inputs(seed: str, spec: Spec, doc: dict) -> Result:
    if not isinstance(seed, str) or not seed:
        raise Invalid("the seed is a non-empty text", field="seed")
    if spec.per_entity < MIN_PER_ENTITY:
        raise Invalid(f"per_entity is at least {MIN_PER_ENTITY}", field="per_entity")
    usccs, egrids, flags = (doc["population"][k] for k in ("uscc", "grid", "risky"))
    pool = doc["inspectors"]
    if not (len(usccs) == len(egrids) == len(flags)):
        raise Invalid("the population's columns differ in length", field="population")
    if not usccs:
        raise Invalid("the population is empty: no active entity matches the filters", field="population")
    if not pool:
        raise Invalid("the inspector pool is empty: nobody matches the roles and grids", field="inspectors")
    try:
        joined = "\n".join(usccs).encode()
        flag_col = np.asarray(flags, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise Invalid("the population holds USCCs as texts and risky as 0 or 1", field="population") from None
    if flag_col.ndim != 1 or not ((flag_col == 0) | (flag_col == 1)).all():
        raise Invalid("risky is 0 or 1 for each entity", field="population")
    codes = np.array(usccs, dtype=object)
    # each one greater than the one before (Python's text comparison, run by numpy's loop)
    if len(codes) > 1 and not (codes[1:] > codes[:-1]).all():
        raise Invalid("the population is not sorted by USCC without repeats", field="population")
    mac = hmac_sha256(seed)
    # step 2: one HMAC per entity, compared as 32-byte big-endian strings (= the numbers' order)
    hs = [mac(u) for u in joined.split(b"\n")]
    if len(hs) != len(usccs):
        raise Invalid("a USCC holds a line break", field="population")
    # the HMACs' top 64 bits, for the partitions of step 3
    tops = np.frombuffer(b"".join(hs), dtype=">u8")[::4].astype(np.uint64)
    risky = np.flatnonzero(flag_col)
    if spec.count is not None:
        if spec.ratio is not None:
            raise Invalid("give ratio or count, not both", field="count")
        n = spec.count
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise Invalid("count is a whole number of at least 1", field="count")
        if n > len(usccs):
            raise Invalid(f"count {n} is more than the population's {len(usccs)} entities", field="count",
                          population_size=len(usccs))
        # step 3b: risky numbers halved (floor), ties by USCC
        chosen = smallest(hs, tops, np.arange(len(usccs)), n, shift=flag_col,
                          exact=lambda i: (int.from_bytes(hs[i], "big") >> flags[i], usccs[i]))
    else:
        r = spec.ratio if spec.ratio is not None else DEFAULT_RATIO
        if not (0 < r <= 1):
            raise Invalid(f"ratio must lie in (0, 1], not {r}", field="ratio")
        others = np.flatnonzero(flag_col == 0)
        n_o = ceil_dec(r * len(others))
        n_r = min(len(risky), ceil_dec(2 * r * len(risky)))
        chosen = smallest(hs, tops, others, n_o) + smallest(hs, tops, risky, n_r)
    chosen.sort(key=hs.__getitem__)                       # step 4
    count = len(chosen)
    cap = math.ceil(spec.per_entity * count / len(pool)) + 1
    conflicts: dict[str, set[str]] = {}
    for p, u in doc["conflicts"]:
        conflicts.setdefault(u, set()).add(p)
    holders: dict[str, set[str]] = {}
    for pid, grids in pool:
        for g in grids:
            holders.setdefault(g, set()).add(pid)
    ids = [pid for pid, _ in pool]
    in_pool = set(ids)
    load = dict.fromkeys(ids, 0)
    picks = []
    for i in chosen:                                      # step 5
        uscc, grid, is_risky = usccs[i], egrids[i], flags[i]
        barred = conflicts.get(uscc, set()) | (holders.get(grid, set()) if grid else set())
        eligible = len(pool) - len(barred & in_pool)
        if eligible < spec.per_entity:
            raise Infeasible(f"entity {uscc} has {eligible} eligible inspectors, fewer than per_entity "
                             f"{spec.per_entity} (after conflicts and its own grid's people)",
                             field="per_entity", uscc=uscc, eligible=eligible)
        team = team_of(mac, uscc, ids, spec.per_entity,
                       lambda pid: pid not in barred and load[pid] < cap)
        if len(team) < spec.per_entity:
            raise Infeasible(f"entity {uscc}: its {eligible} eligible inspectors already hold {cap} entities "
                             f"each (the balance bound) but for {len(team)}; widen the pool or lower the count",
                             field="per_entity", uscc=uscc, eligible=eligible, cap=cap)
        for pid in team:
            load[pid] += 1
        picks.append({"uscc": uscc, "inspectors": team, "risky": bool(is_risky)})
    return Result(picks=picks, population_size=len(usccs), risk_population=len(risky),
                  risk_picks=sum(1 for p in picks if p["risky"]), inspector_pool_size=len(pool), cap=cap,
                  population_hash=hashlib.sha256(jcs(usccs)).hexdigest(),
                  inspectors_hash=hashlib.sha256(jcs([p[0] for p in pool])).hexdigest(),
                  inputs_hash=hashlib.sha256(raw := jcs(doc)).hexdigest(), inputs=doc, inputs_json=raw)


def team_of(mac, uscc: str, ids: list[str], want: int, takes) -> list[str]:
    """Step 5 for one entity: walk the HMAC-driven Fisher-Yates shuffle of `ids` (sorted) and
    keep the candidates `takes` accepts, until `want` are kept or the pool is exhausted. Only
    the swaps made are remembered, so a pick costs a few HMACs, not one per inspector."""
    n = len(ids)
    moved: dict[int, int] = {}
    team: list[str] = []
    for j in range(n):
        x = int.from_bytes(mac(f"{uscc}/{j}".encode()), "big") % (n - j)
        k = j + x
        at_k = moved.get(k, k)
        moved[k] = moved.get(j, j)
        pid = ids[at_k]
        if takes(pid):
            team.append(pid)
            if len(team) == want:
                break
    return team
