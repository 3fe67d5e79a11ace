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
(setting ``OUTBOUND_ALLOWED_NETWORKS``); it is empty by default.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


def check_url(
    url: str,
    *,
    resolver: Resolver = _system_resolver,
    allowed_networks: Sequence[str] = (),
    allowed_ports: frozenset[int] = ALLOWED_PORTS,
) -> CheckedURL:
    """Validate ``url`` and resolve it to one vetted address, or raise OutboundURLError."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise OutboundURLError("Only http and https URLs can be fetched.")
    if parts.username or parts.password:
        raise OutboundURLError("URLs with credentials are not accepted.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise OutboundURLError("The URL has no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise OutboundURLError("The URL has an invalid port.") from exc
    if port not in allowed_ports:
        raise OutboundURLError(f"Port {port} is not allowed for outbound requests.")
    allowed = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolver(host, port)]
        except (OSError, UnicodeError) as exc:
            raise OutboundURLError(f"The host name {host!r} could not be resolved.") from exc
    if not addresses:
        raise OutboundURLError(f"The host name {host!r} could not be resolved.")
    # Every answer must be public: an attacker's name may return one public and one internal address.
    if not all(_is_public(a, allowed) for a in addresses):
        raise OutboundURLError("The URL points to a private, loopback or reserved address, which is not allowed.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return CheckedURL(url=url, scheme=parts.scheme, host=host, port=port, path=path, address=str(addresses[0]))


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
    """GET ``url`` through the guard, following at most ``max_redirects`` redirects, each re-checked."""
    current = url
    for _ in range(max_redirects + 1):
        checked = check_url(current, resolver=resolver, allowed_networks=allowed_networks, allowed_ports=allowed_ports)
        conn: http.client.HTTPConnection
        if checked.scheme == "https":
            conn = _PinnedHTTPSConnection(checked.address, checked.host, checked.port, timeout)
        else:
            conn = http.client.HTTPConnection(checked.address, checked.port, timeout=timeout)
        try:
            host_header = checked.host if checked.port in (80, 443) else f"{checked.host}:{checked.port}"
            conn.request("GET", checked.path, headers={"Host": host_header, "User-Agent": "loopfeedback"})
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise OutboundURLError("The server sent a redirect without a location.")
                current = urljoin(current, location)
                continue
            if response.status >= 400:
                raise OutboundURLError(f"The server answered with HTTP {response.status}.")
            body = response.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise OutboundURLError(f"The response is larger than {max_bytes} bytes.")
            return FetchResult(current, response.status, response.getheader("Content-Type") or "", body)
        except (OSError, http.client.HTTPException) as exc:
            raise OutboundURLError("The URL could not be fetched.") from exc
        finally:
            conn.close()
    raise OutboundURLError(f"More than {max_redirects} redirects.")
