"""Parsers and shape checks, without a database: every malformed case names its line and field."""

from __future__ import annotations

import io

import pyarrow as pa
import pytest

from annotation.hashing import content_hash
from annotation.imports.parsers import jsonl_rows, parquet_row_count, sniff
from annotation.imports.pipeline import RowChecker
from annotation.imports.records import FileFormat, Record, RowError, Shape
from annotation.imports.shapes import Target, shape_detect
from tests.annotation.imports.files import chat, csv_bytes, jsonl, parquet_bytes

PAIRWISE = Target("pairwise", 2)
RANKING3 = Target("ranking", 3)
RATING = Target("rating", 1)
J, C, P = FileFormat.JSONL, FileFormat.CSV, FileFormat.PARQUET
GOOD = {"prompt": "Q?", "responses": ["A", "B"]}
LIMIT = 2_000


def check(data: bytes, fmt: FileFormat, target: Target = PAIRWISE, shape: Shape | None = None, limit: int = LIMIT):
    checker = RowChecker(fmt=fmt, target=target, shape=shape, max_record_bytes=limit)
    rows = list(checker.rows(io.BytesIO(data)))
    records = [r.record for r in rows if r.record is not None]
    errors = [e for r in rows for e in r.errors]
    return records, errors, checker.shape


# --- Malformed input: (format, file, target, expected line, expected field, part of the message) ---

