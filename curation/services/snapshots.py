"""Creating and building dataset snapshots.

``snapshot_create`` validates everything a build needs before a row exists, then enqueues the build
once the row is committed. ``snapshot_build`` claims the row with a conditional UPDATE (a second
delivery of the task finds it no longer queued and does nothing), streams the judgments through the
pure exporters into a hidden ``.<id>.partial`` folder, and publishes it with one rename: the snapshot's
folder either holds every file of a succeeded build or does not exist. Any exception fails the
snapshot with its message; nothing is retried, because a rebuild is a new snapshot.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from annotation.schemas import FieldError, SchemaError
from core.audit import AuditAction, audit_record
from core.db import connection_reset_if_dropped
from core.models import Membership, Project, Role, User
from curation.exporters.options import filters_parse, options_parse
from curation.models import DatasetSnapshot, SnapshotStatus
from curation.selectors import member_ids
from curation.services.snapshot_files import snapshot_files_write

logger = logging.getLogger(__name__)

CREATE_ROLES = (Role.RESEARCHER, Role.ADMIN)
STALE_AFTER = timedelta(minutes=15)


def snapshot_may_create(*, user: User, project: Project) -> bool:
    if user.is_superuser:
        return True
    return Membership.objects.filter(user=user, project=project, role__in=[str(r) for r in CREATE_ROLES]).exists()


def snapshot_create(
    *, project: Project, user: User, name: str, filters: Mapping[str, Any] | None, options: Mapping[str, Any] | None
) -> DatasetSnapshot:
    """A queued snapshot whose build is enqueued when the transaction commits.

    Precondition: ``user`` is a researcher or admin of ``project`` (PermissionDenied otherwise).
    Raises SchemaError naming every bad field (``name``, ``filters.<field>``, ``options.<field>``)
    before anything is written; annotator ids must be members of the project.
    """
    if not snapshot_may_create(user=user, project=project):
        raise PermissionDenied("Only researchers and admins of this project create snapshots.")
    errors: list[FieldError] = []
    name = (name or "").strip()
    if not name or len(name) > 200:
        errors.append(FieldError("name", "give the snapshot a name of 1 to 200 characters"))
    parsed_filters = parsed_options = None
    try:
        parsed_filters = filters_parse(filters)
    except SchemaError as exc:
        errors.extend(exc.errors)
    try:
        parsed_options = options_parse(options)
    except SchemaError as exc:
        errors.extend(exc.errors)
    if parsed_filters is not None and parsed_filters.annotator_ids:
        strangers = set(parsed_filters.annotator_ids) - member_ids(
            project=project, user_ids=parsed_filters.annotator_ids
        )
        if strangers:
            errors.append(
                FieldError(
                    "filters.annotator_ids", f"not members of this project: {', '.join(map(str, sorted(strangers)))}"
                )
            )
    if errors or parsed_filters is None or parsed_options is None:
        raise SchemaError(errors)

    from curation.tasks import build_snapshot  # the task module imports this one

    with transaction.atomic():
        snapshot = DatasetSnapshot.objects.create(
            project=project,
            created_by=user,
            name=name,
            filters=parsed_filters.model_dump(mode="json"),
            options=parsed_options.model_dump(mode="json"),
        )
        # An export of annotators' work: audited with what it selects, in the same transaction.
        audit_record(
            actor=user,
            action=AuditAction.SNAPSHOT_CREATE,
            project=project,
            target=snapshot,
            details={"name": name, "filters": snapshot.filters, "options": snapshot.options},
        )
        build_snapshot.delay_on_commit(snapshot.pk)
    return snapshot


def snapshot_build(*, snapshot_id: int) -> DatasetSnapshot | None:
    """Build a queued snapshot's files. None when the row was not queued (already claimed, or gone).

    Safe to call twice or concurrently: only the call whose UPDATE moves the row out of ``queued``
    builds. On any exception the row ends ``failed`` with the error and no folder is left behind.
    """
    now = timezone.now()
    claimed = DatasetSnapshot.objects.filter(pk=snapshot_id, status=SnapshotStatus.QUEUED).update(
        status=SnapshotStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        logger.info("snapshot %s is not queued; nothing to do", snapshot_id)
        return None
    snapshot = DatasetSnapshot.objects.select_related("project").get(pk=snapshot_id)
    try:
        _build(snapshot)
    except Exception as exc:  # any failure ends this build; the researcher reads why and starts another
        logger.exception("snapshot %s failed", snapshot_id)
        connection_reset_if_dropped()
        DatasetSnapshot.objects.filter(pk=snapshot_id, status=SnapshotStatus.RUNNING).update(
            status=SnapshotStatus.FAILED, error=_describe(exc), finished_at=timezone.now()
        )
    return DatasetSnapshot.objects.get(pk=snapshot_id)


def snapshots_fail_stale(*, older_than: timedelta = STALE_AFTER) -> int:
    """Fail running builds whose worker stopped writing progress (killed, machine lost). Beat task.

    A redelivered task cannot resume them (the claim only takes queued rows), so without this they
    would show "running" for ever.
    """
    now = timezone.now()
    stale = list(
        DatasetSnapshot.objects.filter(status=SnapshotStatus.RUNNING, heartbeat_at__lt=now - older_than).values_list(
            "pk", "project_id"
        )
    )
    failed = 0
    for pk, project_id in stale:
        failed += DatasetSnapshot.objects.filter(
            pk=pk, status=SnapshotStatus.RUNNING, heartbeat_at__lt=now - older_than
        ).update(
            status=SnapshotStatus.FAILED,
            error="The build stopped without finishing (the worker was lost). Create the snapshot again.",
            finished_at=now,
        )
        shutil.rmtree(_partial_folder(_snapshot_folder(project_id, pk)), ignore_errors=True)
    return failed


# --- Building -----------------------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:4000]


def _media_root() -> Path:
    return Path(os.path.realpath(settings.MEDIA_ROOT))


def _snapshot_folder(project_id: int, snapshot_id: int) -> Path:
    root = _media_root()
    folder = Path(os.path.realpath(root / "snapshots" / str(project_id) / str(snapshot_id)))
    if os.path.commonpath([root, folder]) != str(root):
        raise RuntimeError(f"snapshot folder {folder} is outside MEDIA_ROOT")
    return folder


def _partial_folder(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.partial")


def _build(snapshot: DatasetSnapshot) -> None:
    folder = _snapshot_folder(snapshot.project_id, snapshot.pk)
    partial = _partial_folder(folder)
    if folder.exists():
        raise RuntimeError(f"{folder} already exists; a snapshot's files are written once")
    # Only the claiming call gets here, so a leftover partial folder is from a crashed attempt.
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        files = snapshot_files_write(snapshot=snapshot, folder=partial)
        for path in partial.iterdir():
            path.chmod(0o444)  # read-only on disk too: a download is always the bytes that were hashed
        os.replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    published = DatasetSnapshot.objects.filter(pk=snapshot.pk, status=SnapshotStatus.RUNNING).update(
        status=SnapshotStatus.SUCCEEDED,
        progress_done=files.counts["judgments"],
        counts=files.counts,
        files=[{**entry, "path": str(Path(snapshot.folder) / entry["name"])} for entry in files.manifest["files"]],
        manifest=files.manifest,
        sha256=files.manifest_sha256,
        error="",
        finished_at=timezone.now(),
    )
    if not published:
        # Failed as stale (or deleted) while we wrote: the row's word stands, so take the files back.
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError("the snapshot stopped being 'running' during the build")
