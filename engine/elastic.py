"""The official Elasticsearch client, seen through the opensearch-py calls visearch makes.

visearch's library code (plugin/, ingest/, quality/) calls one client surface: opensearch-py's
keyword forms (`body=`, `ignore=`, `request_timeout=`), its exceptions (`NotFoundError`,
`ConflictError`, `RequestError`, `ConnectionError`, ...) and its bulk and scan helpers. This
wrapper gives the `elasticsearch` client that surface, and translates what differs between
the engines on the wire with the pure functions of engine/dialect.py: search bodies and
index templates on the way out, mappings on the way back. Answers are plain dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from opensearchpy import exceptions as os_errors

from visearch.engine.connection import (
    RETRY_ON_STATUS,
    Endpoints,
    FastJSONSerializer,
    retry_search,
)
from visearch.engine.dialect import (
    NODES_INFO_FILTER,
    Dialect,
    detect,
    index_template,
    mapping_body,
    mapping_response,
    search_body,
)

Hook = Callable[[Dialect, dict[str, Any]], None]


def _translate_search(dialect: Dialect, kwargs: dict[str, Any]) -> None:
    if isinstance(kwargs.get("body"), dict):
        body = search_body(kwargs["body"], dialect)
        for key in ("size", "from_"):  # the client wants them in the body when there is one
            if key in kwargs:
                body[key.rstrip("_")] = kwargs.pop(key)
        kwargs["body"] = body


def _translate_msearch(dialect: Dialect, kwargs: dict[str, Any]) -> None:
    lines = kwargs.get("body")
    if isinstance(lines, list):  # header, body, header, body, ...
        kwargs["body"] = [search_body(line, dialect) if i % 2 and isinstance(line, dict) else line
                          for i, line in enumerate(lines)]  # fmt: skip


def _translate_template(dialect: Dialect, kwargs: dict[str, Any]) -> None:
    if isinstance(kwargs.get("body"), dict):
        kwargs["body"] = index_template(kwargs["body"], dialect)


def _translate_mapping(dialect: Dialect, kwargs: dict[str, Any]) -> None:
    if isinstance(kwargs.get("body"), dict):
        kwargs["body"] = mapping_body(kwargs["body"], dialect)


_BEFORE: dict[tuple[str, ...], Hook] = {
    ("search",): _translate_search,
    ("msearch",): _translate_msearch,
    ("indices", "put_index_template"): _translate_template,
    ("indices", "create"): _translate_template,
    ("indices", "put_mapping"): _translate_mapping,
}
_AFTER: dict[tuple[str, ...], Callable[[Any], Any]] = {
    ("indices", "get_mapping"): mapping_response,
}
_NAMESPACES = frozenset({"indices", "cluster", "nodes", "cat", "snapshot", "tasks", "ingest"})


def elasticsearch_client(
    endpoints: Endpoints,
    auth: tuple[str, str] | None,
    timeout_s: float,
    verify_certs: bool,
    ca_certs: str | None,
    retries: int,
) -> ElasticsearchClient:
    """The official client with the same timeouts, retries and TLS choices as the OpenSearch
    one (engine/connection.py), with the cluster's dialect (asked once, here); searches are
    sent again on a transient shard failure or a 5xx, like OpenSearch's (retry_search)."""
    from elasticsearch import Elasticsearch

    scheme = "https" if endpoints.tls else "http"
    hosts = [f"{scheme}://{h['host']}:{h['port']}{h['url_prefix']}" for h in endpoints.hosts]
    raw = Elasticsearch(
        hosts=hosts,
        basic_auth=auth,
        verify_certs=verify_certs,
        ca_certs=ca_certs if endpoints.tls else None,
        ssl_show_warn=verify_certs,
        request_timeout=timeout_s,
        max_retries=retries,
        retry_on_status=RETRY_ON_STATUS,
        retry_on_timeout=False,
        http_compress=False,
    )
    try:
        info = raw.nodes.info(node_id="_local", filter_path=NODES_INFO_FILTER).body
    except Exception as error:
        raise opensearch_error(error) from error
    dialect = detect(info)
    return ElasticsearchClient(raw, dialect, FastJSONSerializer(), retries)


