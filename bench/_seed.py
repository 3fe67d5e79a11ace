"""Seeding for the benchmarks: a pairwise project with N items, annotators with API tokens, judgments.

Seeding speed is not measured, so items are made by set-based SQL (``generate_series``) rather than
through the import pipeline; the rows are the ones the pipeline would write. Call after
``_common.django_setup``.
"""

from __future__ import annotations

from typing import Any

from django.db import connection


def project_create(*, overlap: int = 1, name: str = "bench") -> Any:
    """A pairwise project owned by a fresh admin user (through the real service)."""
    from annotation.services.projects import annotation_project_create
    from core.models import User

    owner = User.objects.create_user(username=f"{name}-owner", password=None)
    return annotation_project_create(
        name=name, created_by=owner, task_kind="pairwise", task_config=None, overlap=overlap, lease_ttl_seconds=900
    )


def items_seed(*, project_id: int, count: int, turns: int = 1, words: int = 40) -> None:
    """``count`` items of two responses each; ``turns`` user/assistant turns per prompt; random priority."""
    filler = " ".join(["lorem"] * words)
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO annotation_prompt (created_at, updated_at, messages, metadata, source, content_hash, project_id)
            SELECT now(), now(),
                   (SELECT jsonb_agg(jsonb_build_object(
                        'role', CASE WHEN t %% 2 = 0 THEN 'user' ELSE 'assistant' END,
                        'content', 'Turn ' || t || ' of prompt ' || g || ': ' || %(filler)s) ORDER BY t)
                    FROM generate_series(0, 2 * %(turns)s - 2) t),
                   '{}', 'imported', md5('p' || g) || md5('q' || g), %(project)s
            FROM generate_series(1, %(count)s) g
            """,
            {"project": project_id, "count": count, "turns": turns, "filler": filler},
        )
        cur.execute(
            """
            INSERT INTO annotation_response (created_at, updated_at, text, source, source_detail, content_hash, prompt_id)
            SELECT now(), now(), 'Answer ' || r || ' to ' || p.id || ': ' || %(filler)s, 'imported', '{}',
                   md5(p.id || '.' || r) || md5('r' || r), p.id
            FROM annotation_prompt p CROSS JOIN generate_series(0, 1) r
            WHERE p.project_id = %(project)s
            """,
            {"project": project_id, "filler": filler},
        )
        cur.execute(
            """
            INSERT INTO annotation_item (created_at, updated_at, priority, required, open_slots, submitted_count,
                                         is_gold, project_id, prompt_id)
            SELECT now(), now(), random(), pr.overlap, pr.overlap, 0, false, pr.id, p.id
            FROM annotation_prompt p JOIN core_project pr ON pr.id = p.project_id
            WHERE p.project_id = %(project)s
            """,
            {"project": project_id},
        )
        cur.execute(
            """
            INSERT INTO annotation_itemresponse (position, item_id, response_id)
            SELECT row_number() OVER (PARTITION BY i.id ORDER BY r.id) - 1, i.id, r.id
            FROM annotation_item i JOIN annotation_response r ON r.prompt_id = i.prompt_id
            WHERE i.project_id = %(project)s
            """,
            {"project": project_id},
        )


def annotators_create(*, project: Any, count: int, prefix: str = "ann") -> list[str]:
    """``count`` annotator members of ``project``; returns their API token keys."""
    from rest_framework.authtoken.models import Token

    from core.models import Membership, Role, User

    users = User.objects.bulk_create([User(username=f"{prefix}{n}", password="!") for n in range(count)])  # noqa: S106
    Membership.objects.bulk_create([Membership(user=u, project=project, role=Role.ANNOTATOR) for u in users])
    tokens = Token.objects.bulk_create([Token(key=Token.generate_key(), user=u) for u in users])
    return [t.key for t in tokens]


def judgments_seed(*, project_id: int, annotator_ids: list[int]) -> None:
    """One submitted lease and one judgment per item (pairwise, first response preferred)."""
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO annotation_assignment (status, created_at, expires_at, finished_at, display_order, reason,
                                               annotator_id, project_id, item_id)
            SELECT 'submitted', now(), now(), now(),
                   (SELECT jsonb_agg(ir.response_id ORDER BY ir.position) FROM annotation_itemresponse ir
                    WHERE ir.item_id = i.id),
                   '', (%(annotators)s::bigint[])[1 + i.id %% cardinality(%(annotators)s::bigint[])], i.project_id, i.id
            FROM annotation_item i WHERE i.project_id = %(project)s
            """,
            {"project": project_id, "annotators": annotator_ids},
        )
        cur.execute(
            """
            INSERT INTO annotation_judgment (kind, payload, display_order, time_spent_ms, client_key, gold_correct,
                                             created_at, annotator_id, assignment_id, item_id, project_id)
            SELECT 'pairwise',
                   jsonb_build_object('outcome', 'preferred', 'preferred', a.display_order -> 0,
                                      'rejected', a.display_order -> 1, 'strength', 'better',
                                      'strength_level', 2, 'reason', ''),
                   a.display_order, 1000 + a.id %% 5000, 'seed-' || a.id, NULL, now(), a.annotator_id, a.id,
                   a.item_id, a.project_id
            FROM annotation_assignment a WHERE a.project_id = %(project)s
            """,
            {"project": project_id},
        )
        cur.execute(
            "UPDATE annotation_item SET open_slots = 0, submitted_count = 1 WHERE project_id = %s", [project_id]
        )


def analyze() -> None:
    """Statistics and visibility maps for what was seeded, and its pages written out before anything is
    measured (without the CHECKPOINT, the seeding's gigabyte of dirty pages was flushed during the next
    runs: a 1M-item queue run once measured that flush as a 40 % slowdown)."""
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
        cur.execute("CHECKPOINT")
