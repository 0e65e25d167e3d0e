"""One ingestion step for a source system: its entities' hours cut into units of whole
plant days, run in this process or spread over worker processes, and put back together
entity by entity.

A unit is one entity over a run of consecutive plant days; it is fetched, validated and
landed in its own transaction (ingestion/landing.py), which first deletes what earlier
runs landed for its hours, so any split of a run into units lands exactly the same rows.
A run of a few hours is one unit per entity, in process. A backfill of many days on the
PostgreSQL warehouse is spread over worker processes (Great Expectations validation is
pure Python, so one process uses one core); the embedded SQLite warehouse takes one
writer at a time and stays in process.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.ingestion.client import CallStats, SourceCallError
from perf_orchestration.ingestion.entities import Entity
from perf_orchestration.ingestion.landing import (
    IngestionResult,
    Window,
    fetch_spans,
    ingest,
)
from perf_orchestration.ingestion.sources import SourceReader, SourceSettingError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

#: A unit covers at most this many plant days: small enough to share a year out evenly
#: over the workers, large enough that its fixed costs (a transaction, an ANALYZE) vanish.
DAYS_PER_UNIT = 14
#: Runs shorter than this stay in process: starting workers costs more than they save.
PARALLEL_FROM_DAYS = 3
MAX_WORKERS = 4
#: Imported once by the process the workers are forked from, not by each worker.
PRELOAD = ["perf_orchestration.ingestion.runs", "perf_orchestration.ingestion.quality.validate",
           "great_expectations"]


@dataclass(frozen=True)
class Unit:
    """One entity over some consecutive hours (None: the whole snapshot)."""

    entity: Entity
    windows: tuple[Window, ...] | None


@dataclass
class EntityRun:
    """What a step did for one entity: its combined result, or why it failed."""

    entity: Entity
    result: IngestionResult | None = None
    error: str | None = None


@dataclass
class SystemRun:
    """A system step's entities, in the order asked for, and how the work was spread."""

    entities: list[EntityRun]
    workers: int
    units: int

    @property
    def failed(self) -> list[EntityRun]:
        return [r for r in self.entities if r.error]


def plan_units(entities: list[Entity], windows: list[Window] | None,
               days_per_unit: int = DAYS_PER_UNIT) -> list[Unit]:
    """Each entity's hours in units of at most `days_per_unit` plant days; the biggest
    work first is the caller's concern (units keep the entities' order)."""
    if windows is None:
        return [Unit(e, None) for e in entities]
    days = fetch_spans(windows)
    chunks = [tuple(w for span in days[i:i + days_per_unit] for w in span)
              for i in range(0, len(days), days_per_unit)]
    return [Unit(e, chunk) for e in entities for chunk in chunks]


def choose_workers(engine: Engine, windows: list[Window] | None,
                   asked: int | None = None) -> int:
    """Processes for a run: as asked, else one per core (at most MAX_WORKERS) for a run of
    several days on PostgreSQL, else one (in process)."""
    if multiprocessing.current_process().daemon:  # a pool's worker cannot start a pool
        return 1
    if asked is not None:
        return max(1, asked)
    if engine.dialect.name != "postgresql" or not windows:
        return 1
    if len(fetch_spans(windows)) < PARALLEL_FROM_DAYS:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def failure_message(entity: Entity, exc: BaseException, warehouse: str) -> str | None:
    """One line for a failure the plant can act on; None for anything else (a bug)."""
    label = f"{entity.system.upper()} {entity.name}"
    if isinstance(exc, SourceSettingError | ConfigError):
        return f"{label}: {exc}. Nothing of {entity.table} was written by this run."
    if isinstance(exc, SourceCallError):
        return str(exc)
    if isinstance(exc, sa.exc.OperationalError):  # the server went away or restarted
        reason = str(exc.orig or exc).strip().splitlines()[0]
        return (f"warehouse {warehouse} lost the connection while landing raw.{entity.table}: "
                f"{reason}. The landing is one transaction, so nothing of it was kept; re-run "
                "the partitions.")
    return None


