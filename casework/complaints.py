"""Complaints' pure core (CONTRACT.md section 11): the one transition table, who may take each
step, the intake's validation, routing to where the respondent operates, the query code and
the masking of the complainant's data. No database here: casework/complaint_store.py applies
what this decides.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.errors import Conflict, Forbidden, Invalid

DEFAULT_TZ = "Asia/Shanghai"
ACCEPT_DAYS = 7       # accept or refuse within 7 working days of receipt (Art 14)
MEDIATE_DAYS = 45     # mediation ends at 45 working days after acceptance (Art 21)

RECEIVED, ACCEPTED, REFUSED, MEDIATING, AGREED, FAILED, CLOSED, TRANSFERRED = (
    "received", "accepted", "refused", "mediating", "agreed", "failed", "closed", "transferred")
STATES = (RECEIVED, ACCEPTED, REFUSED, MEDIATING, AGREED, FAILED, CLOSED, TRANSFERRED)
OPEN = frozenset({RECEIVED, ACCEPTED, MEDIATING, AGREED, FAILED})
CHANNELS = ("12315", "12365", "12331", "wechat", "web")

# Capacities towards one complaint: a level-1 supervisor of the handling branch, coordinator, admin.
BRANCH, COORDINATOR, ADMIN = "branch", "coordinator", "admin"
MANAGERS = frozenset({BRANCH, COORDINATOR, ADMIN})


@dataclass(frozen=True)
class Step:
    sources: frozenset[str]
    target: str


# THE table. `task` (an on-site check) changes no state: it is the one action that is not a
# transition, allowed while the complaint is being handled.
TRANSITIONS: dict[str, Step] = {
    "accept": Step(frozenset({RECEIVED}), ACCEPTED),
    "refuse": Step(frozenset({RECEIVED}), REFUSED),
    "mediate": Step(frozenset({ACCEPTED}), MEDIATING),
    "agree": Step(frozenset({MEDIATING}), AGREED),
    "fail": Step(frozenset({MEDIATING}), FAILED),
    "transfer": Step(frozenset({RECEIVED, ACCEPTED}), TRANSFERRED),
    "close": Step(frozenset({AGREED, FAILED}), CLOSED),
}
TASK_SOURCES = frozenset({RECEIVED, ACCEPTED, MEDIATING})
ACTIONS: tuple[str, ...] = (*TRANSITIONS, "task")


def capacities(role: str, person: str | None, branch: str | None, branch_supervisors) -> frozenset[str]:
    """What the caller is towards a complaint of `branch`: `branch_supervisors(branch)` is the
    set of the branch's level-1 supervisors (person ids); the command centre's queue (no branch)
    is the coordinators' and admins' only."""
    out = set()
    if role in (COORDINATOR, ADMIN):
        out.add(role)
    if role == "supervisor" and person and branch and person in branch_supervisors(branch):
        out.add(BRANCH)
    return frozenset(out)


def decide(state: str, action: str, held: frozenset[str], *, reason: str | None = None,
           terms: str | None = None, to: str | None = None, case: bool = False) -> str:
    """The state `action` leads to, or raises Invalid (422), Forbidden (403), Conflict (409)."""
    if action not in ACTIONS:
        raise Invalid(f"unknown action {action!r}", field="action", allowed=list(ACTIONS))
    if not (held & MANAGERS):
        raise Forbidden(f"{action} is for the handling branch's level-1 supervisors, coordinators and admins",
                        action=action)
    if action == "task":
        if state not in TASK_SOURCES:
            raise Conflict(f"cannot make a task of a complaint that is {state}",
                           reason=f"task needs the complaint {' or '.join(sorted(TASK_SOURCES))}, it is {state}",
                           state=state)
        return state
    step = TRANSITIONS[action]
    if state not in step.sources:
        raise Conflict(f"cannot {action} a complaint that is {state}",
                       reason=f"{action} needs the complaint {' or '.join(sorted(step.sources))}, it is {state}",
                       state=state)
    if action == "refuse" and not (reason or "").strip():
        raise Invalid("refuse needs a reason", field="reason")
    if action == "agree" and not (terms or "").strip():
        raise Invalid("agree needs the terms agreed", field="terms")
    if action == "transfer" and not case and not (to or "").strip():
        raise Invalid("transfer names the authority (to) or opens a case (case: true)", field="to")
    return step.target


def local_day(ts: datetime, tz: str | None = None) -> date:
    return ts.astimezone(ZoneInfo(tz or DEFAULT_TZ)).date()


# --- the query code ------------------------------------------------------------------------------

# Crockford's base32: no I, L, O, U (nothing to misread); 12 characters = 60 random bits, typed
# as three groups of four (`K7M2-9QXD-4TRB`). With the last four digits of the phone and the
# rate limit, guessing one is hopeless (2^60 x 10^4 tries at a few dozen a minute).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LEN = 12
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
_CODE_CHARS = re.compile(r"^[0-9A-Z]{6,20}$")


def new_query_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LEN))


def normalize_code(code: str) -> str | None:
    """What a citizen typed as the stored code (case, dashes, spaces, O/0, I/L/1), or None.
    The demo history's codes (Q + 10 hex digits) hold no O, I or L and pass unchanged."""
    c = (code or "").upper().translate(_READ_AS)
    return c if _CODE_CHARS.match(c) else None


