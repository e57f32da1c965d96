"""FileWatch: a change is reported once, never more often than the interval, and a vanished file is a change."""

from __future__ import annotations

import os
from pathlib import Path

from bridge.ingest.watch import FileWatch


def test_changes_are_seen_once_and_no_more_often_than_the_interval(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "f"
    path.write_text("one")
    watch = FileWatch([path], interval_s=1.0, clock=lambda: now[0])
    assert not watch.changed()
    replacement = tmp_path / "f.new"
    replacement.write_text("two")
    os.replace(replacement, path)  # a new inode, as an atomic writer or a Kubernetes Secret update leaves it
    now[0] = 0.5
    assert not watch.changed()  # within the interval: not even looked at
    now[0] = 1.0
    assert watch.changed()
    assert not watch.changed()
    path.unlink()
    now[0] = 2.0
    assert watch.changed()
    path.write_text("three")
    now[0] = 3.0
    assert watch.changed()
