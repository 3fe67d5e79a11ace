"""The annotator's page and its endpoints, through the Django test client on real Postgres."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation.models import Assignment, AssignmentStatus, ItemResponse, Judgment
from annotation.services.projects import item_create
from annotation.services.queue import assignment_claim_next
from core.models import Role
from tests.factories import MembershipFactory, UserFactory, annotation_project

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]


# --- helpers ----------------------------------------------------------------------------------------


def page_url(project):
    return reverse("annotation:annotate", args=[project.pk])


def action_url(name, project, assignment):
    return reverse(f"annotation:{name}", args=[project.pk, assignment.pk])


def prefetch_url(project, current):
    return reverse("annotation:prefetch", args=[project.pk]) + f"?current={current.pk}"


def open_task(client, project, user, **headers):
    """Sign in, open the page, and return (response, the lease it shows)."""
    client.force_login(user)
    response = client.get(page_url(project), headers=headers)
    assignment = Assignment.objects.filter(annotator=user, status=AssignmentStatus.ACTIVE).order_by("pk").first()
    return response, assignment


def shown_ids(assignment):
    return list(assignment.display_order)


def post_json(client, project, assignment, payload, key=None, htmx=True):
    return client.post(
        action_url("submit", project, assignment),
        {"payload": json.dumps(payload), "client_key": key or uuid.uuid4().hex, "time_spent_ms": "1500"},
        headers=HTMX if htmx else {},
    )


def text(response):
    return response.content.decode()


def assignment_in(html):
    return [int(x) for x in re.findall(r'data-assignment="(\d+)"', html)]


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def elements(html):
    parser = _Elements()
    parser.feed(html)
    return parser.elements


def inputs_named(html, name):
    return [a for tag, a in elements(html) if tag in ("input", "textarea", "select") and a.get("name") == name]


def textareas_named(html, name):
    return [a for tag, a in elements(html) if tag == "textarea" and a.get("name") == name]


# --- the page per kind --------------------------------------------------------------------------------


def test_pairwise_page_shows_conversation_both_responses_and_the_choice_controls(client):
    project, [user] = annotation_project(kind="pairwise", items=2, config={"strengths": ["a bit", "a lot"]})
    project.guidelines = "Prefer **honest** answers."
    project.save()
    response, assignment = open_task(client, project, user)
    html = text(response)
    assert response.status_code == 200
    assert "<html" in html
    assert "Question 1?" in html
    assert "Answer 1.0" in html
    assert "Answer 1.1" in html
    assert "Response A" in html
    assert "Response B" in html
    choices = [a["value"] for a in inputs_named(html, "choice")]
    assert choices == [str(i) for i in shown_ids(assignment)] + ["tie", "both_bad"]
    assert [a["value"] for a in inputs_named(html, "strength")] == ["a bit", "a lot"]
    assert textareas_named(html, "reason")
    assert "<strong>honest</strong>" in html  # guidelines rendered as markdown
    assert "<details" in html
    assert "Guidelines" in html
    assert "0</strong> done" in html
    assert "1</strong> remaining" in html
    assert "Time left on this item" in html
    assert 'id="task-region"' in html
    assert 'aria-live="polite"' in html


def test_pairwise_without_tie_or_both_bad_offers_only_a_and_b(client):
    config = {"allow_tie": False, "allow_both_bad": False, "reason": "off"}
    project, [user] = annotation_project(kind="pairwise", items=1, config=config)
    response, assignment = open_task(client, project, user)
    html = text(response)
    assert [a["value"] for a in inputs_named(html, "choice")] == [str(i) for i in shown_ids(assignment)]
    assert not textareas_named(html, "reason")


@pytest.mark.parametrize("allow_ties", [True, False])
def test_ranking_page_lists_every_response_with_rank_and_move_controls(client, allow_ties):
    project, [user] = annotation_project(kind="ranking", items=1, config={"k": 3, "allow_ties": allow_ties})
    response, assignment = open_task(client, project, user)
    html = text(response)
    assert [f"rank_{i}" for i in shown_ids(assignment)] == [
        a["name"] for tag, a in elements(html) if tag == "select" and a.get("name", "").startswith("rank_")
    ]
    assert html.count("data-move=") == 6
    assert ("data-tie" in html) is allow_ties


def test_rating_page_has_a_scale_per_aspect_and_comments_when_configured(client):
    config = {
        "aspects": [
            {"name": "clarity", "label": "Clarity", "min": 1, "max": 5, "help": "Is it easy to follow?"},
            {"name": "safety", "label": "Safety", "min": 0, "max": 3, "required": False},
        ],
        "comments": True,
    }
    project, [user] = annotation_project(kind="rating", items=1, config=config)
    html = text(open_task(client, project, user)[0])
    assert [a["value"] for a in inputs_named(html, "score_clarity")] == ["1", "2", "3", "4", "5"]
    assert [a["value"] for a in inputs_named(html, "score_safety")] == ["0", "1", "2", "3"]
    assert "required" in inputs_named(html, "score_clarity")[0]
    assert "required" not in inputs_named(html, "score_safety")[0]
    assert inputs_named(html, "comment_clarity")
    assert inputs_named(html, "comment_safety")
    assert "Is it easy to follow?" in html


def test_rating_page_without_comments_has_no_comment_boxes(client):
    project, [user] = annotation_project(kind="rating", items=1, config={"comments": False})
    html = text(open_task(client, project, user)[0])
    assert inputs_named(html, "score_helpfulness")
    assert not any(a.get("name", "").startswith("comment_") for _, a in elements(html))


def test_free_text_page_has_critique_and_an_editable_copy_of_the_response(client):
    project, [user] = annotation_project(kind="free_text", items=1, config={"critique": "required", "edit": "optional"})
    html = text(open_task(client, project, user)[0])
    critique = inputs_named(html, "critique")[0]
    assert "required" in critique
    assert inputs_named(html, "edited_text")
    assert re.search(r'name="edited_text"[^>]*>\nAnswer 0\.0</textarea>', html)


def test_free_text_with_editing_off_has_no_edit_box(client):
    project, [user] = annotation_project(kind="free_text", items=1, config={"critique": "required", "edit": "off"})
    html = text(open_task(client, project, user)[0])
    assert inputs_named(html, "critique")
    assert not inputs_named(html, "edited_text")


def test_multi_turn_conversation_is_shown_turn_by_turn(client):
    project, [user] = annotation_project(kind="rating", items=0)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me a *joke*"},
    ]
    item_create(project=project, prompt=messages, responses=["Knock knock."])
    html = text(open_task(client, project, user)[0])
    roles = re.findall(r'<p class="turn-role">(\w+)</p>', html)
    assert roles == ["System", "User", "Assistant", "User"]
    assert "<em>joke</em>" in html


# --- partials and full pages ------------------------------------------------------------------------


def test_htmx_requests_get_the_task_partial_and_others_the_full_page(client):
    project, [user] = annotation_project(kind="pairwise", items=2)
    full, _ = open_task(client, project, user)
    partial = client.get(page_url(project), headers=HTMX)
    assert "<html" in text(full)
    assert 'id="task-region"' in text(full)
    assert "<html" not in text(partial)
    assert 'id="task-region"' not in text(partial)
    assert text(partial).lstrip().startswith("<section")
    assert "Vary" in partial
    assert "HX-Request" in partial["Vary"]


def test_remaining_is_exact_up_to_the_cap_and_shown_with_a_plus_beyond_it(client, monkeypatch):
    from annotation import selectors

    monkeypatch.setattr(selectors, "REMAINING_CAP", 3)
    project, [user, *others] = annotation_project(kind="pairwise", items=6, annotators=4)
    html = text(open_task(client, project, user)[0])  # holds one of six: five never had
    assert "3+</strong> remaining" in html
    # Items this annotator had, and items nobody can take any more (overlap 1), leave the count.
    for other in others:
        assignment_claim_next(annotator=other, project=project)
    progress = selectors.annotator_progress(annotator=user, project=project)
    assert (progress.remaining, progress.remaining_more) == (2, False)
    assert progress.total == 6
    html = text(client.get(reverse("annotation:project_detail", args=[project.pk])))
    assert "2</strong> items left for you" in html


def test_empty_state_when_nothing_is_left(client):
    project, [user] = annotation_project(kind="pairwise", items=0)
    html = text(open_task(client, project, user)[0])
    assert "Nothing left for you in this project — thanks!" in html
    assert "data-task" not in html


# --- submit -----------------------------------------------------------------------------------------


def test_submit_records_the_judgment_and_returns_the_next_item(client):
    project, [user] = annotation_project(kind="pairwise", items=2)
    _, first = open_task(client, project, user)
    preferred = shown_ids(first)[1]
    response = post_json(client, project, first, {"outcome": "preferred", "preferred": preferred, "strength": "better"})
    assert response.status_code == 200
    judgment = Judgment.objects.get(assignment=first)
    assert judgment.payload["preferred"] == preferred
    assert judgment.time_spent_ms == 1500
    shown = assignment_in(text(response))
    assert shown
    assert shown[0] != first.pk
    assert "1</strong> done" in text(response)


def test_submit_without_htmx_redirects_back_to_the_page(client):
    project, [user] = annotation_project(kind="pairwise", items=2)
    _, first = open_task(client, project, user)
    response = post_json(client, project, first, {"outcome": "tie"}, htmx=False)
    assert response.status_code == 302
    assert response["Location"] == page_url(project)
    assert Judgment.objects.filter(assignment=first).exists()


def test_double_submit_with_the_same_client_key_records_one_judgment(client):
    project, [user] = annotation_project(kind="pairwise", items=3)
    _, first = open_task(client, project, user)
    key = uuid.uuid4().hex
    one = post_json(client, project, first, {"outcome": "tie"}, key=key)
    two = post_json(client, project, first, {"outcome": "tie"}, key=key)
    assert one.status_code == two.status_code == 200
    assert Judgment.objects.filter(annotator=user).count() == 1
    # Both answers lead to the same next item: the second click did not take another one.
    assert assignment_in(text(one)) == assignment_in(text(two))


def test_invalid_payload_is_refused_with_422_and_the_field_message(client):
    project, [user] = annotation_project(kind="pairwise", items=2, config={"reason": "required"})
    _, first = open_task(client, project, user)
    response = post_json(client, project, first, {"outcome": "preferred", "preferred": shown_ids(first)[0]})
    html = text(response)
    assert response.status_code == 422
    assert "choose one of: slightly better, better, much better" in html
    assert "a reason is required" in html
    assert assignment_in(html) == [first.pk]  # the same task, shown again
    assert not Judgment.objects.exists()
    first.refresh_from_db()
    assert first.status == AssignmentStatus.ACTIVE


def test_invalid_answer_is_shown_again_with_what_was_sent(client):
    project, [user] = annotation_project(kind="pairwise", items=1, config={"reason": "required"})
    _, first = open_task(client, project, user)
    preferred = shown_ids(first)[1]
    response = client.post(
        action_url("submit", project, first),
        {"choice": str(preferred), "strength": "", "reason": "B cites a source", "client_key": "k1"},
    )
    html = text(response)
    assert response.status_code == 422
    assert "<html" in html  # no htmx: the whole page, with the errors
    assert "B cites a source</textarea>" in html
    assert re.search(rf'value="{preferred}"[^>]*checked', html)


def test_unreadable_payload_is_a_422_not_a_crash(client):
    project, [user] = annotation_project(kind="pairwise", items=1)
    _, first = open_task(client, project, user)
    response = client.post(
        action_url("submit", project, first), {"payload": "{not json", "client_key": "k"}, headers=HTMX
    )
    assert response.status_code == 422
    assert "could not be read" in text(response)


def test_submit_on_an_expired_lease_is_409_with_the_ran_out_message(client):
    project, [user] = annotation_project(kind="pairwise", items=2)
    _, first = open_task(client, project, user)
    Assignment.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=5))
    response = post_json(client, project, first, {"outcome": "tie"})
    html = text(response)
    assert response.status_code == 409
    assert "Your time on this item ran out" in html
    assert reverse("annotation:annotate", args=[project.pk]) in html
    assert "Get the next item" in html
    assert "Traceback" not in html
    assert not Judgment.objects.exists()


def test_submit_on_a_finished_lease_is_409(client):
    project, [user] = annotation_project(kind="pairwise", items=2)
    _, first = open_task(client, project, user)
    post_json(client, project, first, {"outcome": "tie"})
    response = post_json(client, project, first, {"outcome": "tie"})  # another key
    assert response.status_code == 409
    assert "already submitted" in text(response)


def test_someone_elses_assignment_is_404(client):
    project, [alice, bob] = annotation_project(kind="pairwise", items=3, annotators=2)
    _, alices = open_task(client, project, alice)
    client.force_login(bob)
    response = post_json(client, project, alices, {"outcome": "tie"})
    assert response.status_code == 404
    assert "not assigned to you" in text(response)
    assert client.post(action_url("skip", project, alices), {"reason": "unclear"}, headers=HTMX).status_code == 404
    assert not Judgment.objects.exists()


def test_an_assignment_of_another_project_is_404(client):
    project, [user] = annotation_project(kind="pairwise", items=2)
    other, _ = annotation_project(kind="pairwise", items=2)
    MembershipFactory(user=user, project=other, role=Role.ANNOTATOR)
    _, in_other = open_task(client, other, user)
    response = post_json(client, project, in_other, {"outcome": "tie"})
    assert response.status_code == 404
    assert not Judgment.objects.exists()


def test_non_members_get_404_everywhere(client):
    project, [member] = annotation_project(kind="pairwise", items=2)
    _, assignment = open_task(client, project, member)
    stranger = UserFactory()
    client.force_login(stranger)
    assert client.get(page_url(project)).status_code == 404
    assert client.get(prefetch_url(project, assignment)).status_code == 404
    assert post_json(client, project, assignment, {"outcome": "tie"}).status_code == 404
    assert client.post(action_url("flag", project, assignment), {"reason": "unsafe"}).status_code == 404


def test_researchers_are_not_annotators(client):
    project, _ = annotation_project(kind="pairwise", items=2)
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    client.force_login(researcher)
    assert client.get(page_url(project)).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client):
    project, _ = annotation_project(kind="pairwise", items=1)
    response = client.get(page_url(project))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("kind", "config", "fields", "expected"),
    [
        ("pairwise", None, lambda ids: {"choice": "tie", "strength": "better", "reason": "same"}, {"outcome": "tie"}),
        (
            "ranking",
            {"k": 3, "allow_ties": True},
            lambda ids: {f"rank_{ids[0]}": "2", f"rank_{ids[1]}": "1", f"rank_{ids[2]}": "2"},
            {"ranking": lambda ids: [[ids[1]], [ids[0], ids[2]]]},
        ),
        (
            "rating",
            {"aspects": [{"name": "clarity", "label": "Clarity"}], "comments": True},
            lambda ids: {"score_clarity": "4", "comment_clarity": "clear\r\nenough"},
            {"ratings": {"clarity": {"score": 4, "comment": "clear\nenough"}}},
        ),
        (
            "free_text",
            None,
            lambda ids: {"critique": "Too short.", "edited_text": "Answer 0.0, with reasons."},
            {"critique": "Too short.", "edited_text": "Answer 0.0, with reasons."},
        ),
    ],
)
def test_plain_form_fields_work_without_javascript(client, kind, config, fields, expected):
    project, [user] = annotation_project(kind=kind, items=1, config=config)
    _, assignment = open_task(client, project, user)
    ids = shown_ids(assignment)
    response = client.post(action_url("submit", project, assignment), {**fields(ids), "client_key": "nojs"})
    assert response.status_code == 302
    payload = Judgment.objects.get(assignment=assignment).payload
    for key, value in expected.items():
        assert payload[key] == (value(ids) if callable(value) else value)


def test_unchanged_edit_box_is_not_recorded_as_an_edit(client):
    project, [user] = annotation_project(kind="free_text", items=1)
    _, assignment = open_task(client, project, user)
    client.post(
        action_url("submit", project, assignment),
        {"critique": "Fine.", "edited_text": "Answer 0.0", "client_key": "k"},
    )
    assert Judgment.objects.get(assignment=assignment).payload["edited_text"] is None


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("ranking", lambda ids: {"ranking": [[ids[3]], [ids[0]], [ids[2]], [ids[1]]]}),
        (
            "rating",
            lambda ids: {
                "ratings": {
                    n: {"score": 5} for n in ("helpfulness", "honesty", "harmlessness", "instruction_following")
                }
            },
        ),
        ("free_text", lambda ids: {"critique": "Vague.", "edited_text": None}),
    ],
)
def test_json_payloads_of_every_kind_are_recorded(client, kind, payload):
    project, [user] = annotation_project(kind=kind, items=1)
    _, assignment = open_task(client, project, user)
    response = post_json(client, project, assignment, payload(shown_ids(assignment)))
    assert response.status_code == 200
    assert "Nothing left for you" in text(response)
    assert Judgment.objects.get(assignment=assignment).kind == kind


# --- skip, flag, prefetch ---------------------------------------------------------------------------


def test_skip_records_the_reason_and_returns_the_next_item(client):
    project, [user] = annotation_project(kind="pairwise", items=2)
    _, first = open_task(client, project, user)
    response = client.post(
        action_url("skip", project, first), {"reason": "expertise", "detail": "chemistry"}, headers=HTMX
    )
    assert response.status_code == 200
    first.refresh_from_db()
    assert first.status == AssignmentStatus.SKIPPED
    assert first.reason == "I don't know enough about this topic: chemistry"
    assert assignment_in(text(response))
    assert assignment_in(text(response))[0] != first.pk


def test_flag_records_the_reason_in_the_annotators_words(client):
    project, [user] = annotation_project(kind="pairwise", items=2)
    _, first = open_task(client, project, user)
    response = client.post(action_url("flag", project, first), {"reason": "other", "detail": "Contains a phone number"})
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.status == AssignmentStatus.FLAGGED
    assert first.reason == "Contains a phone number"


@pytest.mark.parametrize(("fields", "message"), [({}, "say why"), ({"reason": "other"}, "say why in a few words")])
def test_skip_without_a_reason_is_refused(client, fields, message):
    project, [user] = annotation_project(kind="pairwise", items=2)
    _, first = open_task(client, project, user)
    response = client.post(action_url("skip", project, first), fields, headers=HTMX)
    assert response.status_code == 422
    assert message in text(response)
    assert "data-release open" in text(response)
    first.refresh_from_db()
    assert first.status == AssignmentStatus.ACTIVE


def test_prefetch_returns_another_item_hidden_and_the_same_one_on_repeat(client):
    project, [user] = annotation_project(kind="pairwise", items=3)
    _, current = open_task(client, project, user)
    first = client.get(prefetch_url(project, current), headers=HTMX)
    second = client.get(prefetch_url(project, current), headers=HTMX)
    assert first.status_code == second.status_code == 200
    ids = assignment_in(text(first))
    assert ids
    assert ids[0] != current.pk
    assert assignment_in(text(second)) == ids
    assert re.search(r"<section[^>]*data-task[^>]*\shidden", text(first))
    assert "<html" not in text(first)
    # The page, reloaded, still shows the current item; submitting it leads to the pre-fetched one.
    assert assignment_in(text(client.get(page_url(project), headers=HTMX))) == [current.pk]
    assert assignment_in(text(post_json(client, project, current, {"outcome": "tie"}))) == ids


def prefetched_submit(client, project, assignment, shown_id):
    headers = {**HTMX, "X-Prefetched": str(shown_id)}
    data = {"payload": json.dumps({"outcome": "tie"}), "client_key": uuid.uuid4().hex, "time_spent_ms": "900"}
    return client.post(action_url("submit", project, assignment), data, headers=headers)


def test_submit_naming_the_prefetched_item_gets_the_progress_counts_only(client):
    project, [user] = annotation_project(kind="pairwise", items=3)
    _, current = open_task(client, project, user)
    [prefetched] = assignment_in(text(client.get(prefetch_url(project, current), headers=HTMX)))
    response = prefetched_submit(client, project, current, prefetched)
    assert response.status_code == 200
    assert Judgment.objects.filter(assignment=current).exists()
    body = text(response)
    assert "data-progress" in body
    assert "1</strong> done" in body
    # Not the item again: the script already shows it, so nothing of the task is rendered or sent.
    assert "data-task" not in body
    assert assignment_in(body) == []
    # The pre-fetched lease is still held, and it is what the page shows on reload.
    assert assignment_in(text(client.get(page_url(project), headers=HTMX))) == [prefetched]


def test_submit_naming_a_lease_that_is_gone_gets_the_next_task_instead(client):
    project, [user] = annotation_project(kind="pairwise", items=3)
    _, current = open_task(client, project, user)
    [prefetched] = assignment_in(text(client.get(prefetch_url(project, current), headers=HTMX)))
    Assignment.objects.filter(pk=prefetched).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = prefetched_submit(client, project, current, prefetched)
    assert response.status_code == 200
    shown = assignment_in(text(response))
    assert shown
    assert prefetched not in shown
    assert current.pk not in shown


def test_submit_naming_someone_elses_lease_gets_the_next_task_not_their_counts(client):
    project, [user, other] = annotation_project(kind="pairwise", items=3, annotators=2)
    theirs = assignment_claim_next(annotator=other, project=project).assignment
    _, current = open_task(client, project, user)
    response = prefetched_submit(client, project, current, theirs.pk)
    assert response.status_code == 200
    assert assignment_in(text(response))
    assert theirs.pk not in assignment_in(text(response))


def test_prefetch_is_204_when_nothing_else_is_left(client):
    project, [user] = annotation_project(kind="pairwise", items=1)
    _, current = open_task(client, project, user)
    response = client.get(prefetch_url(project, current), headers=HTMX)
    assert response.status_code == 204


def test_prefetch_needs_a_current_id(client):
    project, [user] = annotation_project(kind="pairwise", items=1)
    client.force_login(user)
    assert client.get(reverse("annotation:prefetch", args=[project.pk]) + "?current=x").status_code == 400


# --- what the page may and may not contain -----------------------------------------------------------


def test_sources_are_hidden_when_blinded(client):
    project, [user] = annotation_project(kind="pairwise", items=1)
    assert project.blind_sources
    html = text(open_task(client, project, user)[0])
    assert 'class="source"' not in html
    assert "Imported" not in html


def test_sources_are_shown_when_not_blinded(client):
    project, [user] = annotation_project(kind="pairwise", items=1)
    project.blind_sources = False
    project.save()
    html = text(open_task(client, project, user)[0])
    assert html.count('<span class="source"') == 2
    assert "Imported" in html


@pytest.mark.parametrize("kind", ["pairwise", "free_text"])
def test_script_in_prompts_and_responses_is_shown_as_text(client, kind):
    project, [user] = annotation_project(kind=kind, items=0)
    responses = XSS if kind == "pairwise" else [XSS[0] + XSS[1]]
    item_create(project=project, prompt=XSS[1] + " and " + XSS[0], responses=responses)
    project.guidelines = XSS[0]
    project.save()
    html = text(open_task(client, project, user)[0])
    for tag, attrs in elements(html):
        assert tag not in ("img", "iframe")
        assert not any(name.startswith("on") for name in attrs)
        assert tag != "script" or "src" in attrs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize("kind", ["pairwise", "ranking", "rating", "free_text"])
def test_pages_have_no_inline_script_or_style(client, kind):
    project, [user] = annotation_project(kind=kind, items=2)
    html = text(open_task(client, project, user)[0])
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"<style", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert "hx-on" not in html
    assert re.search(r'<script src="/static/js/annotate.js" defer>', html)
    assert '<link rel="stylesheet" href="/static/css/annotate.css">' in html


def test_every_form_control_has_a_label(client):
    for kind in ("pairwise", "ranking", "rating", "free_text"):
        project, [user] = annotation_project(kind=kind, items=1)
        html = text(open_task(client, project, user)[0])
        ids_with_label = set(re.findall(r'<label for="([^"]+)"', html))
        for tag, attrs in elements(html):
            if tag in ("textarea",) or (tag == "select"):
                assert attrs.get("id") in ids_with_label or tag == "select", (kind, attrs)
        # Radios, checkboxes and selects sit inside their <label>.
        wrapped = re.findall(r"<label[^>]*>\s*(?:[^<]*)<(input|select)", html)
        assert len(wrapped) == sum(
            1
            for tag, a in elements(html)
            if (tag == "input" and a.get("type") in ("radio", "checkbox")) or tag == "select"
        )


@pytest.mark.parametrize(
    ("kind", "config", "keys"),
    [
        ("pairwise", {"strengths": ["a bit", "a lot"]}, ["1", "2", "3", "4", "q", "w", "Shift+1", "c"]),
        ("ranking", {"k": 3, "allow_ties": True}, ["↑", "k", "↓", "j", "t"]),
        ("rating", None, ["0", "9", "↓", "Tab", "c"]),
        ("free_text", None, ["c", "e"]),
    ],
)
def test_shortcuts_dialog_lists_the_keys(client, kind, config, keys):
    project, [user] = annotation_project(kind=kind, items=1, config=config)
    html = text(open_task(client, project, user)[0])
    dialog = html[html.index('<dialog id="shortcuts"') : html.index("</dialog>")]
    listed = re.findall(r"<kbd>([^<]+)</kbd>", dialog)
    for key in [*keys, "Enter", "Ctrl+Enter", "Esc", "s", "f", "g", "?", "n"]:
        assert key in listed, key
    if kind == "pairwise":
        assert "Strength: a lot" in dialog


def test_the_page_item_does_not_change_on_reload(client):
    project, [user] = annotation_project(kind="pairwise", items=3)
    _, first = open_task(client, project, user)
    again = client.get(page_url(project), headers=HTMX)
    assert assignment_in(text(again)) == [first.pk]
    assert assignment_claim_next(annotator=user, project=project).assignment.pk == first.pk
    assert ItemResponse.objects.filter(item=first.item).count() == 2


def test_a_superuser_who_is_not_a_member_is_told_so(client):
    project, _ = annotation_project(kind="pairwise", items=1)
    admin = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(admin)
    response = client.get(page_url(project), headers=HTMX)
    assert response.status_code == 403
    assert "not an annotator" in text(response)


def test_flagging_an_item_already_skipped_is_409(client):
    project, [user] = annotation_project(kind="pairwise", items=2)
    _, first = open_task(client, project, user)
    client.post(action_url("skip", project, first), {"reason": "unclear"}, headers=HTMX)
    response = client.post(action_url("flag", project, first), {"reason": "unsafe"}, headers=HTMX)
    assert response.status_code == 409
    assert "already skipped" in text(response)
