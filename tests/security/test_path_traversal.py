"""Static, media and snapshot-file paths cannot reach outside their folders (SECURITY-CASES #1, #9, #16).

#1: Label Studio's nginx ``alias`` without a trailing slash served ``/static../`` from the parent
folder, settings included. We serve static files with WhiteNoise and no media URL at all (snapshot
files go through an authorised view), so each traversal shape is requested three ways: in-process
with the test settings (WhiteNoise reading the source folders through the finders), in-process with
production's mode (a collected STATIC_ROOT, indexed at start), and over real HTTP against gunicorn
running the production settings, where the path reaches the app byte for byte as a client sent it.

#9 and #16: a download path is checked with ``commonpath`` after resolving symlinks, never with a
string prefix: ``snapshots/1/10`` must not pass for ``snapshots/1/1``.
"""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import subprocess
import sys
import time

import pytest
from django.http import Http404
from django.urls import reverse

from core.models import Role
from core.services import membership_set
from curation.models import DatasetSnapshot, SnapshotStatus
from curation.selectors import snapshot_file_path
from tests.conftest import ROOT, clean_env
from tests.factories import ProjectFactory, UserFactory

# Text that appears in config/settings/base.py and nowhere in a 404 page.
SETTINGS_MARKERS = (b"CONTENT_SECURITY_POLICY", b"INSTALLED_APPS", b"SECRET_KEY")
CANARY = b"CANARY-must-never-be-served"

TRAVERSALS = [
    "/static../config/settings/base.py",
    "/static/../config/settings/base.py",
    "/static/../../config/settings/base.py",
    "/static/css/../../config/settings/base.py",
    "/static/%2e%2e/config/settings/base.py",
    "/static/%2e%2e/%2e%2e/config/settings/base.py",
    "/static/%2E%2E%2Fconfig%2Fsettings%2Fbase.py",
    "/static/.%2e/config/settings/base.py",
    "/static/%252e%252e/config/settings/base.py",
    "/static/%252e%252e%252fconfig%252fsettings%252fbase.py",
    "/static/..%2f..%2fconfig/settings/base.py",
    "/static/..%5c..%5cconfig%5csettings%5cbase.py",
    "/static/....//....//config/settings/base.py",
    "/static/..;/config/settings/base.py",
    "/static/%c0%ae%c0%ae/config/settings/base.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/css/app.css%00.py",
    "/media/../config/settings/base.py",
    "/media../config/settings/base.py",
    "/media/%2e%2e/config/settings/base.py",
    "/config/settings/base.py",
    "/manage.py",
]
# Files planted next to the served folders in the gunicorn test's data directory.
PLANTED = [
    "/static../canary.txt",
    "/static/../canary.txt",
    "/static/%2e%2e/canary.txt",
    "/staticfiles/canary.txt",
    "/staticfiles-evil/canary.txt",
    "/static/../staticfiles-evil/canary.txt",
    "/static-evil/canary.txt",
    "/media/canary.txt",
    "/media../canary.txt",
    "/media/snapshots/1/1/manifest.json",
    "/snapshots/1/1/manifest.json",
]


def assert_refused(status: int, body: bytes, path: str) -> None:
    # 404 is the answer; 400 is what Django gives a path it calls suspicious. Never a file.
    assert status in (400, 404), f"{path} -> {status}"
    for marker in (*SETTINGS_MARKERS, CANARY, b"root:x:0:0"):
        assert marker not in body, f"{path} served {marker!r}"


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- In process ----------------------------------------------------------------------------------


