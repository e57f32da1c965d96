"""One table of JSON values written over REST and what Salesforce does with each: stores it (as what) or refuses it.

It drives both sides, so they cannot drift apart: `tests/emulator/test_coercion.py` writes every case to the
emulator over a real socket and reads the record back; `tests/processing/test_coercion.py` puts every case to the
pre-validator. `why` quotes the documentation where it speaks; where it is silent, it says what was chosen and
why (the rule: when unsure, accept; the org is the last judge, and a refusal before the CRM loses a record that
the org might have taken).

Documentation quoted:
- [primitive] Object Reference, "Primitive Data Types"
  (developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/primitive_data_types.htm)
- [rounding] Salesforce Help, knowledge article 000385689, "Round Off Decimal Values of Currency Fields in the
  Salesforce UI and API"
- [soql-dates] SOQL and SOSL Reference, "Date Formats and Date Literals"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OBJECT = "Coercion__c"
KEY_PREFIX = "a0C"

# The fields of the test object, in the emulator profile's JSON form (describe reports the same to the validator)
FIELDS: tuple[dict[str, Any], ...] = (
    {"name": "Amount__c", "type": "currency", "label": "Amount", "precision": 16, "scale": 2},
    {"name": "Ratio__c", "type": "double", "label": "Ratio", "precision": 18, "scale": 4},
    {"name": "Share__c", "type": "percent", "label": "Share", "precision": 5, "scale": 2},
    {"name": "Seats__c", "type": "int", "label": "Seats", "precision": 8},
    {"name": "Active__c", "type": "boolean", "label": "Active"},
    {"name": "Due__c", "type": "date", "label": "Due"},
    {"name": "Seen__c", "type": "datetime", "label": "Seen"},
    {"name": "Stage__c", "type": "picklist", "label": "Stage", "length": 255, "restricted": True,
     "picklist": ["Draft", "Closed Won"]},
    {"name": "Channel__c", "type": "picklist", "label": "Channel", "length": 255, "picklist": ["Email", "Phone"]},
    {"name": "Topics__c", "type": "multipicklist", "label": "Topics", "length": 4099, "restricted": True,
     "picklist": ["Billing", "Support", "Sales"]},
    {"name": "Code__c", "type": "string", "label": "Code", "length": 10},
)  # fmt: skip

_BOOLEAN = "[primitive] 'Boolean fields have one of these values: true (or 1), or false (or 0).'"
_ROUNDING = (
    "[rounding] 'Salesforce does not round values provided through the API. If you insert or update a value like "
    "$1.234, it will be stored exactly as entered, regardless of the field's decimal setting.'"
)
_DATETIME_UTC = (
    "[primitive] 'Regular dateTime fields ... are always transferred in the Coordinated Universal Time (UTC) time "
    "zone'; [soql-dates] forms 'YYYY-MM-DDThh:mm:ss+hh:mm', 'YYYY-MM-DDThh:mm:ss-hh:mm', 'YYYY-MM-DDThh:mm:ssZ'"
)
_DATE = (
    "[primitive] 'date fields contain no time value—the time portion of a date field is not relevant and is always "
    "set to midnight in the Coordinated Universal Time (UTC) time zone'"
)
_NUMBER_TEXT = "chosen (docs silent): a numeric string converts as Salesforce's JSON deserializer converts it"
_NOT_A_NUMBER = "a value that is no number fails deserializing the body (JSON_PARSER_ERROR, the REST API's code for it)"
_PICKLIST_CASE = (
    "chosen (docs silent): a restricted picklist matches its values ignoring case and stores the defined value's "
    "case (picklist API names are unique regardless of case; the AER Apex emulator reports the org normalising "
    "case on DML, octoberswimmer/aer-dist#453)"
)


@dataclass(frozen=True, slots=True)
class Case:
    """`sent` written to `field`; either stored and read back as `stored`, or refused with `error` (REST code)."""

    field: str
    sent: Any
    stored: Any = None
    error: str | None = None
    why: str = ""

    @property
    def id(self) -> str:
        return f"{self.field}={self.sent!r}"


CASES: tuple[Case, ...] = (
    # currency, double, percent
    Case("Amount__c", 12.5, 12.5, why="a JSON number in a number field"),
    Case("Amount__c", "12.5", 12.5, why=_NUMBER_TEXT),
    Case("Amount__c", "-3", -3.0, why=_NUMBER_TEXT),
    Case("Amount__c", "1e3", 1000.0, why=_NUMBER_TEXT),
    Case("Amount__c", 1.234, 1.234, why=_ROUNDING),
    Case("Amount__c", "1.239", 1.239, why=_ROUNDING),
    Case("Amount__c", 10**14, error="NUMBER_OUTSIDE_VALID_RANGE", why="more integer digits than precision - scale"),
    Case("Amount__c", "12,5", error="JSON_PARSER_ERROR", why=_NOT_A_NUMBER),
    Case("Amount__c", "12.5 EUR", error="JSON_PARSER_ERROR", why=_NOT_A_NUMBER),
    Case(
        "Amount__c", "1_000", error="JSON_PARSER_ERROR", why="chosen: no digit separators (Python's float() takes them)"
    ),
    Case("Amount__c", "NaN", error="JSON_PARSER_ERROR", why="chosen: a number field stores no NaN"),
    Case("Amount__c", "Infinity", error="JSON_PARSER_ERROR", why="chosen: a number field stores no infinity"),
    Case("Amount__c", True, error="JSON_PARSER_ERROR", why=_NOT_A_NUMBER),
    Case("Amount__c", [1], error="JSON_PARSER_ERROR", why=_NOT_A_NUMBER),
    Case("Amount__c", "", None, why="the REST API stores an empty string as null"),
    Case("Ratio__c", "0.12345", 0.12345, why=_ROUNDING),
    Case("Ratio__c", 7, 7.0, why="a JSON integer in a double field"),
    Case("Share__c", "12.5", 12.5, why=_NUMBER_TEXT),
    Case("Share__c", 1000, error="NUMBER_OUTSIDE_VALID_RANGE", why="more integer digits than precision - scale"),
    # int
    Case("Seats__c", 42, 42, why="a JSON integer in an int field"),
    Case("Seats__c", "42", 42, why=_NUMBER_TEXT),
    Case("Seats__c", 42.0, 42, why="chosen: a number with no fraction is an integer"),
    Case("Seats__c", 2.5, error="JSON_PARSER_ERROR", why="an int field takes no fraction; it is not truncated"),
    Case("Seats__c", "2.5", error="JSON_PARSER_ERROR", why="an int field takes no fraction; it is not truncated"),
    Case("Seats__c", " 42", error="JSON_PARSER_ERROR", why="chosen: no padding (Python's int() strips it)"),
    Case("Seats__c", 10**8, error="NUMBER_OUTSIDE_VALID_RANGE", why="more digits than the precision"),
    # boolean (checkbox)
    Case("Active__c", True, True, why=_BOOLEAN),
    Case("Active__c", False, False, why=_BOOLEAN),
    Case("Active__c", "true", True, why="chosen: the strings 'true' and 'false', in any case, as Java's parseBoolean"),
    Case(
        "Active__c", "FALSE", False, why="chosen: the strings 'true' and 'false', in any case, as Java's parseBoolean"
    ),
    Case("Active__c", 1, True, why=_BOOLEAN),
    Case("Active__c", 0, False, why=_BOOLEAN),
    Case("Active__c", "1", True, why=_BOOLEAN),
    Case("Active__c", "yes", error="JSON_PARSER_ERROR", why="not one of the documented values"),
    Case("Active__c", 2, error="JSON_PARSER_ERROR", why="not one of the documented values"),
    Case("Active__c", "", error="JSON_PARSER_ERROR", why="a checkbox is never blank"),
    # date
    Case("Due__c", "2026-12-31", "2026-12-31", why=_DATE),
    Case("Due__c", "2026-12-31T10:30:00Z", "2026-12-31", why=_DATE + "; chosen: the date part is kept"),
    Case("Due__c", "2026-12-31T23:30:00-05:00", "2026-12-31", why=_DATE + "; chosen: the date as written"),
    Case("Due__c", "2026-02-30", error="JSON_PARSER_ERROR", why="no such day"),
    Case("Due__c", "31/12/2026", error="JSON_PARSER_ERROR", why="not ISO 8601"),
    Case("Due__c", "20261231", error="JSON_PARSER_ERROR", why="chosen: the extended form only, YYYY-MM-DD"),
    Case("Due__c", 20261231, error="JSON_PARSER_ERROR", why="a date is a string"),
    # datetime
    Case("Seen__c", "2026-12-31T10:30:00Z", "2026-12-31T10:30:00.000+0000", why=_DATETIME_UTC),
    Case("Seen__c", "2026-12-31T10:30:00+02:00", "2026-12-31T08:30:00.000+0000", why=_DATETIME_UTC),
    Case("Seen__c", "2026-12-31T10:30:00.123-0500", "2026-12-31T15:30:00.123+0000", why=_DATETIME_UTC),
    Case(
        "Seen__c", "2026-12-31T10:30:00", "2026-12-31T10:30:00.000+0000", why=_DATETIME_UTC + "; chosen: no zone is UTC"
    ),
    Case("Seen__c", "2026-12-31", "2026-12-31T00:00:00.000+0000", why="chosen: a date alone is midnight UTC"),
    Case("Seen__c", "2026-12-31 10:30:00", error="JSON_PARSER_ERROR", why="chosen: ISO 8601 needs the 'T'"),
    Case("Seen__c", "2026-12-31T25:00:00Z", error="JSON_PARSER_ERROR", why="no such hour"),
    Case("Seen__c", 1767177000000, error="JSON_PARSER_ERROR", why="a datetime is a string, not epoch milliseconds"),
    # picklists
    Case("Stage__c", "Closed Won", "Closed Won", why="a defined value"),
    Case("Stage__c", "closed won", "Closed Won", why=_PICKLIST_CASE),
    Case("Stage__c", "DRAFT", "Draft", why=_PICKLIST_CASE),
    Case("Stage__c", "Closed", error="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", why="not a defined value"),
    Case("Stage__c", "Closed Won ", error="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", why="chosen: no trimming"),
    Case("Channel__c", "fax", "fax", why="an unrestricted picklist takes any value, as sent"),
    Case("Channel__c", "email", "email", why="an unrestricted picklist takes any value, as sent"),
    Case("Topics__c", "billing;SUPPORT", "Billing;Support", why=_PICKLIST_CASE),
    Case("Topics__c", "Billing;Legal", error="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", why="Legal is not defined"),
    # text
    Case("Code__c", "A-1", "A-1", why="text in a text field"),
    Case("Code__c", 12345, "12345", why="chosen (docs silent): a JSON number converts to its text"),
    Case("Code__c", 12.5, "12.5", why="chosen (docs silent): a JSON number converts to its text"),
    Case("Code__c", True, "true", why="chosen (docs silent): a JSON boolean converts to Java's text of it"),
    Case("Code__c", 12345678901, error="STRING_TOO_LONG", why="the converted text is longer than the field"),
    Case("Code__c", {"a": 1}, error="JSON_PARSER_ERROR", why="an object is no text"),
    Case("Code__c", ["A"], error="JSON_PARSER_ERROR", why="an array is no text"),
)
