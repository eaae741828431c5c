"""The blocking half of the API: image intake, SearchParams, Searcher calls, image links.

Everything here runs in a worker thread (model inference and OpenSearch calls block).
Cheap checks come first: parameters and field names are refused before an image_url is
fetched or a model runs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from visearch.plugin.params import SearchParams
from visearch.plugin.query_vector import load_query_image
from visearch.plugin.request import check_request
from visearch.plugin.search import Searcher
from visearch.vectors.images import ImageError, ImageLoaderConfig, read_image_bytes, sniff_format
from visearch.web.attributes import product_attribute_sources
from visearch.web.backend import Backend, encoder_info
from visearch.web.config import ServiceConfig
from visearch.web.errors import ApiError, image_url_error

log = logging.getLogger("visearch.search")
RETRY_AFTER_S = 2
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".avif"})


class SearchService:
    def __init__(self, backend: Backend, config: ServiceConfig) -> None:
        self.backend = backend
        self.config = config
        # Query images from strangers: one attempt, the request's time, the upload cap, a
        # smaller pixel budget than ingest's, and (unless --allow-private-urls) public
        # addresses only.
        self.url_config = ImageLoaderConfig(
            timeout_s=config.timeout_s,
            max_bytes=config.max_upload_bytes,
            max_pixels=config.max_query_pixels,
            retries=0,
            public_urls_only=not config.allow_private_urls,
        )

    @property
    def searcher(self) -> Searcher:
        """The Searcher, or 503 while the cluster is unknown or known to be down."""
        searcher = self.backend.searcher
        if searcher is None or self.backend.health.cluster_down():
            raise ApiError(
                503,
                "search_unavailable",
                "the search backend is not available; try again shortly",
                retry_after=RETRY_AFTER_S,
            )
        return searcher

    # ------------------------------------------------------------------ endpoints

    def search(
        self, request: BaseModel, upload: bytes | None, deadline: float | None = None
    ) -> dict[str, Any]:
        started = time.perf_counter()
        searcher = self.searcher
        if upload is not None and request.image_url:
            raise ApiError(400, "invalid_params", "give an uploaded image or image_url, not both")
        params = to_params(request, upload if upload is not None else request.image_url)
        check_request(params, searcher.schema)  # 400 before any fetch or model run
        if request.image_url:
            params = replace(params, image=self._fetch(request.image_url))
        if isinstance(params.image, bytes):
            _check_image_type(params.image, self.url_config)
            # Decoded here, under the service's own limits (the query pixel budget).
            params = replace(params, image=load_query_image(params.image, self.url_config))
        result = searcher.search(params, deadline=deadline).as_dict()
        for hit in result["hits"]:
            hit["image_url"] = self.image_link(hit.pop("image"))
        timings = result["timings"]
        timings["service_ms"] = (time.perf_counter() - started) * 1000
        log.info(
            "search mode=%s total=%d hits=%d encode=%.0fms opensearch=%.0fms all=%.0fms",
            result["mode"],
            result["total"],
            len(result["hits"]),
            timings["encode_ms"],
            timings["opensearch_ms"],
            timings["service_ms"],
        )
        return result

    def product(self, sku: str) -> dict[str, Any]:
        hit, source = self.searcher.product_with_source(sku)
        data = asdict(hit)
        del data["explanation"]  # a lookup has no ranking to explain
        data["image_url"] = self.image_link(data.pop("image"))
        data["attribute_sources"] = product_attribute_sources(self, source)
        return data

    def facets(self, filters: dict[str, list[str]], facets: list[str], **ranges: Any) -> dict:
        names = facets or self.default_facets()
        params = SearchParams(filters=filters, facets=tuple(names), k=1, **ranges)
        result = self.searcher.search(params)
        data = result.as_dict()
        return {"total": result.total, "facets": data["facets"], "price": data["price"]}

    def settings(self) -> dict[str, Any]:
        """What the page needs: from what is already known, without asking the cluster."""
        searcher = self.backend.searcher
        encoder = searcher.encoder if searcher is not None else None
        return {
            "alias": searcher.alias if searcher is not None else None,
            "available": searcher is not None,
            "encoder": encoder_info(encoder) if encoder is not None else None,
            "text_search": bool(encoder and encoder.supports_text),
            "image_search": encoder is not None,
            "facets": self.default_facets(),
            "max_upload_bytes": self.config.max_upload_bytes,
            "product_images": self.config.images_base is not None,
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        """The background monitor's last check (no request is made here)."""
        health = self.backend.health
        return health.ok, {**health.checks, "checked_at": health.checked_at}

    # ------------------------------------------------------------------ helpers

    def default_facets(self) -> list[str]:
        """The configured facets the index has (from the mapping read last: no request)."""
        searcher = self.backend.searcher
        schema = searcher.known_schema if searcher is not None else None
        fields = schema.keyword_fields if schema is not None else ()
        return [f for f in self.config.default_facets if f in fields] or list(fields)

    def image_link(self, ref: str | None) -> str | None:
        """Where a browser can load a catalog image, or None."""
        if not ref:
            return None
        if ref.startswith(("http://", "https://")):
            return ref
        if self.config.images_url is not None:
            return self.config.images_url + quote(ref.lstrip("/"))
        base = self.config.images_dir
        if base is None:
            return None
        path = Path(ref)
        if path.is_absolute():
            path = path.resolve()  # the directory is compared by its real place too
            if not path.is_relative_to(base):
                return None
            path = path.relative_to(base)
        return "/images/" + quote(path.as_posix())

    def image_file(self, path: str) -> Path | None:
        """The file under the images directory that /images/<path> names, or None. No escape:
        the resolved path (symlinks followed) must stay inside the directory."""
        base = self.config.images_dir
        if base is None:
            return None
        target = (base / path).resolve()
        if not target.is_relative_to(base) or target.suffix.lower() not in IMAGE_SUFFIXES:
            return None
        return target if target.is_file() else None

    def _fetch(self, url: str) -> bytes:
        if not url.lower().startswith(("http://", "https://")):
            raise ApiError(400, "invalid_params", "image_url must be an http:// or https:// URL")
        try:
            return read_image_bytes(url, None, self.url_config)
        except ImageError as error:
            if error.reason.startswith("larger than"):
                raise ApiError(413, "payload_too_large", str(error)) from None
            raise image_url_error(error) from None


def to_params(request: BaseModel, image: bytes | str | None) -> SearchParams:
    """The library's parameters from a SearchRequest (`image`: the upload or image_url)."""
    fields = request.model_dump(exclude={"image_url"})
    if fields.get("boosts") is None:
        fields.pop("boosts", None)
    return SearchParams(image=image, **fields)


def _check_image_type(data: bytes, config: ImageLoaderConfig) -> None:
    """415 unless the bytes start like a supported image (name and content-type are ignored)."""
    if sniff_format(data, config) is None:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"not a supported image (the bytes say so); supported: {', '.join(config.formats)}",
        )
