"""Webhook endpoint URLs that point inside the server's own network are refused (SSRF).

Meterly POSTs to whatever URL an API key registers. Without this check, a key holder could
make the server call its loopback services, the cloud metadata address (169.254.169.254)
or any host of a private network, and read the status codes back from the deliveries'
log. A URL is refused when its host is, or resolves to, an address that is loopback,
link-local, private (RFC 1918), unique-local (fc00::/7), shared (100.64/10), multicast,
reserved or unspecified, unless the organization allows private URLs
(`meterly org settings ORG_ID --allow-private-webhook-urls`, for receivers on the same
network, and the test suites).

The host is resolved when the endpoint is saved, and again before every delivery
(jobs/webhooks.py), so a name that resolved to a public address at registration and to a
private one later (DNS rebinding) is refused then. A name that does not resolve when the
endpoint is saved is accepted: its deliveries fail until it does, and each one is checked.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from meterly.domain.errors import ValidationFailed
from meterly.store.tables import Organization

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Refused with the field's error code (Lago's 422 error_details).
URL_IS_PRIVATE = "url_is_private"


class PrivateAddress(Exception):
    """A delivery refused because its host resolves inside the server's network."""


def is_private(address: IpAddress) -> bool:
    """Everything but a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def private_addresses(url: str) -> list[str]:
    """The addresses of `url`'s host that are not public (empty: the URL may be called).

    A literal address is checked as is; a name is resolved (every A and AAAA record: one
    private record is enough to refuse). A name that does not resolve gives no address.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").strip("[]")
    if not host:
        return []
    try:
        literal: IpAddress = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [str(literal)] if is_private(literal) else []
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        return []
    found: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if is_private(address) and str(address) not in found:
            found.append(str(address))
    return found


def allows_private(session: Session, organization_id: str) -> bool:
    org = session.get(Organization, organization_id)
    return bool(org is not None and org.allow_private_webhook_urls)


def check_url(session: Session, *, organization_id: str, url: str) -> None:
    """ValidationFailed (`webhook_url: url_is_private`) unless the URL may be called."""
    if allows_private(session, organization_id):
        return
    if private_addresses(url):
        raise ValidationFailed.field("webhook_url", URL_IS_PRIVATE)


def check_delivery(url: str, *, allow_private: bool) -> None:
    """PrivateAddress when a delivery would reach a private address (DNS rebinding)."""
    if allow_private:
        return
    refused = private_addresses(url)
    if refused:
        raise PrivateAddress(f"{urlsplit(url).hostname} resolves to {', '.join(refused)}")
