"""The preference table of a pairwise snapshot, written by Postgres: one ``COPY`` builds every JSON line.

Why: in the Python path (``curation.selectors.judgment_records`` -> ``curation.exporters``) every row
is a tuple, a record, a dict, a JSON line and an Arrow row: ~45 µs of CPU per judgment, 22k
judgments/s at best (bench/exports, 1M judgments). Here Postgres builds each line as text (``to_json``
escapes a string exactly as ``json.dumps(ensure_ascii=False)`` does), streams it out with ``COPY``
while it builds the next ones (its CPU is the other core), and Python only splits the stream, picks the
split, hashes and writes the bytes; Parquet is parsed from the same lines by Arrow's C++ JSON reader.
The files are the same as the Python path's: the JSONL byte for byte, the Parquet row for row with
the same row groups (``tests/curation/services/test_snapshot_preference_sql.py`` compares both paths).

It covers what most snapshots are: pairwise judgments (preferred pairs, and ties / both-bad when the
options include them), either prompt format, any filter, any split. Everything else (rankings,
ratings, edits, consensus-only snapshots with weights, SQLite) stays on the Python path, which is
also the reference this one is tested against. Preconditions the SQL relies on: payloads in the
canonical form of ``annotation.schemas`` (validated when a judgment is written) and prompts stored as
lists of ``{"role", "content"}`` messages.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from contextlib import suppress

from django.db import DatabaseError, connections
from django.db.models import QuerySet

from annotation.models import Judgment
from annotation.schemas import PAIRWISE
from curation.exporters.columns import schema_for
from curation.exporters.records import ExportContext
from curation.exporters.split import Split, split_of
from curation.exporters.trl import ExportError, strength_margin
from curation.exporters.writers import json_encoder

COLUMNS = ["prompt", "chosen", "rejected", "margin", "tie", "origin"]
BATCH = 1000  # lines handed to the writers at a time (the Parquet writer's row group)

_encode = json_encoder(allow_nan=False)
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?")


def preference_sql_applies(*, judgments: QuerySet[Judgment], ctx: ExportContext) -> bool:
    """Whether this snapshot's preference table can be written by ``preference_copy``."""
    if connections[judgments.db].vendor != "postgresql" or ctx.weighted or "preference" not in ctx.options.tables:
        return False
    if schema_for("preference", ctx.prompt_format).names != COLUMNS:
        return False  # the SQL below writes these columns: a schema change must change it too
    # A project has one task kind, so this finds nothing; it is here so that the rows are the Python
    # path's even if a judgment of another kind ever got in (ranking pairs, edits are not built here).
    return not judgments.exclude(kind=PAIRWISE).exists()


def _json_text(expression: str) -> str:
    return f"to_json({expression})::text"


def _completion(expression: str, ctx: ExportContext) -> str:
    if ctx.prompt_format == "conversational":
        return f"""'[{{"role":"assistant","content":' || {_json_text(expression)} || '}}]'"""
    return _json_text(expression)


def _prompt(ctx: ExportContext) -> str:
    if ctx.prompt_format == "conversational":
        # As exporters.trl.prompt_value: role and content of each message, in order, nothing else.
        return (
            "COALESCE((SELECT '[' || string_agg('{\"role\":' || to_json(m->>'role')::text || ',\"content\":' "
            "|| to_json(m->>'content')::text || '}', ',' ORDER BY n) || ']' "
            "FROM jsonb_array_elements(p.messages) WITH ORDINALITY AS e(m, n)), '[]')"
        )
    return _json_text("p.messages->0->>'content'")


def _margins(ctx: ExportContext) -> list[str]:
    """The JSON text of the margin of each strength level, 1 first, as the Python path writes it."""
    levels = int(ctx.strength_levels)
    texts = [_encode(strength_margin(level, levels, ctx.options.margin)) for level in range(1, levels + 1)]
    for text in texts:  # written into the SQL as literals (the filter's parameters come first)
        if not _NUMBER.fullmatch(text):
            raise ExportError(f"margin {text} cannot be exported")
    return texts


