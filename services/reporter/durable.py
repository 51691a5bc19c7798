"""The snapshot kept durable: an experiment's cells as a compact artifact of its summary run.

When Redis has no snapshot (first rebuild on a new Redis, Redis restarted or flushed), the
reporter loads this copy in one download and then reads from MLflow only the runs written
since it was made: runs finished since (`end_time`) and runs scored since (the judge stamps
every score it writes with the `scored_at_ms` metric). MLflow stays the record; the copy is
a cache, dropped when its layout is not this one.

The copy is "as of" a watermark: the time its cells began to be read. Writes stamped up to
WATERMARK_MARGIN_MS before it are read again, which covers clocks of the collector, judge
and reporter hosts that disagree by less than that, and events still queued when a copy was
refreshed during incremental rebuilds.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from services.reporter.leaderboard import CELL_RUNS, Cell, cells_of, read_cells
from services.reporter.publish import summary_run_id
from shared import tracking

CACHE_DIR: Final = "cache"
CACHE_FILE: Final = "cells.json.gz"
LAYOUT: Final = 1  # bump when Cell changes: an older copy is then ignored
WATERMARK_MARGIN_MS: Final = 10 * 60 * 1000
REFRESH_AFTER_RUNS: Final = 1000  # runs re-read since the copy: about one page of a full read


def now_ms() -> int:
    """The watermark of a read starting now."""
    return int(time.time() * 1000)


def cell_json(cell: Cell) -> dict[str, Any]:
    """A cell as JSON data (the Redis snapshot and the durable copy share this layout)."""
    return asdict(cell)


def cell_of_json(data: dict[str, Any]) -> Cell | None:
    """The cell stored as `data`, or None if it was stored in an older layout."""
    try:
        return Cell(**{**data, "row": tuple(data["row"])})
    except (TypeError, KeyError):
        return None


def save(client: MlflowClient, experiment_id: str, cells: list[Cell], watermark: int) -> None:
    """Write the experiment's cells, as of `watermark`, to its summary run."""
    body = {"layout": LAYOUT, "watermark_ms": watermark, "cells": [cell_json(c) for c in cells]}
    with tempfile.TemporaryDirectory(prefix="tipbench-cells-") as folder:
        path = Path(folder, CACHE_FILE)
        path.write_bytes(gzip.compress(json.dumps(body, separators=(",", ":")).encode(), 6))
        client.log_artifact(summary_run_id(client, experiment_id), str(path), CACHE_DIR)


def load(client: MlflowClient, experiment_id: str) -> tuple[list[Cell], int] | None:
    """The durable copy's cells and watermark, or None if there is no usable copy."""
    summary = tracking.find_summary_run(client, experiment_id)
    if summary is None:
        return None
    try:
        raw = tracking.read_artifact_bytes(client, summary, f"{CACHE_DIR}/{CACHE_FILE}")
        body = json.loads(gzip.decompress(raw))
    except (MlflowException, OSError, ValueError):
        return None  # no copy yet, or unreadable: the caller reads everything
    if not isinstance(body, dict) or body.get("layout") != LAYOUT:
        return None
    try:
        cells = [cell_of_json(data) for data in body["cells"]]
        watermark = int(body["watermark_ms"])
    except (KeyError, TypeError, ValueError):
        return None
    if any(cell is None for cell in cells):
        return None
    return [c for c in cells if c is not None], watermark


def changed_since(client: MlflowClient, experiment_id: str, watermark: int) -> list[Cell]:
    """The finished cell runs finished or scored since the watermark (less the margin)."""
    since = watermark - WATERMARK_MARGIN_MS
    found: dict[str, Cell] = {}
    for stamp in ("attributes.end_time", f"metrics.{tracking.METRIC_SCORED_AT}"):
        where = f"{CELL_RUNS} and {stamp} >= {since}"
        found |= {c.run_id: c for c in cells_of(tracking.search_runs(client, experiment_id, where))}
    return list(found.values())


def cold_read(client: MlflowClient, experiment_id: str) -> tuple[list[Cell], int]:
    """The experiment's cells when Redis has none: the durable copy plus what changed since,
    or a full read. Returns the cells and how many runs were read from MLflow."""
    started = now_ms()
    cached = load(client, experiment_id)
    if cached is None:
        cells = read_cells(client, experiment_id)
        save(client, experiment_id, cells, started)
        return cells, len(cells)
    known, watermark = cached
    fresh = changed_since(client, experiment_id, watermark)
    cells = list(({c.run_id: c for c in known} | {c.run_id: c for c in fresh}).values())
    if fresh:
        save(client, experiment_id, cells, started)
    return cells, len(fresh)
