"""Import from a URL (SECURITY-CASES #4, #5): refused targets, redirects, limits, and a real import.

What leaves the machine is DNS and the remote server. So:

- refused addresses written as literals need no network at all: the web request refuses them;
- names are resolved by a fake ``socket.getaddrinfo`` that answers for ``*.example`` names only (the
  resolver boundary) and hands every other name to the real one;
- the remote server is a real HTTP server on 127.0.0.1. The guard refuses loopback by design, so the
  tests that need to reach it allowlist exactly 127.0.0.1/32 and its port with the settings
  ``OUTBOUND_ALLOWED_NETWORKS`` / ``OUTBOUND_ALLOWED_PORTS`` (empty / 80, 443, 8080, 8443 by default,
  settings only). This is the honest option: patching DNS to map a public-looking name to the server
  would not help, because the guard checks the address the name resolves to, and 127.0.0.1 is
  refused; the only way to reach a local server is to widen the policy on purpose, in the open.
  Everything else is the production path: precheck, resolution, pinning, HTTP, redirects re-checked
  hop by hop, streaming with the size limit, type and content checks, then the unchanged import.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.imports.fetch import import_job_create_from_url
from annotation.imports.tasks import run_import
from annotation.models import Item
from annotation.models_imports import ImportJob
from annotation.schemas import SchemaError
from core.models import Membership, Role
from tests.factories import annotation_project

pytestmark = pytest.mark.django_db

ROWS = [{"prompt": f"Q{n}?", "responses": [f"a{n}", f"b{n}"]} for n in range(3)]
BODY = "\n".join(json.dumps(r) for r in ROWS).encode()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def project():
    project, _ = annotation_project(items=0)
    return project


@pytest.fixture
def admin(project):
    return Membership.objects.get(project=project, role=Role.ADMIN).user


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, object] = {}
    seen: list[str] = []

    def do_GET(self):
        self.seen.append(self.path)
        route = self.routes.get(self.path)
        if callable(route):
            route(self)
            return
        status, headers, body = route or (404, {}, b"internal secret error page")
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _drip(handler):
    """A server that sends a valid file one line every 0.3 s, for ever (almost)."""
    handler.send_response(200)
    handler.end_headers()
    for _ in range(40):
        handler.wfile.write(b'{"prompt": "slow?", "responses": ["a", "b"]}\n')
        handler.wfile.flush()
        time.sleep(0.3)


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    _Handler.seen = []
    _Handler.routes = {
        "/data.jsonl": (200, {"Content-Type": "application/x-ndjson", "Content-Length": str(len(BODY))}, BODY),
        "/go.jsonl": (302, {"Location": "/data.jsonl"}, b""),
        "/to-private.jsonl": (302, {"Location": "http://10.0.0.7/data.jsonl"}, b""),
        "/to-metadata.jsonl": (302, {"Location": "http://169.254.169.254/latest/meta-data/x.jsonl"}, b""),
        # IPv4-mapped 10.0.0.7 (the allowlisted 127.0.0.1 would pass mapped or not: it is the same address).
        "/to-mapped.jsonl": (302, {"Location": "http://[::ffff:a00:7]/data.jsonl"}, b""),
        "/to-rebinding.jsonl": (302, {"Location": "http://rebind.example/data.jsonl"}, b""),
        "/big.jsonl": (200, {"Content-Length": "5000"}, b"{" + b"x" * 4999),
        "/big-unannounced.jsonl": (200, {}, b'{"prompt": "' + b"x" * 5000 + b'"}\n'),
        "/page.jsonl": (200, {"Content-Type": "text/html; charset=utf-8"}, b"<html>login</html>"),
        "/fake.parquet": (200, {"Content-Type": "application/octet-stream"}, b"not parquet at all"),
        "/slow.jsonl": _drip,
    }
    yield f"http://127.0.0.1:{port}", port
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def allow_local(settings, server):
    """The explicit, settings-only widening that lets the guard reach the test server (see the docstring)."""
    _, port = server
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.OUTBOUND_ALLOWED_PORTS = [80, 443, port]


@pytest.fixture
def fake_dns(monkeypatch):
    """Answers for ``*.example`` names at the resolver boundary; other names go to the real resolver."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".example"):
            if host not in answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def queued_url_job(project, admin, url):
    """A URL job as the web request leaves it, for URLs the create-time precheck cannot judge."""
    return import_job_create_from_url(project=project, user=admin, url=url)


