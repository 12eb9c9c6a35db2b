"""Request dependencies shared by the API routes: who is calling, and may they; and the
answer every path gives when the records database cannot be reached."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from dashboard.auth import User

Lat = Annotated[float, Query(ge=-90, le=90, description="WGS-84 latitude")]
Lon = Annotated[float, Query(ge=-180, le=180, description="WGS-84 longitude")]


def current_user(request: Request) -> User:
    user = getattr(request.state, "user", None)
    if user is None:
        raise HTTPException(401, "login or a bearer token is required")
    return user


def coordinator(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.can_order:
        raise HTTPException(403, f"role {user.role!r} may not issue, cancel or close orders")
    return user


AnyUser = Annotated[User, Depends(current_user)]
Coordinator = Annotated[User, Depends(coordinator)]


def database_down_body(down: Exception) -> dict:
    """The 503's body when the records database cannot be reached."""
    return {"error": "the records database is unavailable; the request was not carried out, try again",
            "detail": str(down)}
