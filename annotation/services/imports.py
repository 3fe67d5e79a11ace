"""Import jobs: store an uploaded file, then check and load it in the background, all or nothing.

``import_job_create`` runs in the web request: it checks the extension, the size and the first bytes,
streams the upload to ``MEDIA_ROOT/imports/`` and queues the job on commit. ``import_job_run`` runs in
the worker, in two passes over the stored file:

1. check every row (streaming; progress is visible as it goes). Any error fails the job with the
   first 50 errors, each naming its line and field, and nothing is written;
2. write every row in one transaction, in batches of bulk inserts (``imports_write``), so a crash or
   a database error part-way leaves nothing behind either.

Limits, read at call time: ``IMPORT_MAX_FILE_BYTES`` (default 200 MB) and ``IMPORT_MAX_RECORD_BYTES``
(default 1 MB per line/row).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from annotation.imports.parsers import parquet_row_count, sniff
from annotation.imports.pipeline import RowChecker
from annotation.imports.records import EXTENSIONS, FileFormat, RowError, Shape
from annotation.imports.shapes import Target, shape_refusal
from annotation.models_imports import MAX_STORED_ERRORS, ImportJob, ImportPhase, ImportStatus
from annotation.schemas import FieldError, SchemaError, responses_per_item
from annotation.services.imports_write import BatchWriter
from core.db import connection_reset_if_dropped
from core.models import Project, User

logger = logging.getLogger(__name__)

BATCH_ROWS = 2_000
# A running job whose heartbeat is older than this was lost with its worker (the write transaction
# died with it, so nothing was written) and may be claimed again by a redelivered task.
STALE_AFTER = timedelta(minutes=30)
_PROGRESS_EVERY_S = 0.5
_SNIFF_BYTES = 4_096


def max_file_bytes() -> int:
    return int(getattr(settings, "IMPORT_MAX_FILE_BYTES", 200 * 1024 * 1024))


def max_record_bytes() -> int:
    return int(getattr(settings, "IMPORT_MAX_RECORD_BYTES", 1024 * 1024))


def import_target(project: Project) -> Target:
    return Target(kind=project.task_kind, responses_per_item=responses_per_item(project.task_kind, project.task_config))


def _refuse(field_name: str, message: str) -> SchemaError:
    return SchemaError([FieldError(field_name, message)])


def _file_ends(uploaded_file: UploadedFile[bytes], size: int) -> tuple[bytes, bytes]:
    uploaded_file.seek(0)
    head = uploaded_file.read(_SNIFF_BYTES)
    uploaded_file.seek(max(size - 8, 0))
    tail = uploaded_file.read(8)
    uploaded_file.seek(0)
    return head, tail


def import_job_create(
    *, project: Project, user: User | None, uploaded_file: UploadedFile[bytes], shape: Shape | str | None = None
) -> ImportJob:
    """Store ``uploaded_file`` and queue its import into ``project``; SchemaError ('file', 'shape') if refused.

    The caller has checked that ``user`` is an admin of ``project``. The task is enqueued only when
    the job row is committed, so the worker never looks for a row that is not there yet.
    """
    name = uploaded_file.name or ""
    suffix = Path(name).suffix.lower()
    fmt = EXTENSIONS.get(suffix)
    if fmt is None:
        raise _refuse("file", f"accepted files: {', '.join(EXTENSIONS)}; '{name}' is none of these")
    limit = max_file_bytes()
    size = uploaded_file.size or 0
    if size > limit:
        raise _refuse("file", f"the file is {size:,} bytes; the limit is {limit:,}")
    chosen = None
    if shape:
        try:
            chosen = Shape(shape)
        except ValueError:
            raise _refuse("shape", f"unknown shape '{shape}'") from None
        refusal = shape_refusal(chosen, import_target(project))
        if refusal is not None:
            raise _refuse("shape", refusal.message)
    problem = sniff(fmt, *_file_ends(uploaded_file, size))
    if problem:
        raise _refuse("file", problem)

    relative = f"imports/{uuid.uuid4().hex}{suffix}"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        written = 0
        with path.open("xb") as out:
            for chunk in uploaded_file.chunks():
                written += len(chunk)
                if written > limit:  # the declared size may be wrong: count what actually arrives
                    raise _refuse("file", f"the file is larger than the limit of {limit:,} bytes")
                out.write(chunk)
        with transaction.atomic():
            job = ImportJob.objects.create(
                project=project,
                created_by=user,
                original_filename=name[:255],
                file_path=relative,
                file_size=written,
                format=fmt,
                shape=chosen or "",
            )
            # Imported here, not at the top: the task module imports this one.
            from annotation.imports.tasks import run_import

            run_import.delay_on_commit(job.pk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return job


# --- The job ------------------------------------------------------------------------------------------


@dataclass
class _CheckResult:
    rows: int = 0
    shape: Shape | None = None
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)


def _claim(job_id: int) -> bool:
    """queued -> running by one conditional UPDATE: of two runs of the same task, one wins."""
    now = timezone.now()
    claimable = Q(status=ImportStatus.QUEUED) | Q(status=ImportStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    claimed = ImportJob.objects.filter(claimable, pk=job_id).update(
        status=ImportStatus.RUNNING,
        phase=ImportPhase.CHECKING,
        started_at=now,
        heartbeat_at=now,
        rows_read=0,
        rows_written=0,
        error_count=0,
        errors=[],
    )
    return claimed == 1


def _finish_failed(job: ImportJob, errors: Sequence[RowError], error_count: int, rows: int) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.FAILED,
        phase=ImportPhase.WAITING,
        rows_read=rows,
        error_count=error_count,
        errors=[e.as_dict() for e in errors[:MAX_STORED_ERRORS]],
        finished_at=timezone.now(),
    )


def _check(job: ImportJob, path: Path, target: Target) -> _CheckResult:
    """Pass 1: read and check every row, saving progress every half second (autocommit)."""
    fmt = FileFormat(job.format)
    checker = RowChecker(
        fmt=fmt, target=target, shape=Shape(job.shape) if job.shape else None, max_record_bytes=max_record_bytes()
    )
    result = _CheckResult()
    size = path.stat().st_size
    with path.open("rb") as stream:
        exact_total = parquet_row_count(stream) if fmt == FileFormat.PARQUET else None
        stream.seek(0)
        last_save = time.monotonic()
        for row in checker.rows(stream):
            if not row.fatal:
                result.rows += 1
            result.error_count += len(row.errors)
            result.errors += row.errors[: max(MAX_STORED_ERRORS - len(result.errors), 0)]
            if time.monotonic() - last_save >= _PROGRESS_EVERY_S:
                last_save = time.monotonic()
                # Until every row is counted, estimate the total from the share of bytes read.
                estimate = exact_total or (round(result.rows * size / row.offset) if row.offset else None)
                ImportJob.objects.filter(pk=job.pk).update(
                    rows_read=result.rows,
                    total_rows=max(estimate or 0, result.rows) or None,
                    heartbeat_at=timezone.now(),
                )
    result.shape = checker.shape
    return result


class _WriteProgress:
    """Rows written so far, visible to the job page while the write transaction is still open.

    The write pass is one transaction (all or nothing), so anything it writes, progress included,
    stays invisible until it commits. On Postgres a second connection, in autocommit, reports the
    progress (and the heartbeat) beside it. SQLite allows one writer at a time and the import holds
    that lock, so there the page shows an indeterminate "writing" bar until the commit.
    """

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.connection = connections.create_connection(DEFAULT_DB_ALIAS) if connection.vendor == "postgresql" else None

    def report(self, rows_written: int) -> None:
        if self.connection is None:
            return
        quote = self.connection.ops.quote_name
        # Names come from the model, values are parameters: nothing here is user input.
        sql = (
            f"UPDATE {quote(ImportJob._meta.db_table)} SET {quote('rows_written')} = %s, "  # noqa: S608  # nosec
            f"{quote('heartbeat_at')} = %s WHERE {quote('id')} = %s"
        )
        with self.connection.cursor() as cursor:
            cursor.execute(sql, [rows_written, timezone.now(), self.job_id])

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def _write(job: ImportJob, path: Path, target: Target, shape: Shape, rows: int) -> None:
    """Pass 2: every row in one transaction; the job is marked succeeded in that same transaction."""
    progress = _WriteProgress(job.pk)
    checker = RowChecker(fmt=FileFormat(job.format), target=target, shape=shape, max_record_bytes=max_record_bytes())
    try:
        with transaction.atomic(), path.open("rb") as stream:
            # Serialises imports into one project (see imports_write); ordinary reads and inserts that
            # reference the project are not blocked by a FOR NO KEY UPDATE lock.
            project = Project.objects.select_for_update(no_key=True).get(pk=job.project_id)
            writer = BatchWriter(project=project, job_id=job.pk, shape=shape)
            batch = []
            for row in checker.rows(stream):
                if row.record is None:  # pass 1 accepted this file: it changed on disk since
                    raise RuntimeError(f"import {job.pk}: row {row.line} no longer checks out")
                batch.append(row.record)
                if len(batch) >= BATCH_ROWS:
                    writer.write(batch)
                    batch = []
                    progress.report(writer.counts.rows)
            if batch:
                writer.write(batch)
            counts = asdict(writer.counts)
            written = counts.pop("rows")
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportStatus.SUCCEEDED,
                phase=ImportPhase.WAITING,
                rows_read=rows,
                rows_written=written,
                total_rows=rows,
                finished_at=timezone.now(),
                **counts,
            )
    finally:
        progress.close()


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued import to its end (succeeded or failed); None when this call did not claim it.

    Safe to call twice: a job that is running (with a fresh heartbeat) or finished is left alone.
    Must not run inside a transaction: progress has to be committed as it goes.
    """
    if not _claim(job_id):
        return None
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    path = Path(settings.MEDIA_ROOT) / job.file_path
    try:
        if not path.is_file():
            _finish_failed(job, [RowError(None, "", "the uploaded file is gone; upload it again")], 1, 0)
            return ImportJob.objects.get(pk=job_id)
        target = import_target(job.project)
        checked = _check(job, path, target)
        if checked.error_count or checked.shape is None:
            _finish_failed(job, checked.errors, checked.error_count, checked.rows)
        else:
            ImportJob.objects.filter(pk=job.pk).update(
                shape=checked.shape,
                phase=ImportPhase.WRITING,
                rows_read=checked.rows,
                total_rows=checked.rows,
                heartbeat_at=timezone.now(),
            )
            _write(job, path, target, checked.shape, checked.rows)
    except Exception:
        logger.exception("import %s stopped on an unexpected error", job_id)
        connection_reset_if_dropped()  # the error may be the connection itself: still record the failure
        message = "the import stopped on an unexpected error; nothing was written (the error is in the worker log)"
        _finish_failed(job, [RowError(None, "", message)], 1, 0)
        raise
    finally:
        # The rows are in the database (or the job failed): the upload is not needed any more.
        if ImportJob.objects.filter(pk=job_id, status__in=[ImportStatus.SUCCEEDED, ImportStatus.FAILED]).exists():
            path.unlink(missing_ok=True)
    return ImportJob.objects.get(pk=job_id)