def failed_with(job_id):
    job = ImportJob.objects.get(pk=job_id)
    assert job.status == "failed", job.errors
    assert job.file_path == ""
    assert job.error_count == 1
    (error,) = job.errors
    assert error["field"] == "url"
    return error["message"]


def no_files_left(media):
    folder = Path(media) / "imports"
    return not folder.exists() or not any(folder.iterdir())


# --- Refused in the web request: no job, nothing queued -------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/data.jsonl",
        "http://127.1/data.jsonl",
        "http://2130706433/data.jsonl",
        "http://0x7f.0.0.1/data.jsonl",
        "http://localhost/data.jsonl",
        "http://files.localhost/data.jsonl",
        "http://[::1]/data.jsonl",
        "http://10.1.2.3/data.jsonl",
        "http://172.16.0.1/data.csv",
        "http://192.168.1.1/data.parquet",
        "http://100.64.0.1/data.jsonl",
        "http://169.254.169.254/latest/meta-data/iam.jsonl",
        "http://[fd00:ec2::254]/data.jsonl",
        "http://[fe80::1]/data.jsonl",
        "http://[fc00::1]/data.jsonl",
        "http://[::ffff:127.0.0.1]/data.jsonl",
        "http://[::ffff:a9fe:a9fe]/data.jsonl",  # IPv4-mapped 169.254.169.254
        "http://[::ffff:10.0.0.1]/data.jsonl",
        "http://0.0.0.0/data.jsonl",
    ],
)
def test_internal_addresses_are_refused_when_the_job_is_created(project, admin, url):
    with pytest.raises(SchemaError) as info:
        import_job_create_from_url(project=project, user=admin, url=url)
    ((field, message),) = [(e.field, e.message) for e in info.value.errors]
    assert (field, message) == (
        "url",
        "The URL points to a private, loopback or reserved address, which is not allowed.",
    )
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("file:///etc/passwd.jsonl", "Only http and https"),
        ("ftp://files.example/data.jsonl", "Only http and https"),
        ("gopher://files.example/data.jsonl", "Only http and https"),
        ("http://user:pw@files.example/data.jsonl", "credentials"),
        ("http://files.example:22/data.jsonl", "Port 22"),
        ("http://[::1/data.jsonl", "not valid"),
        ("https://files.example/data", "must end in"),
        ("https://files.example/data.html", "must end in"),
        ("https://files.example/", "must end in"),
        ("", "give the http(s) URL"),
        ("https://files.example/" + "a" * 2000 + ".jsonl", "at most 2000"),
    ],
)
def test_urls_that_are_not_files_we_fetch_are_refused_when_the_job_is_created(project, admin, url, says):
    with pytest.raises(SchemaError) as info:
        import_job_create_from_url(project=project, user=admin, url=url)
    assert says in info.value.errors[0].message
    assert not ImportJob.objects.exists()


# --- Refused in the worker: the job fails with the reason, nothing is written ---------------------------


@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["::ffff:127.0.0.1"],  # IPv4-mapped IPv6 loopback
        ["::ffff:169.254.169.254"],
        ["fe80::1"],
        ["93.184.216.34", "192.168.0.10"],  # one public answer does not excuse an internal one
    ],
)
def test_names_that_resolve_to_internal_addresses_fail_the_job_in_the_worker(project, admin, fake_dns, media, answers):
    fake_dns["data.example"] = answers
    job = queued_url_job(project, admin, "https://data.example/feedback.jsonl")  # a name: not judged yet
    assert job.status == "queued"
    assert run_import(job.pk) == "failed"
    assert "private, loopback or reserved" in failed_with(job.pk)
    assert not Item.objects.filter(project=project).exists()
    assert no_files_left(media)


