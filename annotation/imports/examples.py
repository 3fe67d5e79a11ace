"""One example row per shape and format, for the upload page (built for the project's item size)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from annotation.imports.records import Shape
from annotation.imports.shapes import PAIRWISE, Target


@dataclass(frozen=True)
class ShapeExample:
    shape: Shape
    label: str
    jsonl: str
    csv: str  # header and one row; empty where the shape needs nested values CSV cannot hold
    fits: bool  # whether this project accepts the shape
    note: str = ""


def shape_examples(target: Target) -> list[ShapeExample]:
    n = target.responses_per_item
    answers = [f"Answer {i}" for i in range(1, n + 1)]
    chat = [{"role": "user", "content": "What is 2+2?"}]

    def line(row: object) -> str:
        return json.dumps(row, ensure_ascii=False)

    return [
        ShapeExample(
            Shape.PROMPTS,
            Shape.PROMPTS.label,
            line({"prompt": "Write a haiku about rain.", "metadata": {"topic": "poetry"}}),
            'prompt,metadata\nWrite a haiku about rain.,"{""topic"": ""poetry""}"',
            fits=True,
            note="No items are created: the prompts wait for a policy to answer them.",
        ),
        ShapeExample(
            Shape.RESPONSES,
            Shape.RESPONSES.label,
            line({"prompt": chat, "responses": answers, "priority": 1.0}),
            ",".join(["prompt", *(f"response_{i}" for i in range(1, n + 1)), "priority"])
            + "\n"
            + ",".join(["What is 2+2?", *answers, "1.0"]),
            fits=True,
            note=f"Each row needs exactly {n} response{'s' if n != 1 else ''} in this project.",
        ),
        ShapeExample(
            Shape.PREFERENCE,
            Shape.PREFERENCE.label,
            line({"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"})
            + "\n"
            + line(
                {
                    "chosen": [*chat, {"role": "assistant", "content": "4"}],
                    "rejected": [*chat, {"role": "assistant", "content": "5"}],
                }
            ),
            "prompt,chosen,rejected\nWhat is 2+2?,4,5",
            fits=target.kind == PAIRWISE,
            note="Becomes a pairwise item; the given preference is kept in the prompt's metadata.",
        ),
        ShapeExample(
            Shape.MESSAGES,
            Shape.MESSAGES.label,
            line({"messages": [*chat, {"role": "assistant", "content": "4"}]}),
            "",
            fits=n == 1,
            note="For projects with one response per item (rating, critique and edit).",
        ),
    ]
