import pytest

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Uploaded files go to this test's own folder."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def admin():
    return UserFactory()
