"""Writing one snapshot's files: stream the selected judgments through the exporters into a folder.

Called by ``curation.services.snapshots.snapshot_build`` on a row it has claimed, with a private
folder that is published (renamed) only after this returns. Writes the data files and
``manifest.json``; records progress on the row as it goes.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

import ml
from annotation.schemas import PAIRWISE, RATING, config_parse
from core.models import Project
from curation.exporters.columns import schema_for
from curation.exporters.consensus import consensus_records
from curation.exporters.options import ExportOptions, Table, filters_parse, options_parse
from curation.exporters.pipeline import export_rows
from curation.exporters.records import AspectScale, ExportContext, JudgmentRecord, ResolvedPromptFormat
from curation.exporters.split import Split
from curation.exporters.trl import PREFERENCE_ORIGINS, UNPAIRED_ORIGINS
from curation.exporters.writers import FileKind, RowWriter, WrittenFile, open_writer
from curation.models import MANIFEST_NAME, DatasetSnapshot, SnapshotStatus
from curation.selectors import judgment_records, judgments_for_export, prompts_need_conversational
from curation.selectors_quality import adjudicated_answers, rating_scales
from curation.services.quality import quality_refresh
from curation.services.snapshot_copy import copy_rows, copy_tables

MANIFEST_SCHEMA_VERSION = 1
PROGRESS_EVERY = 500  # judgments between progress writes (one UPDATE each)...
PROGRESS_SECONDS = 1.0  # ...and no more than one a second

Written = list[tuple[Table, Split | None, FileKind, WrittenFile]]


@dataclass(frozen=True)
class _Data:
    written: Written
    counts: dict[str, Any]
    prompt_format: ResolvedPromptFormat
    last_judgment_id: int


@dataclass(frozen=True)
class SnapshotFiles:
    manifest: dict[str, Any]
    manifest_sha256: str  # the snapshot's sha256: manifest.json lists every data file's hash

    @property
    def counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = self.manifest["counts"]
        return counts


def snapshot_files_write(*, snapshot: DatasetSnapshot, folder: Path) -> SnapshotFiles:
    """Write every file of ``snapshot`` into ``folder`` (which must exist and be empty)."""
    manifest = _manifest(snapshot, _write_data(snapshot, folder))
    data = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    with (folder / MANIFEST_NAME).open("xb") as handle:
        handle.write(data)
    return SnapshotFiles(manifest=manifest, manifest_sha256=hashlib.sha256(data).hexdigest())


def _context(
    project: Project, options: ExportOptions, prompt_format: ResolvedPromptFormat, *, weighted: bool = False
) -> ExportContext:
    config = config_parse(project.task_kind, project.task_config)
    strength_levels = len(config.strengths) if project.task_kind == PAIRWISE else 3
    aspects = {a.name: AspectScale(min=a.min, max=a.max) for a in config.aspects} if project.task_kind == RATING else {}
    return ExportContext(
        options=options,
        prompt_format=prompt_format,
        # Read at call time; the key never leaves this process, only HMACs made with it do.
        annotator_key=settings.SECRET_KEY.encode(),
        strength_levels=strength_levels,
        aspects=aspects,
        weighted=weighted,
    )


def _file_name(table: Table, split: Split | None, kind: FileKind) -> str:
    return f"{table}{'-' + split if split else ''}.{kind}"


class _Progress:
    """Counts the judgments streamed; writes the count (and a heartbeat) every PROGRESS_EVERY, at most
    once every PROGRESS_SECONDS."""

    def __init__(self, snapshot_id: int) -> None:
        self.snapshot_id = snapshot_id
        self.done = 0

    def beat(self, done: int | None) -> None:
        """A heartbeat, with the count of judgments done when given."""
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if done is not None:
            fields["progress_done"] = done
        DatasetSnapshot.objects.filter(pk=self.snapshot_id, status=SnapshotStatus.RUNNING).update(**fields)

    def track(self, records: Iterator[JudgmentRecord]) -> Iterator[JudgmentRecord]:
        last = time.monotonic()
        for self.done, record in enumerate(records, start=1):
            yield record
            # Each write is a commit (a WAL flush): at most one a second, however fast the export runs.
            if self.done % PROGRESS_EVERY == 0 and time.monotonic() - last >= PROGRESS_SECONDS:
                self.beat(self.done)
                last = time.monotonic()


def _git_commit() -> str | None:
    """The deployed commit: settings.GIT_COMMIT when the image sets it, else ``git rev-parse`` in a checkout."""
    configured = str(getattr(settings, "GIT_COMMIT", "") or "")
    return configured or _git_rev_parse()


@lru_cache(maxsize=1)
def _git_rev_parse() -> str | None:
    # A fixed argument list, no shell, a timeout; any failure (no git, not a checkout) means "unknown".
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None


def _write_data(snapshot: DatasetSnapshot, folder: Path) -> _Data:
    filters = filters_parse(snapshot.filters)
    options = options_parse(snapshot.options)
    if filters.min_agreement is not None or filters.exclude_flagged_annotators:
        # Filter on statistics of every judgment so far, not on whatever the last beat stored.
        quality_refresh(project=snapshot.project)
    judgments = judgments_for_export(project=snapshot.project, filters=filters)
    # Judgments are append-only with increasing ids. Fixing the last id now makes the count, the
    # prompt-format scan and the export read one set while annotators keep submitting.
    last_id = judgments.aggregate(last=Max("id"))["last"] or 0
    judgments = judgments.filter(id__lte=last_id)
    total = judgments.count()
    DatasetSnapshot.objects.filter(pk=snapshot.pk, status=SnapshotStatus.RUNNING).update(
        progress_total=total, heartbeat_at=timezone.now()
    )

    prompt_format: ResolvedPromptFormat
    if options.prompt_format == "auto":
        prompt_format = "conversational" if prompts_need_conversational(judgments=judgments) else "standard"
    else:
        prompt_format = options.prompt_format
    ctx = _context(snapshot.project, options, prompt_format, weighted=filters.consensus_only)

    splits: tuple[Split | None, ...] = ("train", "test") if options.test_fraction > 0 else (None,)
    writers: dict[tuple[Table, Split | None], list[tuple[FileKind, RowWriter]]] = {}
    try:
        for table in options.tables:
            for split in splits if table != "raw" else (None,):
                writers[(table, split)] = [
                    (
                        kind,
                        open_writer(
                            folder / _file_name(table, split, kind),
                            kind,
                            schema_for(table, prompt_format, weighted=ctx.weighted),
                        ),
                    )
                    for kind in options.formats
                ]
        # One bound write per file of each (table, split), and one count per row: this loop runs per row.
        targets = {key: [writer.write for _, writer in pairs] for key, pairs in writers.items()}
        tally: Counter[tuple[str, Split | None, str]] = Counter()
        progress = _Progress(snapshot.pk)
        judgments_read: int | None = None
        python_ctx = ctx
        copied_tables = copy_tables(judgments=judgments, ctx=ctx)
        if copied_tables:
            # Every table of a pairwise snapshot is built by Postgres in one pass (services.snapshot_copy);
            # a table it cannot build would go through the Python exporters in a second pass, which
            # then reports the progress.
            rest = [table for table in options.tables if table not in copied_tables]

            def write_lines(table: Table, split: Split | None, lines: list[bytes]) -> None:
                for _, writer in writers[(table, split)]:
                    writer.write_lines(lines)

            judgments_read, copied = copy_rows(judgments=judgments, ctx=ctx, tables=copied_tables, write=write_lines)
            progress.beat(None if rest else judgments_read)
            for (table, split), count in copied.items():
                tally[(table, split, "" if table == "raw" else PAIRWISE)] += count
            python_ctx = replace(ctx, options=options.model_copy(update={"tables": rest}))
        if python_ctx.options.tables:
            records = progress.track(judgment_records(judgments=judgments))
            if filters.consensus_only:
                records = consensus_records(
                    records,
                    adjudications=adjudicated_answers(project=snapshot.project),
                    scales=rating_scales(project=snapshot.project),
                )
            for table, split, row in export_rows(records, python_ctx):
                for write in targets[(table, split)]:
                    write(row)
                tally[(table, split, row.get("origin") or "")] += 1
            judgments_read = progress.done
        written = [
            (table, split, kind, writer.close()) for (table, split), pairs in writers.items() for kind, writer in pairs
        ]
    except BaseException:
        for pairs in writers.values():
            for _, writer in pairs:
                writer.abort()
        raise

    rows: Counter[tuple[str, str]] = Counter()
    by_split: Counter[tuple[str, str]] = Counter()
    for (tally_table, tally_split, origin), count in tally.items():
        rows[(tally_table, origin)] += count
        if tally_split:
            by_split[(tally_table, tally_split)] += count
    counts: dict[str, Any] = {"judgments": judgments_read or 0}
    if "preference" in options.tables:
        counts["preference"] = {origin: rows[("preference", origin)] for origin in PREFERENCE_ORIGINS}
    if "unpaired" in options.tables:
        counts["unpaired"] = {origin: rows[("unpaired", origin)] for origin in UNPAIRED_ORIGINS}
    if "raw" in options.tables:
        counts["raw"] = rows[("raw", "")]
    if options.test_fraction > 0:
        counts["splits"] = {
            table: {split: by_split[(table, split)] for split in ("train", "test")}
            for table in options.tables
            if table != "raw"
        }
    return _Data(written=written, counts=counts, prompt_format=prompt_format, last_judgment_id=last_id)


def _manifest(snapshot: DatasetSnapshot, data: _Data) -> dict[str, Any]:
    return {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "snapshot_id": snapshot.pk,
        "project_id": snapshot.project_id,
        "name": snapshot.name,
        "created_at": snapshot.created_at.isoformat(),
        "built_at": timezone.now().isoformat(),
        "filters": snapshot.filters,
        "options": snapshot.options,
        "last_judgment_id": data.last_judgment_id,
        "prompt_format": data.prompt_format,
        "counts": data.counts,
        "columns": {
            table: schema_for(table, data.prompt_format, weighted=filters_parse(snapshot.filters).consensus_only).names
            for table in dict.fromkeys(t for t, *_ in data.written)
        },
        "files": [
            {
                "name": f.name,
                "table": table,
                "split": split,
                "format": kind,
                "rows": f.rows,
                "sha256": f.sha256,
                "bytes": f.bytes,
            }
            for table, split, kind, f in data.written
        ],
        "annotators": "pseudonymous: HMAC-SHA256 of project and user id, keyed by the site secret",
        "code_version": {"ml": ml.__version__, "git_commit": _git_commit()},
    }
