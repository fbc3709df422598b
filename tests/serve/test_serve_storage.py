"""The service's database: a job's life in one-transaction steps, history pages, a stopped server's jobs queued
again, conversations. SQLite always; PostgreSQL too when VLIQA_TEST_POSTGRES_URL names an empty database."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import pytest

from vliqa.serve.errors import NotFoundError
from vliqa.serve.settings import Limits
from vliqa.serve.storage import MAX_ATTEMPTS, Store
from vliqa.serve.uploads import store_upload

URLS = ["sqlite"] + (["postgres"] if os.environ.get("VLIQA_TEST_POSTGRES_URL") else [])


@pytest.fixture(params=URLS)
def store(request, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}" if request.param == "sqlite" else os.environ[
        "VLIQA_TEST_POSTGRES_URL"]
    s = Store(url, tmp_path)
    yield s
    if request.param == "postgres":
        from vliqa.serve.storage import Base

        Base.metadata.drop_all(s.engine)
    s.close()


@pytest.fixture
def upload(tmp_path: Path, sample_slices: list[Path]):
    return store_upload([("slice.dcm", io.BytesIO(sample_slices[0].read_bytes()))], tmp_path / "uploads", Limits())


def test_a_job_goes_from_queued_to_done_with_its_result(store: Store, upload) -> None:
    job = store.create("assess", [("image", upload)], {"measures": False}, total=1)
    assert store.get(job)["status"] == "queued" and store.get(job)["result"] is None
    store.start(job)
    assert store.get(job)["status"] == "running"
    store.finish(job, {"kind": "slice", "score": 2.5}, kind="slice", score=2.5, level="fair")
    record = store.get(job)
    assert record["status"] == "done" and record["result"]["score"] == 2.5 and record["progress"]["done"] == 1
    assert record["inputs"][0]["sha256"] == upload.sha256 and "stored_path" not in record["inputs"][0]
    assert store.input_paths(job)["image"] == upload.path


def test_a_failed_job_keeps_its_error(store: Store, upload) -> None:
    job = store.create("assess", [("image", upload)], {}, total=1)
    store.fail(job, {"error": "CorruptFileError", "message": "truncated", "hint": "send it again"})
    assert store.get(job)["error"]["error"] == "CorruptFileError" and store.get(job)["status"] == "failed"


def test_history_pages_newest_first(store: Store, upload) -> None:
    jobs = [store.create("assess", [("image", upload)], {}, total=1) if i == 0 else store.create(
        "assess", [], {}, total=1) for i in range(5)]
    items, total = store.history(limit=2, offset=0)
    assert total == 5 and [i["id"] for i in items] == jobs[::-1][:2]
    items, _ = store.history(limit=2, offset=4)
    assert [i["id"] for i in items] == [jobs[0]]


def test_jobs_a_stopped_server_left_run_again_until_the_attempts_run_out(store: Store, upload) -> None:
    job = store.create("assess", [("image", upload)], {}, total=20)
    for _ in range(MAX_ATTEMPTS):
        store.start(job)
        store.progress(job, 8, 20)
        assert store.requeue_interrupted() in ([job], [])
    assert store.get(job)["status"] == "failed" and store.get(job)["error"]["error"] == "Interrupted"


def test_unknown_ids_are_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get(uuid.uuid4().hex)
    with pytest.raises(NotFoundError):
        store.conversation("nope")


def test_a_conversation_is_saved_and_replaced(store: Store, upload) -> None:
    job = store.create("assess", [("image", upload)], {}, total=1)
    cid = store.save_conversation(None, job, {"turns": [1]})
    store.save_conversation(cid, job, {"turns": [1, 2]})
    assert store.conversation(cid) == (job, {"turns": [1, 2]})
