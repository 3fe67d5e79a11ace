"""REST API rate limits: a real sequence of requests through the whole stack until the 429.

Test settings raise every rate (the fuzz and the sweep send hundreds of requests); each test here sets
low rates of its own. The counters are in the real cache, cleared around each test.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.models import Role
from core.services import membership_set
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        defaults = {"anon": "1000/minute", "user": "1000/minute", "imports": "1000/minute"}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**defaults, **rates}}

    return set_rates


def api_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def assert_throttled(response, period_s):
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= period_s
    assert b"throttled" in response.content


def test_a_user_over_the_rate_gets_429_with_retry_after_and_others_are_unaffected(rates):
    rates(user="3/minute")
    first, second = UserFactory(), UserFactory()
    client = api_for(first)
    url = reverse("api-projects")
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
    assert_throttled(client.get(url), 60)
    # Per user, not per client: a second client with the same token shares the count.
    assert_throttled(api_for(first).get(url), 60)
    assert api_for(second).get(url).status_code == 200


def test_anonymous_clients_are_limited_by_address_and_a_forged_forwarded_for_does_not_reset_it(rates):
    rates(anon="2/minute")
    client = APIClient()
    url = reverse("api-schema")  # the one API answer anonymous clients may read
    assert [client.get(url).status_code for _ in range(2)] == [200, 200]
    assert_throttled(client.get(url), 60)
    assert_throttled(client.get(url, HTTP_X_FORWARDED_FOR="198.51.100.7"), 60)
    assert client.get(url, REMOTE_ADDR="192.0.2.44").status_code == 200  # another address has its own count


def test_starting_imports_has_its_own_tighter_rate_and_reads_do_not_count(rates):
    rates(imports="2/hour")
    project, admin = ProjectFactory(), UserFactory()
    membership_set(project=project, user=admin, role=Role.ADMIN)
    client = api_for(admin)
    url = reverse("api-imports", args=[project.pk])
    # Counted whatever the answer: each attempt may start work or an outbound fetch.
    assert [client.post(url, {}, format="multipart").status_code for _ in range(2)] == [400, 400]
    assert_throttled(client.post(url, {}, format="multipart"), 3600)
    assert client.get(url).status_code == 200
    assert api_for(admin).get(reverse("api-projects")).status_code == 200