MALFORMED = {
    # JSONL
    "bad JSON on line 3": (J, jsonl(GOOD, GOOD, '{"prompt": "Q", '), PAIRWISE, 3, "", "not valid JSON"),
    "not an object": (J, jsonl(GOOD, '["Q", "A", "B"]'), PAIRWISE, 2, "", "JSON object"),
    "not UTF-8": (J, jsonl(GOOD).replace(b"Q?", b"Q\xff"), PAIRWISE, 1, "", "not UTF-8"),
    "missing field": (J, jsonl(GOOD, {"prompt": "Q2"}), PAIRWISE, 2, "responses", "is required"),
    "unknown field": (J, jsonl(GOOD, {**GOOD, "score": 3}), PAIRWISE, 2, "score", "unknown field"),
    "prompt of wrong type": (J, jsonl(GOOD, {**GOOD, "prompt": 7}), PAIRWISE, 2, "prompt", "string or a list"),
    "empty prompt": (J, jsonl({**GOOD, "prompt": "  "}), PAIRWISE, 1, "prompt", "must not be empty"),
    "null prompt": (J, jsonl({**GOOD, "prompt": None}), PAIRWISE, 1, "prompt", "is required"),
    "message without role": (
        J,
        jsonl({**GOOD, "prompt": [{"content": "hi"}]}),
        PAIRWISE,
        1,
        "prompt[0]",
        "exactly 'role' and 'content'",
    ),
    "unknown role": (
        J,
        jsonl({**GOOD, "prompt": [{"role": "tool", "content": "hi"}]}),
        PAIRWISE,
        1,
        "prompt[0].role",
        "system, user, assistant",
    ),
    "content of wrong type": (
        J,
        jsonl({**GOOD, "prompt": [{"role": "user", "content": ["hi"]}]}),
        PAIRWISE,
        1,
        "prompt[0].content",
        "must be a string",
    ),
    "responses not a list": (J, jsonl({**GOOD, "responses": "A"}), PAIRWISE, 1, "responses", "list of strings"),
    "too few responses": (J, jsonl(GOOD, {**GOOD, "responses": ["A"]}), PAIRWISE, 2, "responses", "exactly 2"),
    "too many responses": (J, jsonl({**GOOD, "responses": ["A", "B", "C"]}), PAIRWISE, 1, "responses", "found 3"),
    "response of wrong type": (J, jsonl({**GOOD, "responses": ["A", 2]}), PAIRWISE, 1, "responses[1]", "string"),
    "empty response": (J, jsonl({**GOOD, "responses": ["A", ""]}), PAIRWISE, 1, "responses[1]", "must not be empty"),
    "identical responses": (J, jsonl({**GOOD, "responses": ["A", "A"]}), PAIRWISE, 1, "responses", "must differ"),
    "priority of wrong type": (J, jsonl({**GOOD, "priority": "high"}), PAIRWISE, 1, "priority", "number"),
    "priority true": (J, jsonl({**GOOD, "priority": True}), PAIRWISE, 1, "priority", "number"),
    "metadata not an object": (J, jsonl({**GOOD, "metadata": [1]}), PAIRWISE, 1, "metadata", "object"),
    "metadata with the reserved key": (
        J,
        jsonl({**GOOD, "metadata": {"imported_preferences": []}}),
        PAIRWISE,
        1,
        "metadata.imported_preferences",
        "written by the importer",
    ),
    "oversized record": (J, jsonl(GOOD, {**GOOD, "prompt": "x" * LIMIT}), PAIRWISE, 2, "", "larger than the limit"),
    "no recognisable shape": (J, jsonl({"question": "Q"}), PAIRWISE, 1, "", "cannot tell the shape"),
    "empty file": (J, b"", PAIRWISE, None, "", "no rows"),
    "only blank lines": (J, b"\n  \n\n", PAIRWISE, None, "", "no rows"),
    "preference into a rating project": (
        J,
        jsonl({"prompt": "Q", "chosen": "A", "rejected": "B"}),
        RATING,
        1,
        "chosen",
        "import them into a pairwise project",
    ),
    "conversations into a pairwise project": (
        J,
        jsonl({"messages": chat("Q", "A")}),
        PAIRWISE,
        1,
        "messages",
        "needs 2",
    ),
    "conversation ending with the user": (
        J,
        jsonl({"messages": chat("Q", "A", "Q2")}),
        RATING,
        1,
        "messages",
        "must end with the assistant",
    ),
    "standard preference without prompt": (
        J,
        jsonl({"chosen": "A", "rejected": "B"}),
        PAIRWISE,
        1,
        "prompt",
        "is required unless",
    ),
    "chosen equals rejected": (
        J,
        jsonl({"prompt": "Q", "chosen": "A", "rejected": "A"}),
        PAIRWISE,
        1,
        "rejected",
        "must differ",
    ),
    "implicit prompts that differ": (
        J,
        jsonl({"chosen": chat("Q", "A"), "rejected": chat("Other Q", "B")}),
        PAIRWISE,
        1,
        "rejected",
        "share every turn but the last",
    ),
    "conversational answer of two turns": (
        J,
        jsonl({"prompt": chat("Q"), "chosen": chat("Q", "A")[1:] * 2, "rejected": chat("Q", "B")[1:]}),
        PAIRWISE,
        1,
        "chosen",
        "one assistant message",
    ),
    # CSV (the header is row 1)
    "CSV unknown column": (
        C,
        csv_bytes(["prompt", "response_1", "response_2", "score"]),
        PAIRWISE,
        1,
        "score",
        "unknown column",
    ),
    "CSV duplicate column": (C, csv_bytes(["prompt", "prompt"]), PAIRWISE, 1, "prompt", "appears twice"),
    "CSV gap in response columns": (
        C,
        csv_bytes(["prompt", "response_1", "response_3"]),
        PAIRWISE,
        1,
        "response_1",
        "response_1 … response_N",
    ),
    "CSV responses column": (
        C,
        csv_bytes(["prompt", "responses"]),
        PAIRWISE,
        1,
        "responses",
        "one response per column",
    ),
    "CSV wrong number of response columns": (
        C,
        csv_bytes(["prompt", "response_1", "response_2", "response_3"], ["Q", "A", "B", "C"]),
        PAIRWISE,
        1,
        "response_3",
        "found 3 response columns",
    ),
    "CSV missing prompt column": (
        C,
        csv_bytes(["response_1", "response_2"], ["A", "B"]),
        PAIRWISE,
        1,
        "prompt",
        "is required",
    ),
    "CSV empty file": (C, b"", PAIRWISE, 1, "", "the file is empty"),
    "CSV header only": (C, csv_bytes(["prompt", "response_1", "response_2"]), PAIRWISE, None, "", "no rows"),
    "CSV short row": (
        C,
        csv_bytes(["prompt", "response_1", "response_2"], ["Q", "A", "B"], ["Q2", "A2"]),
        PAIRWISE,
        3,
        "",
        "expected 3 cells",
    ),
    "CSV empty response cell": (
        C,
        csv_bytes(["prompt", "response_1", "response_2"], ["Q", "A", "B"], ["Q2", "A2", ""]),
        PAIRWISE,
        3,
        "response_2",
        "must not be empty",
    ),
    "CSV bad priority": (
        C,
        csv_bytes(["prompt", "response_1", "response_2", "priority"], ["Q", "A", "B", "soon"]),
        PAIRWISE,
        2,
        "priority",
        "must be a number",
    ),
    "CSV bad metadata": (
        C,
        csv_bytes(["prompt", "metadata"], ["Q", "{not json"]),
        PAIRWISE,
        2,
        "metadata",
        "not valid JSON",
    ),
    "CSV unterminated quote": (
        C,
        b'prompt,response_1,response_2\nQ,A,B\nQ2,"A2,B2\n',
        PAIRWISE,
        3,
        "",
        "malformed CSV",
    ),
    "CSV oversized field": (
        C,
        csv_bytes(["prompt", "response_1", "response_2"], ["Q", "A", "B"], ["Q", "A", "x" * (LIMIT + 1)]),
        PAIRWISE,
        3,
        "",
        "larger than the limit",
    ),
    "CSV not UTF-8": (C, b"prompt\nQ\xff\n", PAIRWISE, 2, "", "not UTF-8"),
    "CSV preference into a ranking project": (
        C,
        csv_bytes(["prompt", "chosen", "rejected"], ["Q", "A", "B"]),
        RANKING3,
        1,
        "chosen",
        "pairwise project",
    ),
    # Parquet (rows from 1; schema problems belong to the whole file)
    "Parquet prompt of wrong type": (
        P,
        parquet_bytes([{"prompt": 1, "responses": ["A", "B"]}]),
        PAIRWISE,
        None,
        "prompt",
        "column type is int64",
    ),
    "Parquet responses of wrong type": (
        P,
        parquet_bytes([{"prompt": "Q", "responses": [1, 2]}]),
        PAIRWISE,
        None,
        "responses",
        "a list of strings",
    ),
    "Parquet priority of wrong type": (
        P,
        parquet_bytes([{"prompt": "Q", "responses": ["A", "B"], "priority": "high"}]),
        PAIRWISE,
        None,
        "priority",
        "a number",
    ),
    "Parquet messages of wrong struct": (
        P,
        parquet_bytes([{"messages": [{"role": "user", "text": "Q"}]}]),
        RATING,
        None,
        "messages",
        "{role, content}",
    ),
    "Parquet unknown column": (
        P,
        parquet_bytes([{"prompt": "Q", "responses": ["A", "B"], "score": 1.0}]),
        PAIRWISE,
        None,
        "score",
        "unknown field",
    ),
    "Parquet null in a required column": (
        P,
        parquet_bytes([{"prompt": "Q", "responses": ["A", "B"]}, {"prompt": None, "responses": ["A", "B"]}]),
        PAIRWISE,
        2,
        "prompt",
        "is required",
    ),
    "Parquet wrong number of responses": (
        P,
        parquet_bytes([{"prompt": "Q", "responses": ["A", "B"]}, {"prompt": "Q2", "responses": ["A"]}]),
        PAIRWISE,
        2,
        "responses",
        "exactly 2",
    ),
    "Parquet oversized row": (
        P,
        parquet_bytes([{"prompt": "Q", "responses": ["A", "B"]}, {"prompt": "x" * LIMIT, "responses": ["A", "B"]}]),
        PAIRWISE,
        2,
        "",
        "larger than the limit",
    ),
    "Parquet not a Parquet file": (P, b"PAR1 this is not parquet PAR1", PAIRWISE, None, "", "not a readable Parquet"),
    "Parquet with no rows": (
        P,
        parquet_bytes(table=pa.table({"prompt": pa.array([], pa.string())})),
        PAIRWISE,
        None,
        "",
        "no rows",
    ),
    "Parquet preference into a rating project": (
        P,
        parquet_bytes([{"prompt": "Q", "chosen": "A", "rejected": "B"}]),
        RATING,
        None,
        "chosen",
        "pairwise project",
    ),
}


