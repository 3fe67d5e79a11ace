"""What every benchmark shares: the machine it ran on, its own databases, percentiles, results.

Benchmarks only ever touch Postgres databases whose names start with ``bench_``. The schema comes
from ``bench_template`` (migrated once, then copied with ``CREATE DATABASE ... TEMPLATE``), so a
fresh database costs a second instead of a full ``migrate``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
PG_SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
TEMPLATE = "bench_template"


def db_url(name: str) -> str:
    if not name.startswith("bench_"):
        raise ValueError(f"benchmarks use only databases named bench_*, not {name!r}")
    return f"{PG_SERVER}/{name}"


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True)


def _template_ready() -> bool:
    with _admin() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [TEMPLATE]).fetchone() is not None


def fresh_database(name: str) -> str:
    """Drop and re-create ``name`` (a ``bench_`` database) with the current schema; return its URL."""
    url = db_url(name)
    if not _template_ready():
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    # A no-op when the template is up to date; applies new migrations otherwise.
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=django_env(TEMPLATE), check=True
    )
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        # Another benchmark's `migrate` may hold a connection to the template for a moment:
        # Postgres then refuses to copy it ("source database is being accessed by other users").
        for attempt in range(30):
            try:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 29:
                    raise
                time.sleep(1)
    # Files (uploads, snapshots, runs) belong to the rows just dropped: start without them too.
    shutil.rmtree(RESULTS / "data" / name, ignore_errors=True)
    return url


def drop_database(name: str) -> None:
    db_url(name)  # refuses anything that is not ours
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def django_env(database: str, **extra: str) -> dict[str, str]:
    """Environment for a Django process on ``database``: production settings, DEBUG off."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DATABASE_URL=db_url(database),
        # A throwaway key for this run only (production refuses to boot without a strong one).
        DJANGO_SECRET_KEY=os.environ.get("BENCH_SECRET_KEY") or os.urandom(48).hex(),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        LOOP_DATA_DIR=str(RESULTS / "data" / database),
        CELERY_BROKER_URL="memory://",
        # The limiter still runs on every request (its cost is measured), but one saturated simulated
        # annotator sends more than the default 1,200 requests a minute a person never would.
        API_THROTTLE_USER="1000000/minute",
    )
    env.update(extra)
    (Path(env["LOOP_DATA_DIR"]) / "staticfiles").mkdir(parents=True, exist_ok=True)
    return env


def django_setup(database: str) -> None:
    """Configure and start Django in this process against ``database``."""
    env = django_env(database)
    env.setdefault("BENCH_SECRET_KEY", env["DJANGO_SECRET_KEY"])
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def machine() -> dict[str, Any]:
    """Cores, memory, load average and commit: stated beside every figure."""
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "commit": commit.stdout.strip() + ("+dirty" if dirty else ""),
        "loadavg_start": loadavg(),
    }


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def peak_rss_mb() -> float:
    """This process's peak resident set size since it started (``VmHWM``).

    Not ``getrusage().ru_maxrss``: Linux carries that across ``fork`` + ``exec``, so a child would
    report its parent's size whenever the parent was bigger.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - start


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain-text table, right-aligned numbers, for the terminal and for BENCHMARKS.md."""
    cells = [[f"{c:,.1f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join([line, rule, *body])


def save(name: str, result: dict[str, Any]) -> Path:
    """Write ``var/bench/<name>.json`` (with the load average at the end) and return its path."""
    result.setdefault("machine", {})["loadavg_end"] = loadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nmachine: {json.dumps(result['machine'])}\nwritten: {path.relative_to(ROOT)}")
    return path


def child_json(args: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a Python child and return the JSON object on the last line of its stdout.

    Measured work runs in a child so that its peak RSS is its own, not the parent's.
    """
    done = subprocess.run([PYTHON, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
