"""Typed errors of the alerts package; the web layer maps them to HTTP statuses."""
from __future__ import annotations


class AlertsError(Exception):
    status = 400

    def __init__(self, message: str, **detail):
        super().__init__(message)
        self.message = message
        self.detail = detail

    def to_dict(self) -> dict:
        return {"error": type(self).__name__, "message": self.message, **self.detail}


class NotFound(AlertsError):
    """No such order, recipient or alert (HTTP 404)."""

    status = 404


class Forbidden(AlertsError):
    """The caller's role may not do this (HTTP 403)."""

    status = 403


class Conflict(AlertsError):
    """An illegal transition; `reason` says why (HTTP 409)."""

    status = 409

    def __init__(self, message: str, reason: str = "", **detail):
        super().__init__(message, reason=reason or message, **detail)
        self.reason = reason or message


class Invalid(AlertsError):
    """A request that cannot be used: bad fields, unknown recipients, point outside (HTTP 422)."""

    status = 422
