"""Who the client is: its address as this server sees it, or as a trusted proxy in front
says (BFF_TRUSTED_PROXIES). Used for the upstream's X-Forwarded-For, the session record,
the audit log and the rate limits."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from bff.conf import bff_settings


def trusted_networks() -> tuple[IPv4Network | IPv6Network, ...]:
    """BFF_TRUSTED_PROXIES as networks; ImproperlyConfigured when one is not an address."""
    proxies = bff_settings.BFF_TRUSTED_PROXIES
    return _networks(tuple(proxies.split(",") if isinstance(proxies, str) else proxies))


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[IPv4Network | IPv6Network, ...]:
    try:
        return tuple(ip_network(proxy.strip()) for proxy in proxies if proxy.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"BFF_TRUSTED_PROXIES: {exc}. List addresses or networks, e.g. 10.0.0.0/8."
        ) from exc


def _address(text: str) -> IPv4Address | IPv6Address | None:
    """An IP address as a proxy writes one ("[::1]:80" and "1.2.3.4:80" too), else None."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or, when that is a trusted proxy
    (BFF_TRUSTED_PROXIES), the nearest address in its X-Forwarded-For that is not one itself.

    What the client wrote there itself (the far left) is never believed over a proxy's word.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = trusted_networks()
    hop = _address(remote)
    if hop is None or not any(hop in network for network in trusted):
        return remote
    client = str(hop)
    for entry in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop = _address(entry)
        if hop is None:
            break  # garbage: nothing beyond it can be believed
        client = str(hop)
        if not any(hop in network for network in trusted):
            break
    return client
