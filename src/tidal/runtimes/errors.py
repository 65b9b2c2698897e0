"""Errors a runtime answers with: each carries its HTTP status and becomes `{"error": message}`.

RuntimeHTTPError(status, message)
├── InvalidInput        400  the request body is wrong (JSON, shape, datatype, feature count)
├── ModelNotFound       404  "Model with name X does not exist."  (KServe's text)
├── BodyTooLarge        413  the body is over --max_body_size
├── ModelNotReady       503  "Model with name X is not ready."    (KServe's text)
└── NotImplementedYet   501  :explain without an explainer, model versions
"""

from __future__ import annotations


class RuntimeHTTPError(Exception):
    """An error with the HTTP status the client gets; the message is sent as `{"error": ...}`."""

    status = 500

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidInput(RuntimeHTTPError):
    """The client sent something the model cannot take; a custom model may raise it too."""

    status = 400


class ModelNotFound(RuntimeHTTPError):
    status = 404

    def __init__(self, name: str) -> None:
        super().__init__(f"Model with name {name} does not exist.")


class ModelNotReady(RuntimeHTTPError):
    status = 503

    def __init__(self, name: str) -> None:
        super().__init__(f"Model with name {name} is not ready.")


class BodyTooLarge(RuntimeHTTPError):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body is larger than the limit of {limit} bytes")


class NotImplementedYet(RuntimeHTTPError):
    status = 501


class ModelLoadError(Exception):
    """The model cannot be loaded (missing or ambiguous file, bad pickle): the server does not start."""