def _sql(ctx: ExportContext, ids_sql: str) -> str:
    options = ctx.options
    margin_texts = ", ".join(f"'{text}'" for text in _margins(ctx))
    # As exporters.trl._pairwise_pairs: which outcomes give a row.
    outcomes = ["'preferred'"] + ["'tie'"] * options.include_ties + ["'both_bad'"] * options.include_both_bad
    levels = int(ctx.strength_levels)
    # Standard rows hold one user turn; exporters.trl.prompt_value refuses anything else.
    format_check = (
        ""
        if ctx.prompt_format == "conversational"
        else "WHEN jsonb_array_length(p.messages) <> 1 OR p.messages->0->>'role' IS DISTINCT FROM 'user' "
        "THEN 'prompt ' || p.id || ' ' || jsonb_array_length(p.messages) "
    )
    # Interpolated: constants of this module, an int, validated number literals, and the filter's SQL
    # as Django's compiler wrote it (its values stay parameters): nothing a client typed.
    return f"""
COPY (
SELECT p.content_hash,
  CASE
    WHEN NOT j.emits THEN ''
    WHEN c.text IS NULL THEN 'response ' || j.id || ' ' || COALESCE(x.chosen_id::text, '')
    WHEN r.text IS NULL THEN 'response ' || j.id || ' ' || COALESCE(x.rejected_id::text, '')
    {format_check}
    ELSE ''
  END,
  CASE WHEN j.emits THEN
    '{{"prompt":' || {_prompt(ctx)}
    || ',"chosen":' || {_completion("c.text", ctx)}
    || ',"rejected":' || {_completion("r.text", ctx)}
    || ',"margin":' || CASE WHEN j.outcome = 'preferred'
                            THEN (ARRAY[{margin_texts}])[LEAST(GREATEST(x.level, 1), {levels})] ELSE '0.0' END
    || ',"tie":' || CASE WHEN j.outcome = 'preferred' THEN 'false' ELSE 'true' END
    || ',"origin":"pairwise"}}'
  ELSE '' END
-- The judgments are sorted while their rows are narrow; every lookup after that is a nested loop
-- on an index (OFFSET 0 keeps each LATERAL from being flattened into a hash join), which keeps that
-- order, so the wide rows with their lines are never sorted (a 1M export sorted ~1 GB on disk).
FROM (
  SELECT j.id, j.item_id, j.created_at, i.prompt_id, j.payload,
    j.payload->>'outcome' AS outcome,
    COALESCE(j.payload->>'outcome' IN ({", ".join(outcomes)}), false) AS emits
  FROM annotation_judgment j JOIN annotation_item i ON i.id = j.item_id
  WHERE j.id IN ({ids_sql})
  ORDER BY i.prompt_id, j.created_at, j.id
) j
CROSS JOIN LATERAL (
  SELECT p.id, p.content_hash, p.messages FROM annotation_prompt p WHERE p.id = j.prompt_id OFFSET 0
) p
-- Ties and both-bad pairs: the item's first two responses (a one-time filter skips this otherwise).
LEFT JOIN LATERAL (
  SELECT array_agg(ir.response_id ORDER BY ir.position) AS ids FROM annotation_itemresponse ir
  WHERE ir.item_id = j.item_id AND j.emits AND j.outcome <> 'preferred'
) f ON true
CROSS JOIN LATERAL (
  SELECT
    CASE WHEN j.outcome = 'preferred' THEN (j.payload->>'preferred')::bigint ELSE f.ids[1] END AS chosen_id,
    CASE WHEN j.outcome = 'preferred' THEN (j.payload->>'rejected')::bigint ELSE f.ids[2] END AS rejected_id,
    CASE WHEN jsonb_typeof(j.payload->'strength_level') = 'number' AND (j.payload->>'strength_level')::numeric <> 0
         THEN trunc((j.payload->>'strength_level')::numeric)::int ELSE {levels} END AS level
) x
-- (item, response) is unique (itemresponse_unique_response): at most one row each, and only a
-- response of the judgment's own item is found, as exporters.trl._text requires.
LEFT JOIN LATERAL (
  SELECT r.text FROM annotation_itemresponse ir JOIN annotation_response r ON r.id = ir.response_id
  WHERE j.emits AND ir.item_id = j.item_id AND ir.response_id = x.chosen_id OFFSET 0
) c ON true
LEFT JOIN LATERAL (
  SELECT r.text FROM annotation_itemresponse ir JOIN annotation_response r ON r.id = ir.response_id
  WHERE j.emits AND ir.item_id = j.item_id AND ir.response_id = x.rejected_id OFFSET 0
) r ON true
ORDER BY j.prompt_id, j.created_at, j.id
) TO STDOUT"""  # noqa: S608  # nosec


