"""A conversation about one image: its Assessment (made once), the turns so far, and the backend that answers.

    conversation = Conversation.open("scan/", backend="openai",
                                     settings={"url": "http://127.0.0.1:11434/v1", "model": "qwen2.5"})
    reply = conversation.send("give me a score")        # ChatReply: text, grounded_score, flagged_contradiction
    for piece in conversation.stream("why?"): ...        # the same turn, piece by piece; then .last_reply
    data = conversation.to_dict(); Conversation.from_dict(data)   # persistence (no API key is stored)

A turn that fails (the LLM is down, times out, answers garbage) raises its `ChatBackendError` and leaves the
conversation as it was: the next `send` works once the backend does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vliqa.assessment import Assessment, Assessor, VolumeAssessment, assessment_from_dict
from vliqa.chat.backends import DEFAULT_BACKEND, ChatBackend, ChatContext, backend_settings, create_backend
from vliqa.chat.grounding import check_answer, overall_of
from vliqa.chat.prompts import kind_of, system_prompt
from vliqa.core import CTImage, CTVolume
from vliqa.errors import InvalidParameterError, UnknownNameError
from vliqa.io import load

CONVERSATION_KIND = "vliqa_conversation"
CONVERSATION_VERSION = 1
#: Backend settings never written with a conversation.
SECRET_SETTINGS = frozenset({"api_key"})


@dataclass(frozen=True)
class ChatReply:
    """One answer: its text as shown (with a note when it contradicts the assessment), the assessment's overall 0-4
    score it was checked against (None on a baseline's own scale), whether it contradicted it, and who answered.

    `stated`: the words of the answer that state an overall score or level ("3/4", "good"), None when it states
    none."""

    text: str
    grounded_score: float | None
    flagged_contradiction: bool
    backend: str
    stated: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "grounded_score": self.grounded_score,
                "flagged_contradiction": self.flagged_contradiction, "backend": self.backend, "stated": self.stated}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatReply:
        score = data.get("grounded_score")
        return cls(text=str(data["text"]), grounded_score=None if score is None else float(score),
                   flagged_contradiction=bool(data.get("flagged_contradiction", False)),
                   backend=str(data.get("backend", "")), stated=data.get("stated"))


@dataclass(frozen=True)
class ChatTurn:
    """A user's message and the reply it got."""

    user: str
    reply: ChatReply
    #: when the reply was given, ISO 8601 (UTC, seconds)
    at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "reply": self.reply.to_dict(), "at": self.at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatTurn:
        return cls(user=str(data["user"]), reply=ChatReply.from_dict(data["reply"]), at=str(data.get("at", "")))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Conversation:
    """A chat grounded on one image's Assessment; `send` answers a message and keeps the turn.

    `backend`: a registered name ("embedded", "openai", "llama_cpp"; vliqa.chat.backend_names()) made with
    `settings`, or a ChatBackend object. `assessor` answers the embedded backend's free questions with its quality
    VLM; a restored conversation makes one on first use from `model` and `vlm` (None: no VLM). `image`: the
    assessed image, when at hand (else it is read again from the assessment's path when needed).
    """

    def __init__(self, assessment: Assessment | VolumeAssessment, *, backend: str | ChatBackend = DEFAULT_BACKEND,
                 settings: dict[str, Any] | None = None, assessor: Assessor | None = None,
                 image: CTImage | CTVolume | None = None, model: str | None = None, vlm: str | None = None,
                 window: Any = None, prompt_dir: str | Path | None = None, turns: tuple[ChatTurn, ...] = (),
                 conversation_id: str | None = None, created: str | None = None):
        if not isinstance(assessment, (Assessment, VolumeAssessment)):
            raise InvalidParameterError(f"a conversation is about an Assessment, not a {type(assessment).__name__}",
                                        hint="pass what Assessor.assess gave, or use Conversation.open(path)")
        self.assessment = assessment
        self.model = model or assessment.model
        self.vlm = vlm
        self.window = window
        self.prompt_dir = None if prompt_dir is None else str(prompt_dir)
        self.id = conversation_id or uuid.uuid4().hex
        self.created = created or _now()
        self.turns: list[ChatTurn] = list(turns)
        #: the reply of the last turn `stream` finished
        self.last_reply: ChatReply | None = self.turns[-1].reply if self.turns else None
        make = None if vlm is None else (lambda: Assessor(self.model, window=window, measures=False, describer=vlm))
        self.context = ChatContext(assessment, image=image, assessor=assessor, make_assessor=make, window=window)
        if isinstance(backend, str):
            self.backend: ChatBackend = create_backend(backend, self.context, **(settings or {}))
        else:
            self.backend = backend
        self._system_prompt: str | None = None

    @classmethod
    def open(cls, path_or_image: Any, *, model: str = "default", vlm: str | None = "vlm",
             assessor: Assessor | None = None, measures: bool = True, window: Any = None,
             backend: str | ChatBackend = DEFAULT_BACKEND, settings: dict[str, Any] | None = None,
             prompt_dir: str | Path | None = None) -> Conversation:
        """Gives a new conversation about a file, folder (a series), array, CTImage or CTVolume: loads and assesses
        it once with `assessor` (else Assessor(model, measures=..., describer=vlm)); `settings` go to the backend:
        url, model, api_key, timeout_s for "openai"; model_path, threads for "llama_cpp" (backend_settings(name))."""
        if assessor is None:
            assessor = Assessor(model, window=window, measures=measures, describer=vlm)
        else:
            model = assessor.model_name
            vlm = _vlm_name(assessor.describer)
        image = load(path_or_image, window=window)
        assessment = assessor.assess_loaded(image)
        return cls(assessment, backend=backend, settings=settings, assessor=assessor, image=image, model=model,
                   vlm=vlm, window=window, prompt_dir=prompt_dir)

    # ------------------------------------------------------------ turns

    @property
    def backend_name(self) -> str:
        """The name of the backend that answers ("embedded", "openai", ...)."""
        return str(getattr(self.backend, "name", type(self.backend).__name__))

    @property
    def system_prompt(self) -> str:
        """The system prompt the backend gets first: prompts/system.md.j2 grounded on the assessment."""
        if self._system_prompt is None:
            self._system_prompt = system_prompt(self.assessment, prompt_dir=self.prompt_dir)
        return self._system_prompt

    @property
    def history(self) -> list[dict[str, str]]:
        """The turns so far as OpenAI-style messages (user, assistant, ...), without the system prompt."""
        out = []
        for turn in self.turns:
            out += [{"role": "user", "content": turn.user}, {"role": "assistant", "content": turn.reply.text}]
        return out

    def messages(self, user_text: str | None = None) -> list[dict[str, str]]:
        """Gives what the backend is sent: the system prompt, the history and, when given, the new message."""
        new = [] if user_text is None else [{"role": "user", "content": user_text}]
        return [{"role": "system", "content": self.system_prompt}, *self.history, *new]

    def send(self, user_text: str) -> ChatReply:
        """Gives the reply to `user_text` and keeps the turn; a backend failure raises and keeps nothing."""
        turn = self._turn(user_text, stream=False)
        while True:
            try:
                next(turn)
            except StopIteration as done:
                return done.value

    def stream(self, user_text: str) -> Iterator[str]:
        """Yields the reply to `user_text` piece by piece as the backend gives it, then a contradiction note if
        any; the whole reply is `last_reply` afterwards. A failure raises mid-stream and keeps nothing."""
        self.last_reply = yield from self._turn(user_text, stream=True)

    def _turn(self, user_text: str, *, stream: bool) -> Iterator[str]:
        text = str(user_text).strip()
        if not text:
            raise InvalidParameterError("the message is empty", hint='ask e.g. "give me a score"')
        out = self.backend.reply(self.messages(text), stream=stream)
        pieces: list[str] = []
        for piece in [out] if isinstance(out, str) else out:
            pieces.append(piece)
            yield piece
        answer = "".join(pieces).strip()
        check = check_answer(answer, self.assessment)
        note = check.note(kind_of(self.assessment))
        if note:
            yield f"\n\n{note}"
            answer = f"{answer}\n\n{note}"
        score, _ = overall_of(self.assessment)
        reply = ChatReply(text=answer, grounded_score=score, flagged_contradiction=check.contradiction,
                          backend=self.backend_name, stated=check.stated)
        self.turns.append(ChatTurn(user=text, reply=reply, at=_now()))
        self.last_reply = reply
        return reply

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """Gives the JSON form: the assessment, the turns, the backend and its settings (never an API key)."""
        settings = {}
        try:
            keys = backend_settings(self.backend_name)
        except UnknownNameError:  # a backend object that is not registered: nothing to restore it by
            keys = ()
        for key in keys:
            value = getattr(self.backend, key, None)
            if key not in SECRET_SETTINGS and value is not None:
                settings[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        return {"kind": CONVERSATION_KIND, "version": CONVERSATION_VERSION, "id": self.id, "created": self.created,
                "backend": self.backend_name, "settings": settings, "model": self.model, "vlm": self.vlm,
                "window": _window_text(self.window), "prompt_dir": self.prompt_dir,
                "assessment": self.assessment.to_dict(), "turns": [t.to_dict() for t in self.turns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, backend: str | ChatBackend | None = None,
                  assessor: Assessor | None = None, settings: dict[str, Any] | None = None) -> Conversation:
        """Gives the conversation of a JSON form made by `to_dict`, ready to go on; `backend` and `settings` (an
        API key, a new URL) replace the stored ones."""
        if not isinstance(data, dict) or data.get("kind") != CONVERSATION_KIND:
            raise InvalidParameterError("not a vliqa conversation", hint=f"expected 'kind': '{CONVERSATION_KIND}'")
        if int(data.get("version", 0)) > CONVERSATION_VERSION:
            raise InvalidParameterError(f"conversation version {data.get('version')} is newer than this vliqa reads "
                                        f"({CONVERSATION_VERSION})", hint="upgrade vliqa")
        name = data.get("backend", DEFAULT_BACKEND) if backend is None else backend
        stored = dict(data.get("settings") or {}) if backend is None or backend == data.get("backend") else {}
        return cls(assessment_from_dict(data["assessment"]), backend=name, settings=stored | (settings or {}),
                   assessor=assessor, model=data.get("model"), vlm=data.get("vlm"), window=data.get("window"),
                   prompt_dir=data.get("prompt_dir"), turns=tuple(ChatTurn.from_dict(t) for t in data["turns"]),
                   conversation_id=data.get("id"), created=data.get("created"))


def _vlm_name(describer: Any) -> str | None:
    """Gives how a restored conversation finds the Assessor's VLM again: its name or folder, None without one."""
    if describer is None or isinstance(describer, (str, Path)):
        return None if describer is None else str(describer)
    folder = getattr(describer, "folder", None)
    return str(folder) if folder is not None else "vlm"


def _window_text(window: Any) -> str | None:
    """Gives a display window as `load` reads it back: a preset name or "LEVEL,WIDTH"."""
    if window is None or isinstance(window, str):
        return window
    if isinstance(window, (tuple, list)):
        return ",".join(f"{float(v):g}" for v in window)
    return str(window)
