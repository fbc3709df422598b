"""The /v1 routes: assess, describe, compare, report, results and history, jobs, slices and heatmaps, ask, chat.

A request that creates work stores its uploads, records a job and queues it on the bounded pool. One slice (or a
pair of slices) is answered when done (200); a series answers 202 at once with the job to poll, unless `wait`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from vliqa.assessment import assessment_from_dict
from vliqa.errors import InvalidParameterError
from vliqa.report import build_report, render_html, render_json, render_markdown, render_pdf
from vliqa.serve.errors import FeatureUnavailableError, NotFoundError, UploadRejectedError, status_of_name
from vliqa.serve.imaging import heatmap_png, n_slices, slice_png, window_spec
from vliqa.serve.service import Service, relabel
from vliqa.serve.uploads import StoredUpload, label_of, store_upload

router = APIRouter()
#: Report formats and how each is sent.
REPORT_MEDIA = {"html": ("text/html; charset=utf-8", "html"), "pdf": ("application/pdf", "pdf"),
                "md": ("text/markdown; charset=utf-8", "md"), "json": ("application/json", "json")}
MAX_PAGE = 200


def _service(request: Request) -> Service:
    return request.app.state.service


def chat_available() -> bool:
    """True when the vliqa.chat package (conversations about a result) is installed."""
    try:
        return importlib.util.find_spec("vliqa.chat") is not None and importlib.util.find_spec(
            "vliqa.chat.conversation") is not None
    except ModuleNotFoundError:
        return False


async def _store(service: Service, files: list[UploadFile] | None, role: str,
                 label: str | None = None) -> StoredUpload:
    if not files:
        raise UploadRejectedError(f"no file was sent as '{role}'", hint="send the image as a multipart file field")
    parts = [(f.filename, f.file) for f in files]
    stored = await run_in_threadpool(store_upload, parts, service.data_dir / "uploads", service.settings.limits)
    return dataclasses.replace(stored, label=label_of(label)) if label else stored


def _links(job_id: str) -> dict[str, str]:
    return {"job": f"/v1/jobs/{job_id}", "result": f"/v1/results/{job_id}"}


def job_view(record: dict[str, Any]) -> dict[str, Any]:
    """Gives the job part of a record: status, progress n of N, error, links."""
    return {"id": record["id"], "operation": record["operation"], "status": record["status"],
            "progress": record["progress"], "error": record["error"], "created": record["created"],
            "started": record["started"], "finished": record["finished"], "links": _links(record["id"])}


async def _start(service: Service, operation: str, inputs: list[tuple[str, StoredUpload]], params: dict[str, Any],
                 wait: bool | None) -> JSONResponse:
    job_id, future = await run_in_threadpool(service.submit, operation, inputs, params)
    single = all(u.n_slices == 1 for role, u in inputs if role != "reference")
    if wait or (wait is None and single):
        await asyncio.wrap_future(future)
        record = await run_in_threadpool(service.store.get, job_id)
        if record["status"] == "failed":
            error = record["error"] or {}
            return JSONResponse({**error, "id": job_id, "links": _links(job_id)},
                                status_code=status_of_name(error.get("error")))
        return JSONResponse({**record, "links": _links(job_id)})
    record = await run_in_threadpool(service.store.get, job_id)
    return JSONResponse(job_view(record), status_code=202, headers={"Location": f"/v1/jobs/{job_id}"})


@router.post("/assess", tags=["assess"], summary="Assess one image or series (score, aspects, uncertainty, ...)")
async def assess(request: Request, file: list[UploadFile] = File(..., description="DICOM file(s), a zip of a "
                                                                    "DICOM series, NIfTI (.nii/.nii.gz), PNG or TIFF"),
                 reference: list[UploadFile] | None = File(None, description="Judge against this image (full-ref.)"),
                 measures: bool | None = Form(None, description="Add the physics measures (server default if unset)"),
                 wait: bool | None = Form(None, description="Answer when done (default: only for one slice)"),
                 label: str | None = Form(None, max_length=400, description="A name to show (e.g. the folder's)")
                 ) -> JSONResponse:
    service = _service(request)
    service.pool.check_room()  # 429 before the upload is stored
    inputs = [("image", await _store(service, file, "file", label))]
    if reference:
        inputs.append(("reference", await _store(service, reference, "reference")))
    return await _start(service, "assess", inputs, {"measures": measures}, wait)


@router.post("/describe", tags=["assess"], summary="Assess with the description written by the quality VLM")
async def describe(request: Request, file: list[UploadFile] = File(...), measures: bool | None = Form(None),
                   wait: bool | None = Form(None), label: str | None = Form(None, max_length=400)) -> JSONResponse:
    service = _service(request)
    service.assessor(vlm=True)
    service.pool.check_room()
    return await _start(service, "describe", [("image", await _store(service, file, "file", label))],
                        {"measures": measures}, wait)


@router.post("/compare", tags=["assess"], summary="Which of two images is better (A, B or tie), how sure, and why")
async def compare(request: Request, a: list[UploadFile] = File(...), b: list[UploadFile] = File(...),
                  reference: list[UploadFile] | None = File(None), wait: bool | None = Form(None),
                  label_a: str | None = Form(None, max_length=400), label_b: str | None = Form(None, max_length=400)
                  ) -> JSONResponse:
    service = _service(request)
    service.assessor(vlm=True)  # 503 before the uploads are stored when there is no VLM
    service.pool.check_room()
    inputs = [("a", await _store(service, a, "a", label_a)), ("b", await _store(service, b, "b", label_b))]
    if reference:
        inputs.append(("reference", await _store(service, reference, "reference")))
    return await _start(service, "compare", inputs, {"measures": False}, wait)


@router.get("/jobs/{job_id}", tags=["results"], summary="A job's progress: queued, running n of N, done, failed")
async def job(request: Request, job_id: str) -> dict[str, Any]:
    return job_view(await run_in_threadpool(_service(request).store.get, job_id))


@router.get("/results/{job_id}", tags=["results"], summary="A stored result with its inputs' metadata")
async def result(request: Request, job_id: str) -> dict[str, Any]:
    record = await run_in_threadpool(_service(request).store.get, job_id)
    return {**record, "links": _links(job_id)}


@router.get("/results", tags=["results"], summary="History of past results, newest first (paged)")
async def results(request: Request, limit: int = Query(20, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0),
                  status: str | None = Query(None, pattern="^(queued|running|done|failed)$")) -> dict[str, Any]:
    items, total = await run_in_threadpool(_service(request).store.history, limit=limit, offset=offset, status=status)
    following = offset + len(items)
    return {"items": items, "total": total, "limit": limit, "offset": offset,
            "next": f"/v1/results?limit={limit}&offset={following}" if following < total else None}


# ------------------------------------------------------------ the slice viewer


def _slice_index(service: Service, job_id: str, role: str, index: int) -> Any:
    record = service.done_record(job_id)
    image = service.image(job_id, role)
    if not 0 <= index < n_slices(image):
        raise NotFoundError(f"slice {index} does not exist; the image has {n_slices(image)} slice(s)")
    return record, image


@router.get("/results/{job_id}/slices/{index}.png", tags=["viewer"], summary="One slice as PNG under a window",
            response_class=Response, responses={200: {"content": {"image/png": {}}}})
async def slice_image(request: Request, job_id: str, index: int, window: str | None = Query(
        None, description="soft_tissue (default), lung, bone, brain, any vliqa preset, dicom, or LEVEL,WIDTH"),
                      role: str = Query("image", pattern="^(image|a|b|reference)$")) -> Response:
    service = _service(request)
    window_spec(window)  # an unknown window is refused before any work

    def render() -> bytes:
        _, image = _slice_index(service, job_id, role, index)
        return slice_png(image, index, window)

    return Response(await run_in_threadpool(render), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=3600"})


@router.get("/results/{job_id}/heatmaps/{index}.png", tags=["viewer"], response_class=Response,
            summary="The model's heatmap of one slice, as a transparent overlay PNG",
            responses={200: {"content": {"image/png": {}}}})
async def heatmap_image(request: Request, job_id: str, index: int,
                        role: str = Query("image", pattern="^(image|a|b)$")) -> Response:
    service = _service(request)

    def render() -> tuple[bytes, str]:
        record, image = _slice_index(service, job_id, role, index)
        found = record["result"] or {}
        one = found["slices"][index] if found.get("kind") == "volume" else found
        aspects = {k: float(v) for k, v in (one.get("aspects") or {}).items()}
        return heatmap_png(service.assessor(vlm=False).predictor, image, index, aspects)

    png, kind = await run_in_threadpool(render)
    return Response(png, media_type="image/png", headers={"X-Heatmap-Kind": kind,
                                                          "Cache-Control": "private, max-age=3600"})


# ------------------------------------------------------------ reports


def _render_report(service: Service, job_id: str, fmt: str) -> bytes:
    record = service.done_record(job_id)
    if record["operation"] not in ("assess", "describe"):
        raise NotFoundError(f"result '{job_id}' is a {record['operation']}; reports are of assessments",
                            hint="ask for the report of an assess or describe result")
    result = assessment_from_dict(record["result"])
    image = service.image(job_id, "image")
    report = build_report(result, image, assessor=service.assessor(vlm=False))
    if fmt == "html":
        return render_html(report).encode()
    if fmt == "md":
        return render_markdown(report).encode()
    if fmt == "json":
        return render_json(report).encode()
    with tempfile.TemporaryDirectory(prefix="vliqa-report-") as tmp:
        return render_pdf(report, Path(tmp) / "report.pdf").read_bytes()


async def _report_response(service: Service, job_id: str, fmt: str, download: bool) -> Response:
    media, suffix = REPORT_MEDIA[fmt]
    body = await asyncio.wrap_future(service.pool.submit(_render_report, service, job_id, fmt))
    disposition = "attachment" if download else "inline"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'{disposition}; filename="vliqa-report-{job_id[:12]}.{suffix}"',
        "X-Result-Id": job_id})


FORMAT_PATTERN = "^(html|pdf|md|json)$"


@router.get("/results/{job_id}/report", tags=["reports"], summary="The quality report of a stored assessment",
            response_class=Response)
async def result_report(request: Request, job_id: str, format: str = Query("html", pattern=FORMAT_PATTERN),
                        download: bool = Query(False)) -> Response:
    return await _report_response(_service(request), job_id, format, download)


@router.post("/report", tags=["reports"], response_class=Response,
             summary="A quality report: of a stored result (result_id), or of an uploaded image (assessed first)")
async def report(request: Request, format: str = Form("html", pattern=FORMAT_PATTERN),
                 result_id: str | None = Form(None), file: list[UploadFile] | None = File(None),
                 download: bool = Form(True)) -> Response:
    service = _service(request)
    if (result_id is None) == (not file):
        raise InvalidParameterError("send either a file or a result_id",
                                    hint="result_id: the id of a done assess or describe result")
    if result_id is None:
        job_id, future = await run_in_threadpool(service.submit, "assess", [
            ("image", await _store(service, file, "file"))], {"measures": None})
        await asyncio.wrap_future(future)
        result_id = job_id
    return await _report_response(service, result_id, format, download)


# ------------------------------------------------------------ questions and chat


class Question(BaseModel):
    question: str = Field(..., min_length=1, max_length=2000, description="A free question about image quality")


@router.post("/results/{job_id}/ask", tags=["assess"], summary="Ask the quality VLM a question about a result's image")
async def ask(request: Request, job_id: str, body: Question) -> dict[str, Any]:
    service = _service(request)
    assessor = service.assessor(vlm=True)

    def answer() -> dict[str, Any]:
        record = service.done_record(job_id)
        if record["operation"] == "compare":
            raise NotFoundError("questions are about one image; this result is a comparison",
                                hint="ask about an assess or describe result")
        image = service.image(job_id, "image")
        labels = {i["role"]: i["label"] for i in record["inputs"]}
        return relabel(assessor.ask(image, body.question), labels).to_dict()

    return await asyncio.wrap_future(service.pool.submit(answer))


class ChatMessage(BaseModel):
    text: str = Field(..., min_length=1, max_length=4000)
    result_id: str | None = Field(None, description="The result the conversation is about (to start one)")
    conversation_id: str | None = Field(None, description="Go on with this conversation")


@router.post("/chat", tags=["assess"], summary="Chat about a result (needs the vliqa.chat package)")
async def chat(request: Request, body: ChatMessage) -> dict[str, Any]:
    service = _service(request)
    if not chat_available():
        raise FeatureUnavailableError("this server has no chat (the vliqa.chat package is not installed)",
                                      hint="ask single questions with POST /v1/results/{id}/ask")
    from vliqa.serve.chat import send  # lazy: vliqa.chat is optional

    return await asyncio.wrap_future(service.pool.submit(send, service, body.text, body.result_id,
                                                         body.conversation_id))


@router.get("/chat/{conversation_id}", tags=["assess"], summary="A stored conversation's turns")
async def chat_history(request: Request, conversation_id: str) -> dict[str, Any]:
    if not chat_available():
        raise FeatureUnavailableError("this server has no chat (the vliqa.chat package is not installed)")
    from vliqa.serve.chat import history  # lazy: vliqa.chat is optional

    return await run_in_threadpool(history, _service(request), conversation_id)
