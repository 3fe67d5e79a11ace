"""Training overhead: the same reward-model and DPO training through the app and as a plain TRL script.

Through the app: ``run_create`` -> ``run_execute`` (what the Celery task calls): claim, write
``run.json``, the supervisor starts ``python -m ml.cli`` and records its progress, then registers the
checkpoint (hashes). Plain: ``python -m bench.trl_plain`` with the hyperparameters of that same
``run.json`` on the same exported snapshot file. Both on the CPU, fixed steps, no evaluation. The
figure is the wall-time ratio app / plain (target <= 1.05 on runs of at least a minute).

    .venv/bin/python -m bench.training --steps 400
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import _common as c

DB = "bench_training"


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the ml.cli child, the plain script)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400, help="optimizer steps per run")
    parser.add_argument("--items", type=int, default=400, help="judged pairs in the snapshot")
    parser.add_argument("--hidden", type=int, default=64, help="hidden size of the tiny model")
    parser.add_argument("--kinds", default="reward,dpo")
    args = parser.parse_args()
    info = c.machine()
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    c.fresh_database(DB)
    c.django_setup(DB)
    from django.conf import settings

    from bench import _seed
    from core.models import Membership, Role, User
    from curation.services.snapshots import snapshot_build, snapshot_create
    from ml.tiny import TinyLMConfig, build_tiny_causal_lm
    from models_registry.services import checkpoint_register_base
    from training.services.runs import run_create, run_execute

    admin = User.objects.create_user(username="trainer", password=None)
    project = _seed.project_create(name="training")
    Membership.objects.create(user=admin, project=project, role=Role.ADMIN)
    _seed.items_seed(project_id=project.pk, count=args.items, words=3)
    judges = User.objects.bulk_create([User(username=f"j{n}", password="!") for n in range(5)])  # noqa: S106
    _seed.judgments_seed(project_id=project.pk, annotator_ids=[u.pk for u in judges])
    snapshot = snapshot_create(
        project=project,
        user=admin,
        name="train",
        filters=None,
        options={"tables": ["preference"], "file_format": "jsonl"},
    )
    snapshot = snapshot_build(snapshot_id=snapshot.pk)
    if snapshot is None or snapshot.status != "succeeded":
        raise RuntimeError(f"snapshot failed: {snapshot and snapshot.error}")
    corpus = [f"Turn 0 of prompt {n}: lorem lorem lorem Answer {r} to {n}" for n in range(200) for r in range(2)]
    shape = TinyLMConfig(hidden_size=args.hidden, intermediate_size=2 * args.hidden)
    base_dir = build_tiny_causal_lm(Path(settings.MEDIA_ROOT) / "tiny-base", corpus, seed=0, config=shape)
    base = checkpoint_register_base(project=project, kind="policy", directory=base_dir, name="tiny base")
    params = {
        "device": "cpu",
        "max_steps": args.steps,
        "batch_size": 4,
        "learning_rate": 1e-4,
        "max_length": 128,
        "logging_steps": 10,
        "save_steps": args.steps,
        "eval_fraction": 0.0,
    }
    runs: list[dict[str, Any]] = []
    for kind in args.kinds.split(","):
        cpu_start = _cpu()
        start = time.perf_counter()
        run = run_create(project=project, user=admin, kind=kind, snapshot=snapshot, base_checkpoint=base, params=params)
        done = run_execute(run_id=run.pk)
        app_s = time.perf_counter() - start
        app_cpu = _cpu() - cpu_start
        if done is None or done.status != "succeeded":
            raise RuntimeError(f"run failed: {done and done.error}")
        config = Path(settings.MEDIA_ROOT) / done.folder / "run.json"
        plain_out = Path(settings.MEDIA_ROOT) / f"plain-{kind}"
        cpu_start = _cpu()
        start = time.perf_counter()
        plain = subprocess.run(
            [c.PYTHON, "-m", "bench.trl_plain", str(config), str(plain_out)],
            cwd=c.ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        plain_s = time.perf_counter() - start
        plain_cpu = _cpu() - cpu_start
        # The training loop's own time (Trainer's train_runtime) on each side. On a shared 2-core box the
        # loop's speed swings by several times with other load, so the fixed cost is wall minus loop.
        app_loop = float((done.metrics or {}).get("train_runtime") or 0.0)
        plain_loop = float(json.loads(plain.stdout.strip().splitlines()[-1])["train_runtime"])
        result = {
            "kind": kind,
            "steps": args.steps,
            "app_s": round(app_s, 1),
            "plain_s": round(plain_s, 1),
            "ratio": f"{app_s / plain_s:.3f}",
            "app_cpu_s": round(app_cpu, 1),
            "plain_cpu_s": round(plain_cpu, 1),
            "cpu_ratio": f"{app_cpu / plain_cpu:.3f}",
            "app_loop_s": round(app_loop, 1),
            "plain_loop_s": round(plain_loop, 1),
            "app_fixed_s": round(app_s - app_loop, 1),
            "plain_fixed_s": round(plain_s - plain_loop, 1),
            "loadavg": c.loadavg(),
        }
        runs.append(result)
        print(json.dumps(result), file=sys.stderr)
    keys = ["kind", "steps", "app_s", "plain_s", "ratio", "app_cpu_s", "plain_cpu_s", "cpu_ratio"]
    headers = ["kind", "steps", "app wall s", "plain TRL wall s", "wall ratio", "app CPU s", "plain CPU s", "CPU ratio"]
    print(c.table([[r[k] for k in keys] for r in runs], headers))
    keys = ["kind", "app_loop_s", "plain_loop_s", "app_fixed_s", "plain_fixed_s"]
    headers = ["kind", "app loop s", "plain loop s", "app wall - loop s", "plain wall - loop s"]
    print(c.table([[r[k] for k in keys] for r in runs], headers))
    c.save("training", {"machine": info, "params": params, "hidden": args.hidden, "runs": runs})
    c.drop_database(DB)


if __name__ == "__main__":
    main()
