from __future__ import annotations

import pytest
from django.http import Http404

from core.models import Role
from core.selectors import project_get_for_user, project_list_for_user
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_project_of_another_team_is_not_found():
    mine = MembershipFactory(role=Role.ANNOTATOR)
    other = ProjectFactory()
    assert project_get_for_user(user=mine.user, project_id=mine.project.pk) == mine.project
    with pytest.raises(Http404):
        project_get_for_user(user=mine.user, project_id=other.pk)
    # A missing id and a forbidden id give the same answer.
    with pytest.raises(Http404):
        project_get_for_user(user=mine.user, project_id=other.pk + 1000)


def test_role_filter_hides_project_from_other_roles():
    annotator = MembershipFactory(role=Role.ANNOTATOR)
    with pytest.raises(Http404):
        project_get_for_user(user=annotator.user, project_id=annotator.project.pk, roles=[Role.ADMIN])
    assert project_get_for_user(
        user=annotator.user, project_id=annotator.project.pk, roles=[Role.ANNOTATOR, Role.ADMIN]
    )


def test_project_list_is_membership_scoped():
    membership = MembershipFactory()
    ProjectFactory()
    assert list(project_list_for_user(user=membership.user)) == [membership.project]
    assert list(project_list_for_user(user=UserFactory())) == []
