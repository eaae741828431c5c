"""The end of a run: deletes in the live index, or (new index) the alias swap.

A refused delete keeps everything that is stored: on a rebuild the new index is dropped and
the live one keeps serving.
"""

from __future__ import annotations

from typing import Any

from visearch.ingest import aliases
from visearch.ingest.bulk import BulkConfig, BulkReport, BulkWriter
from visearch.ingest.plan import DeletePlan
from visearch.ingest.records import RowError
from visearch.ingest.summary import IngestSummary


def finish(
    client: Any,
    target: aliases.Target,
    deletes: DeletePlan,
    summary: IngestSummary,
    *,
    bulk: BulkConfig,
    dry_run: bool,
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
        client.indices.refresh(index=target.index)
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


def record_bulk(summary: IngestSummary, report: BulkReport | None) -> None:
    if report is None:
        return
    summary.add_time("index", report.seconds)
    for failure in report.failures:
        stage = "delete" if failure.op == "delete" else "index"
        summary.errors.append(RowError(failure.sku, stage, failure.reason, failure.line))
