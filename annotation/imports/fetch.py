"""Import from a URL: the admin pastes a link to a JSONL, CSV or Parquet file instead of uploading it.

Peers shipped blind SSRF exactly here (SECURITY-CASES #4, #5): the server fetched whatever URL it was
given, internal addresses and cloud metadata included. So:

- in the web request, ``import_job_create_from_url`` only checks what needs no network (scheme, port,
  literal and ``localhost`` addresses, the file extension, the shape) and queues the job with the URL;
- in the worker, ``import_job_fetch`` downloads it through ``core.security.outbound.download`` (every
  DNS answer checked, the connection pinned to the checked address, each redirect re-checked, the
  size limit ``IMPORT_MAX_FILE_BYTES`` counted while streaming, a time limit) into the same folder an
  upload goes to, checks its type and first bytes as for an upload, and hands it to the unchanged
  import (``annotation.services.imports.import_job_run``).

Until the file is in place the job stays ``queued`` with an empty ``file_path``. A refused or failed
download ends the job ``failed`` with one error on the ``url`` field that says why, never with
anything the remote server sent. No automatic retry, as for uploads: the admin fixes the link.

Unlike the other modules of this package, this one touches the database and the network: it is the
worker side of URL imports, called by ``annotation.imports.tasks``.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.imports.parsers import sniff
from annotation.imports.records import EXTENSIONS, FileFormat, RowError, Shape
from annotation.imports.shapes import shape_refusal
from annotation.models_imports import ImportJob, ImportPhase, ImportStatus
from annotation.schemas import FieldError, SchemaError
from annotation.services.imports import import_target, max_file_bytes
from core.models import Project, User
from core.security.outbound import OutboundURLError, Policy, download, precheck_url

logger = logging.getLogger(__name__)

MAX_URL_CHARS = 2000
_SNIFF_BYTES = 4_096
# Content types that are never one of our files, whatever the extension says: a login page, an error
# page or a viewer in front of the file (the usual mistake: pasting the link to a page, not the file).
_REFUSED_TYPES = ("text/html", "application/xhtml+xml", "image/", "audio/", "video/", "application/pdf")
_ARCHIVES = ("application/zip", "application/gzip", "application/x-gzip", "application/x-tar", "application/x-7z")


def download_timeout() -> float:
    """Seconds one URL import may take to download (IMPORT_URL_TIMEOUT_SECONDS, default 600)."""
    return float(getattr(settings, "IMPORT_URL_TIMEOUT_SECONDS", 600))


def _refuse(field_name: str, message: str) -> SchemaError:
    return SchemaError([FieldError(field_name, message)])


def url_format(url: str) -> tuple[FileFormat, str]:
    """The format of the file ``url`` names, from its path's extension, and a file name to show."""
    try:
        path = PurePosixPath(unquote(urlsplit(url).path))
    except ValueError:
        raise _refuse("url", "this is not a valid URL") from None
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        accepted = ", ".join(EXTENSIONS)
        raise _refuse("url", f"the URL's path must end in {accepted} (the extension tells the format)")
    return fmt, path.name


def import_job_create_from_url(
    *, project: Project, user: User | None, url: str, shape: Shape | str | None = None
) -> ImportJob:
    """Queue the import of the file at ``url`` into ``project``; SchemaError ('url', 'shape') if refused.

    The caller has checked that ``user`` is an admin of ``project``. Nothing is fetched here: the worker
    downloads the file (``import_job_fetch``) after the job row is committed.
    """
    url = (url or "").strip()
    if not url or len(url) > MAX_URL_CHARS:
        raise _refuse("url", f"give the http(s) URL of the file, at most {MAX_URL_CHARS} characters")
    policy = Policy.from_settings()
    try:
        precheck_url(url, allowed_networks=policy.allowed_networks, allowed_ports=policy.allowed_ports)
    except OutboundURLError as exc:
        raise _refuse("url", str(exc)) from None
    fmt, name = url_format(url)
    chosen = None
    if shape:
        try:
            chosen = Shape(shape)
        except ValueError:
            raise _refuse("shape", f"unknown shape '{shape}'") from None
        refusal = shape_refusal(chosen, import_target(project))
        if refusal is not None:
            raise _refuse("shape", refusal.message)
    with transaction.atomic():
        job = ImportJob.objects.create(
            project=project,
            created_by=user,
            original_filename=(name or url)[:255],
            source_url=url,
            file_path="",  # set by the worker once the file is downloaded
            file_size=0,
            format=fmt,
            shape=chosen or "",
        )
        # Imported here, not at the top: the task module imports this one.
        from annotation.imports.tasks import run_import

        run_import.delay_on_commit(job.pk)
    return job


def _type_refusal(content_type: str) -> str | None:
    media = content_type.split(";", 1)[0].strip().lower()
    if media.startswith(_REFUSED_TYPES):
        return f"the URL returned {media}, not a data file; link the file itself, not a page about it"
    if media.startswith(_ARCHIVES):
        return f"the URL returned a compressed archive ({media}); link the uncompressed file"
    return None


def _fail(job_id: int, message: str) -> None:
    ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.FAILED,
        phase=ImportPhase.WAITING,
        error_count=1,
        errors=[RowError(None, "url", message).as_dict()],
        finished_at=timezone.now(),
    )


def _file_ends(path: Path, size: int) -> tuple[bytes, bytes]:
    with path.open("rb") as stream:
        head = stream.read(_SNIFF_BYTES)
        stream.seek(max(size - 8, 0))
        return head, stream.read(8)


def import_job_fetch(*, job_id: int) -> bool:
    """Download the file of URL import ``job_id``; True when the job's file is in place to import.

    True at once for an upload or a job already downloaded (a redelivered task). False when the job is
    gone, no longer queued, or the download was refused (the job is then failed with the reason).
    Two deliveries may both download; the conditional UPDATE keeps one file and the other is deleted.
    """
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return False
    if not job.source_url or job.file_path:
        return True
    if job.status != ImportStatus.QUEUED:
        return False
    fmt = FileFormat(job.format)
    relative = f"imports/{uuid.uuid4().hex}{next(s for s, f in EXTENSIONS.items() if f == fmt)}"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    policy = Policy.from_settings()
    try:
        with path.open("xb") as out:
            result = download(
                job.source_url,
                out,
                max_bytes=max_file_bytes(),
                total_timeout=download_timeout(),
                refuse_type=_type_refusal,
                allowed_networks=policy.allowed_networks,
                allowed_ports=policy.allowed_ports,
            )
        problem = sniff(fmt, *_file_ends(path, result.size))
        if problem:
            raise OutboundURLError(f"the downloaded file was refused: {problem}")
    except OutboundURLError as exc:
        path.unlink(missing_ok=True)
        logger.info("import %s: URL refused or not fetched: %s", job_id, exc)
        _fail(job_id, str(exc))
        return False
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    placed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED, file_path="").update(
        file_path=relative, file_size=result.size
    )
    if not placed:  # another delivery of the task placed its download first
        path.unlink(missing_ok=True)
    return True
