"""The training tables of a pairwise snapshot, written by Postgres: one ``COPY`` builds every JSON line.

Why: in the Python path (``curation.selectors.judgment_records`` -> ``curation.exporters``) every row
is a tuple, a record, a dict, a JSON line and an Arrow row: ~45 µs of CPU per judgment, 22k
judgments/s at best (bench/exports, 1M judgments). Here Postgres builds each line as text (``to_json``
escapes a string exactly as ``json.dumps(ensure_ascii=False)`` does), streams it out with ``COPY``
while it builds the next ones (its CPU is the other core), and Python only splits the stream, picks the
split, hashes and writes the bytes; Parquet is parsed from the same lines by Arrow's C++ JSON reader.
The files are the same as the Python path's: the JSONL byte for byte, the Parquet row for row (in row
groups of ~2 MB of lines rather than 1000 rows: ``writers.ROW_GROUP_BYTES``);
``tests/curation/services/test_snapshot_copy.py`` compares both paths.

It covers what most snapshots are: pairwise judgments, their preference table (preferred pairs, and
ties / both-bad when the options include them) and their unpaired (KTO) table (chosen and rejected of a
preferred pair, every response of a both-bad one), both from one pass over the judgments, either prompt
format, any filter, any split. Everything else (rankings,
ratings, edits, consensus-only snapshots with weights, SQLite) stays on the Python path, which is
also the reference this one is tested against. Preconditions the SQL relies on: payloads in the
canonical form of ``annotation.schemas`` (validated when a judgment is written) and prompts stored as
lists of ``{"role", "content"}`` messages.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from contextlib import suppress

from django.db import DatabaseError, connections
from django.db.models import QuerySet

from annotation.models import Judgment
from annotation.schemas import PAIRWISE
from curation.exporters.columns import schema_for
from curation.exporters.options import Table
from curation.exporters.raw import annotator_pseudonym, canonical_json
from curation.exporters.records import ExportContext, ResolvedPromptFormat
from curation.exporters.split import Split, split_of
from curation.exporters.trl import ExportError, strength_margin
from curation.exporters.writers import json_encoder

COLUMNS: dict[Table, list[str]] = {
    "preference": ["prompt", "chosen", "rejected", "margin", "tie", "origin"],
    "unpaired": ["prompt", "completion", "label", "origin"],
    "raw": [
        "judgment_id",
        "kind",
        "item_id",
        "prompt_id",
        "is_gold",
        "gold_correct",
        "annotator",
        "created_at",
        "time_spent_ms",
        "display_order",
        "prompt",
        "responses",
        "payload",
    ],
}
BATCH = 1000  # lines handed to the writers at a time

_encode = json_encoder(allow_nan=False)
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?")


def copy_tables(*, judgments: QuerySet[Judgment], ctx: ExportContext) -> list[Table]:
    """The tables of this snapshot that ``copy_rows`` can write (none: the Python path writes them all)."""
    if connections[judgments.db].vendor != "postgresql" or ctx.weighted:
        return []
    # The SQL below writes these columns: a schema change must change it too.
    tables = [t for t in ctx.options.tables if t in COLUMNS and schema_for(t, ctx.prompt_format).names == COLUMNS[t]]
    # A project has one task kind, so this finds nothing; it is here so that the rows are the Python
    # path's even if a judgment of another kind ever got in (ranking pairs, edits are not built here).
    if not tables or judgments.exclude(kind=PAIRWISE).exists():
        return []
    return tables


def _json_text(expression: str) -> str:
    return f"to_json({expression})::text"


def _completion(expression: str, ctx: ExportContext) -> str:
    if ctx.prompt_format == "conversational":
        return f"""'[{{"role":"assistant","content":' || {_json_text(expression)} || '}}]'"""
    return _json_text(expression)


def _prompt(prompt_format: ResolvedPromptFormat) -> str:
    if prompt_format == "conversational":
        # As exporters.trl.prompt_value (and exporters.raw.raw_row): role and content of each message, in order, nothing else.
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


def _unpaired_line(text: str, label: str, ctx: ExportContext) -> str:
    return (
        f"""'{{"prompt":' || pj.prompt || ',"completion":' || {_completion(text, ctx)} """
        f"""|| ',"label":{label},"origin":"pairwise"}}'"""
    )


# As exporters.raw.raw_row. U+0002 marks where Python puts what it alone can write: the annotator's
# pseudonym (an HMAC keyed by the site secret, which never goes to the database), and the payload and
# each response's source detail as JSON text in Python's key order and spacing (jsonb's text differs).
# JSON text escapes every control character, so the mark cannot occur in the line otherwise.
_RAW = """'{"judgment_id":' || j.id || ',"kind":' || to_json(j.kind)::text || ',"item_id":' || j.item_id
    || ',"prompt_id":' || j.prompt_id || ',"is_gold":' || j.is_gold::text
    || ',"gold_correct":' || COALESCE(j.gold_correct::text, 'null')
    || ',"annotator":' || chr(2)
    -- datetime.isoformat() of the UTC time: microseconds only when there are some
    || ',"created_at":"' || to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
    || CASE WHEN to_char(j.created_at, 'US') = '000000' THEN '' ELSE to_char(j.created_at, '.US') END || '+00:00"'
    || ',"time_spent_ms":' || COALESCE(j.time_spent_ms::text, 'null')
    || ',"display_order":' || CASE WHEN jsonb_typeof(j.display_order) = 'array' THEN COALESCE((
         SELECT '[' || string_agg(trunc(e.v::numeric)::bigint::text, ',' ORDER BY e.n) || ']'
         FROM jsonb_array_elements_text(j.display_order) WITH ORDINALITY AS e(v, n)), '[]') ELSE '[]' END
    || ',"prompt":' || {prompt}
    || ',"responses":' || COALESCE(cr.cells, '[]')
    || ',"payload":' || chr(2) || '}'"""


def _raw_line(ctx: ExportContext) -> str:
    # Raw rows always hold the conversation; a conversational snapshot has made its text already.
    return _RAW.replace("{prompt}", "pj.prompt" if ctx.prompt_format == "conversational" else _prompt("conversational"))


def _sql(ctx: ExportContext, tables: list[Table], ids_sql: str) -> str:
    options = ctx.options
    margin_texts = ", ".join(f"'{text}'" for text in _margins(ctx))
    # As exporters.trl._pairwise_pairs: which outcomes give a preference row...
    outcomes = ["'preferred'"] + ["'tie'"] * options.include_ties + ["'both_bad'"] * options.include_both_bad
    preference = f"{'preference' in tables} AND j.outcome IN ({', '.join(outcomes)})"
    # ...and as exporters.trl.pairwise_unpaired, which give unpaired rows (ties give none).
    unpaired = f"{'unpaired' in tables} AND j.outcome IN ('preferred', 'both_bad')"
    raw = "raw" in tables
    levels = int(ctx.strength_levels)
    # Standard rows hold one user turn; exporters.trl.prompt_value refuses anything else.
    format_check = (
        ""
        if ctx.prompt_format == "conversational"
        else "WHEN j.need AND (jsonb_array_length(p.messages) <> 1 OR p.messages->0->>'role' IS DISTINCT FROM 'user') "
        "THEN 'prompt ' || p.id || ' ' || jsonb_array_length(p.messages) "
    )
    # One COPY row per judgment: prompt hash (the split key), a problem ('' when none), the preference
    # line ('' when none), the unpaired lines joined by U+001E ('' when none): JSON text escapes every
    # control character, so that separator cannot occur inside a line; then the raw line ('' when the
    # table is not asked for) and what Python needs to finish it: project and annotator, the payload's
    # jsonb text, and the source details' texts joined by U+001E.
    # Interpolated: constants of this module, booleans, an int, validated number literals, and the
    # filter's SQL as Django's compiler wrote it (its values stay parameters): nothing a client typed.
    return f"""
