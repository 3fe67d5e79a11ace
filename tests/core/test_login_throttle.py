"""Brute force against the site and admin sign-in is throttled (SECURITY-CASES: default credentials, ATO)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize("url_name", ["login", "admin:login"])
def test_repeated_failures_lock_the_account_even_for_the_right_password(client, url_name, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    user = UserFactory(username="victim", is_staff=True)
    url = reverse(url_name)
    for _ in range(3):
        client.post(url, {"username": "victim", "password": "guess"})
    response = client.post(url, {"username": "victim", "password": "correct horse battery"})
    assert response.status_code == 200
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    cache.clear()  # the window passes
    assert client.post(url, {"username": user.username, "password": "correct horse battery"}).status_code == 302


def test_success_resets_the_account_counter(client, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    UserFactory(username="forgetful")
    url = reverse("login")
    for _ in range(2):
        client.post(url, {"username": "forgetful", "password": "nope"})
    assert client.post(url, {"username": "forgetful", "password": "correct horse battery"}).status_code == 302
    client.logout()
    for _ in range(2):
        client.post(url, {"username": "forgetful", "password": "nope"})
    assert client.post(url, {"username": "forgetful", "password": "correct horse battery"}).status_code == 302


def test_there_is_no_signup_page(client):
    for path in ("/accounts/signup/", "/signup/", "/register/", "/accounts/register/"):
        assert client.get(path).status_code == 404
