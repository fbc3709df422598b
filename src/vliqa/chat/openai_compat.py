"""The `openai` chat backend: any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp's server, a hosted API).

POST {url}/chat/completions, with or without `"stream": true` (server-sent events: `data: {...}` lines, then
`data: [DONE]`). Settings come from the arguments, else from VLIQA_LLM_URL, VLIQA_LLM_MODEL, VLIQA_LLM_API_KEY
and VLIQA_LLM_TIMEOUT. The key is sent as a bearer token and never stored with a conversation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx

from vliqa.chat.backends import ChatContext, register_backend
from vliqa.errors import ChatBackendError, InvalidParameterError, LLMUnreachableError

URL_ENV, MODEL_ENV, API_KEY_ENV = "VLIQA_LLM_URL", "VLIQA_LLM_MODEL", "VLIQA_LLM_API_KEY"
TIMEOUT_ENV = "VLIQA_LLM_TIMEOUT"
#: Seconds to wait for an answer (a small model on a CPU can take a while) and for a connection.
DEFAULT_TIMEOUT_S, CONNECT_TIMEOUT_S = 120.0, 5.0
#: The model name sent when none is set; llama.cpp's server ignores it, Ollama and vLLM need their own.
DEFAULT_MODEL = "default"
_FALLBACK = "start it or use --llm embedded"


def completions_url(url: str) -> str:
    """Gives the chat-completions endpoint of a server URL: "http://h:8000", ".../v1" and the endpoint itself all
    give "http://h:8000/v1/chat/completions"."""
    base = url.strip().rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if not base.endswith("/v1"):
        base += "/v1"
    return base + "/chat/completions"


class OpenAIBackend:
    """Sends the conversation to an OpenAI-compatible server and gives its answer (or the answer's pieces)."""

    name = "openai"

    def __init__(self, *, url: str, model: str = DEFAULT_MODEL, api_key: str | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, temperature: float = 0.2, max_tokens: int = 512):
        if not url.startswith(("http://", "https://")):
            raise InvalidParameterError(f"the LLM URL '{url}' is not an http(s) URL",
                                        hint="pass e.g. --llm-url http://127.0.0.1:8080/v1")
        if timeout_s <= 0:
            raise InvalidParameterError(f"the LLM timeout must be positive, got {timeout_s} s")
        self.url, self.endpoint = url, completions_url(url)
        self.model, self.api_key, self.timeout_s = model, api_key, float(timeout_s)
        self.temperature, self.max_tokens = temperature, max_tokens

    def reply(self, messages: list[dict[str, str]], *, stream: bool = False) -> str | Iterator[str]:
        """Gives the server's answer to `messages`; with `stream`, an iterator of its pieces as they arrive."""
        body = {"model": self.model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens, "stream": bool(stream)}
        return self._stream(body) if stream else self._complete(body)

    def _client(self) -> httpx.Client:
        headers = {"Accept": "text/event-stream, application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        # A fresh client per turn: a server restarted between turns leaves no stale pooled connection behind.
        return httpx.Client(timeout=httpx.Timeout(self.timeout_s, connect=min(CONNECT_TIMEOUT_S, self.timeout_s)),
                            headers=headers)

    def _complete(self, body: dict[str, Any]) -> str:
        try:
            with self._client() as client:
                response = client.post(self.endpoint, json=body)
                self._check_status(response)
                data = response.json()
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._malformed(f"the body is not JSON ({exc})") from exc
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise self._malformed(f"no choices[0].message.content in {str(data)[:200]}") from exc
        return "" if content is None else str(content)

    def _stream(self, body: dict[str, Any]) -> Iterator[str]:
        try:
            with self._client() as client, client.stream("POST", self.endpoint, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    self._check_status(response)
                for line in response.iter_lines():
                    piece = self._event(line)
                    if piece is None:
                        return
                    if piece:
                        yield piece
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def _event(self, line: str) -> str | None:
        """Gives the text of one server-sent-event line ("" for none), or None at `data: [DONE]`."""
        if not line.startswith("data:"):
            return ""  # blank separators, comments (": ping"), "event:" and "id:" lines
        payload = line[5:].strip()
        if payload == "[DONE]":
            return None
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise self._malformed(f"a stream event is not JSON: {payload[:200]}") from exc
        if isinstance(chunk, dict) and "error" in chunk:
            raise ChatBackendError(f"the LLM at {self.url} failed while answering: {_error_message(chunk)}")
        try:
            choices = chunk["choices"]
            return (choices[0].get("delta") or {}).get("content") or "" if choices else ""
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise self._malformed(f"a stream event has no choices[0].delta: {payload[:200]}") from exc

    def _check_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        try:
            message = _error_message(response.json())
        except (json.JSONDecodeError, UnicodeDecodeError):
            message = response.text[:200]
        hint = {401: f"check the API key ({API_KEY_ENV})",
                403: f"check the API key ({API_KEY_ENV})",
                404: f"check the URL (it usually ends in /v1) and the model name (--llm-model or {MODEL_ENV})"}
        raise ChatBackendError(f"the LLM at {self.url} answered HTTP {response.status_code}: {message}",
                               hint=hint.get(response.status_code, "see the server's log"))

    def _unreachable(self, exc: httpx.TransportError) -> LLMUnreachableError:
        if isinstance(exc, httpx.TimeoutException):
            why = f"no answer within {self.timeout_s:g} s (raise it with --llm-timeout or {TIMEOUT_ENV})"
        elif isinstance(exc, httpx.ConnectError):
            why = "connection refused" if "refused" in str(exc).lower() else f"cannot connect ({exc})"
        else:
            why = f"the connection failed ({type(exc).__name__}: {exc})"
        return LLMUnreachableError(f"cannot reach the LLM at {self.url}: {why}; {_FALLBACK}")

    def _malformed(self, what: str) -> ChatBackendError:
        return ChatBackendError(f"the LLM at {self.url} did not answer as an OpenAI-compatible server: {what}",
                                hint="point --llm-url at the server's /v1 (docs/chat.md)")


def _error_message(data: Any) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error or data)[:200]


@register_backend("openai")
def openai(context: ChatContext, *, url: str | None = None, model: str | None = None, api_key: str | None = None,
           timeout_s: float | None = None) -> OpenAIBackend:
    """Any OpenAI-compatible chat server; settings from the arguments, else from the VLIQA_LLM_* variables."""
    url = url or os.environ.get(URL_ENV)
    if not url:
        raise InvalidParameterError("the openai chat backend needs the URL of an OpenAI-compatible server",
                                    hint=f"pass --llm-url (e.g. http://127.0.0.1:11434/v1 for Ollama) or set {URL_ENV}")
    if timeout_s is None:
        raw = os.environ.get(TIMEOUT_ENV)
        try:
            timeout_s = float(raw) if raw else DEFAULT_TIMEOUT_S
        except ValueError:
            raise InvalidParameterError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    return OpenAIBackend(url=url, model=model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL,
                         api_key=api_key or os.environ.get(API_KEY_ENV), timeout_s=timeout_s)