@pytest.mark.parametrize(("fmt", "data", "target", "line", "field", "message"), MALFORMED.values(), ids=MALFORMED)
def test_malformed_input_names_its_line_and_field(fmt, data, target, line, field, message):
    _records, errors, _ = check(data, fmt, target)
    assert errors, "expected an error"
    error = errors[0]
    assert (error.line, error.field) == (line, field), error
    assert message in error.message
    where = "file" if line is None else f"line {line}"
    assert str(error).startswith(f"{where}, {field}: " if field else f"{where}: ")


def test_every_bad_row_is_reported_and_good_rows_still_parse():
    data = jsonl(GOOD, "{oops", {**GOOD, "responses": ["A"]}, {"prompt": "Q3", "responses": ["C", "D"]}, "[]")
    records, errors, shape = check(data, J)
    assert shape == Shape.RESPONSES
    assert [r.line for r in records] == [1, 4]
    assert [(e.line, e.field) for e in errors] == [(2, ""), (3, "responses"), (5, "")]


def test_an_oversized_line_is_skipped_without_losing_the_next_one():
    data = jsonl(GOOD, {**GOOD, "prompt": "x" * (LIMIT * 5)}, {"prompt": "Q3", "responses": ["C", "D"]})
    records, errors, _ = check(data, J)
    assert [r.line for r in records] == [1, 3]
    assert [(e.line, "larger" in e.message) for e in errors] == [(2, True)]


