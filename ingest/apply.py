"""Carry out the sync plan, one decision at a time: embed, update, copy or keep, then write.

Every document goes through `ingest.documents` and the bulk writer; the summary counts what
was done. In a dry run nothing is decoded, embedded or written: the decisions are counted.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, Any

from visearch.attributes.stage import AttributeStage
from visearch.ingest.aliases import Target
from visearch.ingest.bulk import BulkReport, BulkWriter
from visearch.ingest.documents import (
    doc_hash,
    document_fields,
    field_update,
    full_document,
    now_iso,
    photos_field,
)
from visearch.ingest.embed import Embedded, Embedder, LazyEncoder
from visearch.ingest.plan import Action, Decision
from visearch.ingest.prepare import Prepared
from visearch.ingest.records import RowError
from visearch.ingest.reuse import StoredDocuments
from visearch.ingest.summary import IngestSummary
from visearch.mappings.fields import (
    DOC_HASH,
    EMBEDDED_AT,
    PHOTO_CENTROID,
    PHOTOS_FIELD,
    VECTOR_KEY,
)

if TYPE_CHECKING:
    from visearch.ingest.pipeline import IngestOptions


class Applier:
    def __init__(
        self,
        summary: IngestSummary,
        encoder_name: str,
        *,
        index: str,
        embedder: Embedder | None,
        writer: BulkWriter | None,
        stored_documents: StoredDocuments | None,
        centroids: bool = True,
        attributes: AttributeStage | None = None,
    ) -> None:
        """`embedder` and `writer` are None in a dry run; `stored_documents` reads the live
        index when the run writes a new one (rebuild), else None; `centroids`: the index maps
        the photo centroid (an index from before mapping version 6 does not)."""
        self.summary = summary
        self._centroids = centroids
        self._attributes = attributes  # predictions and corrections (attributes/stage.py)
        self._encoder_name = encoder_name
        self._index = index
        self._embedder = embedder
        self._writer = writer
        self._stored = stored_documents

    def apply(self, decision: Decision, in_index: bool) -> None:
        """Carry out `decision`; `in_index`: the live index holds this sku."""
        prepared, summary, action = decision.prepared, self.summary, decision.action
        summary.errors.extend(prepared.photo_errors)
        if action is Action.KEEP:
            summary.errors.append(prepared.error or _no_key(prepared))
        if self._writer is None:  # a dry run counts what a real run would do
            self._count(decision)
        elif action is Action.KEEP:
            if in_index and self._stored is not None:
                self._copied(self._stored.add(prepared))
        elif action is Action.EMBED:
            assert self._embedder is not None
            self._embedded(self._embedder.add(prepared))
        elif action is Action.UPDATE:
            summary.updated += 1
            self._write({"_op_type": "update", "doc": self._update(prepared)}, prepared)
        elif action is Action.COPY:
            assert self._stored is not None
            self._copied(self._stored.add(prepared))
        else:
            summary.unchanged += 1

    def _count(self, decision: Decision) -> None:
        if decision.action is Action.EMBED:
            self.summary.photos_embedded += len(decision.prepared.refs)
        counts = {
            Action.EMBED: ("embedded", 1),
            Action.UPDATE: ("updated", 1),
            Action.COPY: ("copied", 1),
            Action.UNCHANGED: ("unchanged", 1),
        }
        if decision.action in counts:
            name, amount = counts[decision.action]
            setattr(self.summary, name, getattr(self.summary, name) + amount)

    def finish(self) -> BulkReport | None:
        """Flush the last batches and wait for the writer; its report, or None in a dry run."""
        if self._embedder is not None:
            self._embedded(self._embedder.flush())
        if self._stored is not None and self._writer is not None:
            self._copied(self._stored.flush())
        return self._writer.close() if self._writer is not None else None

    def abort(self) -> None:
        """The run failed: write what is buffered (those documents are whole) and stop."""
        if self._writer is not None:
            with suppress(Exception):  # the run's own error is the one to report
                self._writer.close()

    def _embedded(self, results: list[Embedded | RowError]) -> None:
        stamp = now_iso()
        for result in results:
            if isinstance(result, RowError):
                self.summary.errors.append(result)
                continue
            prepared = result.prepared
            photos = photos_field(
                prepared.refs, prepared.digests, list(result.vectors), prepared.colours
            )
            source = full_document(
                self._product(prepared),
                photos,
                vector_key=str(prepared.key),
                encoder=self._encoder_name,
                embedded_at=stamp,
                centroid=self._centroids,
            )
            self._write({"_op_type": "index", "_source": self._finish(source, prepared)}, prepared)
            self.summary.embedded += 1
            self.summary.photos_embedded += len(photos)

    def _copied(self, results: list[tuple[Prepared, dict[str, Any] | None]]) -> None:
        for prepared, old in results:
            if prepared.error is not None:  # carry over: the stored document stays as it was
                if old is not None:
                    self._write({"_op_type": "index", "_source": old}, prepared)
                continue
            if old is None or PHOTOS_FIELD not in old:
                reason = "vanished from the live index during the rebuild"
                self.summary.errors.append(RowError(prepared.sku, "index", reason, prepared.line))
                continue
            source = full_document(
                self._product(prepared),
                old[PHOTOS_FIELD],
                vector_key=old[VECTOR_KEY],
                encoder=self._encoder_name,
                embedded_at=old.get(EMBEDDED_AT) or now_iso(),
                centroid=self._centroids,
            )
            self._write({"_op_type": "index", "_source": self._finish(source, prepared)}, prepared)
            self.summary.copied += 1

    def _product(self, prepared: Prepared) -> Any:
        """The product with its merchandisers' corrections over its catalog values."""
        product = _product(prepared)
        return self._attributes.product(product) if self._attributes is not None else product

    def _finish(self, source: dict[str, Any], prepared: Prepared) -> dict[str, Any]:
        """A full document plus its predictions and corrections; its hash is the catalog
        row's, so an unchanged row stays unchanged however it was corrected."""
        if self._attributes is None:
            return source
        product = self._product(prepared)
        source.update(self._attributes.fields(product))
        source.update(
            self._attributes.predicted(source[PHOTOS_FIELD], product.attributes, product.sku)
        )
        source[DOC_HASH] = doc_hash(document_fields(_product(prepared)))
        return source

    def _update(self, prepared: Prepared) -> dict[str, Any]:
        if self._attributes is None:
            return field_update(_product(prepared))
        product = self._product(prepared)
        doc = {**field_update(product), **self._attributes.fields(product)}
        doc[DOC_HASH] = doc_hash(document_fields(_product(prepared)))
        return doc

    def _write(self, action: dict[str, Any], prepared: Prepared) -> None:
        assert self._writer is not None
        self._writer.add({"_index": self._index, "_id": prepared.sku, **action}, prepared.line)


