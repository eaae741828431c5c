"""Refuse outgoing HTTP connections to non-public addresses (SSRF guard for the image loader).

The check runs where the socket is opened: the host is resolved once, every address it
resolves to must be public, and the connection goes to the address that was checked (so a
DNS answer that changes between check and connect cannot sneak in a private one). Redirects
open new connections and are checked the same way. Nothing is sent to a refused address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["BlockedAddress", "GuardedSession", "blocked_reason", "guarded_session"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(Exception):
    """The host resolves to an address that is not a public unicast one."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        super().__init__(host, address, kind)
        self.host, self.address, self.kind = host, address, kind

    def __str__(self) -> str:
        where = self.address if self.host == self.address else f"{self.host} ({self.address})"
        return f"address {where} is {self.kind}; only public addresses may be fetched"


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def blocked_reason(address: str) -> str | None:
    """Why `address` must not be fetched ("loopback", "private", ...), or None if public.

    An IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo, NAT64, IPv4-compatible)
    is judged by that IPv4 address too; deprecated site-local fec0::/10 is refused; anything
    else must be globally routable."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return "site-local"
        candidates = [*_embedded_ipv4(ip), ip]  # the carried address names the danger best
    for candidate in candidates:
        if kind := _kind(candidate):
            return kind
    return None if all(c.is_global for c in candidates) else "not globally routable"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[IPAddress]:
    found: list[IPAddress] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found += list(ip.teredo)
    if any(ip in network for network in _NAT64) or (ip in _V4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _kind(ip: IPAddress) -> str | None:
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    )
    return next((kind for kind, hit in checks if hit), None)


def _public_address(host: str, port: int) -> str:
    """The first address of `host`, after checking that every address it has is public.
    A name that does not resolve is refused: nothing is connected by name."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise BlockedAddress(host, host, "not resolvable") from error
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        kind = blocked_reason(address)
        if kind is not None:
            raise BlockedAddress(host, address, kind)
    return addresses[0]


class _GuardMixin:
    _dns_host: str
    port: int

    allowed: frozenset[str] = frozenset()

    def _new_conn(self) -> socket.socket:
        host = self._dns_host
        name = host.rstrip(".").lower()
        if name in self.allowed or f"{name}:{self.port}" in self.allowed:
            return super()._new_conn()  # type: ignore[misc] - a host the operator trusts
        self._dns_host = _public_address(name, self.port)  # connect to what was checked
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
    def __init__(self, allowed: frozenset[str]) -> None:
        self._allowed = allowed
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().init_poolmanager(*args, **kwargs)
        pools = {}
        for scheme, base in (("http", _GuardedHTTPPool), ("https", _GuardedHTTPSPool)):
            connection = type(base.ConnectionCls.__name__, (base.ConnectionCls,),
                              {"allowed": self._allowed})  # fmt: skip
            pools[scheme] = type(base.__name__, (base,), {"ConnectionCls": connection})
        self.poolmanager.pool_classes_by_scheme = pools


class GuardedSession(requests.Session):
    """A session that only connects to public addresses, and to `allowed` hosts (names, or
    name:port, the operator trusts, such as an internal image server). Environment proxies
    are ignored: through a proxy the checked address would be the proxy's."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        super().__init__()
        self.trust_env = False
        adapter = _GuardedAdapter(frozenset(host.lower().rstrip(".") for host in allowed))
        self.mount("http://", adapter)
        self.mount("https://", adapter)


def guarded_session(allowed: Iterable[str] = ()) -> GuardedSession:
    return GuardedSession(allowed)
