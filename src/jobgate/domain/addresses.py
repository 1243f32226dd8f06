"""Which network addresses a webhook may reach: the SSRF guard's rule. Pure (no DNS here).

A webhook URL is the subscriber's to choose, so jobgate must not become a way into its own
network: every address a delivery connects to — after DNS resolution, so a name that resolves
(or re-resolves) inward is caught — must be a public unicast address. Refused: loopback,
private (RFC 1918), link-local (and so the cloud metadata address 169.254.169.254), CGNAT
(100.64/10), multicast, reserved and unspecified (0.0.0.0, ::) addresses, IPv6 unique-local,
and IPv4 addresses hidden in IPv6 (``::ffff:127.0.0.1``, 6to4, NAT64). IPv4 literals in any
notation the C resolver accepts (``2130706433``, ``0x7f000001``, ``017700000001``,
``127.1``) are read as the address they mean.

``allowed`` (``JOBGATE_WEBHOOK_ALLOWED_HOSTS``: host names and CIDRs) opens the guard for those
names and networks only, e.g. ``127.0.0.1`` for local development and tests.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Allowed:
    """Host names and networks the guard lets through although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, items: Iterable[str]) -> Allowed:
        hosts, networks = set(), []
        for item in (i.strip() for i in items):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def host(self, name: str) -> bool:
        return name.lower().rstrip(".") in self.hosts

    def address(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)


def literal(host: str) -> IPAddress | None:
    """The address a host written as an IP literal means (any IPv4 notation, bracketed or
    bare IPv6), or None when it is a name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if all(part and (part.isalnum()) for part in text.split(".")) and text[:1].isdigit():
        try:  # inet_aton reads 127.1, 2130706433, 0x7f000001, 017700000001 …
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: IPAddress, allowed: Allowed = Allowed()) -> str | None:
    """Why a delivery may not connect to ``ip``, or None when it may."""
    if allowed.address(ip):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = refusal(inner, allowed)
            return f"{ip} carries {inner}: {why}" if why else None
    for check, why in (
        (ip.is_loopback, "loopback"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_link_local, "link-local (cloud metadata lives there)"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not a public address"),
    ):
        if check:
            return f"{ip} is {why}"
    return None
