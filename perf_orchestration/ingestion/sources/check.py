"""Is each configured entity readable? One window read, mapped and validated, per entity.

What `perfflow sources check` prints and the `source_readable` asset checks show: for every
entity of every system, whether the system was reached and let us in, how many records one
window gave, how many of them the mapping and the entity's Great Expectations suite accept,
and the first problem met (the setting to change, or the first bad row's reason). Nothing is
written to the warehouse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.ingestion.entities import ENTITIES, Entity
from perf_orchestration.ingestion.sources import SourceReader, SourceSettingError

BAD_SHARE_LIMIT = 0.05  # as the ingestion's blocking check (landing.DEFAULT_BAD_SHARE_LIMIT)


@dataclass(frozen=True)
class EntityCheck:
    """The verdict on one entity."""

    system: str
    entity: str
    ok: bool
    records: int = 0
    valid: int = 0
    problem: str | None = None
    seconds: float = 0.0

    def line(self) -> str:
        head = f"{self.system:<4} {self.entity:<26} {'ok  ' if self.ok else 'FAIL'}"
        counts = f"{self.records} record(s), {self.valid} valid"
        if self.problem is None:
            return f"{head} {counts} ({self.seconds:.1f} s)"
        return f"{head} {counts}: {self.problem}" if self.records or self.ok else \
            f"{head} {self.problem}"


def check_entity(reader: SourceReader, entity: Entity, end: datetime,
                 window: timedelta = timedelta(hours=1)) -> EntityCheck:
    """Read one window ending at `end` (a snapshot entity: all of it) and judge it."""
    from perf_orchestration.ingestion.client import SourceCallError
    from perf_orchestration.ingestion.quality import validate_records

    began = time.monotonic()
    try:
        fetched = reader.fetch(entity.name, start=end - window, end=end) if entity.partitioned \
            else reader.fetch(entity.name)
    except (SourceCallError, SourceSettingError, ConfigError) as exc:
        return EntityCheck(entity.system, entity.name, False, problem=str(exc).splitlines()[0],
                           seconds=time.monotonic() - began)
    outcome = validate_records(entity, fetched.items)
    records = len(fetched.items) + len(fetched.rejected)
    valid = len(outcome.landed)
    problems = [r.reason for r in fetched.rejected] + [q.reason for q in outcome.quarantined]
    if outcome.missing_columns:
        problems.insert(0, f"columns missing from every record: "
                        f"{', '.join(outcome.missing_columns)} (map them under fields)")
    ok = not outcome.missing_columns and (records == 0 or
                                          (records - valid) / records <= BAD_SHARE_LIMIT)
    problem = None
    if problems:
        problem = f"{records - valid} rejected, first: {problems[0]}"
    return EntityCheck(entity.system, entity.name, ok, records, valid, problem,
                       time.monotonic() - began)


def check_sources(open_reader: Callable[[str], SourceReader], end: datetime,
                  systems: tuple[str, ...] | None = None) -> Iterator[EntityCheck]:
    """Every entity of `systems` (default: all), one at a time as each is judged."""
    readers: dict[str, SourceReader | EntityCheck] = {}
    for entity in ENTITIES:
        if systems and entity.system not in systems:
            continue
        if entity.system not in readers:
            try:
                readers[entity.system] = open_reader(entity.system)
            except (SourceSettingError, ConfigError) as exc:
                readers[entity.system] = EntityCheck(entity.system, "*", False,
                                                     problem=str(exc).splitlines()[0])
        reader = readers[entity.system]
        if isinstance(reader, EntityCheck):
            yield EntityCheck(entity.system, entity.name, False, problem=reader.problem)
        else:
            yield check_entity(reader, entity, end)
