"""``manage.py simulate_loop``: measure labels-to-accuracy of each queue strategy with simulated annotators.

Examples::

    manage.py simulate_loop --synthetic 200 --rounds 6 --labels-per-round 10          # CPU, minutes
    manage.py simulate_loop data/prefs.jsonl --pool 5000 --heldout 500 \\
        --base-model /models/qwen2-0.5b --preset gpu-default --labels-per-round 500  # a GPU box

Writes ``results.json``, ``rounds.csv``, ``summary.md`` and ``accuracy.svg`` into ``--output`` and prints the
summary table. Each strategy gets a fresh project in the configured database, named "Simulation · ...".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from models_registry.simulation import TINY_TRAIN_PARAMS, SimulationConfig, SimulationError, StrategyResult, simulate
from models_registry.simulation_data import SimulationData, SimulationDataError, simulation_data
from models_registry.simulation_report import plot_svg, results_json, rounds_csv, table
from training.presets import PRESETS

DEFAULT_STRATEGIES = "random,fifo,uncertainty,ensemble"


def _tiny_base(folder: Path, data: SimulationData, seed: int) -> Path:
    """A tiny offline base model whose tokenizer was trained on the data (imports torch: this process only)."""
    from ml.tiny import build_tiny_causal_lm

    return build_tiny_causal_lm(folder, data.corpus, seed=seed)


class Command(BaseCommand):
    help = "Run the closed loop with simulated annotators for each queue strategy and compare labels-to-accuracy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "data", nargs="?", type=Path, help="Preference file (prompt/chosen/rejected): JSONL, CSV, Parquet."
        )
        parser.add_argument("--synthetic", type=int, help="Use N generated pairs (ml.synthetic) as the pool instead.")
        parser.add_argument("--pool", type=int, help="At most this many pool pairs from the data file.")
        parser.add_argument("--heldout", type=int, default=100, help="Held-out pairs (fixed, noise-free yardstick).")
        parser.add_argument("--test-fraction", type=float, default=0.25, help="Split fraction by prompt (<= 0.5).")
        parser.add_argument("--strategies", default=DEFAULT_STRATEGIES, help="Comma-separated queue strategies.")
        parser.add_argument("--annotators", type=int, default=3)
        parser.add_argument("--noise", type=float, default=0.1, help="Chance an annotator picks the wrong answer.")
        parser.add_argument("--position-bias", type=float, default=0.0, help="Chance of picking the first shown.")
        parser.add_argument("--labels-per-round", type=int, default=20, help="Judgments between two trainings (R).")
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--ensemble-size", type=int, default=3)
        parser.add_argument(
            "--base-model", type=Path, help="Local base model folder; default: a tiny model built here."
        )
        parser.add_argument("--preset", choices=sorted(PRESETS), help="Training preset instead of the tiny CPU one.")
        parser.add_argument("--train-params", default="{}", help="JSON object of reward-run parameters (on top).")
        parser.add_argument("--output", type=Path, help="Folder for the results (default var/simulations/<time>).")

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path = options["output"] or Path("var/simulations") / timezone.now().strftime("%Y%m%d-%H%M%S")
        output.mkdir(parents=True, exist_ok=True)
        try:
            extra = json.loads(options["train_params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--train-params is not JSON: {exc}") from exc
        params = PRESETS[options["preset"]].params_for("reward") if options["preset"] else dict(TINY_TRAIN_PARAMS)
        config = SimulationConfig(
            strategies=tuple(s.strip() for s in options["strategies"].split(",") if s.strip()),
            annotators=options["annotators"],
            noise=options["noise"],
            position_bias=options["position_bias"],
            labels_per_round=options["labels_per_round"],
            rounds=options["rounds"],
            seed=options["seed"],
            ensemble_size=options["ensemble_size"],
            train_params={**params, **extra},
        )
        if config.problems():
            raise CommandError("; ".join(config.problems()))
        try:
            data = simulation_data(
                path=options["data"],
                synthetic=options["synthetic"],
                heldout=options["heldout"],
                pool=options["pool"],
                seed=options["seed"],
                test_fraction=options["test_fraction"],
            )
        except (SimulationDataError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{len(data.pool)} pool pairs, {len(data.heldout)} held-out pairs; writing to {output}")
        base = options["base_model"] or _tiny_base(output / "base-model", data, config.seed)

        def log(strategy: str, result: StrategyResult) -> None:
            last = result.rounds[-1] if result.rounds else None
            self.stdout.write(
                f"{strategy}: {len(result.rounds)} rounds, {last.labels if last else 0} labels, "
                f"held-out accuracy {last.heldout_accuracy if last else None}"
            )

        try:
            results = simulate(data=data, base_dir=base, config=config, log=log)
        except SimulationError as exc:
            raise CommandError(str(exc)) from exc
        source = str(options["data"]) if options["data"] else f"synthetic:{options['synthetic']}"
        summary = table(results)
        (output / "results.json").write_text(
            results_json(results, config, {"data": source, "pool": len(data.pool), "heldout": len(data.heldout)}),
            encoding="utf-8",
        )
        (output / "rounds.csv").write_text(rounds_csv(results), encoding="utf-8")
        (output / "summary.md").write_text(summary + "\n", encoding="utf-8")
        title = f"Held-out accuracy vs labels ({source}, seed {config.seed})"
        (output / "accuracy.svg").write_text(plot_svg(results, title=title), encoding="utf-8")
        self.stdout.write(summary)
