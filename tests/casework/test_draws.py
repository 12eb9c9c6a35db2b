"""The draw's pure core (casework/draws.py): properties over random populations, inspector
pools and conflicts, and the documented procedure redone with nothing but hashlib and hmac."""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from alerts.errors import Invalid
from casework import draws as D
from geodata.uscc import check_char

GRIDS = [f"g{i}" for i in range(6)]
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def usccs(n: int, rnd: random.Random) -> list[str]:
    out = set()
    while len(out) < n:
        body = "91" + "".join(rnd.choice(ALPHABET) for _ in range(15))
        out.add(body + check_char(body))
    return sorted(out)


@st.composite
def worlds(draw):
    rnd = random.Random(draw(st.integers(0, 2**32)))
    n_ent = draw(st.integers(1, 120))
    n_insp = draw(st.integers(2, 25))
    population = [D.Entity(u, rnd.choice(GRIDS + [""]), rnd.random() < 0.2) for u in usccs(n_ent, rnd)]
    inspectors = [D.Inspector(f"p{i:03d}", tuple(rnd.sample(GRIDS, rnd.randint(0, 2)))) for i in range(n_insp)]
    conflicts = [(rnd.choice(inspectors).id, rnd.choice(population).uscc) for _ in range(rnd.randint(0, n_ent))]
    per_entity = draw(st.integers(2, 3))
    if draw(st.booleans()):
        spec = D.Spec(per_entity=per_entity, count=draw(st.integers(1, n_ent)))
    else:
        spec = D.Spec(per_entity=per_entity, ratio=Decimal(draw(st.sampled_from(["0.03", "0.1", "0.25", "0.5", "0.7", "1"]))))
    seed = draw(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s))
    return seed, spec, population, inspectors, conflicts, rnd


def _try(seed, spec, population, inspectors, conflicts):
    try:
        return D.draw(seed, spec, population, inspectors, conflicts)
    except D.Infeasible:
        return None


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_the_draw_keeps_every_rule(world):
    seed, spec, population, inspectors, conflicts, rnd = world
    res = _try(seed, spec, population, inspectors, conflicts)
    if res is None:
        return
    risky = [e for e in population if e.risky]
    if spec.count is not None:
        assert len(res.picks) == spec.count
    else:
        others = len(population) - len(risky)
        assert len(res.picks) == math.ceil(spec.ratio * others) + min(len(risky), math.ceil(2 * spec.ratio * len(risky)))
        assert res.risk_picks == min(len(risky), math.ceil(2 * spec.ratio * len(risky)))
    assert res.risk_population == len(risky)
    assert len({p["uscc"] for p in res.picks}) == len(res.picks)
    grid = {e.uscc: e.grid for e in population}
    holds = {i.id: set(i.grids) for i in inspectors}
    barred = set(conflicts)
    load: dict[str, int] = {}
    for p in res.picks:
        assert len(p["inspectors"]) == spec.per_entity == len(set(p["inspectors"]))
        for pid in p["inspectors"]:
            assert (pid, p["uscc"]) not in barred
            assert grid[p["uscc"]] not in holds[pid] or grid[p["uscc"]] == ""
            load[pid] = load.get(pid, 0) + 1
    assert res.cap == math.ceil(spec.per_entity * len(res.picks) / len(inspectors)) + 1
    assert max(load.values()) <= res.cap


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_the_same_seed_gives_the_same_picks_whatever_the_order_of_the_lists(world):
    seed, spec, population, inspectors, conflicts, rnd = world
    first = _try(seed, spec, population, inspectors, conflicts)
    shuffled = [list(x) for x in (population, inspectors, conflicts)]
    for x in shuffled:
        rnd.shuffle(x)
    again = _try(seed, spec, *shuffled)
    assert (first is None) == (again is None)
    if first is not None:
        assert first.picks == again.picks
        assert (first.population_hash, first.inspectors_hash, first.inputs_hash) == \
            (again.population_hash, again.inspectors_hash, again.inputs_hash)


