"""Who gets an order: the pure choice of recipients, with a reason for each pick and each skip.

The responsible level-2 supervisor of the grid at the point comes first when on duty and live;
then the k nearest eligible supervisors. Escalation asks for the next k, never anyone already
asked (whatever they answered).
"""
from __future__ import annotations

from dataclasses import dataclass

ON_DUTY = "on_duty"
LIVE = "live"


@dataclass(frozen=True)
class Candidate:
    """A supervisor's device as the live store sees it."""

    device: str
    person: str | None = None
    distance_m: float | None = None
    status: str | None = None   # on_duty, off_duty, busy, sos, offline
    fresh: str | None = None    # live, stale, offline


@dataclass(frozen=True)
class Pick:
    device: str
    person: str | None
    reason: str                   # English, as the audit and the API keep it
    distance_m: float | None = None
    rule: str = ""                # responsible, nearest or chosen: what a page says in its language
    rank: int = 0                 # for `nearest`: 1 is the nearest eligible


class Note(str):
    """Why someone was left out: reads as the English text the audit and the API keep, and
    carries a code and its parameters so a page can say it in its own language."""

    code: str
    params: dict

    def __new__(cls, code: str, text: str, **params):
        note = super().__new__(cls, text)
        note.code, note.params = code, params
        return note


def _why(c: Candidate) -> tuple[str, str] | None:
    if c.status not in (None, ON_DUTY):
        return "status", c.status
    if c.fresh not in (None, LIVE):
        return "position", c.fresh
    return None


def eligible(c: Candidate) -> str | None:
    """None when `c` may be sent an order, else why not."""
    why = _why(c)
    return None if why is None else f"{why[0]} {why[1]}"


def choose(
    *,
    grid: str | None,
    responsible: str | None,
    responsible_state: Candidate | None,
    nearest: list[Candidate],
    k: int,
    exclude: frozenset[str] | set[str] = frozenset(),
) -> tuple[list[Pick], list[str]]:
    """Recipients for an order at a point in `grid`, and the reasons for what was left out.

    `responsible` is the level-2 supervisor's person id (None when the grid has none),
    `responsible_state` that person's device as the live store sees it (None: no device).
    `nearest` is in increasing distance; it may hold ineligible or excluded devices, which
    are skipped with a reason.
    """
    picks: list[Pick] = []
    notes: list[str] = []
    taken: set[str] = set(exclude)
    if grid is None:
        notes.append(Note("outside", "point is outside every level-2 grid: no responsible supervisor"))
    elif responsible is None:
        notes.append(Note("no_responsible", f"grid {grid} has no responsible level-2 supervisor", grid=grid))
    elif responsible_state is None:
        notes.append(Note("no_device", f"responsible supervisor {responsible} of grid {grid} has no device",
                          grid=grid, person=responsible))
    elif responsible_state.device in taken:
        notes.append(Note("already_asked", f"responsible supervisor {responsible} already asked",
                          grid=grid, person=responsible))
    elif (why := _why(responsible_state)) is not None:
        notes.append(Note("responsible_skipped",
                          f"responsible supervisor {responsible} of grid {grid} skipped: {why[0]} {why[1]}",
                          grid=grid, person=responsible, why=why[0], value=why[1]))
    else:
        picks.append(Pick(responsible_state.device, responsible,
                          f"responsible level-2 supervisor of grid {grid}", responsible_state.distance_m,
                          rule="responsible"))
        taken.add(responsible_state.device)
    picks.extend(next_nearest(nearest, k, taken, notes))
    return picks, notes


def next_nearest(nearest: list[Candidate], k: int, taken: set[str] | frozenset[str],
                 notes: list[str]) -> list[Pick]:
    """The first k of `nearest` not in `taken` and eligible; skips are noted in `notes`."""
    out: list[Pick] = []
    seen = set(taken)
    for c in nearest:
        if len(out) >= k:
            break
        if c.device in seen:
            continue
        seen.add(c.device)
        if (why := _why(c)) is not None:
            notes.append(Note("skipped", f"{c.device} skipped: {why[0]} {why[1]}", device=c.device,
                              person=c.person, why=why[0], value=why[1]))
            continue
        dist = "" if c.distance_m is None else f", {c.distance_m:.0f} m"
        out.append(Pick(c.device, c.person, f"nearest eligible #{len(out) + 1}{dist}", c.distance_m,
                        rule="nearest", rank=len(out) + 1))
    if len(out) < k:
        notes.append(Note("too_few", f"only {len(out)} of {k} nearest eligible supervisors found",
                          found=len(out), k=k))
    return out
