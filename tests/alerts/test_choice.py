"""Who gets an order: the responsible level-2 supervisor when on duty and live, then the k
nearest eligible, each with a reason; escalation never asks anyone twice."""
import pytest

from alerts.choice import Candidate, choose, next_nearest

NEAR = [Candidate("d1", "p1", 100, "on_duty", "live"), Candidate("d2", "p2", 200, "busy", "live"),
        Candidate("d3", "p3", 300, "on_duty", "stale"), Candidate("d4", "p4", 400, "on_duty", "live"),
        Candidate("d5", "p5", 500, "on_duty", "live")]


@pytest.mark.parametrize("resp_state,k,devices,note", [
    (Candidate("r", "pr", None, "on_duty", "live"), 2, ["r", "d1", "d4"], None),
    (Candidate("r", "pr", None, "off_duty", "live"), 2, ["d1", "d4"], "status off_duty"),
    (Candidate("r", "pr", None, "on_duty", "stale"), 2, ["d1", "d4"], "position stale"),
    (None, 1, ["d1"], "has no device"),
    (Candidate("d1", "p1", 100, "on_duty", "live"), 2, ["d1", "d4", "d5"], None),  # not counted twice
    (Candidate("r", "pr", None, "on_duty", "live"), 0, ["r"], None),
])
def test_choose(resp_state, k, devices, note):
    picks, notes = choose(grid="g2", responsible="pr", responsible_state=resp_state, nearest=NEAR, k=k)
    assert [p.device for p in picks] == devices
    assert all(p.reason for p in picks)
    if note:
        assert any(note in n for n in notes)
    assert any("busy" in n for n in notes) or k < 2


def test_point_outside_every_grid_still_gets_the_nearest():
    picks, notes = choose(grid=None, responsible=None, responsible_state=None, nearest=NEAR, k=2)
    assert [p.device for p in picks] == ["d1", "d4"]
    assert "outside" in notes[0]


def test_escalation_skips_everyone_already_asked():
    notes = []
    picks = next_nearest(NEAR, 2, {"d1", "d4"}, notes)
    assert [p.device for p in picks] == ["d5"]
    assert any("only 1 of 2" in n for n in notes)