COPY (
SELECT p.content_hash,
  CASE
    WHEN j.pair AND cr.chosen IS NULL THEN 'response ' || j.id || ' ' || COALESCE(x.chosen_id::text, '')
    WHEN j.pair AND cr.rejected IS NULL THEN 'response ' || j.id || ' ' || COALESCE(x.rejected_id::text, '')
    {format_check}
    WHEN j.need AND pj.prompt IS NULL THEN 'message'
    ELSE ''
  END,
  CASE WHEN j.preference THEN
    '{{"prompt":' || pj.prompt
    || ',"chosen":' || {_completion("cr.chosen", ctx)}
    || ',"rejected":' || {_completion("cr.rejected", ctx)}
    || ',"margin":' || CASE WHEN j.outcome = 'preferred'
                            THEN (ARRAY[{margin_texts}])[LEAST(GREATEST(x.level, 1), {levels})] ELSE '0.0' END
    || ',"tie":' || CASE WHEN j.outcome = 'preferred' THEN 'false' ELSE 'true' END
    || ',"origin":"pairwise"}}'
  ELSE '' END,
  CASE
    WHEN NOT j.unpaired THEN ''
    WHEN j.outcome = 'preferred' THEN {_unpaired_line("cr.chosen", "true", ctx)} || chr(30) || {_unpaired_line("cr.rejected", "false", ctx)}
    ELSE COALESCE(cr.lines, '')
  END,
  {_raw_line(ctx) if raw else "''"},
  j.project_id, j.annotator_id, {"j.payload" if raw else "''"}, {"COALESCE(cr.details, '')" if raw else "''"}
-- The judgments are sorted while their rows are narrow; every lookup after that is a nested loop
-- on an index (OFFSET 0 keeps each LATERAL from being flattened into a hash join), which keeps that
-- order, so the wide rows with their lines are never sorted (a 1M export sorted ~1 GB on disk).
FROM (
  SELECT j.*, j.preference OR j.unpaired AS need,
    j.preference OR (j.unpaired AND j.outcome = 'preferred') AS pair  -- needs the texts of a pair
  FROM (
    SELECT j.*, COALESCE({preference}, false) AS preference, COALESCE({unpaired}, false) AS unpaired
    FROM (
      SELECT j.id, j.item_id, j.created_at, i.prompt_id, j.payload, j.payload->>'outcome' AS outcome,
        j.kind, j.project_id, j.annotator_id, j.display_order, j.time_spent_ms, j.gold_correct, i.is_gold
      FROM annotation_judgment j JOIN annotation_item i ON i.id = j.item_id
      WHERE j.id IN ({ids_sql})
    ) j
  ) j
  ORDER BY j.prompt_id, j.created_at, j.id
) j
CROSS JOIN LATERAL (
  SELECT p.id, p.content_hash, p.messages FROM annotation_prompt p WHERE p.id = j.prompt_id OFFSET 0
) p
-- The prompt's JSON text, made once for the row's lines (NULL: a message without a role or content).
CROSS JOIN LATERAL (SELECT CASE WHEN j.need{" OR true" * (raw and ctx.prompt_format == "conversational")} THEN {_prompt(ctx.prompt_format)} END AS prompt OFFSET 0) pj
-- Ties and both-bad pairs: the item's first two responses (a one-time filter skips this otherwise).
LEFT JOIN LATERAL (
  SELECT array_agg(ir.response_id ORDER BY ir.position) AS ids FROM annotation_itemresponse ir
  WHERE ir.item_id = j.item_id AND j.preference AND j.outcome <> 'preferred'
) f ON true
CROSS JOIN LATERAL (
  SELECT
    CASE WHEN j.outcome = 'preferred' THEN (j.payload->>'preferred')::bigint ELSE f.ids[1] END AS chosen_id,
    CASE WHEN j.outcome = 'preferred' THEN (j.payload->>'rejected')::bigint ELSE f.ids[2] END AS rejected_id,
    CASE WHEN jsonb_typeof(j.payload->'strength_level') = 'number' AND (j.payload->>'strength_level')::numeric <> 0
         THEN trunc((j.payload->>'strength_level')::numeric)::int ELSE {levels} END AS level
) x
-- One walk of the item's responses (one index descent) gives everything the row needs from them:
-- both texts of the pair (only a response of the judgment's own item is found, as exporters.trl._text
-- requires), the unpaired rows of a both-bad judgment (every response, in item order, labelled false)
-- and the raw row's responses (in item order; the source details follow as texts, see _RAW).
LEFT JOIN LATERAL (
  SELECT max(r.text) FILTER (WHERE j.pair AND r.id = x.chosen_id) AS chosen,
    max(r.text) FILTER (WHERE j.pair AND r.id = x.rejected_id) AS rejected,
    string_agg({_unpaired_line("r.text", "false", ctx)}, chr(30) ORDER BY ir.position)
      FILTER (WHERE j.unpaired AND j.outcome = 'both_bad') AS lines,
    '[' || string_agg('{{"id":' || r.id || ',"position":' || ir.position || ',"text":' || to_json(r.text)::text
      || ',"source":' || to_json(r.source)::text || ',"source_detail":' || chr(2) || '}}', ',' ORDER BY ir.position)
      FILTER (WHERE {raw}) || ']' AS cells,
    string_agg(r.source_detail::text, chr(30) ORDER BY ir.position) FILTER (WHERE {raw}) AS details
  FROM annotation_itemresponse ir JOIN annotation_response r ON r.id = ir.response_id
  WHERE (j.pair OR {raw} OR (j.unpaired AND j.outcome = 'both_bad')) AND ir.item_id = j.item_id
) cr ON true
ORDER BY j.prompt_id, j.created_at, j.id
) TO STDOUT"""  # noqa: S608  # nosec


def _problem(text: str) -> ExportError:
    """The Python path's error for the same data (exporters.trl)."""
    word, first, second = [*text.split(" "), "", ""][:3]
    if word == "message":
        return ExportError("a prompt of this snapshot has a message without a role or a content")
    if word == "prompt":
        return ExportError(
            f"prompt {first} has {second} message(s) or a system message; the standard format holds one user "
            "turn only. Choose the conversational or auto prompt format."
        )
    if second:
        return ExportError(f"judgment {first} names response {second}, which is not in its item")
    return ExportError(f"judgment {first} has fewer than two responses in its item")


