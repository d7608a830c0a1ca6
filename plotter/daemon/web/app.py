"""The daemon's HTTP side as a Starlette app: the JSON API, the live event stream and the dashboard page.

Every `/v1/` request needs `Authorization: Bearer <token>` (constant-time compare; a missing or wrong one is
401 and never reaches the service). The page and its assets are public: they hold no data, and the page
asks for the token once (a login form) and keeps it in the browser's storage, never in a URL. Requests go
to the same `Service.handle` as the Unix socket, so the two transports cannot disagree.

Routes: GET /v1/jobs[?state=queued,running], GET /v1/jobs/<id>[?gcode], GET /v1/jobs/<id>/plan, POST
/v1/jobs (submit body), POST /v1/jobs/<id>/{pause,resume,cancel,retry}, GET /v1/devices, POST
/v1/devices/<name>/unlock, GET /v1/ping, GET /v1/classes, GET /v1/sheets, POST /v1/preview, POST
/v1/complete, POST /v1/rpc (any request), GET /v1/events (server-sent events: GRBL reports, job changes).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from plotter.daemon.limits import LIMITS, Limits, RequestTooLarge, decode_request
from plotter.daemon.live import LiveHub
from plotter.errors import InputLimitError, JobError

STATIC = Path(__file__).parent / "static"
KEEPALIVE_S = 15.0
Handler = Callable[[object], dict]


def _error(status: int, message: str, kind: str = "JobError") -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="plotterd"'} if status == 401 else None
    return JSONResponse({"ok": False, "error": message, "type": kind}, status, headers=headers)


def authorised(request: Request, token: str) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


async def read_body(request: Request, limits: Limits) -> object:
    """The JSON body under the daemon's request limits, the socket's own (`InputLimitError`,
    `RequestTooLarge` for 413): declared size first, then counted as it streams (a chunked body too)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_request:
        raise RequestTooLarge(f"request too large: {declared} bytes (at most {limits.max_request})")

    async def collect() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_request:
                raise RequestTooLarge(f"request too large (more than {limits.max_request} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        raw = await asyncio.wait_for(collect(), limits.request_timeout_s)
    except asyncio.TimeoutError:
        raise InputLimitError(f"request not complete within {limits.request_timeout_s:g} s") from None
    return decode_request(raw, limits) if raw.strip() else {}


def route(method: str, parts: list[str], query: dict[str, list[str]], body: dict) -> dict | None:
    """URL -> service request (None: no such route)."""
    if not parts or parts[0] != "v1":
        return None
    rest = parts[1:]
    if method == "GET":
        if rest == ["jobs"]:
            states = [s for v in query.get("state", []) for s in v.split(",") if s]
            return {"op": "list", "states": states or None}
        if len(rest) == 2 and rest[0] == "jobs":
            return {"op": "show", "id": _int(rest[1]), "gcode": "gcode" in query}
        if len(rest) == 3 and rest[0] == "jobs" and rest[2] == "plan":
            return {"op": "plan", "id": _int(rest[1])}
        if rest in (["devices"], ["ping"], ["classes"], ["sheets"]):
            return {"op": rest[0]}
        return None
    if rest == ["jobs"]:
        return {**body, "op": "submit"}
    if len(rest) == 3 and rest[0] == "jobs":
        return {**body, "op": rest[2], "id": _int(rest[1])}
    if len(rest) == 3 and rest[0] == "devices" and rest[2] == "unlock":
        return {"op": "unlock", "device": rest[1]}
    if rest in (["preview"], ["complete"]):
        return {**body, "op": rest[0]}
    if rest == ["rpc"]:
        return body
    return None


def _int(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def build_app(handler: Handler, token: str, hub: LiveHub, limits: Limits = LIMITS) -> Starlette:
    """The ASGI app; `handler` is blocking (SQLite, sampling), so it runs in the thread pool."""

    async def api(request: Request) -> Response:
        if not authorised(request, token):
            return _error(401, "missing or wrong bearer token", "DaemonError")
        body: object = {}
        if request.method == "POST":
            try:
                body = await read_body(request, limits)
            except RequestTooLarge as exc:
                return _error(413, str(exc), "InputLimitError")
            except (InputLimitError, JobError) as exc:
                return _error(400, str(exc), type(exc).__name__)
            except ClientDisconnect:
                return Response(status_code=400)
            if not isinstance(body, dict):
                return _error(400, "request body must be a JSON object")
        parts = [p for p in request.url.path.split("/") if p]
        query: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            query.setdefault(key, []).append(value)
        req = route(request.method, parts, query, body)  # type: ignore[arg-type]
        if req is None:
            return _error(404, f"no route {request.method} {request.url.path}")
        out = await run_in_threadpool(handler, req)
        return JSONResponse(out, 200 if out.get("ok") else 400)

    async def events(request: Request) -> Response:
        if not authorised(request, token):
            return _error(401, "missing or wrong bearer token", "DaemonError")
        sub = hub.subscribe(asyncio.get_running_loop())

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 1000\n\n"
                while True:
                    event = await sub.get(KEEPALIVE_S)
                    if event is None:
                        yield ": keep-alive\n\n"
                    elif event.get("t") == "bye":
                        return
                    else:
                        yield f"data: {json.dumps(event, separators=(',', ':'))}\n\n"
            finally:
                hub.unsubscribe(sub)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/v1/events", events),
            Route("/v1/{path:path}", api, methods=["GET", "POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    )
