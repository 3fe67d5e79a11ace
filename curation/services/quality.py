"""Recomputing a project's stored quality statistics (item agreement, reliability, summary).

``quality_recompute`` claims the project's ``ProjectQuality`` row with a conditional UPDATE (a
recompute already running, or a second delivery of the task, finds it claimed and does nothing),
computes everything from the judgments up to a fixed id with the pure ``curation.stats`` modules,
and replaces the stored rows in one short transaction: readers see the old statistics or the new,
never a mix. ``dirty`` is cleared when the claim is taken, not at the end, so a review recorded
while the computation runs marks the project dirty again and the next beat recomputes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from annotation.models import Judgment
from core.models import Project
from curation.models_quality import AnnotatorReliability, ItemAgreement, ProjectQuality
from curation.selectors_quality import last_judgment_id, quality_facts, rating_scales
from curation.stats.facts import JudgmentFact
from curation.stats.reliability import gold_accuracy_by_week
from curation.stats.report import QualityReport, quality_report

logger = logging.getLogger(__name__)

CLAIM_EXPIRES = timedelta(minutes=30)  # a claim older than this belongs to a worker that died
WRITE_BATCH = 1000


@dataclass(frozen=True)
class RecomputeResult:
    project_id: int
    judgments: int
    items: int
    annotators: int


def project_quality_row(*, project_id: int) -> ProjectQuality:
    """The project's quality row, created on first use (safe against a concurrent first use)."""
    try:
        row, _ = ProjectQuality.objects.get_or_create(project_id=project_id)
    except IntegrityError:
        row = ProjectQuality.objects.get(project_id=project_id)
    return row


def quality_mark_dirty(*, project: Project) -> None:
    """Something the statistics read changed (a review, gold, an adjudication): recompute soon."""
    project_quality_row(project_id=project.pk)
    ProjectQuality.objects.filter(project=project).update(dirty=True)


def quality_recompute(*, project_id: int) -> RecomputeResult | None:
    """Recompute and store every statistic of one project. None when another recompute holds it."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    project_quality_row(project_id=project_id)
    now = timezone.now()
    claimed = (
        ProjectQuality.objects.filter(project_id=project_id)
        .filter(Q(running_since__isnull=True) | Q(running_since__lt=now - CLAIM_EXPIRES))
        .update(running_since=now, dirty=False)
    )
    if not claimed:
        logger.info("quality of project %s is being recomputed elsewhere", project_id)
        return None
    try:
        # Fixing the last id first makes every statistic read one set while annotators keep submitting.
        through = last_judgment_id(project=project)
        facts = quality_facts(project=project, through_judgment_id=through)
        report = quality_report(facts, kind=project.task_kind, scales=rating_scales(project=project))
        with transaction.atomic():
            _write(project, report, now)
            ProjectQuality.objects.filter(project_id=project_id).update(
                computed_at=now, computed_through_judgment=through, summary=_summary(report, facts)
            )
    except BaseException:
        ProjectQuality.objects.filter(project_id=project_id).update(dirty=True)
        raise
    finally:
        ProjectQuality.objects.filter(project_id=project_id, running_since=now).update(running_since=None)
    return RecomputeResult(project_id, report.judgments, len(report.items), len(report.annotators))


def quality_refresh(*, project: Project) -> RecomputeResult | None:
    """Recompute now if the stored statistics are behind (a snapshot build calls this first)."""
    if project.pk in quality_due_project_ids(project_ids=[project.pk]):
        return quality_recompute(project_id=project.pk)
    return None


def quality_due_project_ids(*, project_ids: list[int] | None = None) -> list[int]:
    """Projects whose statistics are missing or behind: new judgments, or marked dirty."""
    latest = Judgment.objects.filter(project=OuterRef("pk")).order_by("-id").values("id")[:1]
    projects = Project.objects.all() if project_ids is None else Project.objects.filter(pk__in=project_ids)
    due = projects.annotate(last=Subquery(latest)).filter(
        Q(quality__dirty=True)
        | Q(last__isnull=False, quality__isnull=True)
        | Q(last__gt=F("quality__computed_through_judgment"))
    )
    return list(due.order_by("pk").values_list("pk", flat=True))


def _write(project: Project, report: QualityReport, now: datetime) -> None:
    ItemAgreement.objects.filter(project=project).delete()
    ItemAgreement.objects.bulk_create(
        (
            ItemAgreement(
                item_id=item.item_id,
                project=project,
                kind=report.kind,
                judgments=item.judgments,
                agreement=item.agreement,
                agreement_no_ties=item.agreement_no_ties,
                consensus=item.consensus,
                support=item.support,
                method=item.method,
                last_judgment_at=item.last_judgment_at,
                computed_at=now,
            )
            for item in report.items
        ),
        batch_size=WRITE_BATCH,
    )
    AnnotatorReliability.objects.filter(project=project).delete()
    AnnotatorReliability.objects.bulk_create(
        (
            AnnotatorReliability(
                project=project,
                annotator_id=r.annotator,
                judgments=r.judgments,
                gold_accuracy=r.gold.rate if r.gold else None,
                gold_total=r.gold.n if r.gold else 0,
                consensus_agreement=r.consensus.agreement if r.consensus else None,
                consensus_compared=r.consensus.compared if r.consensus else 0,
                median_ms=r.speed.median_ms,
                speed_z=r.speed.median_z,
                fast_share=r.speed.fast_share,
                position_first_rate=r.position.rate if r.position else None,
                position_n=r.position.n if r.position else 0,
                spammer_score=r.spammer_score,
                flags=list(r.flags),
                flagged=bool(r.flags),
                detail=r.as_dict(),
                computed_at=now,
            )
            for r in report.annotators
        ),
        batch_size=WRITE_BATCH,
    )


def _gold_by_week(facts: list[JudgmentFact]) -> dict[str, object]:
    per_annotator = gold_accuracy_by_week(facts)
    overall: dict[str, list[int]] = {}
    for rows in per_annotator.values():
        for week, correct, graded in rows:
            overall.setdefault(week, [0, 0])
            overall[week][0] += correct
            overall[week][1] += graded
    return {
        "overall": [[week, k, n] for week, (k, n) in sorted(overall.items())],
        "per_annotator": {str(a): [list(row) for row in rows] for a, rows in per_annotator.items()},
    }


def _summary(report: QualityReport, facts: list[JudgmentFact]) -> dict[str, object]:
    return {
        "gold_by_week": _gold_by_week(facts),
        "kind": report.kind,
        "judgments": report.judgments,
        "agreement": {scope: a.as_dict() for scope, a in report.agreement.items()},
        "bias": {
            "overall": report.bias.overall.as_dict(),
            "per_annotator": {str(a): b.as_dict() for a, b in report.bias.per_annotator.items()},
        },
        "model": report.model,
    }
