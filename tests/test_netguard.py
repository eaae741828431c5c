"""The loader's SSRF guard (ingest/netguard.py): nothing but loopback traffic here."""

from __future__ import annotations

import socket

import pytest

from visearch.vectors import netguard
from visearch.vectors.images import BlockedURLError, ImageLoaderConfig, read_image_bytes

GUARDED = ImageLoaderConfig(public_urls_only=True, retries=0, timeout_s=5)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "not globally routable"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("::127.0.0.1", "loopback"),  # IPv4-compatible
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, client 127.0.0.1
        ("fec0::1", "site-local"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_classes(address: str, kind: str | None) -> None:
    assert netguard.blocked_reason(address) == kind


def test_loopback_is_refused_before_any_request(loopback_http) -> None:  # noqa: ANN001
    loopback_http.files["/a.jpg"] = b"bytes"
    port, hosts = loopback_http.port, loopback_http.hosts
    for url in (f"http://127.0.0.1:{port}/a.jpg", f"http://localhost:{port}/a.jpg"):
        with pytest.raises(BlockedURLError, match="is loopback; only public addresses"):
            read_image_bytes(url, config=GUARDED)
    assert hosts == []  # the server never saw a request
    # Without the option the loader fetches as before (ingest trusts its catalog).
    assert read_image_bytes(f"http://127.0.0.1:{port}/a.jpg") == b"bytes"


def test_any_private_answer_refuses_the_host(monkeypatch) -> None:  # noqa: ANN001
    """A name that resolves to a public and a private address is refused (DNS tricks)."""
    answers = [("93.184.216.34", 80), ("10.0.0.5", 80)]  # refused before any connect
    infos = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", a) for a in answers]
    monkeypatch.setattr(netguard.socket, "getaddrinfo", lambda *a, **k: infos)
    with pytest.raises(BlockedURLError, match=r"images.example \(10.0.0.5\) is private"):
        read_image_bytes("http://images.example/a.jpg", config=GUARDED)


def test_the_checked_address_is_the_one_connected(monkeypatch, loopback_http) -> None:  # noqa: ANN001
    """The name is resolved once, by the guard; the socket goes to that address and the
    Host header keeps the name."""
    loopback_http.files["/a.jpg"] = b"bytes"
    port, hosts = loopback_http.port, loopback_http.hosts
    resolved: list[str] = []

    def fake_getaddrinfo(host: str, *args: object, **kwargs: object) -> list:
        resolved.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(netguard.socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(netguard, "blocked_reason", lambda address: None)  # allow loopback
    url = f"http://images.example:{port}/a.jpg"
    assert read_image_bytes(url, config=GUARDED) == b"bytes"
    assert resolved[0] == "images.example"
    assert set(resolved[1:]) <= {"127.0.0.1"}  # urllib3 got the checked address, not the name
    assert hosts == [f"images.example:{port}"]


def test_a_session_cannot_bypass_the_guard() -> None:
    import requests

    with pytest.raises(ValueError, match="needs no session, or a netguard.GuardedSession"):
        read_image_bytes("http://example.com/a.jpg", config=GUARDED, session=requests.Session())


def test_a_name_that_does_not_resolve_is_refused(monkeypatch) -> None:  # noqa: ANN001
    """No fallback to connecting by name: a resolver that fails once and then answers
    127.0.0.1 would otherwise get through."""
    calls: list[str] = []

    def flaky(host: str, *args: object, **kwargs: object) -> list:
        calls.append(host)
        if len(calls) == 1:
            raise socket.gaierror(socket.EAI_AGAIN, "temporary failure")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))]

    monkeypatch.setattr(socket, "getaddrinfo", flaky)
    with pytest.raises(BlockedURLError, match="not resolvable"):
        read_image_bytes("http://flaky.example/a.jpg", config=GUARDED)
    assert calls == ["flaky.example"]  # nothing asked the resolver again to connect


def test_an_allowed_internal_host_is_fetched(loopback_http) -> None:  # noqa: ANN001
    loopback_http.files["/a.jpg"] = b"bytes"
    url = f"http://127.0.0.1:{loopback_http.port}/a.jpg"
    trusted = ImageLoaderConfig(
        public_urls_only=True, retries=0, allowed_hosts=(f"127.0.0.1:{loopback_http.port}",)
    )
    assert read_image_bytes(url, config=trusted) == b"bytes"
    other_port = ImageLoaderConfig(public_urls_only=True, retries=0, allowed_hosts=("127.0.0.1:1",))
    with pytest.raises(BlockedURLError):
        read_image_bytes(url, config=other_port)
