from __future__ import annotations

import factory

from core.models import Membership, Project, Role, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    role = Role.ANNOTATOR


def annotation_project(*, kind="pairwise", items=3, overlap=1, ttl=900, config=None, annotators=1, randomise=True):
    """A project of ``kind`` with ``items`` items and ``annotators`` annotator users (returned as a list)."""
    from annotation.schemas import responses_per_item
    from annotation.services.projects import annotation_project_create, item_create

    owner = UserFactory()
    project = annotation_project_create(
        name=f"{kind} project",
        created_by=owner,
        task_kind=kind,
        task_config=config,
        overlap=overlap,
        lease_ttl_seconds=ttl,
        randomise_order=randomise,
    )
    per_item = responses_per_item(kind, project.task_config)
    for n in range(items):
        item_create(
            project=project,
            prompt=f"Question {n}?",
            responses=[f"Answer {n}.{r}" for r in range(per_item)],
            priority=float(n),
        )
    users = [MembershipFactory(project=project, role=Role.ANNOTATOR).user for _ in range(annotators)]
    return project, users