def test_jsonl_reads_a_long_line_in_bounded_pieces():
    # The parser never asks the stream for more than the record limit (+1) at a time.
    class Spy(io.BytesIO):
        biggest = 0

        def readline(self, size=-1):
            Spy.biggest = max(Spy.biggest, size)
            assert size > 0
            return super().readline(size)

    rows = list(jsonl_rows(Spy(jsonl({"prompt": "x" * 100_000}, GOOD)), max_record_bytes=1_000))
    assert [r.line for r in rows] == [1, 2]
    assert Spy.biggest <= 64 * 1024


# --- Well-formed input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "shape"),
    [
        ({"prompt"}, Shape.PROMPTS),
        ({"prompt", "metadata"}, Shape.PROMPTS),
        ({"prompt", "responses"}, Shape.RESPONSES),
        ({"prompt", "chosen", "rejected"}, Shape.PREFERENCE),
        ({"chosen", "rejected"}, Shape.PREFERENCE),
        ({"messages"}, Shape.MESSAGES),
        ({"text"}, None),
    ],
)
def test_shape_is_detected_from_the_keys(keys, shape):
    assert shape_detect(keys) == shape


def _texts(record: Record) -> tuple[str, ...]:
    return record.responses


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        (J, jsonl({"prompt": "Q?", "responses": ["A", "B"], "priority": 2, "metadata": {"src": "x"}})),
        (
            C,
            csv_bytes(
                ["prompt", "response_1", "response_2", "priority", "metadata"], ["Q?", "A", "B", "2", '{"src": "x"}']
            ),
        ),
        (P, parquet_bytes([{"prompt": "Q?", "responses": ["A", "B"], "priority": 2.0, "metadata": '{"src": "x"}'}])),
        (
            P,
            parquet_bytes(
                [{"prompt": "Q?", "response_1": "A", "response_2": "B", "priority": 2, "metadata": {"src": "x"}}]
            ),
        ),
    ],
    ids=["jsonl", "csv", "parquet list", "parquet columns"],
)
def test_prompt_and_responses_read_alike_in_every_format(fmt, data):
    [record], errors, shape = check(data, fmt)
    assert errors == []
    assert shape == Shape.RESPONSES
    assert record.messages == [{"role": "user", "content": "Q?"}]
    assert record.prompt_hash == content_hash([{"role": "user", "content": "Q?"}])
    assert record.responses == ("A", "B")
    assert record.response_hashes == (content_hash("A"), content_hash("B"))
    assert (record.priority, record.metadata, record.chosen) == (2.0, {"src": "x"}, None)


def test_csv_rows_count_the_header_and_keep_multiline_cells_whole():
    data = csv_bytes(["prompt", "response_1", "response_2"], ["line one\nline two", "A", "B"], ["Q", "C", "C"])
    records, errors, _ = check(data, C)
    assert records[0].messages[0]["content"] == "line one\nline two"
    assert records[0].line == 2
    assert [(e.line, e.field) for e in errors] == [(3, "responses")]


def test_csv_with_byte_order_mark_and_crlf():
    data = b"\xef\xbb\xbfprompt,response_1,response_2\r\nQ,A,B\r\n"
    [record], errors, _ = check(data, C)
    assert errors == []
    assert record.responses == ("A", "B")


