"""Export throughput and memory: a dataset snapshot of N pairwise judgments to JSONL and Parquet.

The snapshot is built as the worker builds it (``snapshot_create`` then ``snapshot_build``: the
selector's server-side cursor, the pure exporters, both file formats, sha256 of every file) in a
child process, so its peak RSS is its own. Figures per table set: judgments/s, data rows written/s
(all tables and formats counted once per format), peak RSS.

    .venv/bin/python -m bench.exports --sizes 20000,100000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

from bench import _common as c

DB = "bench_export"
TABLE_SETS = {
    "preference": ["preference"],
    "all": ["preference", "unpaired", "raw"],
    # The same tables through the Python exporters (the Postgres COPY path turned off): what the COPY
    # path gains, measured in the same run.
    "preference-python": ["preference"],
    "all-python": ["preference", "unpaired", "raw"],
}


def child_build(project_id: int, tables: str) -> None:
    """In a child: create and build one snapshot of the project; print JSON with time, rows and RSS."""
    c.django_setup(DB)
    from core.models import Project, User
    from curation.services import snapshot_files
    from curation.services.snapshots import snapshot_build, snapshot_create

    if tables.endswith("-python"):
        snapshot_files.copy_tables = lambda **_: []  # type: ignore[assignment]

    user = User.objects.create_superuser(username=f"researcher-{uuid.uuid4().hex[:8]}", password=None)
    project = Project.objects.get(pk=project_id)
    options = {"tables": TABLE_SETS[tables], "file_format": "both"}
    snapshot = snapshot_create(project=project, user=user, name=f"bench {tables}", filters=None, options=options)
    start = time.perf_counter()
    built = snapshot_build(snapshot_id=snapshot.pk)
    seconds = time.perf_counter() - start
    if built is None or built.status != "succeeded":
        raise RuntimeError(f"snapshot failed: {built and built.error}")
    counts = built.counts
    rows = sum(sum(v.values()) if isinstance(v, dict) else v for k, v in counts.items() if k != "judgments")
    print(json.dumps({"seconds": seconds, "judgments": counts["judgments"], "rows": rows, "rss_mb": c.peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20000,100000", help="judgments, comma-separated")
    parser.add_argument("--full", action="store_true", help="the 1M sizes: --sizes 100000,1000000")
    parser.add_argument(
        "--tables", default="preference,preference-python,all,all-python", help=f"table sets: {', '.join(TABLE_SETS)}"
    )
    parser.add_argument("--child", nargs=2, metavar=("PROJECT", "TABLES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.full:
        args.sizes = "100000,1000000"
    if args.child:
        child_build(int(args.child[0]), args.child[1])
        return
    info = c.machine()
    c.fresh_database(DB)
    c.django_setup(DB)
    from bench import _seed
    from core.models import User

    annotators = User.objects.bulk_create([User(username=f"judge{n}", password="!") for n in range(20)])  # noqa: S106
    projects = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        project = _seed.project_create(name=f"export-{size}")
        _seed.items_seed(project_id=project.pk, count=size)
        _seed.judgments_seed(project_id=project.pk, annotator_ids=[u.pk for u in annotators])
        projects[size] = project.pk
        print(f"seeded {size:,} judgments", file=sys.stderr)
    _seed.analyze()
    env = c.django_env(DB)
    runs = []
    for project_id in projects.values():
        for tables in args.tables.split(","):
            out = c.child_json(["-m", "bench.exports", "--child", str(project_id), tables], env)
            run: dict[str, Any] = {
                "judgments": out["judgments"],
                "tables": tables,
                "seconds": round(out["seconds"], 1),
                "judgments_per_s": round(out["judgments"] / out["seconds"]),
                "rows_written": out["rows"] * 2,  # every row goes to the JSONL and the Parquet file
                "rows_per_s": round(out["rows"] * 2 / out["seconds"]),
                "rss_mb": round(out["rss_mb"]),
                "loadavg": c.loadavg(),
            }
            runs.append(run)
            print(json.dumps(run), file=sys.stderr)
    headers = ["judgments", "tables", "seconds", "judgments/s", "rows written", "rows/s", "peak RSS MB"]
    keys = ["judgments", "tables", "seconds", "judgments_per_s", "rows_written", "rows_per_s", "rss_mb"]
    print(c.table([[r[k] for k in keys] for r in runs], headers))
    c.save("exports", {"machine": info, "runs": runs})
    c.drop_database(DB)


if __name__ == "__main__":
    main()
