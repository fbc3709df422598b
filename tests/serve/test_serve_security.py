"""A real server on 127.0.0.1 refuses what it must: no token, a wrong token, oversized, unsafe or mislabelled uploads,
and more work than its queue holds. The quality model is a classical baseline, so the server starts in a second."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from serve_helpers import running_server, zip_bytes

from vliqa.cli.main import invoke
from vliqa.serve import InsecureServeError, Limits, ServeSettings


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width), 128, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_listening_beyond_loopback_without_a_token_is_refused(monkeypatch, capsys) -> None:
    monkeypatch.delenv("VLIQA_API_TOKEN", raising=False)
    with pytest.raises(InsecureServeError, match="without an API token"):
        ServeSettings(host="0.0.0.0").check()
    assert invoke(["serve", "--host", "0.0.0.0", "--port", "1"]) == 1
    assert "VLIQA_API_TOKEN" in capsys.readouterr().err
    ServeSettings(host="127.0.0.1").check()  # loopback without a token is allowed (a developer's machine)


def test_a_short_token_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("VLIQA_API_TOKEN", "short")
    with pytest.raises(InsecureServeError, match="at least 16"):
        ServeSettings(host="0.0.0.0").check()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    limits = Limits(max_upload_mb=2, max_zip_ratio=50)
    with running_server(tmp_path_factory.mktemp("serve"), limits=limits) as running:
        yield running


def test_requests_without_the_token_get_401(server) -> None:
    import httpx

    with httpx.Client(base_url=server.url) as anonymous:
        answer = anonymous.get("/v1/results")
        assert answer.status_code == 401 and answer.json()["error"] == "UnauthorizedError"
        assert answer.headers["www-authenticate"].startswith("Bearer")
        wrong = anonymous.get("/v1/results", headers={"Authorization": "Bearer not-the-token-at-all"})
        assert wrong.status_code == 401
        assert anonymous.get("/healthz").status_code == 200  # health and the page need no token
        assert anonymous.get("/v1/info").json()["auth_required"] is True
        assert anonymous.get("/").status_code == 200


def test_a_slice_is_assessed_and_stored(server, sample_slices: list[Path]) -> None:
    answer = server.client.post("/v1/assess", files={"file": ("one.dcm", sample_slices[0].read_bytes())})
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["status"] == "done" and record["result"]["kind"] == "slice"
    assert record["result"]["path"] == "one.dcm"  # the client's label, never the server's path
    assert str(server.service.data_dir) not in answer.text
    assert server.client.get(f"/v1/results/{record['id']}").json()["result"] == record["result"]
    png = server.client.get(f"/v1/results/{record['id']}/slices/0.png", params={"window": "lung"})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert server.client.get(f"/v1/results/{record['id']}/slices/5.png").status_code == 404
    bad = server.client.get(f"/v1/results/{record['id']}/slices/0.png", params={"window": "nope"})
    assert bad.status_code == 400 and bad.json()["error"] == "UnknownNameError"


def test_an_oversized_upload_gets_413_naming_the_limit(server) -> None:
    answer = server.client.post("/v1/assess", files={"file": ("big.png", _png(8, 8) + bytes(3 * 1024 * 1024))})
    assert answer.status_code == 413
    body = answer.json()
    assert body["error"] == "UploadTooLargeError" and body["limit"]["name"] == "max_upload_mb"
    assert body["limit"]["value"] == 2


def test_an_image_over_the_dimension_limit_gets_422(server) -> None:
    answer = server.client.post("/v1/assess", files={"file": ("wide.png", _png(4100, 2))})
    assert answer.status_code == 422 and answer.json()["limit"]["name"] == "max_image_side_px"


def test_a_zip_bomb_gets_413(server) -> None:
    bomb = zip_bytes({"zeros.dcm": bytes(40 * 1024 * 1024)}, compression=zipfile.ZIP_DEFLATED)
    answer = server.client.post("/v1/assess", files={"file": ("series.zip", bomb)})
    assert answer.status_code == 413 and answer.json()["limit"]["name"] == "max_zip_ratio"


def test_zip_slip_gets_422(server, sample_slices: list[Path]) -> None:
    data = zip_bytes({"../../outside.dcm": sample_slices[0].read_bytes()})
    answer = server.client.post("/v1/assess", files={"file": ("series.zip", data)})
    assert answer.status_code == 422 and answer.json()["error"] == "UnsafeArchiveError"


def test_wrong_magic_bytes_get_415_whatever_the_name(server) -> None:
    answer = server.client.post("/v1/assess", files={"file": ("scan.dcm", b"<html>not an image</html>" * 10)})
    assert answer.status_code == 415 and answer.json()["error"] == "UploadRejectedError"


def test_a_damaged_dicom_is_a_4xx_json_error_not_a_traceback(server, sample_slices: list[Path]) -> None:
    data = sample_slices[0].read_bytes()[:4000]  # the header and a little pixel data
    answer = server.client.post("/v1/assess", files={"file": ("cut.dcm", data)})
    assert 400 <= answer.status_code < 500, answer.text
    body = answer.json()
    assert set(body) >= {"error", "message", "hint"} and "Traceback" not in answer.text
    assert str(server.service.data_dir) not in answer.text


def test_describe_without_a_vlm_is_503(server, sample_slices: list[Path]) -> None:
    answer = server.client.post("/v1/describe", files={"file": ("one.dcm", sample_slices[0].read_bytes())})
    assert answer.status_code == 503 and answer.json()["error"] == "FeatureUnavailableError"


def test_a_full_queue_gets_429_with_retry_after(tmp_path: Path, sample_zip: bytes) -> None:
    with running_server(tmp_path, workers=1, queue_size=0, measures=True) as busy:
        first = busy.client.post("/v1/assess", files={"file": ("series.zip", sample_zip)})
        assert first.status_code == 202
        second = busy.client.post("/v1/assess", files={"file": ("series.zip", sample_zip)})
        assert second.status_code == 429, second.text
        assert int(second.headers["retry-after"]) >= 1
        assert second.json()["limit"]["name"] == "queue_size"
        history = busy.client.get("/v1/results").json()
        assert [item["id"] for item in history["items"]] == [first.json()["id"]]  # nothing stored of the refused one



def test_a_streamed_body_without_length_is_cut_off_at_the_limit(server) -> None:
    boundary = "vliqa-test-boundary"

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\n"
               "Content-Type: application/octet-stream\r\n\r\n").encode()
        yield _png(8, 8)
        for _ in range(40):  # 5 MB in 128 kB chunks, no Content-Length (chunked transfer)
            yield bytes(128 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    import httpx

    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as client:
        answer = client.post("/v1/assess", content=body(),
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code == 413 and answer.json()["limit"]["name"] == "max_upload_mb"


def test_an_unexpected_exception_is_a_500_with_an_id_and_no_traceback(server, monkeypatch, caplog) -> None:
    def broken(**kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(server.service.store, "history", broken)
    answer = server.client.get("/v1/results")
    assert answer.status_code == 500
    body = answer.json()
    assert body["error"] == "InternalError" and "internal error (id " in body["message"]
    assert "secret internal detail" not in answer.text and "Traceback" not in answer.text
    error_id = body["message"].split("id ")[1].rstrip(")")
    assert error_id in caplog.text and "secret internal detail" in caplog.text  # the log has it, under the id
    assert server.client.get("/healthz").status_code == 200  # and the connection goes on


def test_the_openapi_description_and_the_docs_page_are_served(server) -> None:
    spec = server.client.get("/openapi.json").json()
    assert {"/v1/assess", "/v1/compare", "/v1/report", "/v1/jobs/{job_id}", "/v1/results"} <= set(spec["paths"])
    page = server.client.get("/docs")
    assert page.status_code == 200 and "/static/api.js" in page.text and "cdn" not in page.text.lower()
    assert "script-src" not in page.headers["content-security-policy"] or "'unsafe-inline'" not in page.headers[
        "content-security-policy"].split("script-src")[-1]
