"""The one place an OpenSearch client is built from a URL (the CLI and test fixtures call it),
and where the errors of reaching a secured cluster are put into words."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from opensearchpy import OpenSearch, Transport, TransportError
from opensearchpy.serializer import JSONSerializer
from urllib3 import Timeout

from visearch.engine.dialect import NODES_INFO_FILTER, Dialect, detect

RETRY_ON_STATUS = (502, 503, 504)
TRANSIENT_SHARD_FAILURES = frozenset(
    {
        "node_disconnected_exception",
        "node_not_connected_exception",
        "node_closed_exception",
        "connect_transport_exception",
        "send_request_transport_exception",
        "search_context_missing_exception",
        "no_shard_available_action_exception",
        "shard_not_found_exception",
        "index_shard_closed_exception",
        "illegal_index_shard_state_exception",
        "opensearch_rejected_execution_exception",
        "es_rejected_execution_exception",  # Elasticsearch's name for the same
    }
)
"""Shard failures that a node leaving, restarting or being busy causes: the same search
succeeds a moment later on the shard's other copy. A query the cluster refuses (a parse or
mapping error) is none of these and is never sent again."""
SHARD_RETRY_BACKOFF_S = (0.25, 0.5, 1.0, 2.0)
POOL_SIZE = 64
"""Connections kept open to each node: at least as many as the threads that may call it at
once (serve's 16 image and 16 cluster workers and its monitor). urllib3's default keeps one,
so under concurrent searches every other request opened a new connection, closed it after
one answer and logged "Connection pool is full" (CPU on both sides, per request)."""


class ShardRetryTransport(Transport):
    """Sends a search again, `max_retries` times at most after a short pause, when its answer
    says that some shards failed for a transient reason (TRANSIENT_SHARD_FAILURES) or when it
    fails with a 5xx on every node the client tried: on a cluster that loses or restarts a
    node, a search whose shard copy or search context was on that node would otherwise come
    back partial or failed. With `max_retries` 0 (one node) nothing is sent again. The last
    answer, or error, is returned as it is."""

    def perform_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        send = partial(super().perform_request, method, url, *args, **kwargs)
        if not url.split("?")[0].endswith(("/_search", "/_msearch")):
            return send()
        return retry_search(send, self.max_retries)


def retry_search(send: Callable[[], Any], retries: int) -> Any:
    """`send()` a search, and again after a pause (`retries` times at most) while its answer
    holds a transient shard failure or it fails with a 5xx: ShardRetryTransport's loop, which
    the Elasticsearch client (engine/elastic.py) runs too."""
    pauses = list(SHARD_RETRY_BACKOFF_S[:retries])
    while True:
        try:
            result = send()
        except TransportError as error:
            server_side = isinstance(error.status_code, int) and error.status_code >= 500
            if not (pauses and server_side):
                raise
        else:
            if not (pauses and transient_shard_failure(result)):
                return result
        time.sleep(pauses.pop(0))


def transient_shard_failure(result: Any) -> bool:
    """Whether a `_search` or `_msearch` answer holds a shard failure (or, for `_msearch`, a
    failed search) of a transient kind."""
    if not isinstance(result, dict):
        return False
    answers = result.get("responses") if "responses" in result else [result]
    for answer in answers or ():
        if not isinstance(answer, dict):
            continue
        failures = list((answer.get("_shards") or {}).get("failures") or ())
        if answer.get("error"):
            if int(answer.get("status") or 0) >= 500:  # one failed search of an _msearch
                return True
            failures.append(answer["error"])
        if any(TRANSIENT_SHARD_FAILURES.intersection(_types(f)) for f in failures):
            return True
    return False


def _types(value: Any) -> Iterator[str]:
    """Every error `type` in a failure, its causes and root causes."""
    if isinstance(value, dict):
        if isinstance(value.get("type"), str):
            yield value["type"]
        for item in value.values():
            yield from _types(item)
    elif isinstance(value, list):
        for item in value:
            yield from _types(item)


class FastJSONSerializer(JSONSerializer):
    """orjson instead of the json module: bulk bodies are mostly vectors, which it writes about
    20x faster, and numpy float32 arrays go out in their shortest exact form (float32 digits,
    about half the bytes of float64 reprs). Answers are read with it too, in about half the json
    module's time and to the same values. Anything orjson refuses (NaN, integers past 64 bits)
    takes the default path."""

    _OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

    def dumps(self, data: Any) -> str:
        if isinstance(data, str):
            return data
        try:
            return orjson.dumps(data, option=self._OPTIONS).decode()
        except TypeError:
            return super().dumps(data)

    def loads(self, s: str) -> Any:
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:
            return super().loads(s)


@dataclass(frozen=True)
class Endpoints:
    """What a URL (or a comma-separated list of a cluster's node URLs) says."""

    hosts: tuple[dict[str, Any], ...]
    tls: bool
    user: str | None
    password: str | None


def parse_urls(url: str) -> Endpoints:
    """`http(s)://[user:password@]host:port[,http(s)://host:port...]`: one node or several of
    one cluster (the same scheme for all; credentials from the first URL that has them)."""
    parts = [urlsplit(item.strip()) for item in url.split(",") if item.strip()]
    bad = [p.geturl() for p in parts if p.scheme not in ("http", "https") or not p.hostname]
    if not parts or bad:
        raise ValueError(f"OpenSearch URL must look like http(s)://host:port, got {url!r}")
    if len({p.scheme for p in parts}) > 1:
        raise ValueError(f"the node URLs of one cluster share one scheme, got {url!r}")
    tls = parts[0].scheme == "https"
    hosts = tuple(
        {
            "host": p.hostname,
            "port": p.port or (443 if tls else 9200),
            "url_prefix": p.path.rstrip("/"),
        }
        for p in parts
    )
    with_user = next((p for p in parts if p.username), None)
    if with_user is None:
        return Endpoints(hosts, tls, None, None)
    return Endpoints(
        hosts, tls, unquote(with_user.username or ""), unquote(with_user.password or "")
    )


def make_client(
    url: str,
    *,
    timeout_s: float = 30.0,
    connect_timeout_s: float | None = None,
    verify_certs: bool = True,
    ca_certs: str | None = None,
    user: str | None = None,
    password: str | None = None,
    retries: int | None = None,
    engine: str = "opensearch",
) -> Any:
    """A client for `url`: one node, or every node of a cluster as a comma-separated list;
    `engine` opensearch, elasticsearch (engine/elastic.py) or auto (ask the cluster).

    `timeout_s` bounds each request's read, `connect_timeout_s` (default the same) the
    connection. Credentials: user:password in the URL, else `user`/`password` (basic auth).
    An https URL is verified against `ca_certs` (a PEM file of the cluster's CA), else the
    system's CAs.

    Retries: with one node the client never retries (a search fails fast; the bulk writer has
    its own retry layer). With several, a request that meets a connection error or a 502, 503
    or 504 is sent again to the next live node, `retries` times at most (default: once per
    other node, and one more), and so is a search whose answer says shards failed for a
    transient reason, or that failed with a 5xx everywhere (ShardRetryTransport, after a
    pause): a node that dies or restarts costs no search.
    Timeouts are not retried (the node may still be working on it). Everything visearch sends
    is safe to repeat: searches and reads, bulk writes keyed by sku, alias actions and
    template puts."""
    endpoints = parse_urls(url)
    auth = (endpoints.user, endpoints.password or "") if endpoints.user is not None else None
    if auth is None and user:
        auth = (user, password or "")
    if retries is None:
        retries = len(endpoints.hosts) if len(endpoints.hosts) > 1 else 0
    if engine != "elasticsearch":
        client = OpenSearch(
            hosts=list(endpoints.hosts),
            http_auth=auth,
            use_ssl=endpoints.tls,
            verify_certs=verify_certs,
            ca_certs=ca_certs if endpoints.tls else None,
            ssl_show_warn=verify_certs,
            timeout=Timeout(connect=connect_timeout_s or timeout_s, read=timeout_s),
            transport_class=ShardRetryTransport,
            max_retries=retries,
            retry_on_status=RETRY_ON_STATUS,
            retry_on_timeout=False,
            serializer=FastJSONSerializer(),
            pool_maxsize=POOL_SIZE,
            # No gzip: opensearch-py compresses at level 9, which cost more CPU than embedding
            # left over (0.6 s per 200-product bulk chunk) to save bandwidth a LAN does not need.
            http_compress=False,
        )
        if engine != "auto" or not detect_dialect(client, min(timeout_s, 5.0)).elasticsearch:
            return client
    from visearch.engine.elastic import elasticsearch_client

    return elasticsearch_client(endpoints, auth, timeout_s, verify_certs, ca_certs, retries)


def detect_dialect(client: Any, timeout_s: float = 5.0) -> Dialect:
    """Which engine (and which optional modules) the cluster behind `client` runs; OpenSearch
    when it does not say (unreachable, or a user without the right to ask: an answer the
    client neither raises nor logs, so a least-privilege user sees no warning)."""
    try:
        info = client.nodes.info(
            node_id="_local",
            filter_path=NODES_INFO_FILTER,
            request_timeout=timeout_s,
            ignore=(400, 401, 403, 404, 405),
        )
    except Exception:  # noqa: BLE001 - the real calls report what is wrong
        return Dialect()
    # An ignored 401/403 comes back as the error's text, not a nodes info document.
    return detect(info) if isinstance(info, dict) else Dialect()


def access_problem(
    error: BaseException, url: str, ca_certs: str | None = None, user: str | None = None
) -> str | None:
    """What went wrong reaching a secured cluster, in words that name the cause (a CA that
    does not sign the cluster's certificate, a certificate for another host, credentials the
    cluster refuses, a user without the right), or None for any other error. Never shows a
    password."""
    from opensearchpy.exceptions import AuthenticationException, AuthorizationException
    from opensearchpy.exceptions import SSLError as TLSError

    where = ", ".join(f"{h['host']}:{h['port']}" for h in parse_urls(url).hosts)
    who = user or parse_urls(url).user
    if isinstance(error, TLSError):
        text = str(error)
        trusted = f"the CA file {ca_certs}" if ca_certs else "the system's CAs (no CA file given)"
        if "CERTIFICATE_VERIFY_FAILED" in text and "match" in text.lower():
            return (
                f"TLS: OpenSearch at {where} presented a certificate for another host name; "
                "use the host name the certificate names"
            )
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return (
                f"TLS: the certificate of OpenSearch at {where} is not signed by {trusted} "
                "(certificate verify failed). Pass the cluster's CA with --ca-certs or "
                "OPENSEARCH_CA_CERTS"
            )
        return f"TLS: could not open a secure connection to OpenSearch at {where}: {text}"
    if isinstance(error, AuthenticationException):
        if not who:
            return (
                f"OpenSearch at {where} needs a user and password (401 Unauthorized): set "
                "OPENSEARCH_USER and OPENSEARCH_PASSWORD, or user:password@ in the URL"
            )
        return (
            f"OpenSearch at {where} refused the password of user {who!r} (401 Unauthorized): "
            "wrong user or password. Check OPENSEARCH_USER / OPENSEARCH_PASSWORD (or the "
            "user:password@ of the URL)"
        )
    if isinstance(error, AuthorizationException):
        return f"user {who!r} is not allowed to do this at {where} (403 Forbidden): {error.error}"
    return None
