"""The outbound-URL guard (SSRF): refused targets, DNS answers, redirects, size caps.

DNS is the only thing that leaves the machine, so a fake resolver stands in for it; the HTTP server
is real and listens on loopback, which the guard only reaches when a test allowlists it explicitly.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.security.outbound import OutboundURLError, check_url, fetch


def resolver_for(*addresses):
    calls = []

    def resolve(host, port):
        calls.append(host)
        return list(addresses)

    resolve.calls = calls
    return resolve


PUBLIC = resolver_for("93.184.216.34")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/x",
        "gopher://example.com/",
        "javascript:alert(1)",
        "http://user:pw@example.com/",
        "http://127.0.0.1/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://0.0.0.0/",
        "http://localhost/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://example.com:22/",
        "http:///nohost",
    ],
)
def test_refused_targets(url):
    with pytest.raises(OutboundURLError):
        check_url(url)


@pytest.mark.parametrize(
    "answers",
    [("127.0.0.1",), ("10.0.0.5",), ("93.184.216.34", "192.168.0.10"), ("169.254.169.254",), ("::1",)],
)
def test_names_resolving_to_internal_addresses_are_refused(answers):
    with pytest.raises(OutboundURLError, match="private, loopback or reserved"):
        check_url("https://innocent.example/data.jsonl", resolver=resolver_for(*answers))


def test_public_name_is_pinned_to_the_checked_address():
    checked = check_url("https://data.example/a/b.jsonl?x=1", resolver=PUBLIC)
    assert (checked.host, checked.port, checked.path, checked.address) == (
        "data.example",
        443,
        "/a/b.jsonl?x=1",
        "93.184.216.34",
    )


def test_allowlisted_network_is_reachable_on_purpose():
    checked = check_url("http://10.0.0.7/x", allowed_networks=["10.0.0.0/24"])
    assert checked.address == "10.0.0.7"


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self):
        status, headers, body = self.routes.get(self.path, (404, {}, b"secret internal error body"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    _Handler.routes = {
        "/ok": (200, {"Content-Type": "application/json"}, b'{"prompt": "hi"}'),
        "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/to-ok": (302, {"Location": "/ok"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/big": (200, {}, b"x" * 5000),
    }
    yield f"http://local.test:{port}", port
    httpd.shutdown()


def local(port):
    return {
        "resolver": resolver_for("127.0.0.1"),
        "allowed_networks": ["127.0.0.0/8"],
        "allowed_ports": frozenset({port, 80, 443}),
    }


def test_fetch_through_the_guard(server):
    base, port = server
    result = fetch(f"{base}/to-ok", **local(port))
    assert (result.status, result.body, result.url) == (200, b'{"prompt": "hi"}', f"{base}/ok")


def test_loopback_is_refused_without_the_allowlist(server):
    base, port = server
    with pytest.raises(OutboundURLError):
        fetch(f"{base}/ok", resolver=resolver_for("127.0.0.1"), allowed_ports=frozenset({port}))


def test_redirect_to_metadata_is_refused_at_the_hop(server):
    base, port = server
    with pytest.raises(OutboundURLError, match="private, loopback or reserved"):
        fetch(f"{base}/to-metadata", **local(port))


def test_redirect_loops_stop(server):
    base, port = server
    with pytest.raises(OutboundURLError, match="redirects"):
        fetch(f"{base}/loop", max_redirects=2, **local(port))


def test_body_is_capped_and_remote_errors_are_not_echoed(server):
    base, port = server
    with pytest.raises(OutboundURLError, match="larger than"):
        fetch(f"{base}/big", max_bytes=1000, **local(port))
    with pytest.raises(OutboundURLError) as info:
        fetch(f"{base}/missing", **local(port))
    assert "secret" not in str(info.value)
    assert "HTTP 404" in str(info.value)


def test_each_hop_resolves_once(server):
    base, port = server
    options = local(port)
    fetch(f"{base}/to-ok", **options)
    assert options["resolver"].calls == ["local.test", "local.test"]