def show_code(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4)) if len(code) == CODE_LEN else code


# --- masking -------------------------------------------------------------------------------------

PERSONAL = ("complainant_name", "complainant_phone", "complainant_id_number")
_PHONE_RUN = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ID_RUN = re.compile(r"(?<![0-9Xx])\d{17}[0-9Xx](?![0-9Xx])")


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    return phone[:3] + "*" * max(1, len(phone) - 7) + phone[-4:] if len(phone) >= 8 else "*" * len(phone)


def mask_id(number: str | None) -> str | None:
    if not number:
        return number
    return number[:3] + "*" * max(1, len(number) - 5) + number[-2:] if len(number) > 6 else "*" * len(number)


def scrub(text: str | None, row: dict) -> str | None:
    """Free text with the complainant's own data (and anything shaped like a phone or an id
    number) masked: a description often says 'call me on 138...'."""
    if not text:
        return text
    for key, fn in (("complainant_phone", mask_phone), ("complainant_id_number", mask_id),
                    ("complainant_name", mask_name)):
        v = row.get(key)
        if v and len(v) >= 2:
            text = text.replace(v, fn(v))
    text = _ID_RUN.sub(lambda m: mask_id(m.group(0)), text)
    return _PHONE_RUN.sub(lambda m: mask_phone(m.group(0)), text)


def masked(row: dict, raw: dict | None = None) -> dict:
    """A complaint (or an audit entry's before/after of one) with the complainant masked;
    `raw`: the complaint whose data to look for in free text (default `row` itself)."""
    raw = raw or row
    out = dict(row)
    out.pop("query_code", None)     # the citizen's key to the public query: the handlers' only
    if "complainant_name" in out:
        out["complainant_name"] = mask_name(out["complainant_name"])
    if "complainant_phone" in out:
        out["complainant_phone"] = mask_phone(out["complainant_phone"])
    if "complainant_id_number" in out:
        out["complainant_id_number"] = mask_id(out["complainant_id_number"])
    for key in ("description", "outcome", "terms", "reason", "note"):
        if isinstance(out.get(key), str):
            out[key] = scrub(out[key], raw)
    return out


# --- intake --------------------------------------------------------------------------------------

PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
ID_NUMBER = re.compile(r"^\d{17}[0-9X]$")
USCC_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
MAX_TEXT = 2000


def _clean(v):
    if isinstance(v, str):
        if "\x00" in v:
            raise ValueError("holds a NUL character")
        return v.strip()
    return v


class Complainant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50)
    phone: str = Field(min_length=10, max_length=20)
    id_number: str | None = Field(None, max_length=18)

    _c = field_validator("name", "phone", "id_number", mode="before")(lambda v: _clean(v))

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        v = v.replace(" ", "")
        if not PHONE.match(v):
            raise ValueError("a mobile (11 digits, 1[3-9]...) or a fixed-line number")
        return v

    @field_validator("id_number")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        v = v.upper()
        if not ID_NUMBER.match(v):
            raise ValueError("an 18-character resident id number")
        return v


class Respondent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uscc: str | None = None
    name: str | None = Field(None, max_length=200)
    address: str | None = Field(None, max_length=300)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)

    _c = field_validator("uscc", "name", "address", mode="before")(lambda v: _clean(v))

    @model_validator(mode="after")
    def _either(self):
        if self.uscc:
            self.uscc = self.uscc.upper()
            if not USCC_SHAPE.match(self.uscc):
                raise ValueError("uscc: 18 characters of the USCC alphabet")
        elif not (self.name and self.address):
            raise ValueError("either {uscc} or {name, address, lat?, lon?}")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon come together")
        return self


