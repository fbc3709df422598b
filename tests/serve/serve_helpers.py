"""Helpers of the serve tests: a real vliqa server (uvicorn on 127.0.0.1, a free port, its own SQLite file)."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from vliqa.models import SHIPPED_DIR
from vliqa.serve import ServeSettings, create_app

#: The shipped quality VLM; tests of describe / compare / ask skip without it. VLIQA_SERVE_TEST_VLM names another
#: checkpoint folder for a development run (e.g. an untrained one), never used by CI.
SHIPPED_VLM = SHIPPED_DIR / "vlm" / "model.safetensors"
TOKEN = "test-token-0123456789abcdef"


def test_vlm() -> str | None:
    """Gives the VLM the tests may use: the shipped one, the development override, or None."""
    override = os.environ.get("VLIQA_SERVE_TEST_VLM")
    if override:
        return override
    return "vlm" if SHIPPED_VLM.is_file() else None


test_vlm.__test__ = False  # a helper, not a test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningServer:
    """A server started by `running_server`: its base URL and a client that sends the token."""

    def __init__(self, url: str, token: str | None, server: uvicorn.Server, app):
        self.url, self.token, self.server, self.app = url, token, server, app
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=url, headers=headers, timeout=120)

    @property
    def service(self):
        return self.app.state.service

    def wait_job(self, job_id: str, timeout_s: float = 300) -> dict:
        """Polls /v1/jobs/{id} until done or failed; gives the last state and every progress seen."""
        seen, deadline = [], time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.client.get(f"/v1/jobs/{job_id}").json()
            seen.append((job["status"], job["progress"]["done"], job["progress"]["total"]))
            if job["status"] in ("done", "failed"):
                return {**job, "seen": seen}
            time.sleep(0.1)
        raise TimeoutError(f"job {job_id} did not finish in {timeout_s} s: {seen[-3:]}")


@contextmanager
def running_server(tmp_path: Path, *, ready: bool = True, **overrides) -> Iterator[RunningServer]:
    """Runs a server on a free loopback port until the block ends; waits for /readyz unless `ready` is False."""
    settings = ServeSettings(**{"port": free_port(), "db_url": f"sqlite:///{tmp_path / 'vliqa.db'}",
                                "model": "noise_sigma", "vlm": None, "measures": False, "token": TOKEN,
                                **overrides})
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="vliqa-test-server", daemon=True)
    thread.start()
    running = RunningServer(f"http://127.0.0.1:{settings.port}", settings.resolved_token(), server, app)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                answer = running.client.get("/readyz" if ready else "/healthz")
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        else:
            raise TimeoutError("the test server did not become ready")
        yield running
    finally:
        running.client.close()
        server.should_exit = True
        thread.join(timeout=30)


def zip_bytes(files: dict[str, bytes], **kwargs) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", **kwargs) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()
