"""The labelling web app: one page and a small JSON API over a `LabellingSession`.

Served on 127.0.0.1 by default. When exposed on another address a token
protects it: the printed URL carries it once, then a cookie does, and the page
asks each person's name, sent with every request (``X-Scanflow-Labeller``), so
a team sharing one page is shown different samples and credited apart.
"""

from __future__ import annotations

import secrets
from importlib.resources import files
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel

from scanflow.deploy.ports import LOOPBACK
from scanflow.extras import require
from scanflow.interact.session import LabellingSession
from scanflow.interact.store import LabelStoreError
from scanflow.tls import TlsFiles

TOKEN_COOKIE = "scanflow_label_token"
LABELLER_HEADER = "X-Scanflow-Labeller"


class LabelBody(BaseModel):
    """What the page posts to label a sample: the class, as typed or clicked."""

    label: str


class LeaveBody(BaseModel):
    """What a closing page posts (a beacon carries no headers): whose sample to let go of, URL-encoded."""

    name: str = ""


def create_app(session: LabellingSession, token: str | None = None) -> Any:
    """The FastAPI app labelling ``session``'s queue."""
    fastapi = require("fastapi", "interact", "the labelling UI")
    responses = require("fastapi.responses", "interact", "the labelling UI")
    app = fastapi.FastAPI(title=f"Scanflow labelling: {session.queue.name}", docs_url=None, redoc_url=None)
    page = files("scanflow.interact.ui").joinpath("page.html").read_text()

    if token:

        @app.middleware("http")
        async def check_token(request: Any, call_next: Any) -> Any:
            given = (
                request.query_params.get("token")
                or request.cookies.get(TOKEN_COOKIE)
                or request.headers.get("authorization", "").removeprefix("Bearer ")
            )
            if not secrets.compare_digest(given or "", token):
                return responses.JSONResponse(
                    {"detail": "this labelling page needs its token: open the URL `scanflow label` printed"},
                    status_code=401,
                )
            response = await call_next(request)
            if request.query_params.get("token"):
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return response

    @app.exception_handler(LabelStoreError)
    async def refused(request: Any, error: LabelStoreError) -> Any:
        return responses.JSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(LookupError)
    async def missing(request: Any, error: LookupError) -> Any:
        return responses.JSONResponse({"detail": str(error).strip("'\"")}, status_code=404)

    # The name this browser's person gave, URL-encoded (headers are ASCII); none: the session's.
    named = fastapi.Header(default=None, alias=LABELLER_HEADER)

    def labeller(header: str | None) -> str | None:
        return unquote(header or "").strip()[:200] or None

    def state(who: str | None, **extra: Any) -> dict[str, Any]:
        view = session.next(who)
        return {
            "item": None if view is None else view.to_json(),
            "progress": session.progress(who).to_json(),
            "recent": [
                {"id": s.id, "sample": s.sample_ref, "label": s.label, "status": s.status.value}
                for s in session.recent(who)
            ],
            **extra,
        }

    @app.get("/", response_class=responses.HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/queue")
    def queue() -> dict[str, Any]:
        q = session.queue
        return {
            "name": q.name,
            "classes": [str(c) for c in q.classes],
            "shortcuts": {
                str(i): str(session.shortcut(str(i)))
                for i in range(10)
                if session.shortcut(str(i)) is not None
            },
            "model": q.model,
            "who": session.who,
            "ask_name": token is not None,  # a page shared by a team: each person says who they are
            "progress": session.progress().to_json(),
        }

    @app.get("/api/next")
    def next_sample(name: str | None = named) -> dict[str, Any]:
        return state(labeller(name))

    @app.get("/api/items/{item_id}")
    def item(item_id: int) -> dict[str, Any]:
        """One sample of the queue, to answer it again."""
        return session.view(session.item(item_id)).to_json()

    @app.get("/api/items/{item_id}/image.png")
    def image(item_id: int) -> Any:
        view = session.view(session.item(item_id))
        if not view.is_image:
            raise LookupError(f"sample {item_id} is a table row, not an image")
        return responses.Response(
            view.png(), media_type="image/png", headers={"Cache-Control": "max-age=3600"}
        )

    @app.post("/api/items/{item_id}/label")
    def label(item_id: int, body: LabelBody, name: str | None = named) -> dict[str, Any]:
        who = labeller(name)
        done = session.label(item_id, body.label, who)
        return state(
            who, done={"id": done.id, "sample": done.sample_ref, "label": done.label, "action": "label"}
        )

    @app.post("/api/items/{item_id}/skip")
    def skip(item_id: int, name: str | None = named) -> dict[str, Any]:
        who = labeller(name)
        done = session.skip(item_id, who)
        return state(who, done={"id": done.id, "sample": done.sample_ref, "action": "skip"})

    @app.post("/api/undo")
    def undo(name: str | None = named) -> dict[str, Any]:
        who = labeller(name)
        undone = session.undo(who)
        return state(who, undone=None if undone is None else {"id": undone.id, "sample": undone.sample_ref})

    @app.post("/api/release")
    def release(body: LeaveBody) -> dict[str, Any]:
        session.release(labeller(body.name))
        return {"released": True}

    return app


def serve(
    session: LabellingSession,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    tls: TlsFiles | None = None,
    on_ready: Any = None,
) -> None:
    """Serve the labelling page until interrupted; ``on_ready(url)`` is called once it listens.

    With ``tls`` (checked by the caller) the page is HTTPS only, so the token a
    team shares does not cross the network in clear.
    """
    uvicorn = require("uvicorn", "interact", "the labelling UI")
    if host not in LOOPBACK and token is None:
        token = secrets.token_urlsafe(16)
    https = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)} if tls else {}
    config = uvicorn.Config(create_app(session, token), host=host, port=port, log_level="warning", **https)
    server = uvicorn.Server(config)
    if on_ready is not None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        scheme = "https" if tls else "http"
        url = f"{scheme}://{shown}:{port}/" + (f"?token={token}" if token else "")
        original = server.startup

        async def startup(sockets: Any = None) -> None:
            await original(sockets)
            on_ready(url)

        server.startup = startup  # type: ignore[method-assign]
    server.run()
