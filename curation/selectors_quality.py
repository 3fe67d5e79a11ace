"""Reads for quality statistics: judgments as plain facts, stored statistics, and dashboard series.

The pure modules in ``curation.stats`` never see a queryset: this module turns rows into
``JudgmentFact`` records (responses' lengths measured by the database, texts never loaded) and reads
back what ``curation.services.quality`` stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, F, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Length, TruncDate, TruncWeek

from annotation.models import ItemResponse, Judgment
from annotation.schemas import FREE_TEXT, RATING, config_parse
from core.models import Membership, Project, Role, User
from curation.models_quality import (
    Adjudication,
    AnnotatorReliability,
    ItemAgreement,
    ProjectQuality,
    Review,
    ReviewDecision,
)
from curation.stats.facts import JudgmentFact

FACT_CHUNK = 2000
STAFF_ROLES = (Role.REVIEWER, Role.ADMIN)  # who sees per-annotator reliability
READ_ROLES = (Role.REVIEWER, Role.RESEARCHER, Role.ADMIN)  # who sees project-level statistics


def rating_scales(*, project: Project) -> dict[str, tuple[int, int]]:
    if project.task_kind != RATING:
        return {}
    return {a.name: (a.min, a.max) for a in config_parse(RATING, project.task_config).aspects}


def latest_decision() -> Subquery:
    """The latest review decision of the outer judgment (NULL when never reviewed)."""
    return Subquery(
        Review.objects.filter(judgment=OuterRef("pk")).order_by("-created_at", "-id").values("decision")[:1]
    )


def _item_responses(project: Project) -> dict[int, tuple[tuple[int, ...], dict[int, int]]]:
    """Item id -> (response ids in item order, response id -> length in characters)."""
    rows = (
        ItemResponse.objects.filter(item__project=project)
        .annotate(chars=Length("response__text"))
        .values_list("item_id", "response_id", "chars")
        .order_by("item_id", "position")
    )
    positions: dict[int, list[int]] = defaultdict(list)
    lengths: dict[int, dict[int, int]] = defaultdict(dict)
    for item_id, response_id, chars in rows.iterator(chunk_size=FACT_CHUNK):
        positions[item_id].append(response_id)
        lengths[item_id][response_id] = int(chars or 0)
    return {item_id: (tuple(ids), lengths[item_id]) for item_id, ids in positions.items()}


def quality_facts(*, project: Project, through_judgment_id: int | None = None) -> list[JudgmentFact]:
    """Every judgment of ``project`` (up to ``through_judgment_id``) as a plain fact, by id.

    Free-text payloads are not read (they can be long and no statistic looks inside them).
    """
    judgments = Judgment.objects.filter(project=project)
    if through_judgment_id is not None:
        judgments = judgments.filter(pk__lte=through_judgment_id)
    columns = ["pk", "item_id", "annotator_id", "kind", "display_order", "time_spent_ms", "created_at"]
    columns += ["item__is_gold", "item__gold_answer", "decision"]
    columns += [] if project.task_kind == FREE_TEXT else ["payload"]
    rows = judgments.annotate(decision=latest_decision()).order_by("pk").values_list(*columns)
    responses = _item_responses(project)
    facts = []
    for row in rows.iterator(chunk_size=FACT_CHUNK):
        pk, item_id, annotator_id, kind, shown, spent, created, is_gold, gold_answer, decision = row[:10]
        positions, lengths = responses.get(item_id, ((), {}))
        facts.append(
            JudgmentFact(
                id=pk,
                item_id=item_id,
                annotator_id=annotator_id,
                kind=kind,
                payload=row[10] if len(row) > 10 else {},
                positions=positions,
                display_order=tuple(int(r) for r in shown or ()),
                time_spent_ms=spent,
                created_at=created,
                lengths=lengths,
                is_gold=is_gold,
                gold_answer=gold_answer,
                rejected=decision == ReviewDecision.REJECT,
            )
        )
    return facts


def project_quality(*, project: Project) -> ProjectQuality:
    """The project's quality row, or an unsaved default (nothing computed, gold not managed)."""
    return ProjectQuality.objects.filter(project=project).first() or ProjectQuality(project=project)


def last_judgment_id(*, project: Project) -> int:
    return int(Judgment.objects.filter(project=project).aggregate(last=Max("id"))["last"] or 0)


def reliability_list(*, project: Project) -> QuerySet[AnnotatorReliability]:
    return (
        AnnotatorReliability.objects.filter(project=project)
        .select_related("annotator")
        .order_by("-flagged", "consensus_agreement", "annotator__username")
    )


def item_agreement_list(*, project: Project, below: float | None = None) -> QuerySet[ItemAgreement]:
    rows = ItemAgreement.objects.filter(project=project)
    if below is not None:
        rows = rows.filter(agreement__lt=below)
    return rows.order_by(F("agreement").asc(nulls_last=True), "item_id")


