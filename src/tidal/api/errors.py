"""Errors, as one tree (httpx's habit): what the server renders as a Kubernetes `Status` is what
the client raises, so a 422 reads the same from kubectl, the CLI and a controller.

TidalError
├── ApiError(code, reason, message, causes)   a Kubernetes Status
│     BadRequest 400 · Unauthorized 401 · Forbidden 403 · NotFound 404 · MethodNotAllowed 405
│     · Conflict 409 (reason AlreadyExists or Conflict) · Gone 410 · UnsupportedMediaType 415
│     · Invalid 422 · ServerError 5xx  — `error_from_status` maps a Status body to its class
└── TransportError                             the API could not be reached (wraps OSError/httpx)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class TidalError(Exception):
    """Root of every error tidal raises on purpose."""


@dataclass(frozen=True, slots=True)
class Cause:
    """One field error of a 422, as `metav1.StatusCause`."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


class ApiError(TidalError):
    code = 500
    reason = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        causes: list[Cause] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason
        self.causes = causes or []
        self.details = details or {}

    def to_status(self) -> dict[str, Any]:
        """The `Status` object the API server answers with."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details = dict(self.details)
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if details:
            status["details"] = details
        return status


class BadRequest(ApiError):
    code, reason = 400, "BadRequest"


class Unauthorized(ApiError):
    code, reason = 401, "Unauthorized"


class Forbidden(ApiError):
    code, reason = 403, "Forbidden"


class NotFound(ApiError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(ApiError):
    code, reason = 405, "MethodNotAllowed"


class Conflict(ApiError):
    """409: reason `AlreadyExists` on create, `Conflict` on a stale resourceVersion."""

    code, reason = 409, "Conflict"


class Gone(ApiError):
    code, reason = 410, "Expired"


class UnsupportedMediaType(ApiError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(ApiError):
    code, reason = 422, "Invalid"


class ServerError(ApiError):
    code, reason = 500, "InternalError"


class TransportError(TidalError):
    """The API server could not be reached or broke the connection."""


_BY_CODE: dict[int, type[ApiError]] = {
    c.code: c
    for c in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        Gone,
        UnsupportedMediaType,
        Invalid,
    )
}


def error_from_status(code: int, body: dict[str, Any] | None) -> ApiError:
    """The exception for an HTTP error answer (kopf's `check_response`)."""
    body = body or {}
    cls = _BY_CODE.get(code, ServerError)
    details = dict(body.get("details") or {})
    causes = [
        Cause(c.get("field", ""), c.get("message", ""), c.get("reason", "FieldValueInvalid"))
        for c in details.pop("causes", [])
    ]
    err = cls(
        body.get("message") or f"HTTP {code}",
        reason=body.get("reason") or None,
        causes=causes,
        details=details,
    )
    if cls is ServerError:
        err.code = code
    return err