def _unescape(text: bytes) -> bytes:
    if text == b"\\N":  # NULL: caught as a problem in the SQL; here so that no NULL is ever written
        raise ExportError("a prompt of this snapshot has a message without a role or a content")
    # COPY's text format doubles every backslash; JSON text has no raw tab, newline or carriage return
    # for it to escape, so this is the only escape in a line.
    return text.replace(b"\\\\", b"\\") if b"\\" in text else text


_json_string = json.encoder.encode_basestring  # json.dumps(str, ensure_ascii=False), the same text
_DETAIL_CACHE = 10_000


class _RawFinisher:
    """Puts into a raw line from the COPY what only Python writes (see ``_RAW``), as exporters.raw does."""

    def __init__(self, ctx: ExportContext) -> None:
        self.key = ctx.annotator_key
        self.annotators: dict[bytes, bytes] = {}
        self.details: dict[bytes, bytes] = {}

    def _annotator(self, project_id: bytes, annotator_id: bytes) -> bytes:
        both = project_id + b":" + annotator_id
        value = self.annotators.get(both)
        if value is None:
            pseudonym = annotator_pseudonym(annotator_id=int(annotator_id), project_id=int(project_id), key=self.key)
            value = self.annotators[both] = _json_string(pseudonym).encode()
        return value

    def _detail(self, text: bytes) -> bytes:
        value = self.details.get(text)
        if value is None:
            if len(self.details) >= _DETAIL_CACHE:  # one distinct detail per generated response: bound it
                self.details = {}
            # As the selector reads it: JSON null (or any empty value) is {}.
            detail = json.loads(_unescape(text)) or {}
            value = self.details[text] = _json_string(canonical_json(detail)).encode()
        return value

    def __call__(self, line: bytes, project_id: bytes, annotator_id: bytes, payload: bytes, details: bytes) -> bytes:
        parts = _unescape(line).split(b"\x02")
        values = [
            self._annotator(project_id, annotator_id),
            *(self._detail(text) for text in details.split(b"\x1e") if details),
            _json_string(canonical_json(json.loads(_unescape(payload)))).encode(),
        ]
        if len(parts) != len(values) + 1:  # a mark inside a text: impossible for JSON text, checked anyway
            raise ExportError("a raw row could not be assembled (internal error)")
        out = [parts[0]]
        for value, part in zip(values, parts[1:], strict=True):
            out.append(value)
            out.append(part)
        return b"".join(out)


