"""The one place an OpenSearch client is built from a URL (the CLI and test fixtures call it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from opensearchpy import OpenSearch
from opensearchpy.serializer import JSONSerializer
from urllib3 import Timeout


class FastJSONSerializer(JSONSerializer):
    """orjson instead of the json module: bulk bodies are mostly vectors, which it writes about
    20x faster, and numpy float32 arrays go out in their shortest exact form (float32 digits,
    about half the bytes of float64 reprs). Anything orjson refuses takes the default path."""

    _OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

    def dumps(self, data: Any) -> str:
        if isinstance(data, str):
            return data
        try:
            return orjson.dumps(data, option=self._OPTIONS).decode()
        except TypeError:
            return super().dumps(data)


def make_client(
    url: str,
    *,
    timeout_s: float = 30.0,
    connect_timeout_s: float | None = None,
    verify_certs: bool = True,
) -> OpenSearch:
    """A client for `url`; user:password in the URL becomes basic auth.

    `timeout_s` bounds each request's read, `connect_timeout_s` (default the same) the
    connection. The client itself never retries: retries belong to the caller (the bulk
    writer has its one retry layer; a search fails fast)."""
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
        timeout=Timeout(connect=connect_timeout_s or timeout_s, read=timeout_s),
        max_retries=0,
        serializer=FastJSONSerializer(),
        # No gzip: opensearch-py compresses at level 9, which cost more CPU than embedding
        # left over (0.6 s per 200-product bulk chunk) to save bandwidth a LAN does not need.
        http_compress=False,
    )
