"""Memory of the sink's parent book (`bridge.sink.parents.ParentBook`) per million remembered keys.

    .venv/bin/python benchmarks/parent_memory.py [--keys 1000000] [--refused 100000]

Ours: a `ParentBook` filled with `--keys` written parents (`Account:C-<n>`, the demo's shape) and `--refused`
refused ones, at 1,000 a second (a rule name as the reason and a 120-character detail, as the processor's
notices have).
Baseline, in the same run: the plainest structure that remembers the same facts, a `set` of the key strings for
written and a `dict` of key to reason for refused, with the same key strings.
Memory is what `tracemalloc` sees allocated while each structure is built (the key strings of the written parents
are made and dropped in the loop for the book, since it keeps only their hash; the baseline keeps them).
Writes benchmarks/results/parent_memory.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.sink.parents import ParentBook, ParentRefusal

MIB = 1024 * 1024
WRITES_PER_S = 1_000  # the pace of the writes remembered: a sink on Collections writes ~1,400 records/s
DETAIL = "Phone must look like +1 555 0100 (Account_Phone_Format); the record was refused before the CRM." * 2


def _measure(build: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / MIB, kept


def _book(keys: int, refused: int) -> ParentBook:
    book = ParentBook(max_written=keys, max_refused=refused)
    for n in range(keys):
        book.written(f"Account:C-{n:07d}", n / WRITES_PER_S)
    for n in range(refused):
        key = f"Account:R-{n:07d}"
        book.refused(ParentRefusal(key, "prevalidation", "Account_Phone_Format", DETAIL[:120]), n / WRITES_PER_S)
    return book


def _plain(keys: int, refused: int) -> tuple[set[str], dict[str, str]]:
    written = {f"Account:C-{n:07d}" for n in range(keys)}
    reasons = {f"Account:R-{n:07d}": "Account_Phone_Format" for n in range(refused)}
    return written, reasons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--refused", type=int, default=100_000)
    args = parser.parse_args()
    written_mib, _ = _measure(lambda: _book(args.keys, 0))
    refused_mib, _ = _measure(lambda: _book(0, args.refused))
    plain_written_mib, _ = _measure(lambda: _plain(args.keys, 0))
    plain_refused_mib, _ = _measure(lambda: _plain(0, args.refused))
    per_million = 1_000_000
    result = {
        "benchmark": "parent_memory",
        "python": platform.python_version(),
        "written_keys": args.keys,
        "refused_keys": args.refused,
        "written_mib_per_million": round(written_mib * per_million / max(args.keys, 1), 1),
        "refused_mib_per_million": round(refused_mib * per_million / max(args.refused, 1), 1),
        "baseline_written_mib_per_million": round(plain_written_mib * per_million / max(args.keys, 1), 1),
        "baseline_refused_mib_per_million": round(plain_refused_mib * per_million / max(args.refused, 1), 1),
        "defaults_total_mib": round(written_mib + refused_mib, 1),
    }
    result["written_ratio"] = round(result["written_mib_per_million"] / result["baseline_written_mib_per_million"], 2)
    print(
        f"written parents: {result['written_mib_per_million']} MiB per million keys "
        f"(a set of the key strings: {result['baseline_written_mib_per_million']}; ratio {result['written_ratio']})"
    )
    print(
        f"refused parents: {result['refused_mib_per_million']} MiB per million keys "
        f"(a dict of key to reason: {result['baseline_refused_mib_per_million']})"
    )
    print(f"the defaults ({args.keys:,} written, {args.refused:,} refused): {result['defaults_total_mib']} MiB")
    out = Path(__file__).parent / "results" / "parent_memory.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