def test_a_real_static_file_is_served(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_is_refused_with_test_settings(client, path):
    response = client.get(path)
    assert_refused(response.status_code, body_of(response), path)


@pytest.fixture
def collected(settings, tmp_path):
    """Production's static mode: files collected into STATIC_ROOT and indexed once at start."""
    root = tmp_path / "staticfiles"
    (root / "css").mkdir(parents=True)
    (root / "css" / "app.css").write_text("body{}")
    (tmp_path / "canary.txt").write_bytes(CANARY)
    (tmp_path / "staticfiles-evil").mkdir()
    (tmp_path / "staticfiles-evil" / "canary.txt").write_bytes(CANARY)
    os.symlink(tmp_path / "canary.txt", root / "linked-canary.txt")
    settings.STATIC_ROOT = root
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    return root


@pytest.mark.parametrize("path", [*TRAVERSALS, *PLANTED])
def test_traversal_is_refused_with_a_collected_static_root(client, collected, path):
    assert client.get("/static/css/app.css").status_code == 200  # the collected file is served
    response = client.get(path)
    assert_refused(response.status_code, body_of(response), path)


@pytest.mark.django_db
def test_media_is_not_served_at_all(client, settings, tmp_path):
    """No URL maps to MEDIA_ROOT: snapshot files exist only behind the authorised download view."""
    settings.MEDIA_ROOT = tmp_path
    folder = tmp_path / "snapshots" / "1" / "1"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_bytes(CANARY)
    (tmp_path / "canary.txt").write_bytes(CANARY)
    client.force_login(UserFactory(is_superuser=True, is_staff=True))  # even the superuser
    for path in ("/media/snapshots/1/1/manifest.json", "/media/canary.txt", "/snapshots/1/1/manifest.json"):
        response = client.get(path)
        assert_refused(response.status_code, body_of(response), path)


# --- Over HTTP, against gunicorn with the production settings --------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raw_get(port: int, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written: http.client sends the target without normalising it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", "127.0.0.1")
        # TLS ends at the proxy in production; without this every answer is the HTTPS redirect.
        conn.putheader("X-Forwarded-Proto", "https")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/loopfeedback",  # never queried by these requests
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        LOOP_DATA_DIR=str(data),
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    (data / "canary.txt").write_bytes(CANARY)
    for folder in ("staticfiles-evil", "static-evil", "media", "media/snapshots/1/1"):
        (data / folder).mkdir(parents=True, exist_ok=True)
    for file in ("staticfiles-evil/canary.txt", "static-evil/canary.txt", "media/canary.txt"):
        (data / file).write_bytes(CANARY)
    (data / "media/snapshots/1/1/manifest.json").write_bytes(CANARY)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if raw_get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start: {server.stderr.read().decode() if server.stderr else ''}")
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_production_server_serves_static_and_refuses_every_traversal(production_server):
    status, body = raw_get(production_server, "/static/css/app.css")
    assert status == 200
    assert body
    problems = []
    for path in [*TRAVERSALS, *PLANTED]:
        status, body = raw_get(production_server, path)
        try:
            assert_refused(status, body, path)
        except AssertionError as exc:
            problems.append(str(exc))
    assert problems == []


# --- Snapshot downloads: commonpath, sibling prefixes, symlinks -----------------------------------


@pytest.fixture
def sibling_snapshots(settings, tmp_path):
    """Two succeeded snapshots whose folders share a prefix: snapshots/<p>/<n> and snapshots/<p>/<n>0."""
    settings.MEDIA_ROOT = tmp_path / "media"
    project = ProjectFactory()
    short = DatasetSnapshot.objects.create(pk=7_000_001, project=project, name="short", status=SnapshotStatus.SUCCEEDED)
    long = DatasetSnapshot.objects.create(pk=70_000_010, project=project, name="long", status=SnapshotStatus.SUCCEEDED)
    assert long.folder.startswith(short.folder)  # the prefix trap this test is about
    for snapshot in (short, long):
        folder = settings.MEDIA_ROOT / snapshot.folder
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text("{}")
        (folder / "raw.jsonl").write_bytes(b"own data" if snapshot is short else CANARY)
    (tmp_path / "outside.txt").write_bytes(CANARY)
    return project, short, long, settings.MEDIA_ROOT


def with_files(snapshot: DatasetSnapshot, *names: str) -> DatasetSnapshot:
    """The row as if its ``files`` list had been tampered with (names are otherwise an allowlist)."""
    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(files=[{"name": n} for n in names])
    return DatasetSnapshot.objects.get(pk=snapshot.pk)


@pytest.mark.django_db
def test_own_files_are_served(sibling_snapshots):
    _, short, _, _ = sibling_snapshots
    short = with_files(short, "raw.jsonl")
    assert snapshot_file_path(snapshot=short, name="raw.jsonl").read_bytes() == b"own data"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "../70000010/raw.jsonl",  # the sibling whose folder name starts with ours
        "..%2f70000010/raw.jsonl",
        "../../../outside.txt",
        "/etc/passwd",
        "./../70000010/manifest.json",
    ],
)
def test_a_listed_name_that_leaves_the_folder_is_refused(sibling_snapshots, name):
    _, short, _, _ = sibling_snapshots
    short = with_files(short, name)
    with pytest.raises(Http404):
        snapshot_file_path(snapshot=short, name=name)


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["sibling", "outside", "parent"])
def test_a_symlink_out_of_the_folder_is_refused(sibling_snapshots, target):
    _, short, long, media = sibling_snapshots
    destination = {
        "sibling": media / long.folder / "raw.jsonl",
        "outside": media.parent / "outside.txt",
        "parent": media / "snapshots",
    }[target]
    (media / short.folder / "linked.jsonl").symlink_to(destination)
    short = with_files(short, "linked.jsonl")
    with pytest.raises(Http404):
        snapshot_file_path(snapshot=short, name="linked.jsonl")


