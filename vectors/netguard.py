"""Refuse outgoing HTTP connections to non-public addresses (SSRF guard for the image loader).

The check runs where the socket is opened: the host is resolved once, every address it
resolves to must be public, and the connection goes to the address that was checked (so a
DNS answer that changes between check and connect cannot sneak in a private one). Redirects
open new connections and are checked the same way. Nothing is sent to a refused address.
"""

from __future__ import annotations

import ipaddress
import socket

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["BlockedAddress", "blocked_reason", "guarded_session"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(Exception):
    """The host resolves to an address that is not a public unicast one."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        super().__init__(host, address, kind)
        self.host, self.address, self.kind = host, address, kind

    def __str__(self) -> str:
        where = self.address if self.host == self.address else f"{self.host} ({self.address})"
        return f"address {where} is {self.kind}; only public addresses may be fetched"


def blocked_reason(address: str) -> str | None:
    """Why `address` must not be fetched ("loopback", "private", ...), or None if public."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    )
    for kind, hit in checks:
        if hit:
            return kind
    return None if ip.is_global else "not globally routable"


def _public_address(host: str, port: int) -> str:
    """The first address of `host`, after checking that every address it has is public."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        kind = blocked_reason(address)
        if kind is not None:
            raise BlockedAddress(host, address, kind)
    return addresses[0]


class _GuardMixin:
    _dns_host: str
    port: int

    def _new_conn(self) -> socket.socket:
        host = self._dns_host
        try:
            address = _public_address(host.rstrip("."), self.port)
        except socket.gaierror:
            address = host  # let urllib3 report the resolution failure its usual way
        self._dns_host = address  # connect to what was checked; Host and SNI keep the name
        try:
            return super()._new_conn()  # type: ignore[misc]
        finally:
            self._dns_host = host


class _GuardedHTTPConnection(_GuardMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }


def guarded_session() -> requests.Session:
    """A session that only connects to public addresses; environment proxies are ignored
    (through a proxy the checked address would be the proxy's, not the image host's)."""
    session = requests.Session()
    session.trust_env = False
    adapter = _GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
