"""The HTTP face of the prediction service (FastAPI on uvicorn).

Prediction routes are plain Starlette routes that read the body themselves:
no request model to validate twice, one JSON parse, one JSON dump. A
scikit-learn estimator predicts on the event loop (handing a sub-millisecond
computation to a thread costs more than it takes); any other model runs in the
thread pool, so a slow one does not hold up the other requests. Every failure
becomes a 4xx/5xx answer with a message; nothing a client sends can take the
server down.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import orjson
import pandas as pd
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scanflow import __version__
from scanflow.serve.auth import BearerTokenAuth
from scanflow.serve.config import ServeConfig
from scanflow.serve.errors import BodyTooLarge, RequestError
from scanflow.serve.fetch import Fetching
from scanflow.serve.payload import parse_body
from scanflow.serve.service import PredictionService

log = logging.getLogger("scanflow.serve")
JSON = "application/json"


def create_app(
    config: ServeConfig,
    on_fatal: Callable[[str], None] | None = None,
    load_first: bool = False,
    fetch: Fetching | None = None,
) -> FastAPI:
    """The service's ASGI app.

    Models load when the app starts: in the background while ``/health`` already
    answers (``/ready`` says when they are in), or, with ``load_first``, before
    the app takes its first connection, which lets the sibling workers of a
    ``--workers N`` server answer meanwhile. ``fetch``: the download of the
    models, when the caller started it before importing this module.
    """
    service = PredictionService(config.resolved(), on_fatal, fetch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start(wait=load_first)
        yield
        service.stop()

    app = FastAPI(
        title="Scanflow prediction service",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = service
    _add_prediction_routes(app, service)
    _add_status_routes(app, service)
    if service.config.token:
        app.add_middleware(
            BearerTokenAuth,
            token=service.config.token,
            on_denied=lambda: service.record_error("Unauthenticated", 401),
        )
    return app


def _add_prediction_routes(app: FastAPI, service: PredictionService) -> None:
    limit = service.config.max_body_bytes

    async def predict(request: Request, slot_key: str | None) -> Response:
        arrived = time.time()
        started = time.perf_counter()
        try:
            body = await _read_body(request, limit)
            payload = parse_body(body, request.headers.get("content-type"))
            slot, route, model = service.choose(slot_key, request.headers, request.query_params)
            if model.inline:
                answer = service.predict(payload, slot, route, model)
            else:
                answer = await run_in_threadpool(service.predict, payload, slot, route, model)
            content: dict[str, Any] = {"predictions": answer.outputs}
            if slot_key is not None:
                content.update(model=answer.model.name, version=answer.model.version)
            data = orjson.dumps(content, default=_jsonable, option=orjson.OPT_SERIALIZE_NUMPY)
        except RequestError as error:
            service.record_error(type(error).__name__, error.status)
            return Response(error.body(), status_code=error.status, media_type=JSON)
        except Exception:
            log.exception("unexpected error while answering a prediction request")
            service.record_error("InternalError", 500)
            message = "internal error while predicting; the server log has the details"
            return Response(
                orjson.dumps({"error_code": "INTERNAL_ERROR", "message": message}), 500, media_type=JSON
            )
        request_id = uuid.uuid4().hex
        service.record(answer, request_id, arrived, time.perf_counter() - started)
        headers = {
            "x-request-id": request_id,
            "x-scanflow-model": answer.model.label,
            "x-scanflow-route": answer.route,
        }
        return Response(data, media_type=JSON, headers=headers)

    async def invocations(request: Request) -> Response:
        return await predict(request, None)

    async def predict_named(request: Request) -> Response:
        return await predict(request, request.path_params["name"])

    app.router.add_route("/invocations", invocations, methods=["POST"])
    app.router.add_route("/v1/models/{name}/predict", predict_named, methods=["POST"])


def _add_status_routes(app: FastAPI, service: PredictionService) -> None:
    @app.get("/health")
    @app.get("/ping")
    async def health() -> dict[str, str]:
        """The process answers (models may still be loading: see /ready)."""
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        if service.ready:
            models = {key: slot.current.label for key, slot in service.models.slots.items() if slot.current}
            return JSONResponse({"status": "ready", "models": models})
        if service.error:
            return JSONResponse({"status": "failed", "error": service.error}, status_code=503)
        return JSONResponse({"status": "loading"}, status_code=503)

    @app.get("/version")
    async def version() -> dict[str, Any]:
        import mlflow.version

        models = {
            key: slot.current.label if slot.current else None for key, slot in service.models.slots.items()
        }
        return {"scanflow": __version__, "mlflow": mlflow.version.VERSION, "models": models}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return service.describe()

    @app.get("/checks")
    async def checks() -> dict[str, Any]:
        return {"enabled": service.checking.enabled, **service.checking.report()}

    @app.get("/metrics")
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(_too_large(int(declared), limit))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(_too_large(size, limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> str:
    return (
        f"the body has {size} bytes or more, above the limit of {limit} bytes;"
        " send fewer rows per request or start the server with a larger --max-body-bytes"
    )


def _jsonable(value: Any) -> Any:
    """What orjson cannot write itself: pandas objects and NumPy arrays of objects or strings."""
    if isinstance(value, pd.DataFrame):
        return value.to_dict(orient="records")
    if isinstance(value, pd.Series | np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