def copy_rows(
    *,
    judgments: QuerySet[Judgment],
    ctx: ExportContext,
    tables: list[Table],
    write: Callable[[Table, Split | None, list[bytes]], None],
) -> tuple[int, Counter[tuple[Table, Split | None]]]:
    """Stream the rows of ``tables`` (from ``copy_tables``) to ``write(table, split, lines)``, ``BATCH``
    lines at a time.

    Returns the number of judgments read (one COPY row each, with or without rows) and the rows
    written per table and split. Nothing else may use the connection while the COPY runs (a progress
    UPDATE on it waits for the COPY, which waits for us: a deadlock), so progress is reported by the
    caller when it returns; a 1M-judgment COPY takes seconds, well inside the stale-build limit.
    """
    options = ctx.options
    ids_sql, ids_params = judgments.order_by().values("pk").query.sql_with_params()
    splitting = options.test_fraction > 0
    buffers: dict[tuple[Table, Split | None], list[bytes]] = {}
    rows: Counter[tuple[Table, Split | None]] = Counter()
    done = 0
    last_hash = b""
    split: Split | None = None  # of the last prompt

    def add(table: Table, split: Split | None, line: bytes) -> None:
        key = (table, split)
        lines = buffers.get(key)
        if lines is None:
            lines = buffers[key] = []
        lines.append(line)
        rows[key] += 1
        if len(lines) >= BATCH:
            write(table, split, lines)
            lines.clear()

    finish = _RawFinisher(ctx)
    with connections[judgments.db].cursor() as cursor:
        # The estimate of this statement (nested loops over every judgment) is far above jit_above_cost,
        # and compiling it cost ~0.9 s of a 2.5 s run at 100k judgments for nothing: off for it only
        # (SET, not SET LOCAL: a transaction would hide the heartbeats written meanwhile).
        cursor.execute("SET jit = off")
        # Memoize put a cache in front of the prompt's lateral, keyed on the prompt's messages: it hashed
        # every prompt and almost never hit (one judgment per prompt is common); off, 8 % less time.
        cursor.execute("SET enable_memoize = off")
        try:
            with cursor.cursor.copy(_sql(ctx, tables, ids_sql), ids_params) as copy:
                # libpq hands COPY TO data over one row per call, its columns separated by tabs (see _sql).
                for block in copy:
                    done += 1
                    prompt_hash, problem, preference, unpaired, raw, *extra = bytes(block)[:-1].split(b"\t")
                    if problem:
                        raise _problem(problem.decode())
                    if raw:
                        add("raw", None, finish(raw, *extra))
                    if not (preference or unpaired):
                        continue
                    if splitting and prompt_hash != last_hash:
                        last_hash = prompt_hash
                        split = split_of(
                            prompt_hash.decode(), test_fraction=options.test_fraction, seed=options.split_seed
                        )
                    if preference:
                        add("preference", split, _unescape(preference))
                    if unpaired:
                        for line in unpaired.split(b"\x1e"):
                            add("unpaired", split, _unescape(line))
        finally:
            with suppress(DatabaseError):  # a dropped connection is closed anyway; the error above stands
                cursor.execute("RESET jit")
                cursor.execute("RESET enable_memoize")
    for (table, key), pending in buffers.items():
        if pending:
            write(table, key, pending)
    return done, rows
