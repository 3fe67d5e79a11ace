"""Queue latency and throughput: claim -> submit loops over real HTTP against gunicorn on Postgres.

Measures, per project size and number of concurrent annotators (one OS process each, token auth):
p50/p95/p99 of the claim request, of the submit request and of claim+submit, and judgments per
second. Two load shapes: *paced* (each annotator waits an exponentially distributed "reading time"
between items, like a person; this is the latency figure) and *saturated* (no wait; this is the
throughput figure). The raw limit, measured in the same run: ``pgbench`` TPC-B-like TPS on its own
database of the same server. Ends with ``EXPLAIN ANALYZE`` of the claim's SELECT at the largest size.

    .venv/bin/python -m bench.queue --sizes 10000,100000 --annotators 10,100
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import re
import resource
import signal
import subprocess
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench import _common as c
from bench import _seed

DB = "bench_queue"
PGBENCH_DB = "bench_pgbench"
PORT = int(os.environ.get("BENCH_PORT", "8765"))


def _post(path: str, token: str, body: dict[str, Any] | None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Host": "127.0.0.1"}
    conn.request("POST", path, body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, payload


def _timed_post(
    samples: list[Any], op: str, ok: int, path: str, token: str, body: dict[str, Any] | None
) -> tuple[int, bytes]:
    """POST ``path``; record (op, finished at, ms, status == ok) in ``samples``."""
    t0 = time.perf_counter()
    status, payload = _post(path, token, body)
    samples.append((op, time.time(), (time.perf_counter() - t0) * 1000, status == ok))
    return status, payload


def _answer(lease: dict[str, Any]) -> dict[str, Any]:
    payload = {"outcome": "preferred", "preferred": lease["responses"][0]["id"], "strength": "better"}
    return {"payload": payload, "client_key": uuid.uuid4().hex, "time_spent_ms": 1000}


def _annotator(
    project_id: int, token: str, until: float, think_s: float, seed: int, out: Connection, protocol: str = "two-step"
) -> None:
    """One simulated annotator: claim, submit, optionally 'read' for a while; send (op, ms, ok) back.

    ``two-step``: a claim request and a submit request per item. ``one-step``: one claim, then one
    ``submit-next`` request per item (it records the answer and returns the next lease: op "next").
    """
    rng = random.Random(seed)  # timing jitter, not security
    samples: list[tuple[str, float, float, bool]] = []  # (op, started, ms, ok)
    if protocol == "one-step":
        _one_step(project_id, token, until, think_s, rng, samples)
    while protocol == "two-step" and time.time() < until:
        status, body = _timed_post(samples, "claim", 200, f"/api/v1/projects/{project_id}/queue/claim/", token, None)
        if status != 200:
            break  # 204: the queue is empty for this annotator
        lease = json.loads(body)
        path = f"/api/v1/projects/{project_id}/assignments/{lease['id']}/submit/"
        _timed_post(samples, "submit", 201, path, token, _answer(lease))
        if think_s > 0:
            time.sleep(max(0.0, min(rng.expovariate(1 / think_s), until - time.time())))
    out.send(samples)
    out.close()


def _one_step(
    project_id: int, token: str, until: float, think_s: float, rng: random.Random, samples: list[Any]
) -> None:
    status, body = _timed_post(samples, "claim", 200, f"/api/v1/projects/{project_id}/queue/claim/", token, None)
    lease = json.loads(body) if status == 200 else None
    while lease is not None and time.time() < until:
        if think_s > 0:  # read first: here the lease arrives with the previous answer
            time.sleep(max(0.0, min(rng.expovariate(1 / think_s), until - time.time())))
            if time.time() >= until:
                break  # else every annotator, woken at the end of the run, sends its answer at once
        path = f"/api/v1/projects/{project_id}/assignments/{lease['id']}/submit-next/"
        status, body = _timed_post(samples, "next", 201, path, token, _answer(lease))
        lease = json.loads(body)["next"] if status == 201 else None


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` (from /proc; processes that are gone count nothing)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


class CpuProbe:
    """CPU seconds used so far by the gunicorn workers and by this database's Postgres backends.

    On a shared machine latency depends on the neighbours; CPU time per judgment does not, and says
    how many judgments per second one core can serve.
    """

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def workers(self) -> list[int]:
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.server_pid:
                    children.append(int(stat.parent.name))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
        return children

    def backends(self) -> list[int]:
        import psycopg

        try:
            conn = psycopg.connect(c.db_url(DB), autocommit=True)
        except psycopg.OperationalError:
            return []  # --floor-only: no benchmark database, no backends
        with conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [DB]
            ).fetchall()
        return [r[0] for r in rows]

    def read(self) -> tuple[float, float]:
        return _cpu_seconds(self.workers()), _cpu_seconds(self.backends())


def load_run(
    project_id: int,
    tokens: list[str],
    seconds: float,
    think_s: float,
    warmup_s: float,
    probe: CpuProbe | None = None,
    protocol: str = "two-step",
) -> dict[str, Any]:
    """Run ``len(tokens)`` annotator processes for ``seconds``; statistics over samples after the warm-up."""
    ctx = mp.get_context("fork")
    cpu_before = probe.read() if probe else (0.0, 0.0)
    clients_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time() + 0.5
    until = start + seconds
    pipes, procs = [], []
    for n, token in enumerate(tokens):
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_annotator, args=(project_id, token, until, think_s, n, send, protocol))
        proc.start()
        pipes.append(receive)
        procs.append(proc)
    samples = [s for pipe in pipes for s in pipe.recv()]
    for proc in procs:
        proc.join()
    cpu_after = probe.read() if probe else (0.0, 0.0)
    clients_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    clients_cpu = (clients_after.ru_utime + clients_after.ru_stime) - (
        clients_before.ru_utime + clients_before.ru_stime
    )
    all_judgments = max(sum(1 for op, _, _, ok in samples if op in ("submit", "next") and ok), 1)
    kept = [s for s in samples if s[1] >= start + warmup_s]
    window = max(until - (start + warmup_s), 1e-9)
    claims = [ms for op, _, ms, ok in kept if op == "claim" and ok]
    submits = [ms for op, _, ms, ok in kept if op == "submit" and ok]
    nexts = [ms for op, _, ms, ok in kept if op == "next" and ok]  # one-step: a judgment's whole cost
    # claim+submit per item: consecutive pairs of one annotator are interleaved in ``kept``; pair by order.
    pairs = _pair_sums(kept) + nexts
    return {
        "annotators": len(tokens),
        "think_s": think_s,
        "seconds": round(window, 1),
        "protocol": protocol,
        "judgments": len(submits) + len(nexts),
        "judgments_per_s": round((len(submits) + len(nexts)) / window, 1),
        "errors": sum(1 for _, _, _, ok in kept if not ok),
        # CPU per judgment (claim + submit), whole run including warm-up.
        "app_cpu_ms": round((cpu_after[0] - cpu_before[0]) * 1000 / all_judgments, 1),
        "db_cpu_ms": round((cpu_after[1] - cpu_before[1]) * 1000 / all_judgments, 1),
        "client_cpu_ms": round(clients_cpu * 1000 / all_judgments, 1),
        **{f"claim_p{q}": round(c.percentile(claims, q), 1) for q in (50, 95, 99)},
        **{f"submit_p{q}": round(c.percentile(submits or nexts, q), 1) for q in (50, 95, 99)},
        **{f"pair_p{q}": round(c.percentile(pairs, q), 1) for q in (50, 95, 99)},
    }


def _pair_sums(samples: list[tuple[str, float, float, bool]]) -> list[float]:
    sums, pending = [], None
    for op, _, ms, ok in samples:  # each annotator's samples are contiguous and in order
        if op == "claim":
            pending = ms if ok else None
        elif pending is not None and ok:
            sums.append(pending + ms)
            pending = None
    return sums


REFILL_BELOW = 20_000  # open items; a saturated run judges ~4k, so a 1M project never needs it


def queue_refill(project_id: int, size: int) -> bool:
    """Give a project that runs have drained (the 10k one) its queue back: no judgments, no leases.

    Every run then starts from the same queue; without it the fourth saturated run on 10k items found
    it empty. Vacuumed, so the claim's index walk does not meet the dead rows.
    """
    from django.db import connection, connections

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM annotation_item WHERE project_id = %s AND open_slots > 0", [project_id])
        (open_items,) = cur.fetchone()
        if open_items >= min(size, REFILL_BELOW):
            return False
        cur.execute("DELETE FROM annotation_judgment WHERE project_id = %s", [project_id])
        cur.execute("DELETE FROM annotation_assignment WHERE project_id = %s", [project_id])
        cur.execute(
            "UPDATE annotation_item SET open_slots = required, submitted_count = 0 WHERE project_id = %s", [project_id]
        )
        cur.execute("VACUUM ANALYZE annotation_item, annotation_assignment, annotation_judgment")
    connections.close_all()  # the annotator processes are forked from this one
    return True


def pgbench(clients: int, seconds: int) -> dict[str, Any]:
    """TPC-B-like TPS of this Postgres server, on its own database (scale 10)."""
    c.fresh_database(PGBENCH_DB)
    url = c.db_url(PGBENCH_DB)
    subprocess.run(["pgbench", "-i", "-q", "-s", "10", url], check=True, capture_output=True)
    done = subprocess.run(
        ["pgbench", "-c", str(clients), "-j", "2", "-T", str(seconds), url], check=True, capture_output=True, text=True
    )
    tps = float(re.search(r"tps = ([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    c.drop_database(PGBENCH_DB)
    return {"clients": clients, "seconds": seconds, "tps": tps}


def claim_plan(project: Any, token_user_id: int) -> str:
    """EXPLAIN ANALYZE of the claim's own SELECT for this annotator, as the queue writes it (rolled back)."""
    from django.db import connection, transaction

    from annotation.models import Item
    from annotation.services.queue import _FIRST_OPEN_SQL
    from core.db import columns

    sql = _FIRST_OPEN_SQL.format(columns=columns(Item, "i"), gold="", lock=" FOR UPDATE OF i SKIP LOCKED")
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, [project.pk, token_user_id])
        plan = "\n".join(row[0] for row in cur.fetchall())
        transaction.set_rollback(True)
    return f"{sql}\n\n{plan}"


