"""Guarded ingestion: fetch a source entity, validate it, land good rows, quarantine bad ones.

The unit of bookkeeping is the plant's hour; the unit of work is the plant day. For a run
over some hours the records are fetched once per plant day (one paged call, not 24),
shared out to their hours by the entity's event time, validated in one Great Expectations
run, and landed in one transaction that first deletes what earlier runs landed for those
hours, so a re-run replaces exactly its hours and `fetched = landed + quarantined` holds
for each one.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.ingestion.client import CallStats
from perf_orchestration.ingestion.entities import Entity
from perf_orchestration.ingestion.sources import MAPPING_EXPECTATION, Rejected, SourceReader
from perf_orchestration.tables import (
    RAW_TABLES,
    SNAPSHOT_PARTITION,
    ingestion_log,
    quarantine,
)
from perf_orchestration.warehouse import ANALYZE_AFTER_ROWS, analyze, insert_frame, insert_rows

if TYPE_CHECKING:  # pandas and the quality package load on the first ingestion, not with
    import pandas as pd  # the code location (they are a second of its start-up)

    from perf_orchestration.ingestion.quality import ValidationOutcome

LATE_AFTER = timedelta(hours=1)
DEFAULT_BAD_SHARE_LIMIT = 0.05


@dataclass(frozen=True)
class Window:
    """One hour of the plant: its key (as the tables and Dagster key hours) and its [start, end)
    in aware datetimes."""

    partition_key: str
    start: datetime
    end: datetime


@dataclass
class PartitionCounts:
    partition_key: str
    fetched: int = 0
    landed: int = 0
    quarantined: int = 0
    duplicates: int = 0
    late: int = 0
    requests: int = 0
    retries: int = 0
    newest_source_update: datetime | None = None


@dataclass
class IngestionResult:
    """What one ingestion run did to one entity, partition by partition."""

    entity: Entity
    partitions: list[PartitionCounts]
    outcome: ValidationOutcome
    stats: CallStats = field(default_factory=CallStats)
    unmapped: int = 0  # records the source mapping could not read (quarantined too)
    reasons: dict[str, int] | None = None  # kept when the quarantined rows are let go

    def total(self, name: str) -> int:
        return sum(getattr(p, name) for p in self.partitions)

    @property
    def bad_share(self) -> float:
        """Share of fetched rows rejected for their content (exact duplicates excluded)."""
        fetched = self.total("fetched") - self.total("duplicates")
        bad = self.total("quarantined") - self.total("duplicates")
        return bad / fetched if fetched else 0.0

    def quarantine_reasons(self) -> dict[str, int]:
        if self.reasons is not None:
            return dict(self.reasons)
        reasons = Counter(q.failed_expectation for q in self.outcome.quarantined)
        reasons[MAPPING_EXPECTATION] += self.unmapped
        return {k: v for k, v in reasons.items() if v}

    def slim(self) -> IngestionResult:
        """The result without the rows themselves (they are in the warehouse now): the
        counts, the reasons, the suite's verdicts and five landed rows as a preview."""
        outcome = replace(self.outcome, landed=self.outcome.landed.head(5), quarantined=[])
        return replace(self, outcome=outcome, reasons=self.quarantine_reasons())