class _Transport:
    """What opensearch-py's helpers and callers use of `client.transport`: the serializer of
    bulk lines (the same fast one the OpenSearch client uses), and a request by path."""

    def __init__(self, raw: Any, serializer: Any) -> None:
        self._raw, self.serializer = raw, serializer

    def perform_request(
        self, method: str, url: str, params: Any = None, body: Any = None, **_: Any
    ) -> Any:
        headers = {"accept": "application/json"}
        if body is not None:
            headers["content-type"] = "application/json"
        try:
            response = self._raw.perform_request(
                method, url, params=params, body=body, headers=headers
            )
        except Exception as error:
            raise opensearch_error(error) from error
        return getattr(response, "body", response)


class ElasticsearchClient:
    """An `elasticsearch.Elasticsearch` that answers the calls visearch makes of an
    opensearch-py client; `dialect` says what the cluster has (engine/dialect.py)."""

    def __init__(self, client: Any, dialect: Dialect, serializer: Any, retries: int = 0) -> None:
        self.raw = client
        self.dialect = dialect
        self.retries = retries
        """Times a search is sent again on a transient failure (0: one node, never)."""
        self.transport = _Transport(client, serializer)

    def __getattr__(self, name: str) -> Any:
        if name in _NAMESPACES:
            return _Namespace(self, (name,))
        return _call(self, (name,))

    def close(self) -> None:
        self.raw.close()


class _Namespace:
    def __init__(self, owner: ElasticsearchClient, path: tuple[str, ...]) -> None:
        self._owner, self._path = owner, path

    def __getattr__(self, name: str) -> Any:
        return _call(self._owner, (*self._path, name))


def _call(owner: ElasticsearchClient, path: tuple[str, ...]) -> Callable[..., Any]:
    def call(
        *args: Any,
        ignore: int | Sequence[int] | None = None,
        request_timeout: float | None = None,
        params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        kwargs.update({k: v for k, v in (params or {}).items() if not k.startswith("__")})
        if hook := _BEFORE.get(path):
            hook(owner.dialect, kwargs)
        options: dict[str, Any] = {}
        if ignore is not None:
            options["ignore_status"] = ignore
        if request_timeout is not None:
            options["request_timeout"] = request_timeout
        target: Any = owner.raw.options(**options) if options else owner.raw
        for name in path:
            target = getattr(target, name)

        def send() -> Any:
            try:
                response = target(*args, **kwargs)
            except Exception as error:
                raise opensearch_error(error) from error
            return getattr(response, "body", response)

        searches = path in (("search",), ("msearch",))
        body = retry_search(send, owner.retries) if searches else send()
        after = _AFTER.get(path)
        return after(body) if after and isinstance(body, dict) else body

    return call


def opensearch_error(error: Exception) -> Exception:
    """The opensearch-py exception visearch's `except` clauses expect for an Elasticsearch
    client error (the same status, error type and body); anything else as it is."""
    import elastic_transport
    from elasticsearch import ApiError

    if isinstance(error, ApiError):
        body = error.body
        cause = body.get("error") if isinstance(body, dict) else None
        kind = cause.get("type") if isinstance(cause, dict) else str(error.message)
        status = error.meta.status
        exception = os_errors.HTTP_EXCEPTIONS.get(status, os_errors.TransportError)
        return exception(status, kind, body)
    if isinstance(error, elastic_transport.ConnectionTimeout):
        return os_errors.ConnectionTimeout("TIMEOUT", str(error), error)
    if isinstance(error, elastic_transport.TransportError):
        return os_errors.ConnectionError("N/A", str(error), error)
    return error