def gunicorn(workers: int, app: str = "config.wsgi:application") -> subprocess.Popen[bytes]:
    # Connections kept for the whole run, so the CPU of each backend can be read from /proc.
    env = c.django_env(DB, DATABASE_CONN_MAX_AGE="600")
    args = [str(c.ROOT / ".venv/bin/gunicorn"), app, "-b", f"127.0.0.1:{PORT}"]
    args += ["--workers", str(workers), "--preload", "--timeout", "60", "--log-level", "warning"]
    proc = subprocess.Popen(args, cwd=c.ROOT, env=env, start_new_session=True)
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request("GET", "/")
            return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def http_floor(
    workers: int, counts: list[int], seconds: float, warmup: float, think: float = 0.0, protocols: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Runs against ``bench.http_floor`` (no Django, no database): the HTTP layer's own limit.

    Saturated runs of the two-step protocol (the throughput floor); with ``think`` > 0, also paced runs
    of each of ``protocols`` (the latency floor: the same annotator processes, idle between requests).
    """
    server = gunicorn(workers, "bench.http_floor:application")
    probe = CpuProbe(server.pid)
    runs = []
    shapes = [(0.0, "two-step", "saturated")] + [(think, p, "paced") for p in protocols if think > 0]
    try:
        load_run(0, ["floor"] * (2 * workers), 3, 0.0, 0)
        for pause, protocol, mode in shapes:
            for n in counts:
                run = load_run(0, ["floor"] * n, seconds, pause, warmup, probe, protocol)
                run.update(size=0, mode=f"http floor, {mode}", loadavg=c.loadavg())
                runs.append(run)
                print(json.dumps(run))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()
    return runs


def floor_table(floor: list[dict[str, Any]]) -> str:
    keys = ["mode", "protocol", "annotators", "claim_p50", "claim_p95", "submit_p50", "submit_p95", "pair_p95"]
    keys += ["judgments_per_s", "app_cpu_ms", "client_cpu_ms"]
    headers = ["floor", "protocol", "annot.", "claim p50", "p95", "submit p50", "p95", "pair p95", "judg./s"]
    headers += ["server CPU ms", "client CPU ms"]
    return c.table([[r.get(k) for k in keys] for r in floor], headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="project sizes, comma-separated")
    parser.add_argument("--full", action="store_true", help="the 1M sizes: --sizes 10000,100000,1000000")
    parser.add_argument("--annotators", default="10,100", help="concurrent annotators, comma-separated")
    parser.add_argument("--seconds", type=float, default=20, help="measured seconds per run (after warm-up)")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--think", type=float, default=5.0, help="mean reading time per item (paced runs), s")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn workers")
    parser.add_argument(
        "--protocol",
        default="both",
        choices=["two-step", "one-step", "both"],
        help="two-step: claim and submit requests per item; one-step: one submit-next request per item",
    )
    parser.add_argument("--floor-only", action="store_true", help="only pgbench and the HTTP floor (no Django)")
    args = parser.parse_args()
    if args.full:
        args.sizes = "10000,100000,1000000"
    sizes = [int(s) for s in args.sizes.split(",")]
    counts = [int(s) for s in args.annotators.split(",")]
    protocols = ["two-step", "one-step"] if args.protocol == "both" else [args.protocol]
    info = c.machine()

    raw = pgbench(clients=10, seconds=15)
    print(f"pgbench: {raw['tps']:.0f} TPS (TPC-B-like, 10 clients, scale 10)")
    if args.floor_only:
        floor = http_floor(args.workers, counts, args.seconds, args.warmup, args.think, tuple(protocols))
        print("\n" + floor_table(floor))
        best = max(r["judgments_per_s"] for r in floor)
        print(f"\nHTTP floor: {best} judgments/s = {best / raw['tps']:.2f} x pgbench TPS ({raw['tps']:.0f})")
        c.save("queue-floor", {"machine": info, "gunicorn_workers": args.workers, "pgbench": raw, "floor": floor})
        return

    c.fresh_database(DB)
    c.django_setup(DB)
    projects = []
    for size in sizes:
        project = _seed.project_create(name=f"queue-{size}")
        _seed.items_seed(project_id=project.pk, count=size)
        # Separate annotators per run: nobody starts with a live lease or a history in the project.
        tokens = _seed.annotators_create(
            project=project, count=2 * len(protocols) * sum(counts) + 2 * args.workers + 1, prefix=f"q{size}-"
        )
        projects.append((size, project, tokens))
        print(f"seeded {size:,} items")
    _seed.analyze()

    from django.db import connections

    connections.close_all()  # the annotator processes are forked from this one
    server = gunicorn(args.workers)
    probe = CpuProbe(server.pid)
    runs: list[dict[str, Any]] = []
    try:
        for size, project, tokens in projects:
            free = iter(tokens)
            # Warm every gunicorn worker (imports, connections, caches) before anything is measured.
            load_run(project.pk, [next(free) for _ in range(2 * args.workers)], 3, 0.0, 0)
            for think in (args.think, 0.0):
                for n in counts:
                    for protocol in protocols:
                        queue_refill(project.pk, size)
                        batch = [next(free) for _ in range(n)]
                        run = load_run(project.pk, batch, args.seconds, think, args.warmup, probe, protocol)
                        run.update(size=size, mode="paced" if think else "saturated", loadavg=c.loadavg())
                        runs.append(run)
                        print(json.dumps(run))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()
    floor = http_floor(args.workers, counts, args.seconds, args.warmup, args.think, tuple(protocols))

    result = {
        "machine": info,
        "gunicorn_workers": args.workers,
        "pgbench": raw,
        "runs": runs,
        "floor": floor,
        "plan": None,
    }
    c.save("queue", result)  # before the plan: a failure there must not lose the runs
    size, project, tokens = projects[-1]
    from rest_framework.authtoken.models import Token

    # The last annotator took part in no run (a one-step run ends holding a lease: its claim resumes it).
    plan = claim_plan(project, Token.objects.get(key=tokens[-1]).user_id)
    # one-step runs: "submit" is the submit-next request, which is also the pair (claims: the first only).
    headers = [
        "size",
        "mode",
        "protocol",
        "annot.",
        "claim p50",
        "p95",
        "p99",
        "submit p50",
        "p95",
        "p99",
        "pair p95",
        "judg./s",
    ]
    headers += ["app CPU ms", "db CPU ms", "client CPU ms"]
    keys = ["size", "mode", "protocol", "annotators", "claim_p50", "claim_p95", "claim_p99", "submit_p50", "submit_p95"]
    keys += ["submit_p99", "pair_p95", "judgments_per_s", "app_cpu_ms", "db_cpu_ms", "client_cpu_ms"]
    rows = [[r[k] for k in keys] for r in runs]
    print("\n" + c.table(rows, headers))
    best = max(r["judgments_per_s"] for r in runs)
    print(f"\nbest throughput {best} judgments/s = {best / raw['tps']:.2f} x pgbench TPS ({raw['tps']:.0f})")
    top = max(r["judgments_per_s"] for r in floor)
    print(f"HTTP floor (bare WSGI, same gunicorn and clients): {top} judgments/s = {top / raw['tps']:.2f} x pgbench")
    print("\n" + floor_table(floor))
    print(f"\nclaim plan at {size:,} items:\n{plan}")
    c.save("queue", {**result, "plan": plan})
    c.drop_database(DB)


if __name__ == "__main__":
    main()
