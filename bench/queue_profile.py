"""Where a claim and a submit spend their time: CPU time and a CPU cProfile of N claim -> submit rounds.

Runs the whole Django stack (middleware, DRF, token auth, the queue service) through the test
client against a seeded Postgres project, so the profile shows server time without HTTP and
gunicorn. Prints the top functions by cumulative and by own time, and the SQL queries per round.

    .venv/bin/python -m bench.queue_profile --size 10000 --rounds 300
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections.abc import Callable

from bench import _common as c
from bench import _seed
from bench.queue import _answer

DB = "bench_queue_profile"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--paced",
        type=int,
        default=40,
        help="then this many rounds with --pause seconds of idleness before each: wall time (0: none)",
    )
    parser.add_argument("--pause", type=float, default=1.0)
    parser.add_argument(
        "--protocol",
        choices=("two-step", "one-step"),
        default="two-step",
        help="two-step: a claim and a submit request per item; one-step: one submit-next request per item",
    )
    args = parser.parse_args()
    info = c.machine()
    c.fresh_database(DB)
    c.django_setup(DB)
    from django.db import connection
    from django.test import Client

    project = _seed.project_create(name="profile")
    _seed.items_seed(project_id=project.pk, count=args.size)
    (token,) = _seed.annotators_create(project=project, count=1)
    _seed.analyze()
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")

    def round_trip() -> None:
        lease = client.post(f"/api/v1/projects/{project.pk}/queue/claim/").json()
        body = _answer(lease)  # the HTTP benchmark's answer
        done = client.post(
            f"/api/v1/projects/{project.pk}/assignments/{lease['id']}/submit/", body, content_type="application/json"
        )
        assert done.status_code == 201, done.content

    lease: dict = {}

    def one_step() -> None:
        nonlocal lease
        if not lease:
            lease = client.post(f"/api/v1/projects/{project.pk}/queue/claim/").json()
        body = _answer(lease)  # the HTTP benchmark's answer
        done = client.post(
            f"/api/v1/projects/{project.pk}/assignments/{lease['id']}/submit-next/",
            body,
            content_type="application/json",
        )
        assert done.status_code == 201, done.content
        lease = done.json()["next"]

    if args.protocol == "one-step":
        round_trip = one_step  # one request per judgment
        one_step()  # the claim, outside the rounds
    for _ in range(20):  # warm caches and imports
        round_trip()
    queries: list[tuple[float, str]] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            queries.append(((time.perf_counter() - start) * 1000, sql))

    with connection.execute_wrapper(record):
        round_trip()
    # CPU time, not wall time: on a shared machine the wall clock measures the neighbours too.
    start = time.process_time()
    for _ in range(args.rounds):
        round_trip()
    per_round = (time.process_time() - start) / args.rounds * 1000
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(args.rounds):
        round_trip()
    profiler.disable()
    # Wall time back to back, then after idleness (an annotator reads between answers): what a paced
    # request costs without HTTP; the gap is cold caches and idle CPUs waking for every round trip.
    walls = {"back to back": _walls(round_trip, args.paced, 0.0)}
    walls[f"after {args.pause:g} s idle"] = _walls(round_trip, args.paced, args.pause)
    print(
        f"{per_round:.1f} ms CPU per judgment ({args.protocol}) in this process (no profiler), {len(queries)} SQL queries:"
    )
    for ms, sql in queries:
        print(f"  {ms:6.2f} ms  {' '.join(sql.split())[:150]}")
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(args.top)
        print(out.getvalue())
    paced = {name: {"p50": c.percentile(v, 50), "p95": c.percentile(v, 95)} for name, v in walls.items() if v}
    for name, figures in paced.items():
        print(f"wall ms per judgment, {name}: p50 {figures['p50']:.1f}, p95 {figures['p95']:.1f}")
    c.save(
        "queue_profile",
        {
            "machine": info,
            "protocol": args.protocol,
            "ms_per_round": per_round,
            "queries": len(queries),
            "wall_ms": paced,
        },
    )
    c.drop_database(DB)


def _walls(round_trip: Callable[[], None], rounds: int, pause: float) -> list[float]:
    walls = []
    for _ in range(rounds):
        if pause:
            time.sleep(pause)
        start = time.perf_counter()
        round_trip()
        walls.append((time.perf_counter() - start) * 1000)
    return walls


if __name__ == "__main__":
    main()