def run_system(engine: Engine, reader: Callable[[], SourceReader], entities: list[Entity],
               windows: list[Window] | None, run_id: str, *, warehouse: str,
               workers: int = 1, now: datetime | None = None,
               days_per_unit: int = DAYS_PER_UNIT) -> SystemRun:
    """Ingest `entities` for `windows` and say, per entity, what landed or what failed.

    `reader` builds the system's reader (it must pickle when workers > 1); `warehouse` is
    the redacted URL failures name. A failure of one entity does not stop the others."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    units = plan_units(entities, windows, days_per_unit)
    workers = min(workers, len(units))
    if workers <= 1:
        outcomes = [_run_unit_here(engine, reader, u, run_id, now, warehouse) for u in units]
    else:
        url = engine.url.render_as_string(hide_password=False)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        jobs = [(url, reader, u, run_id, now, warehouse) for u in units]
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            outcomes = list(pool.map(_run_unit_in_worker, jobs))
    runs = {e.table: EntityRun(e) for e in entities}
    parts: dict[str, list[IngestionResult]] = {e.table: [] for e in entities}
    for unit, (result, error) in zip(units, outcomes, strict=True):
        run = runs[unit.entity.table]
        if error is not None:
            run.error = run.error or error
        else:
            parts[unit.entity.table].append(result)
    for table, run in runs.items():
        if run.error is None:
            run.result = combine(parts[table])
    return SystemRun(list(runs.values()), workers, len(units))


def _run_unit_here(engine: Engine, reader: Callable[[], SourceReader], unit: Unit, run_id: str,
                   now: datetime, warehouse: str) -> tuple[IngestionResult | None, str | None]:
    try:
        windows = list(unit.windows) if unit.windows is not None else None
        return ingest(engine, reader(), unit.entity, windows, run_id, now), None
    except Exception as exc:  # noqa: BLE001 - a known failure is reported, a bug re-raised
        message = failure_message(unit.entity, exc, warehouse)
        if message is None:
            raise
        return None, message


_worker_engines: dict[str, Engine] = {}


def _run_unit_in_worker(job: tuple) -> tuple[IngestionResult | None, str | None]:
    """A unit in a worker process: its own engine, and a result small enough to send back
    (the landed rows stay in the warehouse; five of them come back as the preview)."""
    url, reader, unit, run_id, now, warehouse = job
    from perf_orchestration.warehouse import make_engine

    if url not in _worker_engines:
        _worker_engines[url] = make_engine(url)
    try:
        result, error = _run_unit_here(_worker_engines[url], reader, unit, run_id, now,
                                       warehouse)
    except Exception:  # noqa: BLE001 - a bug: its traceback goes back to the step
        return None, f"{unit.entity.table}: unexpected error in an ingestion worker:\n" \
            f"{traceback.format_exc()}"
    return (result.slim() if result is not None else None), error


def combine(results: list[IngestionResult]) -> IngestionResult:
    """The units of one entity as one result: hours side by side, counts and calls summed,
    the suite's verdicts joined (an expectation succeeded if it succeeded on every unit)."""
    first = results[0]
    if len(results) == 1:
        return first
    stats = CallStats()
    reasons: Counter[str] = Counter()
    lines: dict[tuple, dict] = {}
    missing: list[str] = []
    unexpected: list[str] = []
    for r in results:
        stats.add(r.stats)
        reasons.update(r.quarantine_reasons())
        for line in r.outcome.expectations:
            key = (line["expectation"], line["column"])
            seen = lines.setdefault(key, {**line, "unexpected": 0})
            seen["success"] = seen["success"] and line["success"]
            seen["unexpected"] += line["unexpected"]
        missing += [c for c in r.outcome.missing_columns if c not in missing]
        unexpected += [c for c in r.outcome.unexpected_columns if c not in unexpected]
    preview = next((r.outcome.landed for r in results if not r.outcome.landed.empty),
                   first.outcome.landed)
    outcome = replace(first.outcome, landed=preview.head(5), quarantined=[],
                      duplicates=sum(r.outcome.duplicates for r in results),
                      missing_columns=missing, unexpected_columns=unexpected,
                      expectations=list(lines.values()))
    return IngestionResult(first.entity, [p for r in results for p in r.partitions], outcome,
                           stats, sum(r.unmapped for r in results), dict(reasons))
