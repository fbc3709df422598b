"""A minimal OpenAI-compatible chat server for the chat tests: POST /v1/chat/completions (a JSON answer, or
server-sent events with `"stream": true`) and GET /v1/models, on the standard library's HTTP server.

Its answers are canned but depend on the request, so a test can make it agree with the assessment or not:
- "state score N" in the last user message: "The overall image quality is N/4."
- "state level WORD": "Overall, the image quality is WORD."
- "sleep S": wait S seconds before answering (timeouts)
- "fail with N": answer HTTP N with an OpenAI error body
- "break the stream": send two pieces of a streamed answer, then drop the connection
- anything else: repeat what the system prompt says the overall quality is ("... is 2.30 of 4 (fair).").

By hand: `python tests/chat/openai_stub_server.py --port 8765`, then `vliqa chat SCAN --llm openai --llm-url
http://127.0.0.1:8765/v1`.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_NAME = "stub-llm"
_STATED_IN_PROMPT = re.compile(r"overall quality of this \w+ is (\d(?:\.\d+)? of 4 \(\w+\))", re.IGNORECASE)


def answer_for(body: dict[str, Any]) -> str:
    """Gives the canned answer to a chat-completions request."""
    messages = body["messages"]
    user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    if m := re.search(r"state score ([0-9.]+)", user):
        return f"The overall image quality is {m.group(1)}/4."
    if m := re.search(r"state level (\w+)", user):
        return f"Overall, the image quality is {m.group(1)}."
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    if m := _STATED_IN_PROMPT.search(system):
        return f"From the assessment, the overall quality is {m.group(1)}. Ask me about any aspect."
    return "I cannot tell from this assessment."


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked transfer, as real servers speak
    server: StubServer._Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _json(self, status: int, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "owned_by": "vliqa"}]})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:  # noqa: N802 - the base class's name
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}")
            return
        key = self.server.api_key
        if key is not None and self.headers.get("Authorization") != f"Bearer {key}":
            self._error(401, "Incorrect API key provided.", "authentication_error")
            return
        try:
            body = json.loads(raw)
            if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list) or not all(
                    isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
                    and isinstance(m.get("content"), str) for m in body["messages"]):
                raise ValueError("'model' (string) and 'messages' (role/content objects) are required")
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            self._error(400, str(exc))
            return
        self.server.requests.append({"body": body, "headers": dict(self.headers)})
        user = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        if m := re.search(r"sleep ([0-9.]+)", user):
            time.sleep(float(m.group(1)))
        if m := re.search(r"fail with (\d{3})", user):
            self._error(int(m.group(1)), "the stub was asked to fail", "server_error")
            return
        text = answer_for(body)
        if body.get("stream"):
            self._stream(body, text, broken="break the stream" in user)
        else:
            self._json(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": len(raw) // 4, "completion_tokens": len(text.split()),
                          "total_tokens": len(raw) // 4 + len(text.split())},
            })

    def _stream(self, body: dict[str, Any], text: str, *, broken: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())

        def event(data: str) -> None:
            payload = f"data: {data}\n\n".encode()
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            event(json.dumps({"id": ident, "object": "chat.completion.chunk", "created": created,
                              "model": body["model"],
                              "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))

        chunk({"role": "assistant", "content": ""})
        for i, word in enumerate(re.findall(r"\S+\s*", text)):
            if broken and i == 2:
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)  # drop the connection mid-answer, no terminating chunk
                return
            chunk({"content": word})
        chunk({}, "stop")
        event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")


class StubServer:
    """The stub on 127.0.0.1 in a background thread: `start()`, `url` (ending in /v1), `requests`, `stop()`."""

    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        api_key: str | None = None
        requests: list[dict[str, Any]]

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a connection the stub dropped on purpose ("break the stream") is no error worth printing

    def __init__(self, port: int = 0, *, api_key: str | None = None):
        self.port, self.api_key = port, api_key
        self.requests: list[dict[str, Any]] = []
        self._server: StubServer._Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> StubServer:
        server = self._Server(("127.0.0.1", self.port), _Handler)
        server.api_key, server.requests = self.api_key, self.requests
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    server = StubServer(args.port, api_key=args.api_key).start()
    print(f"stub OpenAI-compatible server at {server.url} (Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
