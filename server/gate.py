"""The ASGI layer in front of the routes: API key, body size, and per-request metrics.

Written as plain ASGI (not Starlette's BaseHTTPMiddleware) so that the routes still see the
client's disconnect, which is what stops an abandoned generation.
"""

from __future__ import annotations

import hmac
import time

from fastapi.responses import JSONResponse

from .errors import error_body
from .metrics import Metrics


class Gate:
    def __init__(self, app, *, api_key: str | None, max_body_bytes: int, metrics: Metrics,
                 upload_limits: dict[str, int] | None = None) -> None:
        self.app, self.api_key, self.max_body, self.metrics = app, api_key, max_body_bytes, metrics
        self.upload_limits = upload_limits or {}  # larger limits for the paths that take files

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        started = time.perf_counter()
        endpoint = self._endpoint(path)
        status = {"code": 500}

        async def timed_send(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.metrics.request(endpoint, status["code"], time.perf_counter() - started)

        if self.api_key and path != "/health":
            given = headers.get("authorization", "")
            token = given[7:] if given.lower().startswith("bearer ") else ""
            if not hmac.compare_digest(token.encode(), self.api_key.encode()):
                await JSONResponse(error_body("invalid or missing API key: send 'Authorization: Bearer <key>'",
                                              "invalid_request_error", None, "invalid_api_key"), 401)(scope, receive, timed_send)
                return
        max_body = self.upload_limits.get(path, self.max_body)
        too_large = JSONResponse(error_body(f"the request body exceeds {max_body} bytes",
                                            "invalid_request_error", None, "request_too_large"), 413)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > max_body:
            await too_large(scope, receive, timed_send)
            return
        # Read the body here, bounded (chunked uploads have no Content-Length), then replay it;
        # later receive() calls reach the client, so disconnects are still seen.
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > max_body:
                await too_large(scope, receive, timed_send)
                return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, timed_send)

    @staticmethod
    def _endpoint(path: str) -> str:
        if path.startswith("/v1/models/"):
            return "/v1/models/{id}"
        return path if path.startswith(("/v1/", "/health", "/metrics")) else "other"