class Intake(BaseModel):
    """POST /api/complaints (and one row of an import)."""

    model_config = ConfigDict(extra="forbid")
    channel: Literal["12315", "12365", "12331", "wechat", "web"]
    received_at: datetime | None = None
    complainant: Complainant
    respondent: Respondent
    category: str = Field(min_length=1, max_length=40)
    description: str = Field(min_length=1, max_length=MAX_TEXT)
    amount_yuan: Decimal | None = Field(None, ge=0, le=Decimal("999999999999.99"), decimal_places=2)
    media: list[str] = Field(default_factory=list, max_length=20)
    platform_id: str | None = Field(None, max_length=40, pattern=r"^[0-9A-Za-z_-]+$")

    _c = field_validator("category", "description", mode="before")(lambda v: _clean(v))

    @field_validator("received_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("received_at needs its offset (2026-09-29T10:00:00+08:00)")
        if v is not None and v.year < 2000:
            raise ValueError("received_at lies before 2000")
        return v

    @field_validator("media")
    @classmethod
    def _sha(cls, v: list[str]) -> list[str]:
        for s in v:
            if not re.fullmatch(r"[0-9a-f]{64}", s):
                raise ValueError("media are SHA-256 hex digests of uploaded files")
        return v


def parse_intake(body) -> Intake:
    """The body as an Intake, or Invalid naming the first field at fault (-> 422)."""
    if not isinstance(body, dict):
        raise Invalid("the body is a JSON object", field="body")
    try:
        return Intake.model_validate(body)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(p) for p in e.get("loc", ())) or "body"
        msg = e.get("msg", "invalid").removeprefix("Value error, ")
        raise Invalid(f"{loc}: {msg}", field=loc, problems=[
            {"field": ".".join(str(p) for p in x.get("loc", ())), "problem": x.get("msg")} for x in exc.errors()]) from None


# --- routing ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Placement:
    grid: str | None
    level1: str | None
    branch: str | None        # None: the command centre's queue
    handler: str | None       # the level-1 grid's level-1 supervisor (person id)
    how: str                  # uscc, point, unplaced


def place(respondent: Respondent, entity: dict | None, *, locate, branch_of, level1_supervisor) -> Placement:
    """Where the respondent operates: its register entry's grids (by USCC), else the grid at the
    given point; then the level-1 grid's branch and its level-1 supervisor. Nothing found: the
    command centre's queue. `locate(lat, lon) -> (level1, level2)`."""
    l1 = l2 = None
    how = "unplaced"
    if entity is not None and (entity.get("level1") or entity.get("grid")):
        l1, l2, how = entity.get("level1"), entity.get("grid"), "uscc"
    elif entity is not None and entity.get("lat") is not None:
        l1, l2 = locate(entity["lat"], entity["lon"])
        how = "uscc" if l1 else how
    elif respondent.lat is not None:
        l1, l2 = locate(respondent.lat, respondent.lon)
        how = "point" if l1 else how
    if not l1:
        return Placement(None, None, None, None, "unplaced")
    branch = branch_of(l1)
    return Placement(l2, l1, branch, level1_supervisor(l1) if branch else None, how)


class Jurisdiction:
    """Branches over the dataset: level-1 grid -> branch, the branches a person's grids lie in,
    the level-1 supervisors of each branch (who handle its complaints), and the placer of
    a respondent. Built once from the dataset's grids, its registry and grid index."""

    def __init__(self, grids, registry, index):
        l1 = grids[grids["level"] == 1]
        self.branch_of_l1: dict[str, str] = {g: b for g, b in zip(l1["id"], l1["branch"]) if isinstance(b, str) and b}
        self.registry, self.index = registry, index
        self.supervisors: dict[str, set[str]] = {}
        for g, b in self.branch_of_l1.items():
            p = registry.responsible(g)["l1_supervisor"]
            if p:
                self.supervisors.setdefault(b, set()).add(p.id)

    def branch_of(self, grid: str | None) -> str | None:
        if not grid:
            return None
        return self.branch_of_l1.get(grid) or self.branch_of_l1.get(self.registry.parent(grid) or "")

    def level1_supervisor(self, level1: str) -> str | None:
        try:
            p = self.registry.responsible(level1)["l1_supervisor"]
        except KeyError:
            return None
        return p.id if p else None

    def branches_of(self, person_id: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(the branches his grids lie in, the branches he is a level-1 supervisor of)."""
        p = self.registry.person(person_id) if person_id else None
        if p is None:
            return (), ()
        mine = tuple(sorted({b for g in p.grids if (b := self.branch_of(g))}))
        l1 = tuple(sorted(b for b, people in self.supervisors.items() if p.id in people))
        return mine, l1

    def placer(self, respondent, entity):
        return place(respondent, entity, locate=self.index.locate_one,
                     branch_of=self.branch_of, level1_supervisor=self.level1_supervisor)
