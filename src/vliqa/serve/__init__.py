"""`vliqa serve`: the HTTP service and web app over the one `Assessor` (docs/serve.md).

    from vliqa.serve import ServeSettings, create_app, run
    run(ServeSettings(host="127.0.0.1", port=8000, db_url="sqlite:///results.db"))   # blocks; uvicorn
    app = create_app(ServeSettings())                                                # an ASGI app to mount

Needs the `serve` extra: pip install 'vliqa[serve]'.
"""

from __future__ import annotations

from typing import Any

from vliqa.serve.errors import (
    FeatureUnavailableError,
    ImageLimitError,
    InsecureServeError,
    NotFoundError,
    NotReadyError,
    QueueFullError,
    ServeError,
    UnauthorizedError,
    UnsafeArchiveError,
    UploadRejectedError,
    UploadTooLargeError,
)
from vliqa.serve.settings import TOKEN_ENV, Limits, ServeSettings, is_loopback

__all__ = ["TOKEN_ENV", "FeatureUnavailableError", "ImageLimitError", "InsecureServeError", "Limits", "NotFoundError",
           "NotReadyError", "QueueFullError", "ServeError", "ServeSettings", "UnauthorizedError",
           "UnsafeArchiveError", "UploadRejectedError", "UploadTooLargeError", "create_app", "is_loopback", "run"]


def create_app(settings: ServeSettings, **kwargs: Any) -> Any:
    """Gives the FastAPI application for `settings` (see vliqa.serve.app.create_app)."""
    from vliqa.serve.app import create_app as make  # lazy: FastAPI and the models' imports wait for a server

    return make(settings, **kwargs)


def run(settings: ServeSettings, *, log_level: str = "info") -> None:
    """Serves the application with uvicorn until interrupted; refuses unsafe settings first (InsecureServeError)."""
    settings.check()  # before FastAPI, uvicorn or any model is imported
    import uvicorn  # lazy: only a running server needs it

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=log_level,
                proxy_headers=False, server_header=False, timeout_graceful_shutdown=10)
