"""What the simulation found: a summary table, the rounds as JSON and CSV, and a plot of accuracy vs labels.

Pure functions over ``StrategyResult`` lists (no ORM). The plot is an SVG written by hand: matplotlib is not
a dependency of the project, and a dozen lines and labels do not need one.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from html import escape
from typing import Any

from models_registry.models import PriorityStrategy
from models_registry.simulation import SimulationConfig, StrategyResult

COLOURS = {"random": "#7f7f7f", "fifo": "#1f77b4", "uncertainty": "#d62728", "ensemble": "#2ca02c"}
CSV_FIELDS = (
    "strategy",
    "round",
    "labels",
    "heldout_accuracy",
    "active_accuracy",
    "gate",
    "scored_with",
    "checkpoint",
    "active_checkpoint",
    "seconds",
)


@dataclass(frozen=True)
class Summary:
    strategy: str
    labels: int
    final_accuracy: float | None
    best_accuracy: float | None
    final_active_accuracy: float | None
    labels_to_random_final: int | None  # None: never reached random's final accuracy
    promoted: int
    held: int


def labels_to_reach(result: StrategyResult, target: float | None) -> int | None:
    """The fewest labels after which this strategy's trained model was at least ``target`` accurate."""
    if target is None:
        return None
    for row in result.rounds:
        if row.heldout_accuracy is not None and row.heldout_accuracy >= target - 1e-9:
            return row.labels
    return None


def _final(result: StrategyResult) -> float | None:
    return result.rounds[-1].heldout_accuracy if result.rounds else None


def summarise(results: Sequence[StrategyResult]) -> list[Summary]:
    """One row per strategy. The target is the random strategy's final accuracy (None without random)."""
    target = next((_final(r) for r in results if r.strategy == PriorityStrategy.RANDOM), None)
    rows = []
    for result in results:
        accuracies = [r.heldout_accuracy for r in result.rounds if r.heldout_accuracy is not None]
        rows.append(
            Summary(
                strategy=result.strategy,
                labels=result.rounds[-1].labels if result.rounds else 0,
                final_accuracy=_final(result),
                best_accuracy=max(accuracies) if accuracies else None,
                final_active_accuracy=result.rounds[-1].active_accuracy if result.rounds else None,
                labels_to_random_final=labels_to_reach(result, target),
                promoted=sum(r.gate == "auto_promote" for r in result.rounds),
                held=sum(r.gate == "gate_hold" for r in result.rounds),
            )
        )
    return rows


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(results: Sequence[StrategyResult]) -> str:
    """A Markdown table (it reads fine in a terminal too)."""
    lines = [
        "| strategy | labels | final acc. | best acc. | active acc. | labels to reach random's final | "
        "promoted / held |",
        "|---|---|---|---|---|---|---|",
    ]
    has_random = any(r.strategy == PriorityStrategy.RANDOM for r in results)
    for s in summarise(results):
        reach = "not reached" if s.labels_to_random_final is None else str(s.labels_to_random_final)
        if not has_random:
            reach = "-"  # no random run to compare with
        lines.append(
            f"| {s.strategy} | {s.labels} | {_number(s.final_accuracy)} | {_number(s.best_accuracy)} | "
            f"{_number(s.final_active_accuracy)} | {reach} | {s.promoted} / {s.held} |"
        )
    return "\n".join(lines)


def rounds_csv(results: Sequence[StrategyResult]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for result in results:
        for row in result.rounds:
            writer.writerow(asdict(row))
    return out.getvalue()


def results_json(results: Sequence[StrategyResult], config: SimulationConfig, extra: dict[str, Any]) -> str:
    return json.dumps(
        {
            "config": {**asdict(config), "train_params": dict(config.train_params)},
            **extra,
            "summary": [asdict(s) for s in summarise(results)],
            "strategies": [asdict(r) for r in results],
        },
        indent=2,
    )


def plot_svg(results: Sequence[StrategyResult], *, title: str) -> str:
    """Held-out accuracy against labels, one line per strategy, random's final accuracy dashed."""
    width, height, left, right, top, bottom = 640, 400, 60, 150, 40, 50
    points = [(r.labels, r.heldout_accuracy) for s in results for r in s.rounds if r.heldout_accuracy is not None]
    max_x = max((x for x, _ in points), default=1) or 1
    low = min((y for _, y in points), default=0.5)
    y_min, y_max = max(0.0, round(low - 0.05, 1)), 1.0

    def sx(x: float) -> float:
        return left + (width - left - right) * x / max_x

    def sy(y: float) -> float:
        return top + (height - top - bottom) * (y_max - y) / (y_max - y_min)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<text x="{(left + sx(max_x)) / 2}" y="{height - 12}" text-anchor="middle">labels (judgments)</text>',
        f'<text x="15" y="{(top + sy(y_min)) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 15 {(top + sy(y_min)) / 2})">held-out accuracy</text>',
    ]
    for step in range(11):
        y = y_min + (y_max - y_min) * step / 10
        parts.append(f'<line x1="{left - 4}" y1="{sy(y):.1f}" x2="{sx(max_x)}" y2="{sy(y):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 8}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
    for step in range(6):
        x = max_x * step / 5
        parts.append(f'<text x="{sx(x):.1f}" y="{sy(y_min) + 18:.1f}" text-anchor="middle">{x:.0f}</text>')
    # The axes after the grid, so the lowest grid line does not paint over the x axis.
    parts.append(f'<line x1="{left}" y1="{sy(y_min)}" x2="{sx(max_x)}" y2="{sy(y_min)}" stroke="black"/>')
    parts.append(f'<line x1="{left}" y1="{sy(y_min)}" x2="{left}" y2="{sy(y_max)}" stroke="black"/>')
    target = next((_final(r) for r in results if r.strategy == PriorityStrategy.RANDOM), None)
    if target is not None:
        parts.append(
            f'<line x1="{left}" y1="{sy(target):.1f}" x2="{sx(max_x)}" y2="{sy(target):.1f}" stroke="#7f7f7f" '
            'stroke-dasharray="4 4"/>'
        )
    for n, result in enumerate(results):
        colour = COLOURS.get(result.strategy, "#9467bd")
        xy = [(sx(r.labels), sy(r.heldout_accuracy)) for r in result.rounds if r.heldout_accuracy is not None]
        if xy:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in xy)
        legend_y = top + 20 * n
        parts.append(
            f'<line x1="{width - right + 15}" y1="{legend_y}" x2="{width - right + 40}" y2="{legend_y}" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(f'<text x="{width - right + 46}" y="{legend_y + 4}">{escape(result.strategy)}</text>')
    if target is not None:
        legend_y = top + 20 * len(results)
        parts.append(
            f'<line x1="{width - right + 15}" y1="{legend_y}" x2="{width - right + 40}" y2="{legend_y}" '
            'stroke="#7f7f7f" stroke-dasharray="4 4"/>'
        )
        parts.append(f'<text x="{width - right + 46}" y="{legend_y + 4}">random, final</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def results_load(text: str) -> list[StrategyResult]:
    """The strategies of a ``results.json``, to re-plot or compare runs without running them again."""
    from models_registry.simulation import RoundResult

    loaded = []
    for entry in json.loads(text)["strategies"]:
        rounds = [RoundResult(**row) for row in entry.pop("rounds")]
        loaded.append(StrategyResult(**entry, rounds=rounds))
    return loaded
