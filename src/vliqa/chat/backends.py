"""The chat backend registry: one decorated factory per backend, found by name (`embedded`, `openai`, `llama_cpp`).

    @register_backend("mine")
    def mine(context: ChatContext, *, url: str | None = None) -> ChatBackend: ...

Every backend answers `reply(messages, stream=...)` with OpenAI-style messages (the system prompt first, then the
turns) and gives the answer's text, or an iterator of its pieces when `stream` is true. A backend that cannot
answer raises a `ChatBackendError` (`LLMUnreachableError` when its LLM cannot be reached).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vliqa.assessment import Assessment, Assessor, VolumeAssessment
from vliqa.core import CTImage, CTVolume
from vliqa.errors import InvalidParameterError, UnknownNameError
from vliqa.io import load

#: The backend a conversation uses when none is named: offline, answers from the Assessment and the quality VLM.
DEFAULT_BACKEND = "embedded"


@runtime_checkable
class ChatBackend(Protocol):
    """Answers a conversation: OpenAI-style messages in, the assistant's text out (or its pieces, streamed)."""

    name: str

    def reply(self, messages: list[dict[str, str]], *, stream: bool = False) -> str | Iterator[str]: ...


class ChatContext:
    """What a backend may know of the image a conversation is about: its Assessment, and on demand the loaded image
    and the Assessor whose quality VLM answers free questions."""

    def __init__(self, assessment: Assessment | VolumeAssessment, *, image: CTImage | CTVolume | None = None,
                 assessor: Assessor | None = None, make_assessor: Callable[[], Assessor] | None = None,
                 window: Any = None):
        self.assessment = assessment
        self._image = image
        self._assessor = assessor
        self._make_assessor = make_assessor
        self.window = window

    @property
    def source(self) -> str | None:
        """The path the assessment was made of (None for an array)."""
        return self.assessment.path

    @property
    def image(self) -> CTImage | CTVolume | None:
        """The assessed image, read again from its path when the conversation was restored; None without a path."""
        if self._image is None and self.source is not None and Path(self.source).exists():
            self._image = load(self.source, window=self.window)
        return self._image

    @property
    def assessor(self) -> Assessor | None:
        """The Assessor of the conversation (made on first use when restored), None when there is none."""
        if self._assessor is None and self._make_assessor is not None:
            self._assessor = self._make_assessor()
        return self._assessor


BackendFactory = Callable[..., ChatBackend]
_BACKENDS: dict[str, BackendFactory] = {}
_BUILTIN = ("vliqa.chat.embedded", "vliqa.chat.openai_compat", "vliqa.chat.llamacpp")


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    """Registers the decorated factory `(context, **settings) -> ChatBackend` as backend `name`; gives it back."""

    def deco(factory: BackendFactory) -> BackendFactory:
        _BACKENDS[name] = factory
        return factory

    return deco


def _load_builtin() -> None:
    for module in _BUILTIN:  # importing them runs their @register_backend
        importlib.import_module(module)


def backend_names() -> list[str]:
    """Gives the names of every registered backend, sorted."""
    _load_builtin()
    return sorted(_BACKENDS)


def backend_settings(name: str) -> tuple[str, ...]:
    """Gives the keyword settings backend `name` accepts (`url`, `model`, ...)."""
    params = inspect.signature(_factory(name)).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _factory(name: str) -> BackendFactory:
    _load_builtin()
    try:
        return _BACKENDS[name]
    except KeyError:
        raise UnknownNameError(f"unknown chat backend '{name}'",
                               hint=f"registered: {', '.join(sorted(_BACKENDS))}") from None


def create_backend(name: str, context: ChatContext, **settings: Any) -> ChatBackend:
    """Gives backend `name` for a conversation about `context`; settings that are None are left to the backend."""
    factory = _factory(name)
    given = {k: v for k, v in settings.items() if v is not None}
    unknown = sorted(set(given) - set(backend_settings(name)))
    if unknown:
        raise InvalidParameterError(f"the {name} chat backend has no setting {', '.join(unknown)}",
                                    hint=f"its settings: {', '.join(backend_settings(name)) or 'none'}")
    return factory(context, **given)