def ingest(engine: Engine, client: SourceReader, entity: Entity, windows: list[Window] | None,
           run_id: str, now: datetime | None = None) -> IngestionResult:
    """Fetch, validate and land `entity` for `windows` (None: the whole snapshot).

    Records the source's mapping could not read (sources.yaml) count as fetched and land in
    ops.quarantine with the reason, beside the rows the suite rejects."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    records: list[dict] = []
    owners: list[str] = []
    unmapped: list[tuple[str, Rejected]] = []
    counts: dict[str, PartitionCounts] = {}
    stats = CallStats()
    for span in fetch_spans(windows) if windows else [None]:
        keys = [w.partition_key for w in span] if span else [SNAPSHOT_PARTITION]
        fetched = client.fetch(entity.name, start=span[0].start if span else None,
                               end=span[-1].end if span else None)
        stats.add(fetched.stats)
        for key in keys:
            counts[key] = PartitionCounts(key)
        first = counts[keys[0]]
        first.requests, first.retries = fetched.stats.requests, fetched.stats.retries
        hours = (_hour_of(entity.event_time, span) if span
                 else lambda _record: SNAPSHOT_PARTITION)
        for record in fetched.items:
            key = hours(record)
            counts[key].fetched += 1
            records.append(record)
            owners.append(key)
        first.fetched += len(fetched.rejected)  # unmapped: its time cannot be trusted
        first.quarantined += len(fetched.rejected)
        unmapped.extend((keys[0], r) for r in fetched.rejected)

    from perf_orchestration.ingestion.quality import validate_records

    outcome = validate_records(entity, records)
    landed_rows = _landed_frame(entity, outcome.landed, owners, run_id, now)
    _count_landed(entity, outcome.landed, owners, counts)
    for q in outcome.quarantined:
        c = counts[owners[q.position]]
        c.quarantined += 1
        c.duplicates += q.failed_expectation == "duplicate_row"
    quarantine_rows = [
        {"entity": entity.table, "partition_key": owners[q.position],
         "source_record_id": q.source_record_id, "failed_expectation": q.failed_expectation,
         "reason": q.reason, "payload": json.dumps(q.payload, sort_keys=True, default=str),
         "run_id": run_id, "quarantined_at": now}
        for q in outcome.quarantined
    ] + [
        {"entity": entity.table, "partition_key": key, "source_record_id": r.source_record_id,
         "failed_expectation": MAPPING_EXPECTATION, "reason": r.reason,
         "payload": json.dumps(r.payload, sort_keys=True, default=str), "run_id": run_id,
         "quarantined_at": now}
        for key, r in unmapped
    ]
    log_rows = [dict(vars(c), entity=entity.table, run_id=run_id, logged_at=now)
                for c in counts.values()]
    _replace_partitions(engine, entity, list(counts), landed_rows, quarantine_rows, log_rows)
    return IngestionResult(entity, list(counts.values()), outcome, stats, len(unmapped))


def fetch_spans(windows: list[Window]) -> list[list[Window]]:
    """The hours grouped into one fetch each: consecutive hours of one plant day."""
    spans: list[list[Window]] = []
    for w in windows:
        if (spans and spans[-1][-1].end == w.start
                and spans[-1][0].partition_key[:10] == w.partition_key[:10]):
            spans[-1].append(w)
        else:
            spans.append([w])
    return spans


def _hour_of(event_time: str | None, span: list[Window]):
    """The key of the hour in `span` holding a record's event time; a record whose time
    cannot be read, or that the source sent from outside the span, counts in the span's
    first hour (as a one-hour fetch counted it in its own), where the suite judges it."""
    starts = [w.start for w in span]
    first, last = span[0], span[-1]

    def key(record: dict) -> str:
        value = record.get(event_time) if event_time else None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return first.partition_key
        if not isinstance(value, datetime) or value.tzinfo is None:
            return first.partition_key
        if not first.start <= value < last.end:
            return first.partition_key
        return span[bisect_right(starts, value) - 1].partition_key

    return key


def _count_landed(entity: Entity, landed: pd.DataFrame, owners: list[str],
                  counts: dict[str, PartitionCounts]) -> None:
    import pandas as pd

    if landed.empty:
        return
    keys = pd.Series([owners[p] for p in landed["_position"]], index=landed.index)
    late = pd.Series(False, index=landed.index)
    if entity.event_time:
        late = (landed["updated_at"] - landed[entity.event_time]) > LATE_AFTER
    for key, group in landed.groupby(keys):
        c = counts[key]
        c.landed = len(group)
        c.late = int(late.loc[group.index].fillna(False).sum())
        newest = group["updated_at"].max()
        c.newest_source_update = None if pd.isna(newest) else newest.to_pydatetime()


def _landed_frame(entity: Entity, landed: pd.DataFrame, owners: list[str], run_id: str,
                  now: datetime) -> pd.DataFrame:
    """The good rows as raw.<table> holds them: the entity's columns and the provenance."""
    frame = landed[list(entity.column_names)].copy()
    frame["source_system"] = entity.system
    frame["source_record_id"] = landed[entity.id_column].astype(str)
    frame["ingestion_run_id"] = run_id
    frame["ingested_at"] = now
    frame["partition_key"] = [owners[int(p)] for p in landed["_position"]]
    return frame


def _replace_partitions(engine: Engine, entity: Entity, keys: list[str], landed: pd.DataFrame,
                        quarantined: list[dict], log_rows: list[dict]) -> None:
    """Delete what earlier runs landed for these partitions and insert this run's rows."""
    raw = RAW_TABLES[entity.table]
    with engine.begin() as conn:
        for chunk in _chunks(keys, 500):
            conn.execute(raw.delete().where(raw.c.partition_key.in_(chunk)))
            conn.execute(quarantine.delete().where(quarantine.c.entity == entity.table,
                                                   quarantine.c.partition_key.in_(chunk)))
        insert_frame(conn, raw, landed)
        insert_rows(conn, quarantine, quarantined)
        if len(landed) >= ANALYZE_AFTER_ROWS:  # a backfill: the staging models read it next
            analyze(conn, raw)
        conn.execute(ingestion_log.insert(), log_rows)


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def latest_partition_counts(engine: Engine, entity: str | None = None) -> list[dict]:
    """The newest ingestion_log row per entity and partition (what the warehouse now holds)."""
    log = ingestion_log
    newest = (sa.select(log.c.entity, log.c.partition_key,
                        sa.func.max(log.c.logged_at).label("logged_at"))
              .group_by(log.c.entity, log.c.partition_key))
    if entity:
        newest = newest.where(log.c.entity == entity)
    newest = newest.subquery()
    query = (sa.select(log).join(newest, sa.and_(log.c.entity == newest.c.entity,
                                                 log.c.partition_key == newest.c.partition_key,
                                                 log.c.logged_at == newest.c.logged_at))
             .order_by(log.c.entity, log.c.partition_key))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def hourly_windows(start: datetime, end: datetime, tz_name: str | None = None) -> list[Window]:
    """The hours covering [start, end), keyed as the tables (and Dagster) key hours."""
    from perf_orchestration.plant_calendar import partition_key, plant_tz

    tz = plant_tz(tz_name)
    t = start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    out = []
    stop = end.astimezone(UTC)  # not `t < end`: one zone compares wall times, and the hour
    while t.astimezone(UTC) < stop:  # the clocks go back has the same wall time twice
        nxt = (t.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
        out.append(Window(partition_key(t, tz.key), t, nxt))
        t = nxt
    return out
