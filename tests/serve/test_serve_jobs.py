"""The service with the shipped default model on a real server: the bundled series assessed as a background job with
progress, a slice answered at once, reports, and a restart on the same SQLite file that loses nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from serve_helpers import running_server, test_vlm

pytestmark = pytest.mark.slow


def test_a_zipped_series_runs_as_a_job_with_progress_and_survives_a_restart(tmp_path: Path, sample_zip: bytes,
                                                                           sample_slices: list[Path]) -> None:
    with running_server(tmp_path, model="default", measures=True) as server:
        answer = server.client.post("/v1/assess", files={"file": ("abdomen.zip", sample_zip)})
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        assert answer.headers["location"] == f"/v1/jobs/{job_id}"
        job = server.wait_job(job_id)
        assert job["status"] == "done", job
        done = [d for status, d, _ in job["seen"] if status == "running"]
        assert done == sorted(done) and job["progress"] == {"done": 20, "total": 20}
        record = server.client.get(f"/v1/results/{job_id}").json()
        result = record["result"]
        assert result["kind"] == "volume" and len(result["slices"]) == 20 and result["path"] == "abdomen.zip"
        assert 0.0 <= result["summary"]["mean"] <= 4.0 and record["inputs"][0]["n_slices"] == 20
        assert all(s["measures"] for s in result["slices"])

        one = server.client.post("/v1/assess", files={"file": ("slice.dcm", sample_slices[3].read_bytes())},
                                 data={"measures": "false"})
        assert one.status_code == 200 and one.json()["result"]["level"] in ("bad", "poor", "fair", "good",
                                                                             "excellent")
        heat = server.client.get(f"/v1/results/{job_id}/heatmaps/2.png")
        assert heat.status_code == 200 and heat.content.startswith(b"\x89PNG") and heat.headers["x-heatmap-kind"]
        html = server.client.get(f"/v1/results/{job_id}/report", params={"format": "html"})
        assert html.status_code == 200 and "<html" in html.text.lower() and "abdomen.zip" in html.text
        md = server.client.post("/v1/report", data={"result_id": job_id, "format": "md"})
        assert md.status_code == 200 and md.headers["content-disposition"].startswith("attachment")
        report_json = server.client.get(f"/v1/results/{job_id}/report", params={"format": "json"}).json()
        assert report_json["kind"] == "vliqa_report" and report_json["source"] == "abdomen.zip"

    with running_server(tmp_path, model="default") as again:  # same SQLite file, a new process state
        record_again = again.client.get(f"/v1/results/{job_id}").json()
        assert record_again["result"] == result and record_again["status"] == "done"
        history = again.client.get("/v1/results", params={"limit": 1}).json()
        assert history["total"] == 2 and history["next"] == "/v1/results?limit=1&offset=1"
        png = again.client.get(f"/v1/results/{job_id}/slices/19.png", params={"window": "bone"})
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_a_job_cut_off_by_a_stop_runs_again_at_the_next_start(tmp_path: Path, sample_zip: bytes) -> None:
    with running_server(tmp_path, model="default", measures=True) as server:
        job_id = server.client.post("/v1/assess", files={"file": ("abdomen.zip", sample_zip)}).json()["id"]
        deadline = time.monotonic() + 60
        while server.client.get(f"/v1/jobs/{job_id}").json()["status"] != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        first_start = server.client.get(f"/v1/jobs/{job_id}").json()["started"]
    # the server stopped mid-job: the row says running, nothing half written
    with running_server(tmp_path, model="default", measures=True) as again:
        job = again.wait_job(job_id)
        assert job["status"] == "done", job
        assert job["started"] > first_start  # run again from the start, not left half done
        record = again.client.get(f"/v1/results/{job_id}").json()
        assert len(record["result"]["slices"]) == 20 and json.dumps(record)


@pytest.mark.skipif(test_vlm() is None, reason="the shipped quality VLM (models/vlm/model.safetensors) is absent")
def test_compare_and_ask_with_the_quality_vlm(tmp_path: Path, sample_slices: list[Path]) -> None:
    with running_server(tmp_path, model="default", vlm=test_vlm()) as server:
        answer = server.client.post("/v1/compare", files={"a": ("a.dcm", sample_slices[2].read_bytes()),
                                                          "b": ("b.dcm", sample_slices[3].read_bytes())})
        assert answer.status_code == 200, answer.text
        comparison = answer.json()["result"]
        assert comparison["preferred"] in ("A", "B", "tie") and comparison["a"] == "a.dcm"
        assert comparison["explanation"]
        one = server.client.post("/v1/describe", files={"file": ("s.dcm", sample_slices[5].read_bytes())}).json()
        assert one["result"]["description_source"] == "vlm"
        qa = server.client.post(f"/v1/results/{one['id']}/ask", json={"question": "Is the noise acceptable?"})
        assert qa.status_code == 200 and qa.json()["answer"] and qa.json()["path"] == "s.dcm"
