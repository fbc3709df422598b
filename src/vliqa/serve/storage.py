"""Results, jobs and upload metadata in a database (SQLAlchemy): SQLite by default, PostgreSQL by URL.

One row per request in `results` (its job state, progress, and at the end its result or error as JSON), one row per
stored upload in `uploads`, one row per chat in `conversations`. Every write is one transaction, so a row is never
seen half written: a result appears with its status "done" and its JSON together, or not at all.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from vliqa.errors import DependencyUnavailableError, InvalidParameterError
from vliqa.serve.errors import NotFoundError
from vliqa.serve.uploads import StoredUpload

#: The states of a job, in order; "done" and "failed" are final.
STATUSES = ("queued", "running", "done", "failed")
#: A job that was interrupted this many times (a server stopped or killed while it ran) is failed, not run again.
MAX_ATTEMPTS = 3


class Base(DeclarativeBase):
    pass


class ResultRow(Base):
    __tablename__ = "results"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    operation: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    label: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[str] = mapped_column(String(40), index=True)
    started_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    finished_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    #: "slice", "volume", "comparison"; known once done
    kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    level: Mapped[str | None] = mapped_column(String(32), nullable=True)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class UploadRow(Base):
    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    result_id: Mapped[str] = mapped_column(String(32), ForeignKey("results.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(400))
    n_files: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    columns: Mapped[int] = mapped_column(Integer)
    n_slices: Mapped[int] = mapped_column(Integer)
    #: where the server stored it, relative to its data folder (never shown to a client)
    stored_path: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[str] = mapped_column(String(40))


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    result_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("results.id"), nullable=True, index=True)
    state_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[str] = mapped_column(String(40))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers never wait on the writer; FULL: a committed result survives a killed process and a power cut
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Gives an engine for a database URL (sqlite:///path, postgresql://...), its tables created."""
    try:
        if url.startswith("sqlite"):
            if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
                Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        Base.metadata.create_all(engine)
    except ArgumentError as exc:
        raise InvalidParameterError(f"'{url}' is not a database URL", hint="use sqlite:///path/to/file.db or "
                                    "postgresql://user@host/db") from exc
    except ModuleNotFoundError as exc:
        raise DependencyUnavailableError(f"the database driver for '{url.split(':')[0]}' is not installed ({exc})",
                                         hint="pip install psycopg[binary] for PostgreSQL") from exc
    except OperationalError as exc:
        raise InvalidParameterError(f"cannot open the database ({exc.orig})",
                                    hint="check the --db URL and that the folder is writable") from exc
    return engine


def _record(row: ResultRow, uploads: list[UploadRow]) -> dict[str, Any]:
    """Gives a result row as the JSON a client sees."""
    return {
        "id": row.id, "operation": row.operation, "status": row.status, "label": row.label, "kind": row.kind,
        "created": row.created_at, "started": row.started_at, "finished": row.finished_at,
        "progress": {"done": row.progress_done, "total": row.progress_total},
        "score": row.score, "level": row.level, "params": json.loads(row.params_json or "{}"),
        "inputs": [{"role": u.role, "format": u.format, "label": u.label, "n_files": u.n_files,
                    "size_bytes": u.size_bytes, "sha256": u.sha256, "rows": u.rows, "columns": u.columns,
                    "n_slices": u.n_slices} for u in uploads],
        "result": json.loads(row.result_json) if row.result_json else None,
        "error": json.loads(row.error_json) if row.error_json else None,
    }


