import random

from hypothesis import given, strategies as st

from geodata import uscc


def test_published_codes_pass_the_checksum():
    for code in ("91350100M000100Y43", "91110000600037341L", "9144030071526726XG"):
        assert uscc.problem(code) is None


def test_generated_codes_are_valid_and_carry_division_and_kind():
    rng = random.Random(1)
    for division in ("360602", "360603", "360681"):
        code = uscc.generate(rng, division, kind="2")
        assert uscc.is_valid(code) and code[2:8] == division and code[:2] == "92"


@given(st.integers(0, 10**6), st.integers(0, 17), st.sampled_from(uscc.ALPHABET))
def test_any_single_character_change_is_caught(seed, pos, char):
    code = uscc.generate(random.Random(seed), "360602")
    changed = code[:pos] + char + code[pos + 1:]
    if changed != code and changed[2:8].isdigit():
        assert not uscc.is_valid(changed)


def test_malformed_codes_are_named():
    assert "18 characters" in uscc.problem("9136060")
    assert "alphabet" in uscc.problem("91360602MA35I0000X")  # I is not in the alphabet
    assert "check character" in uscc.problem("91350100M000100Y44")
    assert uscc.problem(None) == "USCC missing"