@given(st.text(max_size=120), st.binary(max_size=80))
def test_the_fast_hmac_is_hmac(seed, message):
    assert D.hmac_sha256(seed)(message) == hmac.new(seed.encode(), message, hashlib.sha256).digest()


def test_another_seed_gives_other_picks():
    rnd = random.Random(5)
    pop = [D.Entity(u, "g1") for u in usccs(400, rnd)]
    pool = [D.Inspector(f"p{i}") for i in range(10)]
    a = D.draw("a", D.Spec(count=20), pop, pool)
    b = D.draw("b", D.Spec(count=20), pop, pool)
    assert {p["uscc"] for p in a.picks} != {p["uscc"] for p in b.picks}


def test_risky_entities_are_drawn_about_twice_as_often_with_a_count():
    rnd = random.Random(7)
    pop = [D.Entity(u, "", i % 5 == 0) for i, u in enumerate(usccs(2000, rnd))]
    pool = [D.Inspector(f"p{i}") for i in range(50)]
    risky_rate, other_rate = [], []
    for s in range(40):
        res = D.draw(f"seed{s}", D.Spec(count=100), pop, pool)
        risky_rate.append(res.risk_picks / 400)
        other_rate.append((100 - res.risk_picks) / 1600)
    ratio = sum(risky_rate) / sum(other_rate)
    assert 1.7 < ratio < 2.3, ratio


def test_bad_specs_name_their_field():
    rnd = random.Random(1)
    pop = [D.Entity(u) for u in usccs(10, rnd)]
    pool = [D.Inspector("a"), D.Inspector("b"), D.Inspector("c")]
    cases = [(D.Spec(count=11), "count"), (D.Spec(count=0), "count"),
             (D.Spec(per_entity=1), "per_entity"), (D.Spec(per_entity=4), "per_entity"),
             (D.Spec(count=2, ratio=Decimal("0.1")), "count")]
    for spec, fld in cases:
        with pytest.raises(Invalid) as e:
            D.draw("s", spec, pop, pool)
        assert e.value.detail["field"] == fld
    for bad in (0, -0.1, 1.01, "x", True, float("nan")):
        with pytest.raises(Invalid) as e:
            D.parse_ratio(bad)
        assert e.value.detail["field"] == "ratio"
    # everyone barred from one entity by conflicts and its own grid
    pop2 = [D.Entity(pop[0].uscc, "g9")]
    with pytest.raises(D.Infeasible) as e:
        D.draw("s", D.Spec(count=1), pop2, [D.Inspector("a", ("g9",)), D.Inspector("b"), D.Inspector("c")],
               [("b", pop[0].uscc)])
    assert e.value.detail["uscc"] == pop[0].uscc and e.value.detail["eligible"] == 1


def test_ratio_is_exact_decimal():
    # 0.07 x 100 is 7.000000000000001 in binary floating point: ceil would say 8
    rnd = random.Random(2)
    pop = [D.Entity(u) for u in usccs(100, rnd)]
    res = D.draw("s", D.Spec(ratio=D.parse_ratio(0.07)), pop, [D.Inspector(f"p{i}") for i in range(5)])
    assert len(res.picks) == 7


# --- the documented procedure, redone with hashlib and hmac only (docs/draws.md) -------------