class Store:
    """The service's database: create, advance and read jobs and their results."""

    def __init__(self, url: str, data_dir: Path):
        self.url, self.data_dir = url, Path(data_dir)
        self.engine = make_engine(url)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self._session() as s:
                s.execute(select(1))
            return True
        except OperationalError:
            return False

    def create(self, operation: str, inputs: list[tuple[str, StoredUpload]], params: dict[str, Any],
               total: int) -> str:
        """Records a new queued job with its uploads (one transaction); gives its id."""
        job_id, created = uuid.uuid4().hex, now()
        label = " vs ".join(u.label for role, u in inputs if role != "reference") or operation
        with self._session.begin() as s:
            s.add(ResultRow(id=job_id, operation=operation, status="queued", label=label[:400], created_at=created,
                            progress_total=total, params_json=json.dumps(params)))
            s.flush()
            for role, u in inputs:
                s.add(UploadRow(id=u.id, result_id=job_id, role=role, format=u.format, label=u.label,
                                n_files=u.n_files, size_bytes=u.size_bytes, sha256=u.sha256, rows=u.rows,
                                columns=u.columns, n_slices=u.n_slices, created_at=created,
                                stored_path=u.path.relative_to(self.data_dir).as_posix()))
        return job_id

    def _update(self, job_id: str, **values: Any) -> None:
        with self._session.begin() as s:
            s.execute(update(ResultRow).where(ResultRow.id == job_id).values(**values))

    def start(self, job_id: str) -> None:
        with self._session.begin() as s:
            row = s.get(ResultRow, job_id)
            if row is not None:
                row.status, row.started_at, row.attempts, row.progress_done = "running", now(), row.attempts + 1, 0

    def progress(self, job_id: str, done: int, total: int) -> None:
        self._update(job_id, progress_done=done, progress_total=total)

    def finish(self, job_id: str, result: dict[str, Any], *, kind: str, score: float | None,
               level: str | None) -> None:
        """Stores a job's result and marks it done, in one transaction."""
        self._update(job_id, status="done", finished_at=now(), result_json=json.dumps(result), kind=kind,
                     score=score, level=level, error_json=None, progress_done=ResultRow.progress_total)

    def fail(self, job_id: str, error: dict[str, Any]) -> None:
        self._update(job_id, status="failed", finished_at=now(), error_json=json.dumps(error))

    def requeue_interrupted(self) -> list[str]:
        """Gives the jobs a stopped server left queued or running, set back to queued (to run again); a job
        interrupted MAX_ATTEMPTS times is failed instead."""
        again = []
        with self._session.begin() as s:
            rows = s.scalars(select(ResultRow).where(ResultRow.status.in_(("queued", "running")))
                             .order_by(ResultRow.created_at)).all()
            for row in rows:
                if row.attempts >= MAX_ATTEMPTS:
                    row.status, row.finished_at = "failed", now()
                    row.error_json = json.dumps({"error": "Interrupted", "message": f"the job was interrupted "
                                                 f"{row.attempts} times", "hint": "submit it again"})
                else:
                    row.status, row.progress_done = "queued", 0
                    again.append(row.id)
        return again

    def get(self, job_id: str) -> dict[str, Any]:
        with self._session() as s:
            row = s.get(ResultRow, job_id)
            if row is None:
                raise NotFoundError(f"no result with id '{job_id[:64]}'", hint="GET /v1/results lists them")
            uploads = s.scalars(select(UploadRow).where(UploadRow.result_id == job_id).order_by(UploadRow.role)).all()
            return _record(row, list(uploads))

    def operation(self, job_id: str) -> tuple[str, dict[str, Any]]:
        record = self.get(job_id)
        return record["operation"], record["params"]

    def input_paths(self, job_id: str) -> dict[str, Path]:
        """Gives where each input of a job is stored, by role ("image", "a", "b", "reference")."""
        with self._session() as s:
            uploads = s.scalars(select(UploadRow).where(UploadRow.result_id == job_id)).all()
            return {u.role: self.data_dir / u.stored_path for u in uploads}

    def history(self, *, limit: int, offset: int, status: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """Gives a page of results, newest first, without their full JSON, and the total count."""
        query = select(ResultRow)
        count = select(func.count()).select_from(ResultRow)
        if status is not None:
            query, count = query.where(ResultRow.status == status), count.where(ResultRow.status == status)
        with self._session() as s:
            total = int(s.scalar(count) or 0)
            rows = s.scalars(query.order_by(ResultRow.created_at.desc(), ResultRow.id).limit(limit)
                             .offset(offset)).all()
            return [{"id": r.id, "operation": r.operation, "status": r.status, "label": r.label, "kind": r.kind,
                     "score": r.score, "level": r.level, "created": r.created_at, "finished": r.finished_at}
                    for r in rows], total

    # ------------------------------------------------------------ conversations

    def save_conversation(self, conversation_id: str | None, result_id: str | None, state: dict[str, Any]) -> str:
        """Creates or replaces a conversation's state (one transaction); gives its id."""
        with self._session.begin() as s:
            row = s.get(ConversationRow, conversation_id) if conversation_id else None
            if row is None:
                row = ConversationRow(id=conversation_id or uuid.uuid4().hex, result_id=result_id,
                                      state_json="{}", created_at=now(), updated_at=now())
                s.add(row)
            row.state_json, row.updated_at = json.dumps(state), now()
            return row.id

    def conversation(self, conversation_id: str) -> tuple[str | None, dict[str, Any]]:
        with self._session() as s:
            row = s.get(ConversationRow, conversation_id)
            if row is None:
                raise NotFoundError(f"no conversation with id '{conversation_id[:64]}'",
                                    hint="start one without a conversation_id")
            return row.result_id, json.loads(row.state_json)