@pytest.mark.django_db
def test_a_snapshot_folder_symlinked_out_of_media_root_is_refused(sibling_snapshots):
    _, short, _, media = sibling_snapshots
    outside = media.parent / "elsewhere"
    outside.mkdir()
    (outside / "raw.jsonl").write_bytes(CANARY)
    folder = media / short.folder
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()
    folder.symlink_to(outside, target_is_directory=True)
    short = with_files(short, "raw.jsonl")
    with pytest.raises(Http404):
        snapshot_file_path(snapshot=short, name="raw.jsonl")


@pytest.mark.django_db
def test_the_download_view_and_api_refuse_the_sibling(client, sibling_snapshots):
    project, short, _, _ = sibling_snapshots
    researcher = UserFactory()
    membership_set(project=project, user=researcher, role=Role.RESEARCHER)
    with_files(short, "../70000010/raw.jsonl")
    client.force_login(researcher)
    for url in (
        reverse("curation:snapshot_detail", args=[project.pk, short.pk]) + "files/..%2f70000010%2fraw.jsonl",
        reverse("curation:snapshot_detail", args=[project.pk, short.pk]) + "files/../70000010/raw.jsonl",
        f"/api/v1/projects/{project.pk}/snapshots/{short.pk}/files/..%2f70000010%2fraw.jsonl",
    ):
        response = client.get(url)
        assert_refused(response.status_code, body_of(response), url)


@pytest.mark.django_db
def test_snapshot_folder_replaced_by_a_symlink_to_a_sibling_serves_nothing(settings, tmp_path):
    """A folder swapped for a link to another snapshot's folder inside MEDIA_ROOT is refused too."""
    import os

    from django.http import Http404

    from curation.models import DatasetSnapshot
    from curation.selectors import snapshot_file_path
    from curation.services.snapshots import snapshot_build, snapshot_create
    from tests.curation.judging import judged_project

    settings.MEDIA_ROOT = tmp_path
    project, _, researcher = judged_project("pairwise", items=1, annotators=1)
    built = []
    for name in ("one", "two"):
        snapshot = snapshot_create(project=project, user=researcher, name=name, filters={}, options={})
        snapshot_build(snapshot_id=snapshot.pk)
        built.append(DatasetSnapshot.objects.get(pk=snapshot.pk))
    first, second = built
    first_folder = tmp_path / first.folder
    os.chmod(first_folder, 0o700)  # the build left it read-only
    for child in first_folder.iterdir():
        child.chmod(0o600)
        child.unlink()
    first_folder.rmdir()
    first_folder.symlink_to(tmp_path / second.folder, target_is_directory=True)
    with pytest.raises(Http404):
        snapshot_file_path(snapshot=first, name="manifest.json")
    assert snapshot_file_path(snapshot=second, name="manifest.json").is_file()
