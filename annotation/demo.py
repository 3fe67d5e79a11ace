"""Demo projects for ``make run``: one per task kind, hand-written, clearly labelled as demo data.

Seeding twice changes nothing (projects are found by slug, items only added to a new project).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from annotation.models import Source
from annotation.schemas import FREE_TEXT, PAIRWISE, RANKING, RATING, responses_per_item
from annotation.services.projects import annotation_project_create, item_create
from core.models import Membership, Project, Role, User

GUIDELINES = """\
**This is demo data**, written by hand for trying the tool. It is not real model output.

- Judge the *final* assistant turn only; earlier turns are context.
- Prefer responses that are **correct**, then **helpful**, then **concise**.
- Code must run: look for off-by-one errors and missing edge cases.
- Use *tie* when you cannot tell them apart, *both bad* when neither is acceptable.
"""

# (conversation, four candidate responses from best to worst, as the demo author judged them)
SAMPLES: list[tuple[Any, list[str]]] = [
    (
        "How do I reverse a list in Python without changing the original?",
        [
            "Use slicing, which returns a new list:\n\n```python\nitems = [1, 2, 3]\nreversed_items = items[::-1]\n```\n\n`items` is unchanged. `list(reversed(items))` works too.",
            "Call `reversed(items)`, then wrap it in `list()` to get a new list.",
            "Use `items.reverse()`.",
            "Python lists cannot be reversed; convert it to a tuple first.",
        ],
    ),
    (
        "Explain what an HTTP 409 status code means, in one or two sentences.",
        [
            "409 Conflict: the request could not be completed because it conflicts with the current state of the resource, e.g. an edit based on an outdated version.",
            "It means there was a conflict on the server.",
            "409 means the resource was not found.",
            "HTTP 409 is a redirect to another page.",
        ],
    ),
    (
        [
            {"role": "system", "content": "You are a concise cooking assistant."},
            {"role": "user", "content": "I have eggs, spinach and feta. Dinner idea?"},
            {"role": "assistant", "content": "A spinach and feta omelette or a frittata would work well."},
            {"role": "user", "content": "Frittata please. Give me the steps."},
        ],
        [
            "1. Heat the oven to 190 °C.\n2. Wilt the spinach in an oven-safe pan with a little oil.\n3. Whisk 6 eggs with salt and pepper, pour over, crumble feta on top.\n4. Cook 2 minutes on the hob, then bake 12 to 15 minutes until set.",
            "Whisk eggs, add spinach and feta, bake until set.",
            "Fry the eggs and put spinach on the side.",
            "Frittatas need cream and potatoes; you cannot make one with these.",
        ],
    ),
    (
        "Write a SQL query for the 5 customers with the highest total order value. Tables: customers(id, name), orders(id, customer_id, amount).",
        [
            "```sql\nSELECT c.id, c.name, SUM(o.amount) AS total\nFROM customers c\nJOIN orders o ON o.customer_id = c.id\nGROUP BY c.id, c.name\nORDER BY total DESC\nLIMIT 5;\n```",
            "```sql\nSELECT customer_id, SUM(amount) FROM orders GROUP BY customer_id ORDER BY 2 DESC LIMIT 5;\n```\n(This omits names.)",
            "```sql\nSELECT * FROM orders ORDER BY amount DESC LIMIT 5;\n```",
            "```sql\nSELECT name FROM customers LIMIT 5;\n```",
        ],
    ),
    (
        "Is it safe to store user passwords with MD5?",
        [
            "No. MD5 is fast and broken, so leaked hashes are cracked quickly. Use a slow, salted password hash such as Argon2id, scrypt or bcrypt, through a maintained library.",
            "No, use SHA-256 instead.",
            "It is fine if you add a salt.",
            "Yes, MD5 is a strong encryption algorithm.",
        ],
    ),
    (
        "Summarise the plot of *Romeo and Juliet* in one sentence.",
        [
            "Two young lovers from feuding families in Verona marry in secret, and a chain of misunderstandings ends in both of their deaths, which reconciles the families.",
            "Two lovers from rival families die tragically.",
            "Romeo and Juliet is a comedy about two friends in Rome.",
            "It is a play by Shakespeare.",
        ],
    ),
    (
        "What does this print?\n\n```python\nprint(sum(range(5)))\n```",
        [
            "`10`, because `range(5)` is 0, 1, 2, 3, 4 and their sum is 10.",
            "10",
            "15, the sum of 1 to 5.",
            "It raises a TypeError.",
        ],
    ),
    (
        "Give me a <b>regex</b> that matches a 5-digit US ZIP code. <script>alert('demo: this must show as text')</script>",
        [
            "`^\\d{5}$` matches exactly five digits. For ZIP+4 as well: `^\\d{5}(-\\d{4})?$`.",
            "`\\d{5}`: note that without anchors it also matches inside longer numbers.",
            "`[0-9]+`",
            "<img src=x onerror=alert(1)> Use `.*`.",
        ],
    ),
]

DEMOS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("demo-pairwise", "Demo · pairwise comparison", PAIRWISE, {}),
    ("demo-ranking", "Demo · rank 4 responses", RANKING, {"k": 4, "allow_ties": True}),
    ("demo-rating", "Demo · multi-aspect rating", RATING, {}),
    ("demo-critique", "Demo · critique and edit", FREE_TEXT, {}),
]


@transaction.atomic
def demo_seed(*, owner: User) -> list[Project]:
    projects = []
    for slug, name, kind, config in DEMOS:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            project = annotation_project_create(
                name=name,
                created_by=owner,
                task_kind=kind,
                task_config=config,
                overlap=1,
                guidelines=GUIDELINES,
                description="Demo data written for trying the tool; not real model output.",
            )
            project.slug = slug
            project.save(update_fields=["slug"])
            per_item = responses_per_item(kind, project.task_config)
            for n, (prompt, responses) in enumerate(SAMPLES):
                # Pairwise uses the best and second-worst so some choices are easy and some are not.
                chosen = [responses[0], responses[2]] if per_item == 2 else responses[:per_item]
                if per_item == 1:
                    chosen = [responses[n % 2]]
                item_create(
                    project=project,
                    prompt=prompt,
                    responses=chosen,
                    priority=float(len(SAMPLES) - n),
                    source=Source.DEMO,
                    source_detail={"note": "hand-written demo response"},
                )
        Membership.objects.get_or_create(user=owner, project=project, defaults={"role": Role.ADMIN})
        projects.append(project)
    return projects
