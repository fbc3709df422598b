"""The one error hierarchy every user-facing failure of vliqa belongs to.

Each message says what was wrong, for which file, and what the user can do.
The CLI maps a `VliqaError` to exit code 1 (user error) and prints only its
message; any other exception is an internal error (exit code 2).
"""

from __future__ import annotations

from pathlib import Path


class VliqaError(Exception):
    """Base class of every error vliqa raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        self.path = str(path) if path is not None else None
        self.hint = hint
        text = message
        if self.path and self.path not in message:
            text = f"{self.path}: {message}"
        if hint:
            text = f"{text} — {hint}"
        super().__init__(text)


class UnsupportedFormatError(VliqaError):
    """The file is not in a format vliqa reads."""


class CorruptFileError(VliqaError):
    """The file claims a known format but cannot be decoded (truncated, damaged, empty)."""


class NotCTError(VliqaError):
    """The image is valid but not CT (MR, CR, ...); pass allow_non_ct=True to read it anyway."""


class MissingPixelDataError(VliqaError):
    """The DICOM object holds no image (structured report, RT structure set, ...)."""


class InconsistentSeriesError(VliqaError):
    """Slices that should form one volume disagree (size, orientation)."""


class InvalidImageError(VliqaError):
    """The pixel values are unusable (NaN or inf, wrong number of dimensions, ...)."""


class ImageSizeError(VliqaError):
    """The image is too small or too large to be a CT slice vliqa can assess."""


class EmptyInputError(VliqaError):
    """A folder or list held no image vliqa could read."""


class InputNotFoundError(VliqaError):
    """The path does not exist."""


class PermissionDeniedError(VliqaError):
    """The file exists but the current user may not read it."""


class InvalidParameterError(VliqaError):
    """A parameter given by the user is out of range or of the wrong kind."""


class UnknownNameError(VliqaError):
    """A name (window preset, degradation, model, baseline) is not registered."""


class DatasetError(VliqaError):
    """A dataset folder or manifest is missing, damaged or inconsistent."""


class DependencyUnavailableError(VliqaError):
    """A codec, optional library or checkpoint that a step needs is not installed on this machine."""


class ReportFormatError(InvalidParameterError):
    """A report was asked for in a format vliqa does not write (the suffix of the output names the format)."""


class ReportTemplateError(VliqaError):
    """A report template is missing, or it fails to render (a syntax error, a field it names does not exist)."""


class ChatBackendError(VliqaError):
    """A chat backend failed a turn (the LLM answered with an error or a malformed reply); the conversation is kept."""


class LLMUnreachableError(ChatBackendError):
    """The LLM a chat backend talks to cannot be reached (connection refused, timed out)."""


class PromptTemplateError(VliqaError):
    """A chat prompt file is missing, or it fails to render (a syntax error, a field it names does not exist)."""


class BatchStateError(VliqaError):
    """A batch output folder cannot be resumed: it holds a run with other settings, or its ledger is damaged."""
