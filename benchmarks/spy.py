"""py-spy (the dev extra) attached to a benchmark's worker process, writing a flame graph while a block runs.

    async with profiling(worker.pid, Path("results/processor-flame.svg")):
        ...   # the measured part

`svg` None: nothing is attached. A path ending in `.txt` gets py-spy's raw collapsed stacks (for reading as
text) instead of the SVG.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path


@contextlib.asynccontextmanager
async def profiling(pid: int | None, svg: Path | None, *, rate: int = 250) -> AsyncIterator[None]:
    """Sample every thread of `pid` at `rate` Hz while the block runs; the graph is written on exit."""
    if svg is None or pid is None:
        yield
        return
    py_spy = Path(sys.executable).with_name("py-spy")
    form = "raw" if svg.suffix == ".txt" else "flamegraph"
    command = [str(py_spy), "record", "--format", form, "--rate", str(rate), "--threads", "--output", str(svg)]
    spy = await asyncio.create_subprocess_exec(*command, "--pid", str(pid), stdout=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        await asyncio.wait_for(spy.wait(), 60)
