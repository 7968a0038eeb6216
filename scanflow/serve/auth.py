"""Bearer-token protection for a service exposed beyond the loopback interface.

An ASGI middleware (not a route dependency) so every route, present and
future, is covered; only the probes ``/health``, ``/ping`` and ``/ready`` stay
open, for orchestrators that cannot send a token.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
OPEN_PATHS = frozenset({"/health", "/ping", "/ready"})


class BearerTokenAuth:
    def __init__(self, app: ASGIApp, token: str, on_denied: Callable[[], None] | None = None):
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.on_denied = on_denied or (lambda: None)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == b"authorization"), None)
        if given is not None and hmac.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        self.on_denied()
        message = (
            "this service needs a bearer token: send the header 'Authorization: Bearer <token>'"
            if given is None
            else "the bearer token is wrong"
        )
        body = orjson.dumps({"error_code": "UNAUTHENTICATED", "message": message})
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="scanflow"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