def _problem(text: str) -> ExportError:
    """The Python path's error for the same data (exporters.trl)."""
    word, first, second = [*text.split(" "), "", ""][:3]
    if word == "prompt":
        return ExportError(
            f"prompt {first} has {second} message(s) or a system message; the standard format holds one user "
            "turn only. Choose the conversational or auto prompt format."
        )
    if second:
        return ExportError(f"judgment {first} names response {second}, which is not in its item")
    return ExportError(f"judgment {first} has fewer than two responses in its item")


def preference_copy(
    *,
    judgments: QuerySet[Judgment],
    ctx: ExportContext,
    write: Callable[[Split | None, list[bytes]], None],
) -> tuple[int, Counter[Split | None]]:
    """Stream the preference rows of ``judgments`` to ``write(split, lines)``, ``BATCH`` lines at a time.

    Returns the number of judgments read (one COPY row each, with or without a preference row) and
    the rows written per split. Nothing else may use the connection while the COPY runs (a progress
    UPDATE on it waits for the COPY, which waits for us: a deadlock), so progress is reported by the
    caller when it returns; a 1M-judgment COPY takes seconds, well inside the stale-build limit.
    """
    options = ctx.options
    ids_sql, ids_params = judgments.order_by().values("pk").query.sql_with_params()
    splitting = options.test_fraction > 0
    buffers: dict[Split | None, list[bytes]] = {}
    rows: Counter[Split | None] = Counter()
    done = 0
    last_hash = b""
    split: Split | None = None
    lines: list[bytes] = buffers.setdefault(None, [])
    with connections[judgments.db].cursor() as cursor:
        # The estimate of this statement (nested loops over every judgment) is far above jit_above_cost,
        # and compiling it cost ~0.9 s of a 2.5 s run at 100k judgments for nothing: off for it only
        # (SET, not SET LOCAL: a transaction would hide the heartbeats written meanwhile).
        cursor.execute("SET jit = off")
        try:
            with cursor.cursor.copy(_sql(ctx, ids_sql), ids_params) as copy:
                # libpq hands COPY TO data over one row per call: "hash\tproblem\tline\n".
                for block in copy:
                    done += 1
                    prompt_hash, problem, line = bytes(block)[:-1].split(b"\t")
                    if problem:
                        raise _problem(problem.decode())
                    if line:
                        if line == b"\\N":  # NULL: a message without a role or a content
                            raise ExportError("a prompt of this snapshot has a message without a role or a content")
                        if splitting and prompt_hash != last_hash:
                            last_hash = prompt_hash
                            split = split_of(
                                prompt_hash.decode(), test_fraction=options.test_fraction, seed=options.split_seed
                            )
                            lines = buffers.setdefault(split, [])
                        if b"\\" in line:
                            # COPY's text format doubles every backslash; JSON text has no raw tab, newline
                            # or carriage return for it to escape, so this is the only escape in a line.
                            line = line.replace(b"\\\\", b"\\")
                        lines.append(line)
                        rows[split] += 1
                        if len(lines) >= BATCH:
                            write(split, lines)
                            lines.clear()
        finally:
            with suppress(DatabaseError):  # a dropped connection is closed anyway; the error above stands
                cursor.execute("RESET jit")
    for key, rest in buffers.items():
        if rest:
            write(key, rest)
    return done, rows
