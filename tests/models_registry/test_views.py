"""The checkpoints page: researchers and admins see it, only admins act, everyone else gets a 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.models import Role
from models_registry.aliases import alias_checkpoint, alias_promote, loop_settings_get
from models_registry.models import AliasName, Checkpoint, JobStatus, ScoringJob
from models_registry.tasks import score_queue
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, annotation_project

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(score_queue, "delay_on_commit", sent.append)
    return sent


@pytest.fixture
def world():
    project, (annotator,) = annotation_project(items=2)
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    a, b = (
        Checkpoint.objects.create(
            project=project,
            kind="reward",
            name=f"rm {n}",
            location=f"/x/{n}",
            metrics={"heldout_accuracy": 0.5 + n / 10},
        )
        for n in (1, 2)
    )
    return project, admin, researcher, annotator, a, b


def url(name, *args):
    return reverse(f"models_registry:{name}", args=args)


def test_admin_promotes_and_rolls_back_from_the_page(client, world):
    project, admin, *_, a, b = world
    client.force_login(admin)
    client.post(url("checkpoint_promote", project.pk, a.pk))
    client.post(url("checkpoint_promote", project.pk, b.pk))
    page = client.get(url("checkpoint_list", project.pk)).content.decode()
    assert "rm 2" in page
    assert "Roll back active-reward" in page
    assert "heldout_accuracy" in page
    assert admin.username in page  # the history says who

    client.post(url("alias_rollback", project.pk), {"alias": "active-reward"})
    assert alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD) == a


def test_researchers_see_the_page_but_cannot_act(client, world):
    project, _, researcher, _, a, _ = world
    client.force_login(researcher)
    page = client.get(url("checkpoint_list", project.pk))
    assert page.status_code == 200
    assert "Promote" not in page.content.decode()
    assert client.post(url("checkpoint_promote", project.pk, a.pk)).status_code == 403
    assert client.post(url("alias_rollback", project.pk), {"alias": "active-reward"}).status_code == 403
    assert client.post(url("scoring_start", project.pk)).status_code == 403
    assert (
        client.post(url("loop_settings", project.pk), {"priority_strategy": "random", "gate_margin": 0}).status_code
        == 403
    )
    assert alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD) is None


def test_annotators_and_other_projects_get_a_404(client, world):
    project, admin, _, annotator, a, _ = world
    other_admin = MembershipFactory(project=ProjectFactory(), role=Role.ADMIN).user
    for user in (annotator, other_admin, UserFactory()):
        client.force_login(user)
        assert client.get(url("checkpoint_list", project.pk)).status_code == 404
        assert client.post(url("checkpoint_promote", project.pk, a.pk)).status_code == 404
    foreign = Checkpoint.objects.create(project=ProjectFactory(), kind="reward", name="x", location="/x")
    client.force_login(admin)
    assert client.post(url("checkpoint_promote", project.pk, foreign.pk)).status_code == 404


def test_settings_rescore_and_progress_polling(client, world, queued):
    project, admin, *_ = world
    client.force_login(admin)
    client.post(url("loop_settings", project.pk), {"priority_strategy": "fifo", "gate_margin": "0.02"})
    settings = loop_settings_get(project=project)
    assert (settings.priority_strategy, settings.gate_margin) == ("fifo", 0.02)

    client.post(url("scoring_start", project.pk))
    job = ScoringJob.objects.get(project=project)
    assert queued == [job.pk]
    polling = client.get(url("scoring_status", project.pk, job.pk))
    assert polling.status_code == 200
    assert 'hx-trigger="every 2s"' in polling.content.decode()
    ScoringJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    assert client.get(url("scoring_status", project.pk, job.pk)).status_code == 286


def test_rescoring_without_an_active_reward_model_says_why(client, world):
    project, admin, *_ = world
    client.force_login(admin)
    page = client.post(url("scoring_start", project.pk), follow=True).content.decode()
    assert "no active reward model" in page
    assert not ScoringJob.objects.exists()


def test_a_checkpoint_held_by_the_gate_shows_why(client, world):
    from models_registry.aliases import reward_gate_decide

    project, admin, _, _, a, b = world
    alias_promote(actor=None, checkpoint=b)
    reward_gate_decide(checkpoint=a)  # no manifest: held-out sets unknown
    client.force_login(admin)
    page = client.get(url("checkpoint_list", project.pk)).content.decode()
    assert "waiting for an admin" in page
    assert "held-out sets differ" in page
