"""Annotate page weight and server time for a long multi-turn conversation, with and without pre-fetch.

In one process through the whole Django stack (session auth, middleware, templates): the first full
page, then per item the requests the page's script makes. Without pre-fetch the annotator waits for
the submit, whose response is the next task. With pre-fetch the next task is fetched (hidden) while
the current one is read, and submit swaps it in from memory and names it (``X-Prefetched``), so its
response is the progress counts only: the wait on the critical path is none. Bytes are the response bodies as sent and gzip-compressed
(what a proxy with gzip transfers); the page's static assets are counted once, on first load.

    .venv/bin/python -m bench.page --turns 20 --words 200 --items 60
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import string
import time
from typing import Any

from bench import _common as c

DB = "bench_page"


def _weight(body: bytes) -> tuple[int, int]:
    return len(body), len(gzip.compress(body, 6))


def conversations_create(project: Any, count: int, *, turns: int, words: int) -> None:
    """Items through the real service, with pseudo-random words so that gzip sees text-like entropy."""
    from annotation.services.projects import item_create

    rng = random.Random(0)  # fixed seed: the same bytes on every run
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]

    def text() -> str:
        return " ".join(rng.choices(vocabulary, k=words))

    for _ in range(count):
        messages = [{"role": "user" if t % 2 == 0 else "assistant", "content": text()} for t in range(2 * turns - 1)]
        item_create(project=project, prompt=messages, responses=[text(), text()], priority=rng.random())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=20, help="user turns in each conversation")
    parser.add_argument("--words", type=int, default=200, help="words per turn and per response")
    parser.add_argument("--items", type=int, default=60, help="items judged per mode")
    args = parser.parse_args()
    info = c.machine()
    c.fresh_database(DB)
    c.django_setup(DB)
    from django.test import Client

    from annotation.models import Assignment, AssignmentStatus
    from bench import _seed
    from core.models import Membership, Role, User

    project = _seed.project_create(name="page")
    conversations_create(project, 2 * args.items + 10, turns=args.turns, words=args.words)
    _seed.analyze()
    base = f"/projects/{project.pk}/annotate/"
    results: dict[str, Any] = {}

    def lease(user: User) -> Assignment:
        return Assignment.objects.filter(annotator=user, status=AssignmentStatus.ACTIVE).order_by("created_at").first()  # type: ignore[return-value]

    for mode in ("without_prefetch", "with_prefetch"):
        user = User.objects.create_user(username=f"reader-{mode}", password=None)
        Membership.objects.create(user=user, project=project, role=Role.ANNOTATOR)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        htmx = {"HTTP_HX_REQUEST": "true"}
        client.get(base)  # warm templates and caches for this user
        lease_now = lease(user)
        t0 = time.perf_counter()
        page = client.get(base)
        first_ms = (time.perf_counter() - t0) * 1000
        assets = sorted(set(re.findall(rb'(?:src|href)="(/static/[^"]+)"', page.content)))
        # Read from the source folder: production serves collected copies of these same files.
        asset_bytes = [_weight((c.ROOT / "static" / a.decode().removeprefix("/static/")).read_bytes()) for a in assets]
        wait_ms, server_ms, raw, gz = [], [], 0, 0
        cpu_start = time.process_time()
        for _ in range(args.items):
            current = lease_now
            spent = 0.0
            named: dict[str, str] = {}
            if mode == "with_prefetch":
                t0 = time.perf_counter()
                hidden = client.get(f"{base}next/", {"current": current.pk}, **htmx)
                spent += (time.perf_counter() - t0) * 1000
                assert hidden.status_code == 200, hidden.status_code
                r, g = _weight(hidden.content)
                raw, gz = raw + r, gz + g
                # As annotate.js does: the submit names the item it swapped in, and gets the counts only.
                prefetched = re.search(rb'data-assignment="(\d+)"', hidden.content)
                assert prefetched is not None
                named = {"HTTP_X_PREFETCHED": prefetched.group(1).decode()}
            payload = json.dumps({"outcome": "preferred", "preferred": current.display_order[0], "strength": "better"})
            t0 = time.perf_counter()
            done = client.post(
                f"{base}{current.pk}/submit/",
                {"payload": payload, "client_key": f"{mode}-{current.pk}", "time_spent_ms": 900},
                **htmx,
                **named,
            )
            submit_ms = (time.perf_counter() - t0) * 1000
            assert done.status_code == 200, done.content[:300]
            r, g = _weight(done.content)
            raw, gz = raw + r, gz + g
            server_ms.append(spent + submit_ms)
            wait_ms.append(0.0 if mode == "with_prefetch" else submit_ms)
            lease_now = lease(user)
        cpu_ms = (time.process_time() - cpu_start) * 1000 / args.items
        results[mode] = {
            "per_item_cpu_ms": round(cpu_ms, 1),
            "first_page_ms": round(first_ms, 1),
            "first_page_bytes": _weight(page.content),
            "static_assets": len(assets),
            "static_bytes": [sum(a[0] for a in asset_bytes), sum(a[1] for a in asset_bytes)],
            "per_item_bytes": [round(raw / args.items), round(gz / args.items)],
            "per_item_server_ms_p50": round(c.percentile(server_ms, 50), 1),
            "per_item_server_ms_p95": round(c.percentile(server_ms, 95), 1),
            "per_item_wait_ms_p50": round(c.percentile(wait_ms, 50), 1),
            "per_item_wait_ms_p95": round(c.percentile(wait_ms, 95), 1),
        }
    headers = ["mode", "1st page ms", "1st page B (gz)", "static B (gz)", "per item B (gz)"]
    headers += ["server ms p50/p95", "CPU ms/item", "annotator waits ms p50/p95"]
    rows = [
        [
            mode,
            r["first_page_ms"],
            "{:,} ({:,})".format(*r["first_page_bytes"]),
            "{:,} ({:,})".format(*r["static_bytes"]),
            "{:,} ({:,})".format(*r["per_item_bytes"]),
            f"{r['per_item_server_ms_p50']} / {r['per_item_server_ms_p95']}",
            r["per_item_cpu_ms"],
            f"{r['per_item_wait_ms_p50']} / {r['per_item_wait_ms_p95']}",
        ]
        for mode, r in results.items()
    ]
    print(f"conversation: {args.turns} user turns, {args.words} words per turn and per response")
    print(c.table(rows, headers))
    c.save("page", {"machine": info, "turns": args.turns, "words": args.words, "items": args.items, **results})
    c.drop_database(DB)


if __name__ == "__main__":
    main()