def _labels(user_ids: Iterable[int]) -> dict[int, str]:
    users = User.objects.filter(pk__in=set(user_ids)).values_list("pk", "username", "display_name")
    return {pk: display or username for pk, username, display in users}


def dashboard_series(*, project: Project, names: bool) -> dict[str, Any]:
    """The dashboard's plots as plain JSON. ``names``: label annotators by name (reviewers and admins)
    or as "Annotator 1..n" by id order (researchers: throughput without identities)."""
    judgments = Judgment.objects.filter(project=project)
    per_day = judgments.annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("id")).order_by("day")
    per_annotator = list(
        judgments.values("annotator_id").annotate(n=Count("id"), ms=Avg("time_spent_ms")).order_by("annotator_id")
    )
    if names:
        labels = _labels(row["annotator_id"] for row in per_annotator)
    else:
        labels = {row["annotator_id"]: f"Annotator {n}" for n, row in enumerate(per_annotator, start=1)}
    weekly = (
        ItemAgreement.objects.filter(project=project, agreement__isnull=False)
        .annotate(week=TruncWeek("last_judgment_at"))
        .values("week")
        .annotate(mean=Avg("agreement"), items=Count("item_id"))
        .order_by("week")
    )
    return {
        "judgments_per_day": [{"day": row["day"].isoformat(), "n": row["n"]} for row in per_day],
        "throughput": [
            {"annotator": labels.get(row["annotator_id"], "?"), "n": row["n"], "mean_seconds": (row["ms"] or 0) / 1000}
            for row in per_annotator
        ],
        "agreement_per_week": [
            {"week": _date(row["week"]), "mean": row["mean"], "items": row["items"]} for row in weekly
        ],
    }


def _date(value: datetime | Any) -> str:
    return value.date().isoformat() if isinstance(value, datetime) else str(value)


def adjudicated_answers(*, project: Project) -> dict[int, dict[str, Any]]:
    """Item id -> the latest adjudicated answer, for every adjudicated item of the project."""
    rows = Adjudication.objects.filter(project=project).order_by("item_id", "-created_at", "-id")
    answers: dict[int, dict[str, Any]] = {}
    for item_id, answer in rows.values_list("item_id", "answer").iterator(chunk_size=FACT_CHUNK):
        answers.setdefault(item_id, answer)
    return answers


def member_names(*, project: Project) -> dict[int, str]:
    return _labels(Membership.objects.filter(project=project).values_list("user_id", flat=True))


def flagged_annotator_ids(*, project: Project) -> set[int]:
    return set(
        AnnotatorReliability.objects.filter(project=project, flagged=True).values_list("annotator_id", flat=True)
    )


def without_rejected(judgments: QuerySet[Judgment]) -> QuerySet[Judgment]:
    """``judgments`` less those whose latest review rejected them. The NULL test is spelled out: SQL's
    ``NOT (NULL = 'reject')`` is NULL, which would silently drop every judgment never reviewed."""
    return judgments.annotate(review_decision=latest_decision()).filter(
        Q(review_decision__isnull=True) | ~Q(review_decision=ReviewDecision.REJECT)
    )


def dashboard_data(*, project: Project, staff: bool) -> dict[str, Any]:
    """Everything the dashboard plots and the summary endpoint returns, as JSON-ready data.

    Per-annotator parts (names, bias, gold accuracy) are only included for ``staff`` (reviewers and
    admins); researchers see the project's aggregates and throughput under neutral labels.
    """
    quality = project_quality(project=project)
    summary: dict[str, Any] = quality.summary or {}
    data = dashboard_series(project=project, names=staff)
    last = last_judgment_id(project=project)
    data.update(
        {
            "kind": project.task_kind,
            "judgments": Judgment.objects.filter(project=project).count(),
            "computed_at": quality.computed_at.isoformat() if quality.computed_at else None,
            "stale": quality.computed_at is None or quality.dirty or quality.computed_through_judgment < last,
            "agreement": summary.get("agreement", {}),
            "model": summary.get("model", {}),
            "bias": {"overall": summary.get("bias", {}).get("overall")},
            "gold": {"overall": summary.get("gold_by_week", {}).get("overall", [])},
        }
    )
    if staff:
        names = member_names(project=project)
        per_annotator = summary.get("bias", {}).get("per_annotator", {})
        data["bias"]["per_annotator"] = {names.get(int(a), a): b for a, b in per_annotator.items()}
        gold = summary.get("gold_by_week", {}).get("per_annotator", {})
        data["gold"]["per_annotator"] = {names.get(int(a), a): rows for a, rows in gold.items()}
    return data
