"""The one transition table for recipients and orders (CONTRACT.md section 6), and the pure
decision every writer asks before it changes a state: apply, ignore as a duplicate, or refuse.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SENT, DELIVERED, ACKNOWLEDGED, EN_ROUTE, ON_SCENE, COMPLETED = (
    "sent", "delivered", "acknowledged", "en_route", "on_scene", "completed",
)
DECLINED, TIMED_OUT, CANCELLED = "declined", "timed_out", "cancelled"

RECIPIENT_STATES: tuple[str, ...] = (
    SENT, DELIVERED, ACKNOWLEDGED, EN_ROUTE, ON_SCENE, COMPLETED, DECLINED, TIMED_OUT, CANCELLED,
)
# The main line, in order; a step back along it is stale news, not an error.
PROGRESS: tuple[str, ...] = (SENT, DELIVERED, ACKNOWLEDGED, EN_ROUTE, ON_SCENE, COMPLETED)
TERMINAL_RECIPIENT = frozenset({COMPLETED, DECLINED, TIMED_OUT, CANCELLED})
# A recipient in one of these has taken the order: it stops the escalation timer.
ENGAGED = frozenset({ACKNOWLEDGED, EN_ROUTE, ON_SCENE, COMPLETED})
# What a recipient (its device, the terminal page, or a coordinator for them) may report.
REPORTABLE = frozenset({DELIVERED, ACKNOWLEDGED, EN_ROUTE, ON_SCENE, COMPLETED, DECLINED})
# Only the platform sets these: the escalation timer and the order's cancel/close.
SYSTEM_ONLY = frozenset({TIMED_OUT, CANCELLED})

# Forward skips are legal where a receipt can be lost or overtaken: a device may acknowledge
# (or report en route, or arrive) before its delivered receipt is seen, and the terminal page
# has buttons for each step. Completing needs the order taken first (acknowledged or later).
# Declining is possible until the recipient is on scene; after that only completion or the
# coordinator's cancel ends it. Timing out only hits recipients that never took the order.
RECIPIENT_TRANSITIONS: dict[str, frozenset[str]] = {
    SENT: frozenset({DELIVERED, ACKNOWLEDGED, EN_ROUTE, ON_SCENE, DECLINED, TIMED_OUT, CANCELLED}),
    DELIVERED: frozenset({ACKNOWLEDGED, EN_ROUTE, ON_SCENE, DECLINED, TIMED_OUT, CANCELLED}),
    ACKNOWLEDGED: frozenset({EN_ROUTE, ON_SCENE, COMPLETED, DECLINED, CANCELLED}),
    EN_ROUTE: frozenset({ON_SCENE, COMPLETED, DECLINED, CANCELLED}),
    ON_SCENE: frozenset({COMPLETED, CANCELLED}),
    COMPLETED: frozenset(),
    DECLINED: frozenset(),
    TIMED_OUT: frozenset(),
    CANCELLED: frozenset(),
}

OPEN, CLOSED = "open", "closed"
ORDER_STATES: tuple[str, ...] = (OPEN, CLOSED, CANCELLED)
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    OPEN: frozenset({CLOSED, CANCELLED}),
    CLOSED: frozenset(),
    CANCELLED: frozenset(),
}

# Alerts: raised open, acknowledged by a duty officer, cleared when the cause ends (whether or
# not anyone acknowledged it: the ack is kept as a separate fact on the alert).
ALERT_OPEN, ALERT_ACKNOWLEDGED, ALERT_CLEARED = "open", "acknowledged", "cleared"
ALERT_STATES: tuple[str, ...] = (ALERT_OPEN, ALERT_ACKNOWLEDGED, ALERT_CLEARED)
ALERT_TRANSITIONS: dict[str, frozenset[str]] = {
    ALERT_OPEN: frozenset({ALERT_ACKNOWLEDGED, ALERT_CLEARED}),
    ALERT_ACKNOWLEDGED: frozenset({ALERT_CLEARED}),
    ALERT_CLEARED: frozenset(),
}


@dataclass(frozen=True)
class Decision:
    """What to do with a requested move: `apply` it, ignore it (`noop`), or `refuse` it."""

    verdict: Literal["apply", "noop", "refuse"]
    reason: str = ""

    @property
    def applies(self) -> bool:
        return self.verdict == "apply"


def decide_recipient(current: str, target: str, *, by_system: bool = False) -> Decision:
    """Whether a recipient in `current` may move to `target`.

    A repeat of the current state, or a late receipt for a step already passed on the main
    line (a `delivered` arriving after `acknowledged`), is a no-op: devices resend under QoS 1.
    """
    if target not in RECIPIENT_TRANSITIONS:
        return Decision("refuse", f"unknown recipient state {target!r}")
    if current not in RECIPIENT_TRANSITIONS:
        return Decision("refuse", f"unknown current state {current!r}")
    if target in SYSTEM_ONLY and not by_system:
        return Decision("refuse", f"{target} is set by the platform, not reported")
    if target == current:
        return Decision("noop", f"already {current}")
    if target in RECIPIENT_TRANSITIONS[current]:
        return Decision("apply")
    if current in PROGRESS and target in PROGRESS and PROGRESS.index(target) < PROGRESS.index(current):
        return Decision("noop", f"already {current}, past {target}")
    if current in TERMINAL_RECIPIENT:
        return Decision("refuse", f"recipient is {current}: no further moves")
    return Decision("refuse", f"cannot go from {current} to {target}")


def decide_order(current: str, target: str) -> Decision:
    if target not in ORDER_TRANSITIONS:
        return Decision("refuse", f"unknown order state {target!r}")
    if current not in ORDER_TRANSITIONS:
        return Decision("refuse", f"unknown current state {current!r}")
    if target == current:
        return Decision("noop", f"order already {current}")
    if target in ORDER_TRANSITIONS[current]:
        return Decision("apply")
    return Decision("refuse", f"order is {current}: cannot become {target}")


def decide_alert(current: str, target: str) -> Decision:
    if target not in ALERT_TRANSITIONS or current not in ALERT_TRANSITIONS:
        return Decision("refuse", f"unknown alert state {current!r} -> {target!r}")
    if target == current:
        return Decision("noop", f"alert already {current}")
    if target in ALERT_TRANSITIONS[current]:
        return Decision("apply")
    if current == ALERT_CLEARED and target == ALERT_ACKNOWLEDGED:
        # Acknowledging a cleared alert is recorded on the alert but does not reopen it.
        return Decision("noop", "alert already cleared")
    return Decision("refuse", f"alert is {current}: cannot become {target}")


def on_order_end(order_target: str, recipient_state: str) -> str | None:
    """The state a recipient takes when its order ends, or None to leave it as it is.

    Cancelling stands everyone down. Closing stands down those who never took the order;
    whoever is engaged keeps their state and may still report arrival and completion,
    so the times on scene stay true.
    """
    if recipient_state in TERMINAL_RECIPIENT:
        return None
    if order_target == CANCELLED or recipient_state not in ENGAGED:
        return CANCELLED
    return None


def is_engaged(state: str) -> bool:
    return state in ENGAGED