def test_ranking_items_take_k_response_columns():
    data = csv_bytes(["prompt", "response_1", "response_2", "response_3"], ["Q", "A", "B", "C"])
    [record], errors, _ = check(data, C, RANKING3)
    assert errors == []
    assert record.responses == ("A", "B", "C")


def test_prompts_only_rows_have_no_responses():
    [record], errors, shape = check(jsonl({"prompt": chat("Hi"), "metadata": {"k": 1}}), J)
    assert shape == Shape.PROMPTS
    assert errors == []
    assert (record.responses, record.metadata) == ((), {"k": 1})


@pytest.mark.parametrize(
    "row",
    [
        {"prompt": "Q", "chosen": "Good", "rejected": "Bad"},
        {
            "prompt": chat("Q"),
            "chosen": [{"role": "assistant", "content": "Good"}],
            "rejected": [{"role": "assistant", "content": "Bad"}],
        },
        {"chosen": chat("Q", "Good"), "rejected": chat("Q", "Bad")},
    ],
    ids=["standard", "conversational", "implicit prompt"],
)
def test_preference_rows_become_a_pair_that_remembers_the_chosen_one(row):
    [record], errors, shape = check(jsonl(row), J)
    assert shape == Shape.PREFERENCE
    assert errors == []
    assert record.messages == chat("Q")
    assert set(record.responses) == {"Good", "Bad"}
    assert record.responses[record.chosen] == "Good"
    # Positions follow the hashes, so the chosen answer is not always shown first.
    assert list(record.response_hashes) == sorted(record.response_hashes)


def test_implicit_prompt_keeps_every_shared_turn():
    chosen = [{"role": "system", "content": "Be brief."}, *chat("Q", "A1", "Q2", "Good")]
    rejected = [*chosen[:-1], {"role": "assistant", "content": "Bad"}]
    [record], errors, _ = check(jsonl({"chosen": chosen, "rejected": rejected}), J)
    assert errors == []
    assert record.messages == chosen[:-1]


def test_messages_rows_split_off_the_last_assistant_turn():
    conversation = [{"role": "system", "content": "Be brief."}, *chat("Q", "A1", "Q2", "Final")]
    for fmt, data in (
        (J, jsonl({"messages": conversation, "priority": 1})),
        (P, parquet_bytes([{"messages": conversation, "priority": 1}])),
        (C, csv_bytes(["messages", "priority"], [__import__("json").dumps(conversation), "1"])),
    ):
        [record], errors, shape = check(data, fmt, RATING)
        assert (shape, errors) == (Shape.MESSAGES, [])
        assert record.messages == conversation[:-1]
        assert record.responses == ("Final",)


def test_a_given_shape_overrides_detection():
    records, errors, _ = check(jsonl({"prompt": "Q", "responses": ["A", "B"]}), J, shape=Shape.PROMPTS)
    assert records == []
    assert [(e.line, e.field) for e in errors] == [(1, "responses")]


def test_parquet_row_count_comes_from_the_footer():
    data = parquet_bytes([GOOD] * 7)
    assert parquet_row_count(io.BytesIO(data)) == 7
    assert parquet_row_count(io.BytesIO(b"nope")) is None


@pytest.mark.parametrize(
    ("fmt", "head", "tail", "problem"),
    [
        (J, b'{"prompt": "Q"}\n', b"", None),
        (J, b"\xef\xbb\xbf  {", b"", None),
        (J, b'["Q"]\n', b"", "starting with '{'"),
        (J, b"", b"", "empty"),
        (C, b"prompt\nQ\n", b"", None),
        (C, b"prompt\n\xc3", b"", None),  # a character cut at the end of the sniffed bytes
        (C, b"PK\x03\x04\x00\x00", b"", "binary file"),
        (C, b"prompt\n\xff\xfe", b"", "not UTF-8"),
        (P, b"PAR1....", b"....PAR1", None),
        (P, b"prompt\nQ", b"Q\n", "not a Parquet file"),
    ],
)
def test_sniffing_the_first_bytes(fmt, head, tail, problem):
    result = sniff(fmt, head, tail)
    assert (result is None) if problem is None else (problem in result)


def test_row_error_as_dict():
    assert RowError(3, "prompt", "is required").as_dict() == {"line": 3, "field": "prompt", "message": "is required"}
