"""The one guard for every outbound URL the app fetches (URL import, webhooks, model endpoints).

Peers shipped SSRF through URL import, ML-backend URLs, storage endpoints and webhooks, including
DNS-rebinding bypasses (SECURITY-CASES.md #4, #5, #8, #14, #15). So:

- only http and https, no credentials in the URL, ports from an allowlist;
- the host name is resolved once and *every* address it resolves to must be public (loopback,
  private, link-local, carrier-grade NAT, multicast, reserved, the cloud metadata addresses and
  IPv4-mapped forms of all of these are refused);
- the connection goes to the address that was checked (the Host header and TLS SNI carry the name),
  so a second DNS answer cannot swap in an internal address (rebinding);
- redirects are followed by hand, each hop checked the same way, at most ``max_redirects``;
- the body is capped, and a remote error body is never echoed back to the user.

``allowed_networks`` lets an on-premises deployment name internal networks it trusts on purpose
(setting ``OUTBOUND_ALLOWED_NETWORKS``, with ``OUTBOUND_ALLOWED_PORTS``; ``Policy.from_settings``);
it is empty by default and is a setting only, never read from the environment.

``fetch`` reads a small body into memory; ``download`` streams a large one (URL import) to a file.
``precheck_url`` is the network-free part, for an immediate answer in a web request.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

ALLOWED_PORTS = frozenset({80, 443, 8080, 8443})
_EXTRA_BLOCKED = [
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT
    ipaddress.ip_network("169.254.0.0/16"),  # link-local, incl. 169.254.169.254 metadata
    ipaddress.ip_network("fd00:ec2::/32"),  # AWS IPv6 metadata
    ipaddress.ip_network("0.0.0.0/8"),
]


class OutboundURLError(ValueError):
    """A URL the app will not fetch; the message says why without revealing anything remote."""


@dataclass(frozen=True)
class CheckedURL:
    url: str
    scheme: str
    host: str
    port: int
    path: str  # path + query, ready for the request line
    address: str  # the vetted IP the connection must go to


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _is_public(address: Address, allowed: Sequence[Network]) -> bool:
    if any(address in net for net in allowed):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _is_public(mapped, allowed)
    if any(address in net for net in _EXTRA_BLOCKED):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def _parse(url: str, allowed_ports: frozenset[int]) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of ``url`` after the checks that need no DNS, or OutboundURLError."""
    try:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https"):
            raise OutboundURLError("Only http and https URLs can be fetched.")
        if parts.username or parts.password:
            raise OutboundURLError("URLs with credentials are not accepted.")
        host = (parts.hostname or "").rstrip(".")
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except OutboundURLError:
        raise
    except ValueError as exc:  # urlsplit on "http://[::1", a port that is not a number
        raise OutboundURLError("The URL is not valid.") from exc
    if not host:
        raise OutboundURLError("The URL has no host.")
    if port not in allowed_ports:
        raise OutboundURLError(f"Port {port} is not allowed for outbound requests.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.scheme, host, port, path


def _literal_address(host: str) -> Address | None:
    """The address ``host`` spells without DNS, including the legacy IPv4 forms the C resolver
    accepts ("127.1", "2130706433", "0x7f.0.0.1"); None for a name.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, UnicodeError, ValueError):
        return None


_REFUSED = "The URL points to a private, loopback or reserved address, which is not allowed."


def precheck_url(
    url: str, *, allowed_networks: Sequence[str] = (), allowed_ports: frozenset[int] = ALLOWED_PORTS
) -> None:
    """The checks that need no network, for an answer while the user waits (the web request).

    Scheme, credentials, port, literal addresses in any spelling and ``localhost`` names are refused
    here; a name is only resolved by ``check_url`` when it is fetched, in the worker, and that check
    is the one that counts (DNS can answer differently by then).
    """
    _scheme, host, _port, _path = _parse(url, allowed_ports)
    allowed = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]
    literal = _literal_address(host)
    if literal is not None and not _is_public(literal, allowed):
        raise OutboundURLError(_REFUSED)
    if literal is None and (host.lower() == "localhost" or host.lower().endswith(".localhost")):
        raise OutboundURLError(_REFUSED)  # RFC 6761: always loopback, whatever a resolver says


def check_url(
    url: str,
    *,
    resolver: Resolver = _system_resolver,
    allowed_networks: Sequence[str] = (),
    allowed_ports: frozenset[int] = ALLOWED_PORTS,
) -> CheckedURL:
    """Validate ``url`` and resolve it to one vetted address, or raise OutboundURLError."""
    scheme, host, port, path = _parse(url, allowed_ports)
    allowed = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolver(host, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise OutboundURLError(f"The host name {host!r} could not be resolved.") from exc
    if not addresses:
        raise OutboundURLError(f"The host name {host!r} could not be resolved.")
    # Every answer must be public: an attacker's name may return one public and one internal address.
    if not all(_is_public(a, allowed) for a in addresses):
        raise OutboundURLError(_REFUSED)
    return CheckedURL(url=url, scheme=scheme, host=host, port=port, path=path, address=str(addresses[0]))


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a fixed IP while verifying the certificate of the host name (SNI)."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FetchResult:
    url: str  # the final URL after redirects
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class DownloadResult:
    url: str  # the final URL after redirects
    status: int
    content_type: str
    size: int  # bytes written


@dataclass(frozen=True)
class Policy:
    """Where the app may connect, from settings (read at call time). Both are settings only, never
    environment variables, and widen the guard on purpose: an on-premises deployment that trusts an
    internal network, or a test that allowlists its own loopback server.
    """

    allowed_networks: tuple[str, ...] = ()
    allowed_ports: frozenset[int] = ALLOWED_PORTS

    @classmethod
    def from_settings(cls) -> Policy:
        from django.conf import settings

        networks = tuple(str(n) for n in getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", ()))
        ports = frozenset(int(p) for p in getattr(settings, "OUTBOUND_ALLOWED_PORTS", ALLOWED_PORTS))
        return cls(allowed_networks=networks, allowed_ports=ports)


_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024


def _open(
    url: str,
    *,
    timeout: float,
    max_redirects: int,
    resolver: Resolver,
    allowed_networks: Sequence[str],
    allowed_ports: frozenset[int],
    deadline: float | None = None,
) -> tuple[str, http.client.HTTPConnection, http.client.HTTPResponse]:
    """GET ``url``, following redirects by hand (each hop checked and pinned), up to a 2xx answer.

    Returns (final URL, connection, response); the caller reads the body and closes the connection.
    """
    current = url
    for _ in range(max_redirects + 1):
        if deadline is not None and time.monotonic() > deadline:
            raise OutboundURLError("The download took too long.")
        checked = check_url(current, resolver=resolver, allowed_networks=allowed_networks, allowed_ports=allowed_ports)
        conn: http.client.HTTPConnection
        if checked.scheme == "https":
            conn = _PinnedHTTPSConnection(checked.address, checked.host, checked.port, timeout)
        else:
            conn = http.client.HTTPConnection(checked.address, checked.port, timeout=timeout)
        try:
            host_header = checked.host if checked.port in (80, 443) else f"{checked.host}:{checked.port}"
            # No Accept-Encoding: the body arrives as stored, so the size cap counts real bytes.
            conn.request("GET", checked.path, headers={"Host": host_header, "User-Agent": "loopfeedback"})
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise OutboundURLError("The URL could not be fetched.") from exc
        if response.status in _REDIRECTS:
            location = response.getheader("Location")
            conn.close()
            if not location:
                raise OutboundURLError("The server sent a redirect without a location.")
            current = urljoin(current, location)
            continue
        if not 200 <= response.status < 300:
            conn.close()
            # The status only: the body of an internal error page is never shown to the user.
            raise OutboundURLError(f"The server answered with HTTP {response.status}.")
        return current, conn, response
    raise OutboundURLError(f"More than {max_redirects} redirects.")


def fetch(
    url: str,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    timeout: float = 10.0,
    max_redirects: int = 3,
    resolver: Resolver = _system_resolver,
    allowed_networks: Sequence[str] = (),
    allowed_ports: frozenset[int] = ALLOWED_PORTS,
) -> FetchResult:
    """GET ``url`` through the guard into memory (small bodies), each redirect re-checked."""
    final, conn, response = _open(
        url, timeout=timeout, max_redirects=max_redirects, resolver=resolver,
        allowed_networks=allowed_networks, allowed_ports=allowed_ports,
    )  # fmt: skip
    try:
        body = response.read(max_bytes + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise OutboundURLError("The URL could not be fetched.") from exc
    finally:
        conn.close()
    if len(body) > max_bytes:
        raise OutboundURLError(f"The response is larger than {max_bytes} bytes.")
    return FetchResult(final, response.status, response.getheader("Content-Type") or "", body)


def download(
    url: str,
    destination: BinaryIO,
    *,
    max_bytes: int,
    timeout: float = 30.0,
    total_timeout: float = 600.0,
    max_redirects: int = 3,
    refuse_type: Callable[[str], str | None] | None = None,
    resolver: Resolver = _system_resolver,
    allowed_networks: Sequence[str] = (),
    allowed_ports: frozenset[int] = ALLOWED_PORTS,
) -> DownloadResult:
    """Stream ``url`` into ``destination`` through the guard, never holding the body in memory.

    ``max_bytes`` is enforced twice: a declared Content-Length over it is refused before reading, and
    the bytes actually received are counted (a server may send no length or lie about it).
    ``timeout`` bounds each socket operation; ``total_timeout`` bounds the whole download, so a
    server that drips one byte at a time cannot hold a worker for ever. ``refuse_type`` sees the
    final Content-Type before any body is read and returns a reason to refuse it.
    On OutboundURLError ``destination`` may hold part of the body: the caller discards it.
    """
    deadline = time.monotonic() + total_timeout
    final, conn, response = _open(
        url, timeout=timeout, max_redirects=max_redirects, resolver=resolver,
        allowed_networks=allowed_networks, allowed_ports=allowed_ports, deadline=deadline,
    )  # fmt: skip
    too_big = f"The file is larger than the limit of {max_bytes:,} bytes."
    try:
        content_type = response.getheader("Content-Type") or ""
        reason = refuse_type(content_type) if refuse_type is not None else None
        if reason:
            raise OutboundURLError(reason)
        encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":
            raise OutboundURLError(f"The server sent a compressed ({encoding}) response; link the file itself.")
        declared = response.getheader("Content-Length")
        if declared and declared.strip().isdigit() and int(declared) > max_bytes:
            raise OutboundURLError(too_big)
        size = 0
        # read1, not read: read(n) blocks until n bytes arrive, so a slow drip would never reach the
        # deadline check; read1 returns whatever one socket read brought.
        while chunk := response.read1(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise OutboundURLError(too_big)
            if time.monotonic() > deadline:
                raise OutboundURLError(f"The download took longer than {total_timeout:g} seconds.")
            destination.write(chunk)
    except (OSError, http.client.HTTPException) as exc:
        raise OutboundURLError("The download was interrupted.") from exc
    finally:
        conn.close()
    return DownloadResult(final, response.status, content_type, size)
