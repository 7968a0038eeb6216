"""The prediction service: an MLflow model behind a fast, checked, logged HTTP API.

``serve(model="models:/digits@champion", port=8080)`` runs it (the ``scanflow
serve`` command calls the same function); ``create_app(ServeConfig(...))``
gives the ASGI app to embed. Modules, from the request inwards: `app` (HTTP),
`auth`, `payload` (request formats), `signature` (checks against the model),
`service` (routing, recording), `rules`, `holder` and `follow` (model versions
and hot swaps), `model` (loading), `live_check` and `checkers`, `metrics`,
`prediction_log`, `monitoring` (the tracker's monitoring run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scanflow.lazy import lazy_attributes

_LAZY = {
    "serve": "scanflow.serve.server",
    "create_app": "scanflow.serve.app",
    "ServeConfig": "scanflow.serve.config",
    "ServeSetupError": "scanflow.serve.errors",
    "read_predictions": "scanflow.serve.prediction_log",
}
__all__ = ["ServeConfig", "ServeSetupError", "create_app", "read_predictions", "serve"]

if TYPE_CHECKING:
    from scanflow.serve.app import create_app
    from scanflow.serve.config import ServeConfig
    from scanflow.serve.errors import ServeSetupError
    from scanflow.serve.prediction_log import read_predictions
    from scanflow.serve.server import serve


__getattr__ = lazy_attributes(__name__, _LAZY, globals())
