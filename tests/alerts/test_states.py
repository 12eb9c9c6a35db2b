"""The transition table: what is applied, ignored as a duplicate, or refused (and why)."""
import pytest

from alerts import states as s


@pytest.mark.parametrize("current,target,verdict", [
    ("sent", "delivered", "apply"),
    ("sent", "acknowledged", "apply"),        # the ack may overtake the delivered receipt
    ("delivered", "acknowledged", "apply"),
    ("acknowledged", "en_route", "apply"),
    ("en_route", "on_scene", "apply"),
    ("on_scene", "completed", "apply"),
    ("sent", "en_route", "apply"),            # the terminal page's en route button implies the ack
    ("acknowledged", "completed", "apply"),   # handled by phone, never went
    ("acknowledged", "declined", "apply"),
    ("sent", "declined", "apply"),
    ("acknowledged", "acknowledged", "noop"),  # QoS 1 resend
    ("acknowledged", "delivered", "noop"),     # late receipt
    ("on_scene", "en_route", "noop"),
    ("completed", "completed", "noop"),
    ("sent", "completed", "refuse"),          # completing needs the order taken first
    ("delivered", "completed", "refuse"),
    ("on_scene", "declined", "refuse"),
    ("declined", "acknowledged", "refuse"),
    ("timed_out", "acknowledged", "refuse"),
    ("cancelled", "on_scene", "refuse"),
    ("completed", "declined", "refuse"),
    ("sent", "bogus", "refuse"),
])
def test_recipient_reports(current, target, verdict):
    d = s.decide_recipient(current, target)
    assert d.verdict == verdict, d.reason
    if verdict != "apply":
        assert d.reason


@pytest.mark.parametrize("current,target,verdict", [
    ("sent", "timed_out", "apply"),
    ("delivered", "timed_out", "apply"),
    ("acknowledged", "timed_out", "refuse"),  # whoever took the order never times out
    ("en_route", "cancelled", "apply"),
    ("completed", "cancelled", "refuse"),
    ("timed_out", "timed_out", "noop"),
])
def test_system_moves(current, target, verdict):
    assert s.decide_recipient(current, target, by_system=True).verdict == verdict


@pytest.mark.parametrize("target", ["timed_out", "cancelled"])
def test_devices_cannot_set_system_states(target):
    d = s.decide_recipient("sent", target)
    assert d.verdict == "refuse" and "platform" in d.reason


@pytest.mark.parametrize("current,target,verdict", [
    ("open", "closed", "apply"), ("open", "cancelled", "apply"), ("closed", "closed", "noop"),
    ("cancelled", "cancelled", "noop"), ("closed", "cancelled", "refuse"), ("cancelled", "closed", "refuse"),
    ("closed", "open", "refuse"), ("open", "nope", "refuse"),
])
def test_order_moves(current, target, verdict):
    assert s.decide_order(current, target).verdict == verdict


@pytest.mark.parametrize("order_target,recipient,after", [
    ("cancelled", "sent", "cancelled"), ("cancelled", "on_scene", "cancelled"),
    ("closed", "delivered", "cancelled"), ("closed", "en_route", None), ("closed", "completed", None),
    ("cancelled", "declined", None),
])
def test_what_an_order_end_does_to_recipients(order_target, recipient, after):
    assert s.on_order_end(order_target, recipient) == after


def test_table_is_closed_and_terminal_states_absorb():
    for src, dsts in s.RECIPIENT_TRANSITIONS.items():
        assert src in s.RECIPIENT_STATES and dsts <= set(s.RECIPIENT_STATES)
        assert src not in dsts
    for t in s.TERMINAL_RECIPIENT:
        assert not s.RECIPIENT_TRANSITIONS[t]
    assert set(s.RECIPIENT_TRANSITIONS) == set(s.RECIPIENT_STATES)


@pytest.mark.parametrize("current,target,verdict", [
    ("open", "acknowledged", "apply"), ("open", "cleared", "apply"), ("acknowledged", "cleared", "apply"),
    ("cleared", "acknowledged", "noop"), ("cleared", "open", "refuse"), ("acknowledged", "open", "refuse"),
])
def test_alert_moves(current, target, verdict):
    assert s.decide_alert(current, target).verdict == verdict
