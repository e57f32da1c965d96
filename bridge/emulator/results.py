"""Per-record outcomes of a save, in the documented shapes: SaveResult, UpsertResult and DeleteResult."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ROLLED_BACK = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
ROLLED_BACK_MESSAGE = "Record rolled back because not all records were valid and the request was using AllOrNone header"


@dataclass(frozen=True, slots=True)
class SaveError:
    """One error on one record: `status_code` is the Salesforce error code (`REQUIRED_FIELD_MISSING`, ...).

    `duplicate_result` is the `duplicateResult` object a DUPLICATES_DETECTED error carries.
    """

    status_code: str
    message: str
    fields: tuple[str, ...] = ()
    duplicate_result: Mapping[str, Any] | None = None

    def as_item(self) -> dict[str, Any]:
        """The per-record form used inside collections results (`statusCode`)."""
        item: dict[str, Any] = {"statusCode": self.status_code, "message": self.message, "fields": list(self.fields)}
        if self.duplicate_result is not None:
            item["duplicateResult"] = dict(self.duplicate_result)
        return item

    def as_rest(self) -> dict[str, Any]:
        """The REST error-array form (`errorCode`); a duplicate error has `duplicateResult` and no `fields`."""
        if self.duplicate_result is not None:
            return {
                "duplicateResult": dict(self.duplicate_result),
                "errorCode": self.status_code,
                "message": self.message,
            }
        return {"message": self.message, "errorCode": self.status_code, "fields": list(self.fields)}


@dataclass(slots=True)
class SaveResult:
    """The outcome for one record; `created` is set for upserts only."""

    id: str | None
    errors: list[SaveError] = field(default_factory=list)
    created: bool | None = None

    @property
    def success(self) -> bool:
        """No errors."""
        return not self.errors

    def as_item(self) -> dict[str, Any]:
        """The collections / single-save JSON: `{"id", "success", "errors"[, "created"]}`."""
        item: dict[str, Any] = {"id": self.id, "success": self.success, "errors": [e.as_item() for e in self.errors]}
        if self.created is not None:
            item["created"] = self.created
        if self.id is None:
            del item["id"]
        return item


def rolled_back(result: SaveResult, *, keep_id: bool) -> SaveResult:
    """A successful result turned into the collateral rollback error of an allOrNone request."""
    return SaveResult(result.id if keep_id else None, [SaveError(ROLLED_BACK, ROLLED_BACK_MESSAGE)], None)