def test_a_name_that_does_not_resolve_fails_the_job(project, admin, fake_dns):
    job = queued_url_job(project, admin, "https://nowhere.example/feedback.jsonl")
    assert run_import(job.pk) == "failed"
    assert "could not be resolved" in failed_with(job.pk)


@pytest.mark.parametrize("path", ["/to-private.jsonl", "/to-metadata.jsonl", "/to-mapped.jsonl"])
def test_a_redirect_to_an_internal_address_is_refused_at_the_hop(project, admin, server, allow_local, media, path):
    base, _ = server
    job = queued_url_job(project, admin, f"{base}{path}")
    assert run_import(job.pk) == "failed"
    assert "private, loopback or reserved" in failed_with(job.pk)
    assert _Handler.seen == [path]  # the first hop only: nothing was requested from the redirect target
    assert no_files_left(media)


def test_a_redirect_to_a_name_that_resolves_internally_is_refused(project, admin, server, allow_local, fake_dns):
    base, _ = server
    fake_dns["rebind.example"] = ["10.0.0.8"]
    job = queued_url_job(project, admin, f"{base}/to-rebinding.jsonl")
    assert run_import(job.pk) == "failed"
    assert "private, loopback or reserved" in failed_with(job.pk)


def test_without_the_allowlist_the_local_server_is_never_contacted(project, admin, server, settings):
    """The same server and URL as the successful test, with the default policy: refused, not one request."""
    base, port = server
    settings.OUTBOUND_ALLOWED_PORTS = [80, 443, port]  # the port alone does not open loopback
    with pytest.raises(SchemaError) as info:
        import_job_create_from_url(project=project, user=admin, url=f"{base}/data.jsonl")
    assert "private, loopback or reserved" in info.value.errors[0].message
    # A row that got past the web request anyway (written before a policy change) is refused by the worker.
    job = ImportJob.objects.create(
        project=project, created_by=admin, original_filename="data.jsonl", source_url=f"{base}/data.jsonl",
        file_path="", file_size=0, format="jsonl",
    )  # fmt: skip
    assert run_import(job.pk) == "failed"
    assert "private, loopback or reserved" in failed_with(job.pk)
    assert _Handler.seen == []


def test_an_error_status_fails_the_job_without_echoing_the_remote_body(project, admin, server, allow_local):
    base, _ = server
    job = queued_url_job(project, admin, f"{base}/missing.jsonl")
    assert run_import(job.pk) == "failed"
    message = failed_with(job.pk)
    assert "HTTP 404" in message
    assert "secret" not in json.dumps(ImportJob.objects.get(pk=job.pk).errors)


@pytest.mark.parametrize("path", ["/big.jsonl", "/big-unannounced.jsonl"])
def test_a_file_over_the_limit_is_refused_while_streaming(project, admin, server, allow_local, settings, media, path):
    """Declared (Content-Length) or not, the bytes are counted as they arrive and the download stops."""
    base, _ = server
    settings.IMPORT_MAX_FILE_BYTES = 1000
    job = queued_url_job(project, admin, f"{base}{path}")
    assert run_import(job.pk) == "failed"
    assert "larger than the limit of 1,000 bytes" in failed_with(job.pk)
    assert no_files_left(media)


@pytest.mark.parametrize(
    ("path", "says"),
    [("/page.jsonl", "returned text/html, not a data file"), ("/fake.parquet", "not a Parquet file")],
)
def test_a_download_of_the_wrong_type_is_refused(project, admin, server, allow_local, media, path, says):
    base, _ = server
    job = queued_url_job(project, admin, f"{base}{path}")
    assert run_import(job.pk) == "failed"
    assert says in failed_with(job.pk)
    assert no_files_left(media)


