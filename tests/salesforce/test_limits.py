"""Parsing `Sforce-Limit-Info`."""

from __future__ import annotations

import pytest

from bridge.salesforce import LimitInfo


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("api-usage=18/5000", LimitInfo(18, 5000)),
        ("api-usage=18/5000; per-app-api-usage=17/250(appName=sample-connected-app)", LimitInfo(18, 5000)),
        ("per-app-api-usage=17/250(appName=sample-connected-app); api-usage=19/5000", LimitInfo(19, 5000)),
        ("api-usage=692/5000000; api-bursts=1/750", LimitInfo(692, 5_000_000)),
        ("api-bursts=1/750", None),
        ("per-app-api-usage=17/250(appName=a)", None),
        ("", None),
        (None, None),
        ("api-usage=garbage", None),
    ],
)
def test_parse(header: str | None, expected: LimitInfo | None) -> None:
    assert LimitInfo.parse(header) == expected


def test_remaining_never_negative() -> None:
    assert LimitInfo(10, 100).remaining == 90
    assert LimitInfo(120, 100).remaining == 0
