"""Payloads at the package's edges: the API's order request, the device's ack, the downlink."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.states import REPORTABLE


class OrderRequest(BaseModel):
    """The body of `POST /api/orders` (CONTRACT.md section 5)."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field("", max_length=4000)
    priority: int = Field(2, ge=1, le=3, description="1 is the most urgent")
    kind: Literal["emergency", "task"] = "task"
    k: int = Field(2, ge=0, le=50, description="how many nearest eligible supervisors besides the responsible one")
    recipients: list[str] | None = Field(
        None, description="device or person ids; when given, no automatic choice is made"
    )


class AckMessage(BaseModel):
    """`gw/<device>/ack` (CONTRACT.md section 4)."""

    order: str = Field(min_length=1, max_length=64)
    state: str
    tst: float | None = None
    note: str = Field("", max_length=1000)

    @field_validator("state")
    @classmethod
    def _reportable(cls, v: str) -> str:
        if v not in REPORTABLE:
            raise ValueError(f"state must be one of {sorted(REPORTABLE)}")
        return v


class OrderMessage(BaseModel):
    """The downlink on `gw/<device>/orders`, exactly the contract's fields."""

    type_: Literal["order"] = Field("order", alias="_type")
    id: str
    kind: str
    priority: int
    title: str
    body: str
    lat: float
    lon: float
    grid: str | None
    issued_at: float
    ack_by: float

    model_config = ConfigDict(populate_by_name=True)

    def dump(self) -> dict:
        return self.model_dump(by_alias=True)
