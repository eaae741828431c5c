"""The end of a run: deletes in the live index, or (new index) a merge and the alias swap.

A refused delete keeps everything that is stored: on a rebuild the new index is dropped and
the live one keeps serving. With `merge`, a new index is force-merged to one segment before
it serves (the alias still points at the old one meanwhile): a bulk-loaded index holds a few
segments (it is loaded unrefreshed: aliases.create_index), and each segment is one more HNSW
graph every kNN query walks. On the fashion catalog loaded with refreshes on (7 segments) one
segment cut OpenSearch's `took` for a photo query with facets from 4.3 to 2.9 ms mean. Not
the default: it adds to the run (3-5 s of a 50-70 s first build with the fast encoder, past
the ingest target), and the engines advise it only for indices that take few writes
afterwards (README, Ingest).
"""

from __future__ import annotations

from typing import Any

from visearch.ingest import aliases
from visearch.ingest.bulk import BulkConfig, BulkReport, BulkWriter
from visearch.ingest.plan import DeletePlan
from visearch.ingest.records import RowError
from visearch.ingest.summary import IngestSummary

MERGE_TIMEOUT_S = 6 * 3600


def finish(
    client: Any,
    target: aliases.Target,
    deletes: DeletePlan,
    summary: IngestSummary,
    *,
    bulk: BulkConfig,
    dry_run: bool,
    merge: bool = False,
) -> None:
    """Carry out `deletes` (or swap the alias to a new index) and record it in `summary`."""
    summary.deletions_refused = deletes.refused
    if dry_run:
        summary.deleted = 0 if deletes.refused else len(deletes.skus)
        return
    if target.new_index:
        if target.live is not None and deletes.refused:
            # A shrunken catalog must not replace the live index: keep serving the old one.
            client.indices.delete(index=target.index, ignore_unavailable=True)
            summary.index = target.live
            return
        aliases.end_bulk_load(client, target.index)
        if merge:
            with summary.timed("merge"):
                merge_segments(client, target.index)
        if target.live is not None:
            aliases.swap(client, target.alias, target.index, target.live)
            summary.swapped_from = target.live
            summary.deleted = len(deletes.skus)
        return
    if deletes.skus and not deletes.refused:
        writer = BulkWriter(client, bulk)
        for sku in deletes.skus:
            writer.add({"_op_type": "delete", "_index": target.index, "_id": sku})
        report = writer.close()
        record_bulk(summary, report)
        summary.deleted = report.written
    client.indices.refresh(index=target.index)


def merge_segments(client: Any, index: str) -> None:
    """Force-merge `index` to one segment and make the result visible. Slow on a large index
    (minutes per million vectors), hence the long timeout; the run's lock heartbeat goes on."""
    client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=MERGE_TIMEOUT_S)
    client.indices.refresh(index=index)


def record_bulk(summary: IngestSummary, report: BulkReport | None) -> None:
    if report is None:
        return
    summary.add_time("index", report.seconds)
    for failure in report.failures:
        stage = "delete" if failure.op == "delete" else "index"
        summary.errors.append(RowError(failure.sku, stage, failure.reason, failure.line))