def _product(prepared: Prepared) -> Any:
    assert prepared.product is not None
    return prepared.product


def _no_key(prepared: Prepared) -> RowError:
    return RowError(prepared.sku, "image", "no photo could be read", prepared.line)


def make_applier(
    client: Any,
    target: Target,
    encoder: LazyEncoder,
    encoder_name: str,
    options: IngestOptions,
    summary: IngestSummary,
) -> Applier:
    """The applier for a run: counting only (dry run), or embedding, copying and writing."""
    if options.dry_run:
        return Applier(summary, encoder_name, index=target.index, embedder=None, writer=None,
                       stored_documents=None)  # fmt: skip
    reuse = None
    if target.new_index and target.live is not None:
        reuse = StoredDocuments(client, target.live, summary)
    return Applier(
        summary,
        encoder_name,
        index=target.index,
        embedder=Embedder(encoder, options.batch_size, summary),
        writer=BulkWriter(client, options.bulk),
        stored_documents=reuse,
        centroids=target.new_index or maps_centroid(client, target.index),
        attributes=(
            AttributeStage.load(client, target.alias, encoder_name, target.live)
            if options.attributes
            else None
        ),
    )


def maps_centroid(client: Any, index: str) -> bool:
    """Whether `index` maps the photo centroid as a vector: an index from before mapping
    version 6 does not, and a rerun into it must not add the field as a plain float list."""
    mapping = client.indices.get_mapping(index=index)
    return all(
        body["mappings"].get("properties", {}).get(PHOTO_CENTROID, {}).get("type") == "knn_vector"
        for body in mapping.values()
    )
