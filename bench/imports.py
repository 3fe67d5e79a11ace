"""Import throughput and memory: JSONL and Parquet files of N prompt+2-response rows into a project.

The import runs as the worker runs it (``import_job_run``: check pass, then the write pass in one
transaction) in a child process, so its peak RSS is its own. The raw limit, measured in the same run:
``COPY`` of the same rows (read and parsed from the same file) into a plain table of the same
database. Figures: rows/s of each, their ratio, and peak RSS per file size (flat means the import
streams).

    .venv/bin/python -m bench.imports --sizes 20000,100000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench import _common as c

DB = "bench_import"
FILLER = " ".join(["lorem"] * 30)


def _row(n: int) -> dict[str, Any]:
    return {
        "prompt": f"Question {n}: {FILLER}?",
        "response_1": f"First answer to {n}: {FILLER}.",
        "response_2": f"Second answer to {n}: {FILLER}.",
    }


def files_make(rows: int, folder: Path) -> dict[str, Path]:
    """The same rows as JSONL (``responses`` list) and as Parquet (``response_1``/``response_2`` columns)."""
    folder.mkdir(parents=True, exist_ok=True)
    jsonl, parquet = folder / f"rows-{rows}.jsonl", folder / f"rows-{rows}.parquet"
    if not jsonl.exists():
        with jsonl.open("w") as out:
            for n in range(rows):
                r = _row(n)
                out.write(json.dumps({"prompt": r["prompt"], "responses": [r["response_1"], r["response_2"]]}) + "\n")
    if not parquet.exists():
        writer = None
        for start in range(0, rows, 50_000):
            batch = pa.Table.from_pylist([_row(n) for n in range(start, min(start + 50_000, rows))])
            writer = writer or pq.ParquetWriter(parquet, batch.schema)
            writer.write_table(batch)
        assert writer is not None
        writer.close()
    return {"jsonl": jsonl, "parquet": parquet}


def child_import(path: str, fmt: str) -> None:
    """In a child: a fresh project, an ImportJob on a copy of ``path``, ``import_job_run``; print JSON."""
    c.django_setup(DB)
    from django.conf import settings

    from annotation.models import Item
    from annotation.models_imports import ImportJob
    from annotation.services.imports import import_job_run
    from bench import _seed

    project = _seed.project_create(name=f"import-{uuid.uuid4().hex[:8]}")
    relative = f"imports/{uuid.uuid4().hex}.{fmt}"
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    job = ImportJob.objects.create(
        project=project,
        original_filename=Path(path).name,
        file_path=relative,
        file_size=target.stat().st_size,
        format=fmt,
    )
    start = time.perf_counter()
    done = import_job_run(job_id=job.pk)
    seconds = time.perf_counter() - start
    if done is None or done.status != "succeeded":
        raise RuntimeError(f"import failed: {done and done.errors}")
    items = Item.objects.filter(project=project).count()
    print(json.dumps({"seconds": seconds, "items": items, "rss_mb": c.peak_rss_mb()}))


def child_copy(path: str, fmt: str) -> None:
    """In a child: COPY the same rows, parsed from the same file, into a plain table; print JSON."""
    import psycopg

    rows = 0
    with psycopg.connect(c.db_url(DB)) as conn, conn.cursor() as cur:
        table = f"copy_{uuid.uuid4().hex[:8]}"
        cur.execute(f"CREATE TABLE {table} (prompt text, response_1 text, response_2 text)")
        start = time.perf_counter()
        with cur.copy(f"COPY {table} (prompt, response_1, response_2) FROM STDIN") as copy:
            if fmt == "jsonl":
                with open(path, "rb") as stream:
                    for line in stream:
                        doc = json.loads(line)
                        copy.write_row((doc["prompt"], *doc["responses"]))
                        rows += 1
            else:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
                    for r in batch.to_pylist():
                        copy.write_row((r["prompt"], r["response_1"], r["response_2"]))
                        rows += 1
        conn.commit()
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": rows, "rss_mb": c.peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20000,100000", help="rows per file, comma-separated")
    parser.add_argument("--full", action="store_true", help="the 1M sizes: --sizes 100000,1000000")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.full:
        args.sizes = "100000,1000000"
    if args.child:
        kind, path, fmt = args.child
        (child_import if kind == "import" else child_copy)(path, fmt)
        return
    info = c.machine()
    c.fresh_database(DB)
    env = c.django_env(DB)
    runs = []
    for size in [int(s) for s in args.sizes.split(",")]:
        files = files_make(size, c.RESULTS / "data" / "import-files")
        for fmt, path in files.items():
            copy = c.child_json(["-m", "bench.imports", "--child", "copy", str(path), fmt], env)
            imp = c.child_json(["-m", "bench.imports", "--child", "import", str(path), fmt], env)
            assert imp["items"] == size, imp
            run = {
                "rows": size,
                "format": fmt,
                "file_mb": round(path.stat().st_size / 2**20, 1),
                "import_rows_per_s": round(size / imp["seconds"]),
                "import_rss_mb": round(imp["rss_mb"]),
                "copy_rows_per_s": round(size / copy["seconds"]),
                "copy_rss_mb": round(copy["rss_mb"]),
                "ratio": f"{copy['seconds'] / imp['seconds']:.3f}",
                "loadavg": c.loadavg(),
            }
            runs.append(run)
            print(json.dumps(run), file=sys.stderr)
    headers = ["rows", "format", "file MB", "import rows/s", "RSS MB", "COPY rows/s", "COPY RSS MB", "import/COPY"]
    keys = [
        "rows",
        "format",
        "file_mb",
        "import_rows_per_s",
        "import_rss_mb",
        "copy_rows_per_s",
        "copy_rss_mb",
        "ratio",
    ]
    print(c.table([[r[k] for k in keys] for r in runs], headers))
    c.save("imports", {"machine": info, "runs": runs})
    c.drop_database(DB)


if __name__ == "__main__":
    main()
