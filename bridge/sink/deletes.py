"""Deletes by external ID in two calls a batch: Collections delete takes Salesforce Ids only, so one SOQL query
finds the Ids of the batch's (at most 200) external IDs, and one `DELETE /composite/sobjects?ids=…` deletes
them (to the Recycle Bin).

The delete runs with `allOrNone=false`: each record's delete stands alone, so one refused record (a delete that
a trigger or a restricted lookup blocks) does not roll back the others and need not be isolated by splitting. A
record the query does not find is not in the org (never written, deleted already, or deleted by a person): its
delete is done, with no Id (`Written(None, deleted=True)`). `ENTITY_IS_DELETED` (it went to the Recycle Bin
between the query and the delete) counts as deleted too. A retry of either call is harmless: a second delete of
a deleted record finds nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from bridge.salesforce.paths import api_name
from bridge.salesforce.results import SaveResult
from bridge.sink.items import Batch, WriteItem
from bridge.sink.outcomes import Failure, FailureKind, Outcome, Written

ALREADY_DELETED = "ENTITY_IS_DELETED"
_UNEXPLAINED = Failure(FailureKind.TRANSIENT, "UNEXPLAINED", "no delete result for this record")


class RecordDeleter(Protocol):
    """The part of `bridge.salesforce.SalesforceClient` a delete needs."""

    def query(self, soql: str, *, batch_size: int | None = None) -> AsyncIterator[dict[str, Any]]: ...

    async def delete_collection(self, ids: Sequence[str], all_or_none: bool) -> list[SaveResult]: ...


def soql_literal(value: str) -> str:
    """A SOQL string literal (quotes and backslashes escaped, as the SOQL reference says)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ids_query(batch: Batch) -> str:
    """The one query for the Ids of a batch: `SELECT Id, X__c FROM S WHERE X__c IN ('a', 'b')`."""
    keys = ", ".join(soql_literal(item.record.external_id) for item in batch.items)
    field, sobject = api_name(batch.external_id_field), api_name(batch.sobject)
    return f"SELECT Id, {field} FROM {sobject} WHERE {field} IN ({keys})"  # noqa: S608 - API names, quoted values


async def find_ids(deleter: RecordDeleter, batch: Batch) -> dict[str, str]:
    """Salesforce Ids by external ID for the batch's records that are in the org."""
    found: dict[str, str] = {}
    async for row in deleter.query(ids_query(batch)):
        value = row.get(batch.external_id_field)
        if value is not None and row.get("Id"):
            found[str(value)] = str(row["Id"])
    return found


def delete_outcomes(
    items: Sequence[WriteItem], ids: dict[str, str], results: Sequence[SaveResult]
) -> list[tuple[WriteItem, Outcome]]:
    """Every record of a delete batch with its outcome, given the Ids found and the delete's results (in the
    order of the found records)."""
    found = [ids[item.record.external_id] for item in items if item.record.external_id in ids]
    if len(found) != len(results):
        return [(item, _UNEXPLAINED) for item in items]
    by_id = dict(zip(found, results, strict=True))
    outcomes: list[tuple[WriteItem, Outcome]] = []
    for item in items:
        sf_id = ids.get(item.record.external_id)
        outcomes.append((item, _outcome(sf_id, by_id[sf_id] if sf_id else None)))
    return outcomes


def _outcome(sf_id: str | None, result: SaveResult | None) -> Outcome:
    if sf_id is None or result is None:
        return Written(None, created=False, deleted=True)  # not in the org: nothing to delete
    if result.success or (result.errors and result.errors[0].status_code == ALREADY_DELETED):
        return Written(sf_id, created=False, deleted=True)
    return Failure.from_error(result.errors[0]) if result.errors else _UNEXPLAINED
