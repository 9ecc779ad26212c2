"""Outgoing HTTP to addresses customers configure (Slack webhooks, outgoing webhooks), guarded.

A URL someone typed into a campaign or a webhook subscription must not make
Pulse talk to its own network: loopback, private, link-local (the cloud
metadata service at 169.254.169.254), carrier-grade NAT, multicast and other
non-global addresses are refused. The check runs on the addresses the name
resolves to *when connecting*, and the connection goes to the address that
was checked (so a DNS answer that changes in between cannot slip through);
every request, redirects included, passes through it. Self-hosted targets are
let through by an allow-list of host names and networks.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ForbiddenDestination(httpx.TransportError):
    """The URL names (or resolves to) an address Pulse may not connect to."""


@dataclass(frozen=True)
class OutboundPolicy:
    """Which non-public destinations are allowed anyway: exact host names and networks (CIDR)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> OutboundPolicy:
        """From ``["hooks.internal.example", "10.0.5.0/24", "127.0.0.1"]``; raises ``ValueError`` naming a bad entry."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if not all(part.isalnum() or "-" in part for part in entry.split(".")):
                    raise ValueError(f"{entry!r} is neither a host name nor an address or network") from None
                hosts.add(entry.lower())
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: Address) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        return any(address in network for network in self.networks)


def is_public(address: Address) -> bool:
    """Whether ``address`` is on the public internet (IPv4-mapped IPv6 judged as the IPv4 it maps)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def named_internal(url: str, policy: OutboundPolicy) -> str | None:
    """Why ``url`` plainly names a non-public host (a literal address, ``localhost``), or is
    no URL httpx can call (a bad IPv6 literal, a control character, an invalid IDNA name), else None.

    For refusing a URL when it is configured, with no DNS lookup; the check that
    counts is the one made when connecting (``GuardedTransport``).
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"is not a URL Pulse can call ({exc})"
    host = (parsed.host or "").lower().rstrip(".")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:  # httpx reads any number; no connection could use it
        return f"is not a URL Pulse can call (port {parsed.port}; a port is 1 to 65535)"
    if "%" in host:  # a space or other character no host name has, which httpx quotes
        return f"is not a URL Pulse can call (the host {host!r} is no host name)"
    address = literal_address(host)
    if address is None and (host == "localhost" or host.endswith(".localhost")):
        address = ipaddress.ip_address("127.0.0.1")
    if address is None or is_public(address) or policy.allows(host, address):
        return None
    return f"{host} is a loopback, private, link-local or otherwise non-public address; allow it with PULSE_OUTBOUND_ALLOW if it is your own service"


def check_destination(host: str, policy: OutboundPolicy) -> list[Address]:
    """The addresses ``host`` resolves to, every one of them allowed; ``ForbiddenDestination`` otherwise."""
    literal = literal_address(host)
    if literal is not None:
        found: Sequence[Address] = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from None
        found = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    for address in found:
        if not is_public(address) and not policy.allows(host, address):
            raise ForbiddenDestination(
                f"{host} resolves to {address}, a loopback, private, link-local or otherwise non-public address; "
                "allow it with PULSE_OUTBOUND_ALLOW if it is your own service"
            )
    return list(found)


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport that connects only to allowed addresses, pinned to the one it checked."""

    def __init__(self, policy: OutboundPolicy, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        address = check_destination(host, self.policy)[0]
        if literal_address(host) is None:
            # Connect to the address we checked; the name still goes in Host and in TLS (SNI, certificate).
            request.url = request.url.copy_with(host=str(address))
            request.extensions = {**request.extensions, "sni_hostname": host}
            request.headers["Host"] = request.headers.get("Host") or host
        return super().handle_request(request)
