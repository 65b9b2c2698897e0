"""vLLM's (>= 0.10.1) error body: `{"error": {"message", "type", "param", "code"}}`.

    OpenAIError(status, type, message, param)
    ├── BadRequest      400  BadRequestError: bad/missing fields, non-JSON, prompt too long
    ├── Unauthorized    401  wrong or missing API key
    └── ModelNotFound   404  NotFoundError: "The model `x` does not exist."

Everything a client can send maps to one of these; a 500 means a bug in this server.
"""

from __future__ import annotations

from typing import Any


class OpenAIError(Exception):
    """An error the client gets as a vLLM-shaped JSON body with this HTTP status."""

    status = 500
    type = "InternalServerError"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.status, self.param)


class BadRequest(OpenAIError):
    status = 400
    type = "BadRequestError"


class Unauthorized(OpenAIError):
    status = 401
    type = "Unauthorized"

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class ModelNotFound(OpenAIError):
    status = 404
    type = "NotFoundError"

    def __init__(self, name: object) -> None:
        super().__init__(f"The model `{name}` does not exist.", param="model")


def error_body(message: str, type_: str, code: int, param: str | None = None) -> dict[str, Any]:
    """The body vLLM sends for an error (also sent in-band on a stream that already started)."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