def test_a_download_that_takes_too_long_is_stopped(project, admin, server, allow_local, settings, media):
    base, _ = server
    settings.IMPORT_URL_TIMEOUT_SECONDS = 1
    job = queued_url_job(project, admin, f"{base}/slow.jsonl")
    started = time.monotonic()
    assert run_import(job.pk) == "failed"
    assert time.monotonic() - started < 5
    assert "took longer than 1 seconds" in failed_with(job.pk)
    assert no_files_left(media)


# --- Success: the page and the API, through a redirect, into the unchanged import ------------------------


def test_a_url_given_on_the_page_is_downloaded_by_the_worker_and_imported(
    client, project, admin, server, allow_local, media
):
    base, _ = server
    client.force_login(admin)
    response = client.post(reverse("annotation:import_create", args=[project.pk]), {"url": f"{base}/go.jsonl"})
    job = ImportJob.objects.get(project=project)
    assert response.status_code == 302
    assert response["Location"] == reverse("annotation:import_detail", args=[project.pk, job.pk])
    assert (job.status, job.source_url, job.file_path, job.original_filename) == (
        "queued", f"{base}/go.jsonl", "", "go.jsonl"
    )  # fmt: skip
    assert _Handler.seen == []  # nothing is fetched in the web request
    page = client.get(reverse("annotation:import_detail", args=[project.pk, job.pk])).content.decode()
    assert "download the file from its URL" in page
    assert f'<code class="source-url">{base}/go.jsonl</code>' in page  # shown as text, not a link

    assert run_import(job.pk) == "succeeded"
    job.refresh_from_db()
    assert _Handler.seen == ["/go.jsonl", "/data.jsonl"]  # the redirect was followed, each hop checked
    assert (job.status, job.items_created, job.rows_read, job.file_size) == ("succeeded", 3, 3, len(BODY))
    prompts = Item.objects.filter(project=project).values_list("prompt__messages", flat=True)
    assert sorted(messages[-1]["content"] for messages in prompts) == ["Q0?", "Q1?", "Q2?"]
    assert no_files_left(media)  # the download is deleted once imported, as an upload is
    assert run_import(job.pk) is None  # a second delivery neither downloads nor imports again
    assert _Handler.seen == ["/go.jsonl", "/data.jsonl"]


def test_the_page_refuses_an_internal_url_and_asks_for_one_source(client, project, admin):
    client.force_login(admin)
    url = reverse("annotation:import_create", args=[project.pk])
    refused = client.post(url, {"url": "http://169.254.169.254/latest/meta-data/x.jsonl"})
    assert refused.status_code == 200
    assert "private, loopback or reserved" in refused.content.decode()
    neither = client.post(url, {"url": "", "shape": ""})
    assert "one of the two" in neither.content.decode()
    assert not ImportJob.objects.exists()


def api_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_the_api_takes_a_url_as_json_and_the_worker_imports_it(project, admin, server, allow_local):
    base, _ = server
    client = api_for(admin)
    created = client.post(reverse("api-imports", args=[project.pk]), {"url": f"{base}/data.jsonl"}, format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["source_url"], created.json()["status"]) == (f"{base}/data.jsonl", "queued")
    run_import(created.json()["id"])
    job = client.get(reverse("api-import", args=[project.pk, created.json()["id"]])).json()
    assert (job["status"], job["items_created"]) == ("succeeded", 3)


def test_the_api_refuses_internal_urls_and_ambiguous_requests(project, admin):
    client = api_for(admin)
    url = reverse("api-imports", args=[project.pk])
    refused = client.post(url, {"url": "http://[::ffff:169.254.169.254]/x.jsonl"}, format="json")
    assert refused.status_code == 400
    assert "private, loopback or reserved" in refused.json()["url"][0]
    assert client.post(url, {"url": ["a", "b"]}, format="json").status_code == 400
    assert client.post(url, ["not", "an", "object"], format="json").status_code == 400
    assert client.post(url, {}, format="json").status_code == 400
    assert not ImportJob.objects.exists()
