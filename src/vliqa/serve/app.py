"""The FastAPI application: middleware (body limit, security headers), errors as JSON, the token check, health
and readiness, the web app's static files; the /v1 routes are in `vliqa.serve.routes`.

    app = create_app(ServeSettings(db_url="sqlite:///results.db"))     # what `vliqa serve` runs under uvicorn
"""

from __future__ import annotations

import hmac
import logging
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from vliqa.core import __version__
from vliqa.errors import VliqaError
from vliqa.serve.errors import QueueFullError, UnauthorizedError, UploadTooLargeError, status_of
from vliqa.serve.imaging import VIEWER_WINDOWS
from vliqa.serve.routes import chat_available, router
from vliqa.serve.service import Service, error_body
from vliqa.serve.settings import ServeSettings

logger = logging.getLogger("vliqa.serve")
STATIC_DIR = Path(__file__).with_name("static")
#: Multipart framing allowed on top of the upload limit (boundaries, part headers, form fields).
MULTIPART_SLACK_BYTES = 256 * 1024
#: The web app loads only its own files; the report (inline CSS, data: figures) is shown in a frame from a blob.
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-src 'self' blob:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
BODY_TOO_LARGE = "vliqa.body_too_large"


class BodyLimitMiddleware:
    """Answers 413 to a request body over the limit: at once when Content-Length says so, else as it streams in."""

    def __init__(self, app: Any, max_bytes: int, max_upload_mb: float):
        self.app, self.max_bytes, self.max_upload_mb = app, max_bytes, max_upload_mb

    def _error(self) -> UploadTooLargeError:
        return UploadTooLargeError(f"the request body is over the upload limit of {self.max_upload_mb:g} MB",
                                   hint="send a smaller file, or start the server with a higher --max-upload-mb",
                                   limit={"name": "max_upload_mb", "value": self.max_upload_mb, "unit": "MB"})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse(error_body(self._error()), status_code=413, headers={"Connection": "close"})
            return await response(scope, receive, send)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    scope[BODY_TOO_LARGE] = error = self._error()
                    raise error
            return message

        return await self.app(scope, limited, send)


class InternalErrorMiddleware:
    """Answers an unexpected exception with 500 and an error id (the traceback goes to the log under that id), and
    keeps the connection open: Starlette's own last resort re-raises, and the server then drops the connection."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback reaches the client
            error_id = uuid.uuid4().hex[:12]
            logger.error("internal error %s on %s %s", error_id, scope.get("method"), scope.get("path"), exc_info=exc)
            if started:  # the answer is under way: nothing better to do than end it
                raise
            response = JSONResponse({"error": "InternalError", "message": f"internal error (id {error_id})",
                                     "hint": "the server log has the details under this id"}, status_code=500,
                                    headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VliqaError)
    async def vliqa_error(request: Request, exc: VliqaError) -> JSONResponse:
        service: Service | None = getattr(request.app.state, "service", None)
        scrub = (str(service.data_dir),) if service is not None else ()
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, QueueFullError) else None
        if isinstance(exc, UnauthorizedError):
            headers = {"WWW-Authenticate": 'Bearer realm="vliqa"'}
        if request.scope.get(BODY_TOO_LARGE) is exc:  # the rest of the body is never read: end the connection
            headers = {"Connection": "close"}
        return JSONResponse(error_body(exc, scrub=scrub), status_code=status_of(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return JSONResponse({"error": "ValidationError", "message": f"the request is not valid ({problems})",
                             "hint": "see /docs for the fields of each endpoint"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        too_large = request.scope.get(BODY_TOO_LARGE) or exc.__cause__
        if isinstance(too_large, UploadTooLargeError):  # the body parser wrapped the limit's error in a 400
            return JSONResponse(error_body(too_large), status_code=413, headers={"Connection": "close"})
        name = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        return JSONResponse({"error": name, "message": str(exc.detail), "hint": "see /docs for the endpoints"},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))


def token_checker(token: str | None):
    """Gives the dependency that refuses a /v1 request without the bearer token (none when no token is set)."""

    async def require_token(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise UnauthorizedError("a valid API token is needed" if given else "the request carries no API token",
                                    hint="send 'Authorization: Bearer TOKEN' (the server's VLIQA_API_TOKEN)")

    return require_token


def create_app(settings: ServeSettings, *, service: Service | None = None) -> FastAPI:
    """Gives the application: the models load in the background at start-up (/readyz says when they are in)."""
    settings.check()
    token = settings.resolved_token()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = service or Service(settings)
        app.state.service = svc
        loader = threading.Thread(target=svc.load_models, name="vliqa-model-loader", daemon=True)
        loader.start()
        try:
            yield
        finally:
            svc.close()

    app = FastAPI(title="vliqa", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json",
                  description="CT image quality assessment: scores, aspects, descriptions, comparisons and reports. "
                              "Every /v1 endpoint needs 'Authorization: Bearer TOKEN' when the server has a token.")
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(router, prefix="/v1", dependencies=[Depends(token_checker(token))])

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", CSP)
        if request.url.path.startswith("/v1/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/healthz", tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="The models are loaded and the database answers")
    async def readyz(request: Request) -> JSONResponse:
        svc: Service = request.app.state.service
        body = {"ready": svc.ready and svc.store.ping(), "models_loaded": svc.ready, "error": svc.load_error,
                "queue": {"in_flight": svc.pool.in_flight, "capacity": svc.pool.capacity}, **svc.features()}
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get("/v1/info", tags=["health"], summary="What this server offers (no token needed)")
    async def info(request: Request) -> dict[str, Any]:
        svc: Service = request.app.state.service
        return {"auth_required": token is not None, "limits": settings.limits.to_dict(), "windows": VIEWER_WINDOWS,
                "workers": settings.workers, "queue_size": settings.queue_size, "ready": svc.ready,
                "features": {**svc.features(), "chat": chat_available()}}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(STATIC_DIR / "api.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.limits.max_upload_bytes + MULTIPART_SLACK_BYTES,
                       max_upload_mb=settings.limits.max_upload_mb)
    app.add_middleware(InternalErrorMiddleware)
    return app
