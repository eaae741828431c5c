"""What differs between OpenSearch and Elasticsearch in what visearch sends and reads back:
pure functions from the OpenSearch form (what plugin/ and mappings/ build) to the
Elasticsearch form, and back for the mappings visearch reads. No I/O.

The library builds one form (OpenSearch's); the Elasticsearch client (engine/elastic.py)
translates at the wire, so SearchParams, the Searcher, ingest, the alias swap and the lock
are one code path for both engines:

- `knn_vector` (`method`: hnsw, lucene, `space_type`) -> `dense_vector` (`similarity`,
  `index_options`); `index.knn` goes (vectors are core in Elasticsearch).
- a query that is only `nested{knn{field: {vector, k, filter}}}` -> the top-level `knn`
  (`field`, `query_vector`, `k`, `num_candidates` from `ef_search`, `filter`, `inner_hits`:
  the best photo).
- a knn clause inside another query -> Elasticsearch's `knn` query.
Both score cosine as (1 + cos) / 2, so scores, `min_score` and the similarity in an
explanation mean the same. A cluster without the analysis-common module (the Maven Central
node) gets an `english` analyzer of its own (standard tokens, English stop words, no
stemming) and a `folded` normalizer without `asciifolding`. Script fields are left out on
Elasticsearch: the overall look's script uses k-NN's painless `cosineSimilarity(params.query,
doc[...])`, and Elasticsearch's vector functions serve scoring scripts only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPENSEARCH = "opensearch"
ELASTICSEARCH = "elasticsearch"
NODES_INFO_FILTER = "nodes.*.version,nodes.*.build_flavor,nodes.*.modules.name"
"""`GET /_nodes/_local?filter_path=...` answers on both engines (the Maven Central
Elasticsearch node has no `GET /`); only Elasticsearch reports a `build_flavor`."""
# OpenSearch space_type <-> Elasticsearch similarity
SIMILARITIES = {"cosinesimil": "cosine", "l2": "l2_norm", "innerproduct": "max_inner_product"}
SPACE_TYPES = {value: key for key, value in SIMILARITIES.items()} | {"dot_product": "innerproduct"}
ENGLISH_FALLBACK = {"type": "standard", "stopwords": "_english_"}
BEST_PHOTO = {"size": 1, "_source": False}
"""Each hit names its best-matching photo (`inner_hits.photos`: offset and score)."""


@dataclass(frozen=True)
class Dialect:
    """The engine a cluster runs, and the optional modules the request forms depend on."""

    engine: str = OPENSEARCH
    version: str | None = None
    modules: frozenset[str] = frozenset()

    @property
    def elasticsearch(self) -> bool:
        return self.engine == ELASTICSEARCH

    @property
    def english(self) -> bool:
        """The `english` analyzer and `asciifolding` filter exist (analysis-common)."""
        return not self.elasticsearch or "analysis-common" in self.modules


def detect(nodes_info: Mapping[str, Any] | None) -> Dialect:
    """The dialect of a `_nodes/_local` answer filtered by NODES_INFO_FILTER."""
    nodes = list(((nodes_info or {}).get("nodes") or {}).values())
    node = nodes[0] if nodes else {}
    if "build_flavor" not in node:
        return Dialect(OPENSEARCH, node.get("version"))
    modules = frozenset(module["name"] for module in node.get("modules") or ())
    return Dialect(ELASTICSEARCH, node.get("version"), modules)


# --------------------------------------------------------------------------- searches


def search_body(body: Mapping[str, Any], dialect: Dialect) -> dict[str, Any]:
    """The `_search` body for `dialect` (a new dict; OpenSearch's is returned as it is)."""
    if not dialect.elasticsearch:
        return dict(body)
    out = {key: value for key, value in body.items() if key != "query"}
    out.pop("script_fields", None)  # the overall look (see the module docstring)
    if "query" not in body:
        return out
    top = _top_level_knn(body["query"])
    if top is not None:
        if "min_score" in body:
            # min_score filters hits only, after the aggregations saw the whole top k; the
            # knn's own `similarity` (raw cosine; visearch's min_score is (1 + cos) / 2)
            # drops weaker products before anything counts them, as OpenSearch does.
            top["similarity"] = 2.0 * float(body["min_score"]) - 1.0
        out["knn"] = top
    else:
        out["query"] = _knn_queries(body["query"])
    return out


def _knn_parts(clause: Any) -> tuple[str, dict[str, Any]] | None:
    """(field, {vector, k, filter?}) of an OpenSearch `{"knn": {field: {...}}}` clause."""
    if not isinstance(clause, Mapping) or set(clause) != {"knn"}:
        return None
    inner = clause["knn"]
    if not isinstance(inner, Mapping) or len(inner) != 1:
        return None
    ((field, spec),) = inner.items()
    if not isinstance(spec, Mapping) or "vector" not in spec:
        return None
    return field, dict(spec)


def _es_knn(field: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    k = int(spec["k"])
    explored = (spec.get("method_parameters") or {}).get("ef_search", k)
    knn = {"field": field, "query_vector": spec["vector"], "k": k,
           "num_candidates": max(k, int(explored))}  # fmt: skip
    if "filter" in spec:
        knn["filter"] = spec["filter"]
    if "boost" in spec:
        knn["boost"] = spec["boost"]
    return knn


def _top_level_knn(query: Any) -> dict[str, Any] | None:
    """A query that is only a nested knn over photos (best photo scores the product) becomes
    Elasticsearch's top-level `knn`, which scores a product by its best photo too."""
    nested = query.get("nested") if isinstance(query, Mapping) and len(query) == 1 else None
    if not isinstance(nested, Mapping) or nested.get("score_mode", "max") != "max":
        return None
    parts = _knn_parts(nested.get("query"))
    if parts is None or set(nested) - {"path", "score_mode", "query"}:
        return None
    return {**_es_knn(*parts), "inner_hits": dict(BEST_PHOTO)}


def _knn_queries(value: Any) -> Any:
    """Every OpenSearch knn clause inside a query, as Elasticsearch's `knn` query."""
    parts = _knn_parts(value)
    if parts is not None:
        return {"knn": _es_knn(*parts)}
    if isinstance(value, Mapping):
        return {key: _knn_queries(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_knn_queries(item) for item in value]
    return value


# --------------------------------------------------------------------------- mappings


def index_template(body: Mapping[str, Any], dialect: Dialect) -> dict[str, Any]:
    """An index template (or create-index body) for `dialect` (a new dict)."""
    out = copy.deepcopy(dict(body))
    if not dialect.elasticsearch:
        return out
    template = out.get("template", out)
    settings = template.setdefault("settings", {})
    index = settings.setdefault("index", {})
    knn_keys = [key for key in index if key == "knn" or key.startswith("knn.")]
    knn_keys += [key for key in settings if key.startswith("index.knn")]  # the flat form
    for key in knn_keys:
        (index if key in index else settings).pop(key)
    if knn_keys and _at_least(dialect.version, (9, 1)):
        # Like k-NN's derived source off: stored vectors come back with `_source` (ingest's
        # rebuild copies and `similar_to` read them); 9.1+ leaves them out by default.
        index["mapping.exclude_source_vectors"] = False
    if "mappings" in template:
        template["mappings"] = _dense_vectors(template["mappings"])
    if not dialect.english:
        _fallback_analysis(settings)
    return out


def mapping_body(body: Mapping[str, Any], dialect: Dialect) -> dict[str, Any]:
    """A `put_mapping` body for `dialect` (a new dict): `knn_vector` fields as `dense_vector`."""
    return _dense_vectors(copy.deepcopy(dict(body))) if dialect.elasticsearch else dict(body)


def _at_least(version: str | None, wanted: tuple[int, ...]) -> bool:
    try:
        numbers = tuple(int(part) for part in (version or "").split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return numbers >= wanted


def _dense_vectors(value: Any) -> Any:
    if isinstance(value, dict) and value.get("type") == "knn_vector":
        return dense_vector(value)
    if isinstance(value, dict):
        return {key: _dense_vectors(item) for key, item in value.items()}
    return value


def dense_vector(field: Mapping[str, Any]) -> dict[str, Any]:
    """A `knn_vector` field's Elasticsearch form: HNSW with the same m and ef_construction."""
    method = field.get("method") or {}
    space = method.get("space_type", field.get("space_type", "l2"))
    options = {"type": "hnsw", **(method.get("parameters") or {})}
    return {"type": "dense_vector", "dims": field["dimension"], "index": True,
            "similarity": SIMILARITIES[space], "index_options": options}  # fmt: skip


def _fallback_analysis(settings: dict[str, Any]) -> None:
    """Without analysis-common: an `english` of standard tokens and English stop words, and
    normalizers without `asciifolding` (accents then count in `.ci` filters)."""
    analysis = settings.setdefault("analysis", {})
    analysis.setdefault("analyzer", {}).setdefault("english", dict(ENGLISH_FALLBACK))
    for normalizer in (analysis.get("normalizer") or {}).values():
        normalizer["filter"] = [f for f in normalizer.get("filter", []) if f != "asciifolding"]


def mapping_response(response: Mapping[str, Any]) -> dict[str, Any]:
    """A `get_mapping` answer from Elasticsearch in OpenSearch's form (`knn_vector` with
    `dimension` and `method.space_type`), which plugin/schema.py and ingest read."""
    return _knn_vectors(copy.deepcopy(dict(response)))


def _knn_vectors(value: Any) -> Any:
    if isinstance(value, dict) and value.get("type") == "dense_vector":
        options = dict(value.get("index_options") or {})
        options.pop("type", None)
        method = {"name": "hnsw", "engine": "lucene", "parameters": options,
                  "space_type": SPACE_TYPES.get(value.get("similarity", ""), "l2")}  # fmt: skip
        return {"type": "knn_vector", "dimension": value.get("dims"), "method": method}
    if isinstance(value, dict):
        return {key: _knn_vectors(item) for key, item in value.items()}
    return value
