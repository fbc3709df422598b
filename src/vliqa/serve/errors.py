"""The service's own errors: members of the one `VliqaError` hierarchy, each with the HTTP status it answers with.

A limit error names the limit (`limit` = {"name", "value", "unit"}) so a client can tell which one it hit.
"""

from __future__ import annotations

from typing import Any

from vliqa import errors as E
from vliqa.errors import VliqaError


class ServeError(VliqaError):
    """Base class of the service's errors; `status` is the HTTP status of the answer."""

    status = 400

    def __init__(self, message: str, *, hint: str | None = None, limit: dict[str, Any] | None = None):
        super().__init__(message, hint=hint)
        self.message = message
        self.limit = limit


class InsecureServeError(ServeError):
    """The server would listen beyond this machine without an API token."""


class UploadTooLargeError(ServeError):
    """An upload (or a zip / gzip member once unpacked) is over a size limit."""

    status = 413


class ImageLimitError(ServeError):
    """An uploaded image is over a dimension limit (side in pixels, number of slices)."""

    status = 422


class UploadRejectedError(ServeError):
    """An upload is not a file the service accepts (content, zip members), whatever its name says."""

    status = 415


class UnsafeArchiveError(ServeError):
    """A zip holds a member that could escape its folder (.., absolute path, symlink) or is encrypted."""

    status = 422


class QueueFullError(ServeError):
    """Every worker is busy and the queue is full; `retry_after_s` says when to try again."""

    status = 429

    def __init__(self, message: str, *, retry_after_s: int, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s


class NotFoundError(ServeError):
    """No result, job or slice of that id."""

    status = 404


class NotReadyError(ServeError):
    """The result asked for is not finished (its job is queued or running)."""

    status = 409


class FeatureUnavailableError(ServeError):
    """The server was started without what the request needs (the quality VLM, the chat package)."""

    status = 503


class UnauthorizedError(ServeError):
    """The request carries no API token, or a wrong one."""

    status = 401


#: The HTTP status of each user error of vliqa (a subclass takes its nearest listed base's); others answer 400.
STATUS_OF: dict[type[VliqaError], int] = {
    E.InputNotFoundError: 404, E.UnsupportedFormatError: 415, E.CorruptFileError: 422, E.NotCTError: 422,
    E.MissingPixelDataError: 422, E.InconsistentSeriesError: 422, E.InvalidImageError: 422, E.ImageSizeError: 422,
    E.EmptyInputError: 422, E.InvalidParameterError: 400, E.UnknownNameError: 400,
    E.DependencyUnavailableError: 503, E.PermissionDeniedError: 403,
}


def status_of(exc: VliqaError | type[VliqaError]) -> int:
    """Gives the HTTP status a VliqaError (or its class) answers with."""
    cls = exc if isinstance(exc, type) else type(exc)
    if issubclass(cls, ServeError):
        return cls.status
    for base in cls.__mro__:
        if base in STATUS_OF:
            return STATUS_OF[base]
    return 400


def status_of_name(name: str | None) -> int:
    """Gives the HTTP status of a stored error's type name ("CorruptFileError"); 500 for an internal error."""
    for namespace in (vars(E), globals()):
        cls = namespace.get(str(name))
        if isinstance(cls, type) and issubclass(cls, VliqaError):
            return status_of(cls)
    return 500 if name == "InternalError" else 422