def redo_by_the_book(seed: str, inputs: dict, ratio: str | None, count: int | None, per_entity: int) -> list[dict]:
    """docs/draws.md, steps 1-5, written from the text, sharing no code with casework/draws.py."""
    def H(m: str) -> str:
        return hmac.new(seed.encode("utf-8"), m.encode("utf-8"), hashlib.sha256).hexdigest()

    col = inputs["population"]
    pop = list(zip(col["uscc"], col["grid"], col["risky"]))
    num = {u: int(H(u), 16) for u, _g, _r in pop}
    if count is not None:
        def key(e):
            return (num[e[0]] // 2 if e[2] == 1 else num[e[0]], e[0])
        picked = sorted(pop, key=key)[:count]
    else:
        r = Decimal(ratio)
        risky = sorted((e for e in pop if e[2] == 1), key=lambda e: num[e[0]])
        others = sorted((e for e in pop if e[2] == 0), key=lambda e: num[e[0]])
        n_o = math.ceil(r * len(others))
        n_r = min(len(risky), math.ceil(2 * r * len(risky)))
        picked = others[:n_o] + risky[:n_r]
    picked.sort(key=lambda e: num[e[0]])
    ids = sorted(p for p, _ in inputs["inspectors"])
    grids = {p: set(g) for p, g in inputs["inspectors"]}
    conflict = {(p, u) for p, u in inputs["conflicts"]}
    cap = math.ceil(per_entity * len(picked) / len(ids)) + 1
    load = {p: 0 for p in ids}
    out = []
    for uscc, grid, _r in picked:
        L = list(ids)
        team = []
        for j in range(len(L)):
            x = int(H(uscc + "/" + str(j)), 16) % (len(L) - j)
            L[j], L[j + x] = L[j + x], L[j]
            c = L[j]
            if (c, uscc) in conflict or (grid and grid in grids[c]) or load[c] >= cap:
                continue
            team.append(c)
            if len(team) == per_entity:
                break
        for c in team:
            load[c] += 1
        out.append({"uscc": uscc, "inspectors": team})
    return out


def test_the_documented_procedure_gives_the_same_picks_and_hashes():
    rnd = random.Random(11)
    pop = [D.Entity(u, rnd.choice(GRIDS), rnd.random() < 0.3) for u in usccs(300, rnd)]
    pool = [D.Inspector(f"s2-{i:02d}", (GRIDS[i % 6],)) for i in range(12)]
    conflicts = [(pool[i].id, pop[i * 7].uscc) for i in range(12)]
    for spec, ratio, count in ((D.Spec(ratio=Decimal("0.1")), "0.1", None), (D.Spec(count=25), None, 25)):
        res = D.draw("observers typed 4711", spec, pop, pool, conflicts)
        inputs = json.loads(json.dumps(res.inputs))
        assert [{"uscc": p["uscc"], "inspectors": p["inspectors"]} for p in res.picks] == \
            redo_by_the_book("observers typed 4711", inputs, ratio, count, 2)
        sorted_ids = json.dumps(sorted(e.uscc for e in pop), separators=(",", ":")).encode()
        assert res.population_hash == hashlib.sha256(sorted_ids).hexdigest()
        assert res.inputs_hash == hashlib.sha256(
            json.dumps(inputs, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def test_the_worked_example_of_the_docs_holds():
    """docs/draws.md's example: its inputs redone by the book give the picks and hashes it states."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "draws.md").read_text(encoding="utf-8")
    raw = re.search(r"```json\n(.*?)\n```", text, re.S).group(1)
    inputs = json.loads(raw)
    assert hashlib.sha256(raw.encode()).hexdigest() in text            # inputs_hash as stated
    picks = redo_by_the_book("2026-12-02 观察员 7315", inputs, "0.25", None, 2)
    assert picks == [
        {"uscc": "9136060354RJ4P7Q9N", "inspectors": ["s2-360602002-01", "s2-360602001-01"]},
        {"uscc": "9136060256EEQG5C1M", "inspectors": ["s2-360602001-01", "s2-360602001-02"]},
        {"uscc": "91360603443U0BN394", "inspectors": ["s2-360602002-02", "s2-360602001-01"]}]
    for p in picks:
        assert f"**{', '.join(p['inspectors'])}**" in text
    res = D.draw_inputs("2026-12-02 观察员 7315", D.Spec(ratio=Decimal("0.25")), inputs)
    assert [p["inspectors"] for p in res.picks] == [p["inspectors"] for p in picks]
    for hx in (res.population_hash, res.inspectors_hash, res.inputs_hash):
        assert hx in text
