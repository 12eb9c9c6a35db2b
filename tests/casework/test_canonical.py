"""The seal's canonical JSON is RFC 8785's, whichever writer produced it."""
import rfc8785
from hypothesis import given, settings, strategies as st

from casework.canonical import canonical

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 53) + 1, 2 ** 53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_canonical_equals_rfc8785(doc):
    assert canonical(doc) == rfc8785.dumps(doc)


def test_the_cases_where_the_fast_writer_differs_are_handed_to_rfc8785():
    for doc in ({"a": 2.0}, {"a": 1e20}, {"a": 1e-6}, {"a": -0.0}, {"é": 1, "e": 2}, {"a": [{"😀": 1, "ｚ": 2}]}):
        assert canonical(doc) == rfc8785.dumps(doc)
