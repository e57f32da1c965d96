"""Each function on ordinary values and on blanks, with Salesforce's semantics."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from bridge.formula import NotEvaluable
from tests.formula.conftest import Evaluate

D = Decimal


@pytest.mark.parametrize(
    ("text", "record", "expected"),
    [
        ("AND(TRUE, TRUE, TRUE)", {}, True),
        ("AND(TRUE, FALSE)", {}, False),
        ("AND(Amount > 1, TRUE)", {}, None),  # a blank comparison leaves AND undecided
        ("AND(Amount > 1, FALSE)", {}, False),  # ... unless another operand is false
        ("OR(FALSE, TRUE)", {}, True),
        ("OR(Amount > 1, TRUE)", {}, True),
        ("OR(Amount > 1, FALSE)", {}, None),
        ("NOT(TRUE)", {}, False),
        ("NOT(Amount > 1)", {}, None),
        ("IF(Amount > 10, 'big', 'small')", {"Amount": 11}, "big"),
        ("IF(Amount > 10, 'big', 'small')", {"Amount": 3}, "small"),
        ("IF(Amount > 10, 'big', 'small')", {}, "small"),  # a blank condition takes the else branch
        ("CASE(StageName, 'A', 1, 'B', 2, 0)", {"StageName": "B"}, D(2)),
        ("CASE(StageName, 'A', 1, 'B', 2, 0)", {"StageName": "b"}, D(0)),
        ("CASE(StageName, 'A', 1, '', 5, 0)", {}, D(5)),
        ("CASE(Amount, 1, 'one', 2, 'two', 'other')", {"Amount": 2}, "two"),
        ("CASE(Amount, 1, 'one', 'other')", {}, "other"),
        ("ISBLANK(Name)", {"Name": ""}, True),
        ("ISBLANK(Name)", {"Name": "x"}, False),
        ("ISBLANK(Amount)", {"Amount": 0}, False),
        ("ISBLANK(Amount)", {}, True),
        ("ISBLANK(StageName)", {}, True),
        ("ISNULL(Amount)", {}, True),
        ("ISNULL(Amount)", {"Amount": 1}, False),
        ("ISNULL(Name)", {}, False),  # text is never null in Salesforce
        ("BLANKVALUE(Name, 'none')", {}, "none"),
        ("BLANKVALUE(Name, 'none')", {"Name": "x"}, "x"),
        ("BLANKVALUE(Amount, 0)", {}, D(0)),
        ("NULLVALUE(Amount, 7)", {}, D(7)),
        ("NULLVALUE(Amount, 7)", {"Amount": 1.5}, D("1.5")),
        ("LEN(Name)", {"Name": "héllo"}, D(5)),
        ("LEN(Name)", {}, D(0)),
        ("TEXT(StageName)", {"StageName": "Closed Won"}, "Closed Won"),
        ("TEXT(Amount)", {"Amount": 1.50}, "1.5"),
        ("TEXT(Amount)", {"Amount": 100}, "100"),
        ("TEXT(Amount)", {}, None),
        ("TEXT(CloseDate)", {"CloseDate": "2024-02-29"}, "2024-02-29"),
        ("TEXT(LastSeen__c)", {"LastSeen__c": "2024-02-29T10:00:00+02:00"}, "2024-02-29 08:00:00Z"),
        ("VALUE('12.50') + 1", {}, D("13.50")),
        ("VALUE(Name)", {}, None),
        ("ISNUMBER('12.5')", {}, True),
        ("ISNUMBER(' -3 ')", {}, True),
        ("ISNUMBER('1,000')", {}, False),
        ("ISNUMBER(Name)", {}, False),
        ("CONTAINS(Name, 'cm')", {"Name": "Acme"}, True),
        ("CONTAINS(Name, 'CM')", {"Name": "Acme"}, False),
        ("CONTAINS(Name, 'x')", {}, False),
        ("BEGINS(Name, 'Ac')", {"Name": "Acme"}, True),
        ("BEGINS(Name, 'ac')", {"Name": "Acme"}, False),
        ("BEGINS(Name, 'a')", {}, False),
        ("UPPER(Name) & LOWER(Name)", {"Name": "AbC"}, "ABCabc"),
        ("UPPER(Name)", {}, ""),
        ("TRIM(Name)", {"Name": "  a b \t"}, "a b"),
        ("LEFT(Name, 2)", {"Name": "Acme"}, "Ac"),
        ("LEFT(Name, -1)", {"Name": "Acme"}, ""),
        ("RIGHT(Name, 3)", {"Name": "Acme"}, "cme"),
        ("RIGHT(Name, 0)", {"Name": "Acme"}, ""),
        ("MID(Name, 2, 2)", {"Name": "Acme"}, "cm"),
        ("MID(Name, 0, 2)", {"Name": "Acme"}, "Ac"),
        ("FIND('m', Name)", {"Name": "Acme"}, D(3)),
        ("FIND('m', Name, 4)", {"Name": "Acme"}, D(0)),
        ("FIND('z', Name)", {"Name": "Acme"}, D(0)),
        ("FIND('a', Name)", {}, D(0)),
        ("SUBSTITUTE(Name, 'a', 'o')", {"Name": "banana"}, "bonono"),
        ("SUBSTITUTE(Name, '', 'o')", {"Name": "ab"}, "ab"),
        ("ABS(Amount)", {"Amount": -2.5}, D("2.5")),
        ("ABS(Amount)", {}, None),
        ("ROUND(Amount, 0)", {"Amount": 2.5}, D(3)),
        ("ROUND(Amount, 0)", {"Amount": -2.5}, D(-3)),
        ("ROUND(Amount, 1)", {"Amount": 1.25}, D("1.3")),
        ("ROUND(Amount, -2)", {"Amount": 1250}, D(1300)),
        ("FLOOR(Amount)", {"Amount": 2.7}, D(2)),
        ("FLOOR(Amount)", {"Amount": -2.5}, D(-2)),
        ("CEILING(Amount)", {"Amount": 2.1}, D(3)),
        ("CEILING(Amount)", {"Amount": -2.5}, D(-3)),
        ("MAX(1, Amount, 3)", {"Amount": 7}, D(7)),
        ("MIN(1, Amount, 3)", {"Amount": -7}, D(-7)),
        ("MAX(1, Amount)", {}, None),
        ("MOD(Amount, 3)", {"Amount": 7}, D(1)),
        ("MOD(Amount, 3)", {"Amount": -7}, D(-1)),
        ("MOD(Amount, 3)", {}, None),
        ("DATE(2024, 2, 29)", {}, date(2024, 2, 29)),
        ("YEAR(CloseDate) * 10000 + MONTH(CloseDate) * 100 + DAY(CloseDate)", {"CloseDate": "2024-03-09"}, D(20240309)),
        ("YEAR(CloseDate)", {}, None),
        ("DATEVALUE('2024-03-09')", {}, date(2024, 3, 9)),
        ("DATEVALUE(LastSeen__c)", {"LastSeen__c": "2024-03-09T23:30:00-02:00"}, date(2024, 3, 10)),
        ("CloseDate + 3", {"CloseDate": "2024-02-28"}, date(2024, 3, 2)),
        ("CloseDate - DATE(2024, 1, 1)", {"CloseDate": "2024-02-01"}, D(31)),
        ("LastSeen__c - 0.5", {"LastSeen__c": "2024-01-02T00:00:00Z"}, datetime(2024, 1, 1, 12, tzinfo=UTC)),
        ("WEEKDAY(CloseDate)", {"CloseDate": "2024-06-02"}, D(1)),  # a Sunday
        ("WEEKDAY(CloseDate)", {"CloseDate": "2024-06-01"}, D(7)),
        ("WEEKDAY(CloseDate)", {}, None),
        ("ADDMONTHS(CloseDate, 1)", {"CloseDate": "2024-01-31"}, date(2024, 2, 29)),
        ("ADDMONTHS(CloseDate, 1)", {"CloseDate": "2024-02-29"}, date(2024, 3, 31)),  # month end stays month end
        ("ADDMONTHS(CloseDate, -2)", {"CloseDate": "2024-01-15"}, date(2023, 11, 15)),
        ("ADDMONTHS(CloseDate, 1)", {}, None),
        ("DATETIMEVALUE('2024-03-09 10:30:00')", {}, datetime(2024, 3, 9, 10, 30, tzinfo=UTC)),
        ("DATETIMEVALUE(CloseDate)", {"CloseDate": "2024-03-09"}, datetime(2024, 3, 9, tzinfo=UTC)),
        ("LPAD(Name, 5, '0')", {"Name": "42"}, "00042"),
        ("LPAD(Name, 2)", {"Name": "Acme"}, "Ac"),
        ("RPAD(Name, 6, 'xy')", {"Name": "ab"}, "abxyxy"),
        ("RPAD(Name, 3)", {"Name": "a"}, "a  "),
        ("SQRT(Amount)", {"Amount": 16}, D(4)),
        ("ROUND(LN(EXP(Amount)), 6)", {"Amount": 2}, D("2.000000")),
        ("LOG(Amount)", {"Amount": 1000}, D(3)),
        ("INCLUDES(Interests__c, 'Golf')", {"Interests__c": "Tennis;Golf"}, True),
        ("INCLUDES(Interests__c, 'Gol')", {"Interests__c": "Tennis;Golf"}, False),
        ("INCLUDES(Interests__c, 'Golf')", {}, False),
        ("ISPICKVAL(StageName, 'Prospecting')", {"StageName": "Prospecting"}, True),
        ("ISPICKVAL(StageName, 'prospecting')", {"StageName": "Prospecting"}, False),
        ("ISPICKVAL(StageName, '')", {}, True),
    ],
)
def test_function(evaluate: Evaluate, text: str, record: dict[str, Any], expected: Any) -> None:
    result = evaluate(text, record)
    assert result == expected
    assert type(result) is type(expected)


def test_today_and_now_come_from_the_context(evaluate: Evaluate) -> None:
    now = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert evaluate("CloseDate < TODAY()", {"CloseDate": "2024-04-30"}, today=date(2024, 5, 1)) is True
    assert evaluate("NOW() - LastSeen__c > 1", {"LastSeen__c": "2024-04-29T12:30:00Z"}, now=now) is True
    with pytest.raises(NotEvaluable, match="TODAY"):
        evaluate("TODAY() > CloseDate", {"CloseDate": "2024-04-30"})
    with pytest.raises(NotEvaluable, match="NOW"):
        evaluate("NOW() > LastSeen__c", {"LastSeen__c": "2024-04-30T00:00:00Z"})


@pytest.mark.parametrize(
    "text",
    [
        "VALUE('twelve')",
        "Amount / 0",
        "MOD(Amount, 0)",
        "DATE(2023, 2, 29)",
        "SQRT(-Amount)",
        "HYPERLINK('https://x', 'x') = 'x'",  # a real function the local evaluator does not implement
    ],
)
def test_errors_at_run_time_are_not_evaluable(evaluate: Evaluate, text: str) -> None:
    with pytest.raises(NotEvaluable):
        evaluate(text, {"Amount": 5})
