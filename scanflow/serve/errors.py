"""The errors a prediction request can get, as HTTP answers that say what to fix.

The JSON body has the shape of MLflow's scoring server errors
(``{"error_code": ..., "message": ...}``), so clients written for it read ours.
"""

from __future__ import annotations

import orjson


class RequestError(Exception):
    """A request the service cannot answer; ``message`` names the problem and the fix."""

    status: int = 400
    code: str = "BAD_REQUEST"

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def body(self) -> bytes:
        return orjson.dumps({"error_code": self.code, "message": self.message})


class BadInput(RequestError):
    """The body does not fit the request formats or the model's signature (400)."""


class BodyTooLarge(RequestError):
    status = 413
    code = "REQUEST_TOO_LARGE"


class UnsupportedMediaType(RequestError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class UnknownModel(RequestError):
    status = 404
    code = "RESOURCE_DOES_NOT_EXIST"


class NotReady(RequestError):
    """The model is still loading (or could not be loaded); the client may retry."""

    status = 503
    code = "TEMPORARILY_UNAVAILABLE"


class ModelFailed(RequestError):
    """The model raised on input that passed validation: its fault or an input it cannot take."""

    status = 422
    code = "MODEL_FAILED"


class ServeSetupError(RuntimeError):
    """The service cannot start as configured (bad model URI, rule file, checker...)."""
