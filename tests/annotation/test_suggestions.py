"""Reward-model suggestions: off by default; when on, pre-selected, labelled, and recorded with the judgment."""

from __future__ import annotations

import uuid

import pytest

from annotation.models import Item, Judgment
from models_registry.aliases import loop_settings_get
from tests.annotation.test_annotate_views import action_url, elements, open_task, shown_ids, text
from tests.factories import annotation_project

pytestmark = pytest.mark.django_db


def with_suggestions(enabled):
    project, [user] = annotation_project(kind="pairwise", items=1)
    item = Item.objects.get(project=project)
    loop = loop_settings_get(project=project)
    loop.suggestions_enabled = enabled
    loop.save()
    return project, user, item


def suggest(item, preferred):
    item.suggestion = {"checkpoint": 42, "preferred": preferred, "p": 0.81}
    item.save(update_fields=["suggestion"])


def checked(html):
    return [a["value"] for tag, a in elements(html) if tag == "input" and a.get("name") == "choice" and "checked" in a]


def submit(client, project, assignment, preferred, posted_checkpoint):
    data = {
        "choice": str(preferred),
        "strength": "better",
        "client_key": uuid.uuid4().hex,
        "time_spent_ms": "1200",
    }
    if posted_checkpoint is not None:
        data["suggestion_checkpoint"] = str(posted_checkpoint)
    return client.post(action_url("submit", project, assignment), data)


def test_suggestions_are_off_by_default(client):
    project, [user] = annotation_project(kind="pairwise", items=1)
    item = Item.objects.get(project=project)
    assert loop_settings_get(project=project).suggestions_enabled is False
    response, assignment = open_task(client, project, user)
    suggest(item, shown_ids(assignment)[1])
    response, _ = open_task(client, project, user)
    assert "reward model prefers" not in text(response)
    assert checked(text(response)) == []


def test_an_enabled_suggestion_is_preselected_labelled_and_recorded(client):
    project, user, item = with_suggestions(True)
    _, assignment = open_task(client, project, user)
    second = shown_ids(assignment)[1]
    suggest(item, second)
    response, _ = open_task(client, project, user)
    html = text(response)
    assert "The reward model prefers <strong>B</strong>" in html
    assert checked(html) == [str(second)]

    # The annotator disagrees and picks A: the judgment is theirs, and it records what it was shown.
    first = shown_ids(assignment)[0]
    assert submit(client, project, assignment, first, 42).status_code in (200, 302)
    judgment = Judgment.objects.get(assignment=assignment)
    assert judgment.payload["preferred"] == first
    assert judgment.suggestion_shown == {"checkpoint": 42, "preferred": second, "p": 0.81}


def test_a_judgment_records_no_suggestion_when_none_was_shown_or_the_page_names_another_model(client):
    project, user, item = with_suggestions(False)
    _, assignment = open_task(client, project, user)
    suggest(item, shown_ids(assignment)[0])
    submit(client, project, assignment, shown_ids(assignment)[0], 7)  # a stale page naming model 7
    assert Judgment.objects.get(assignment=assignment).suggestion_shown is None
