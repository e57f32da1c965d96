"""REST record paths: checked API names and record ids, and an external id as one path segment when it can be one.

Salesforce reads the `{value}` of `/sobjects/{S}/{field}/{value}` from one percent-decoded path segment: `%20`
is a space (a raw `+` stays a plus, so `%2B` is sent for one), `%25` a percent sign, `%3F` a question mark,
`%23` a hash, `%26` an ampersand, UTF-8 bytes for everything outside ASCII. Some values cannot be carried:

- a `/`, even encoded as `%2F`: it still separates path segments, and the request is 404 NOT_FOUND;
- `.` and `..`: dot segments, which URL normalisation resolves away (`%2E` is the same character, RFC 3986);
- a value ending in `.json` or `.xml`: read as the response format ("append .json or .xml to the URI");
- a value whose tail the platform guards as a file extension: "using an email address, such as
  example@email.inc, as the External ID returns a '404 not found' error".

Those go through sObject Collections (`SalesforceClient.upsert_collection`), where the value travels in the
JSON body, or a query. `external_id_segment` raises `ExternalIdNotInPath` for them, before any request.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from bridge.salesforce.errors import ExternalIdNotInPath

_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
FORMAT_SUFFIXES = (".json", ".xml")
GUARDED_EXTENSIONS = frozenset({"inc"})  # the one the documentation names; others may exist


def api_name(name: str) -> str:
    """`name` when it is an API name (`Account`, `Ext_Id__c`); ValueError otherwise (a programming error)."""
    if not _API_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an API name")
    return name


def record_id(value: str) -> str:
    """`value` when it is a 15- or 18-character record Id; ValueError otherwise."""
    if not _RECORD_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a Salesforce record Id")
    return value


def path_problem(value: str) -> str | None:
    """Why `value` cannot be an external id in a URL path, or None when it can."""
    if not value:
        return "it is empty"
    if "/" in value:
        return "it contains '/', which separates path segments even when encoded as %2F"
    if set(value) == {"."}:
        return "'.' and '..' are dot segments, which URL normalisation removes"
    if value.lower().endswith(FORMAT_SUFFIXES):
        return "a trailing .json or .xml is read as the response format"
    if "." in value and value.rpartition(".")[2].lower() in GUARDED_EXTENSIONS:
        return "its tail is a top-level domain the platform treats as a file extension (404)"
    return None


def external_id_segment(value: str) -> str:
    """`value` percent-encoded as one path segment; `ExternalIdNotInPath` when no encoding can carry it."""
    problem = path_problem(value)
    if problem is not None:
        raise ExternalIdNotInPath(value, problem)
    return quote(value, safe="")
