"""The one place an OpenSearch client is built from a URL (the CLI and test fixtures call it)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from opensearchpy import OpenSearch


def make_client(url: str, *, timeout_s: float = 30.0, verify_certs: bool = True) -> OpenSearch:
    """A client for `url`; user:password in the URL becomes basic auth."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"OpenSearch URL must look like http(s)://host:port, got {url!r}")
    auth = None
    if parts.username:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    host = {
        "host": parts.hostname,
        "port": parts.port or (443 if parts.scheme == "https" else 9200),
        "url_prefix": parts.path.rstrip("/"),
    }
    return OpenSearch(
        hosts=[host],
        http_auth=auth,
        use_ssl=parts.scheme == "https",
        verify_certs=verify_certs,
        ssl_show_warn=verify_certs,
        timeout=timeout_s,
        http_compress=True,
    )
