"""Interface health: for every link the product knows, hour by hour, when it last synced,
how old that sync is at the hour's end, and whether that is over the link's threshold.

The links:

- `<system>→warehouse`, one per source system with hourly data: the newest hour every
  hourly entity of the system has landed (`ops.ingestion_log`, with rows or none).
- `wms→tms`: the stock the TMS holds, i.e. the newest WMS snapshot it received
  (`raw.tms_stock_receipts`), or the snapshot a dispatch says it was planned on
  (`raw.tms_dispatches.stock_taken_at`): a TMS that got nothing still shows its old stock.
- `erp→wms`: order lines released in the ERP and not yet received by the WMS; the link's
  age is the wait of the oldest such line (0 when none waits: a link with nothing to
  carry is not broken). Lines released before the first hour of WMS receipts the
  warehouse holds are not judged: their receipts, if any, were never landed.

The data says when each link last worked, so an outage that began before the hours being
judged shows with its full age (a link down for 50 hours reads 50 h, not the hours of the
run).
"""

from __future__ import annotations

import bisect
import heapq
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from perf_orchestration.ingestion.entities import ENTITIES
from perf_orchestration.interfaces.config import InterfacesConfig
from perf_orchestration.tables import RAW_TABLES, ingestion_log, plant_calendar
from perf_orchestration.tables.ops import interface_health

LOOKBACK = timedelta(days=7)  # how far before the hours a pending order line is looked for
HOUR_S = 3600.0


@dataclass(frozen=True)
class Link:
    name: str
    sender: str
    receiver: str
    gap_hours: float

    @property
    def kind(self) -> str:
        return "warehouse" if self.receiver == "warehouse" else "system"


def known_links(config: InterfacesConfig) -> list[Link]:
    """Every link judged: each source system with hourly data to the warehouse, then the
    links between systems."""
    systems = dict.fromkeys(e.system for e in ENTITIES if e.partitioned)
    out = [Link(f"{s}→warehouse", s, "warehouse", config.warehouse_gap_hours) for s in systems]
    out += [Link(name, *name.split("→"), config.gap_hours(name)) for name in SYSTEM_LINKS]
    return out


def _naive(value: datetime) -> datetime:
    """UTC without a zone, as the warehouse keeps times."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


class _Latest:
    """The newest synced moment at or before a time, from (time, synced, evidence) points."""

    def __init__(self, points: list[tuple[datetime, datetime, str]]):
        points = sorted(points)
        self.times = [p[0] for p in points]
        self.best: list[tuple[datetime, str]] = []
        for _, synced, evidence in points:
            if not self.best or synced > self.best[-1][0]:
                self.best.append((synced, evidence))
            else:
                self.best.append(self.best[-1])

    def at(self, moment: datetime) -> tuple[datetime, str] | None:
        i = bisect.bisect_right(self.times, moment)
        return self.best[i - 1] if i else None


def _stock_points(conn: sa.Connection, start: datetime, end: datetime) -> list:
    receipts, dispatches = RAW_TABLES["tms_stock_receipts"], RAW_TABLES["tms_dispatches"]
    points = [(r.received_at, r.taken_at, r.receipt_id) for r in conn.execute(
        sa.select(receipts.c.received_at, receipts.c.taken_at, receipts.c.receipt_id)
        .where(receipts.c.received_at >= start - LOOKBACK, receipts.c.received_at < end,
               receipts.c.taken_at.is_not(None)))]
    points += [(r.planned_at, r.stock_taken_at, r.dispatch_id) for r in conn.execute(
        sa.select(dispatches.c.planned_at, dispatches.c.stock_taken_at, dispatches.c.dispatch_id)
        .where(dispatches.c.planned_at >= start - LOOKBACK, dispatches.c.planned_at < end,
               dispatches.c.stock_taken_at.is_not(None)))]
    return points


def _wms_tms(conn, hours, start, end) -> list[tuple[datetime | None, float | None, str]]:
    latest = _Latest(_stock_points(conn, start, end))
    out = []
    for hour_end in hours:
        seen = latest.at(hour_end)
        out.append((seen[0], (hour_end - seen[0]).total_seconds() / HOUR_S, seen[1])
                   if seen else (None, None, ""))
    return out


def _landed_since(conn, table: str, start: datetime) -> datetime | None:
    """The start of the first hour of `table` the warehouse has landed since `start`."""
    first = conn.execute(sa.select(sa.func.min(ingestion_log.c.partition_key)).where(
        ingestion_log.c.entity == table,
        ingestion_log.c.partition_key >= _key_at(conn, start))).scalar()
    if first is None:
        return None
    return conn.execute(sa.select(plant_calendar.c.hour_start)
                        .where(plant_calendar.c.partition_key == first)).scalar()


def _key_at(conn, moment: datetime) -> str:
    key = conn.execute(sa.select(sa.func.min(plant_calendar.c.partition_key))
                       .where(plant_calendar.c.hour_start >= moment)).scalar()
    return key or ""


def _erp_wms(conn, hours, start, end) -> list[tuple[datetime | None, float | None, str]]:
    lines, receipts = RAW_TABLES["erp_order_lines"], RAW_TABLES["wms_order_receipts"]
    # a line released before the WMS side's landed history has no receipt to find: not judged
    since = _landed_since(conn, "wms_order_receipts", start - LOOKBACK) or start
    received = {r.line_id: r.received_at for r in conn.execute(
        sa.select(receipts.c.line_id, receipts.c.received_at)
        .where(receipts.c.received_at >= start - LOOKBACK))}
    released = sorted((r.released_at, r.line_id) for r in conn.execute(
        sa.select(lines.c.released_at, lines.c.line_id).where(
            lines.c.released_at >= since, lines.c.released_at < end)))
    latest = _Latest([(at, at, line) for line, at in received.items() if at is not None])
    waiting: list[tuple[datetime, str]] = []
    out, i = [], 0
    for hour_end in hours:
        while i < len(released) and released[i][0] <= hour_end:
            at, line = released[i]
            if received.get(line) is None or received[line] > hour_end:
                heapq.heappush(waiting, (at, line))
            i += 1
        while waiting and received.get(waiting[0][1]) is not None \
                and received[waiting[0][1]] <= hour_end:
            heapq.heappop(waiting)
        seen = latest.at(hour_end)
        age = (hour_end - waiting[0][0]).total_seconds() / HOUR_S if waiting else 0.0
        evidence = waiting[0][1] if waiting else (seen[1] if seen else "")
        out.append((seen[0] if seen else None, age, evidence))
    return out


SYSTEM_LINKS = {"erp→wms": _erp_wms, "wms→tms": _wms_tms}


def _warehouse(system: str):
    """The system→warehouse link: an hour is synced when every hourly entity of the system
    has landed it (a row in ops.ingestion_log, with rows or none); the last sync is the end
    of the newest such hour. A quiet night is synced; an hour whose fetch failed is not."""
    tables = [e.table for e in ENTITIES if e.system == system and e.partitioned]

    def series(conn, hours, start, end):
        calendar = conn.execute(
            sa.select(plant_calendar.c.partition_key, plant_calendar.c.hour_end)
            .where(plant_calendar.c.hour_start >= start - LOOKBACK,
                   plant_calendar.c.hour_start < end)
            .order_by(plant_calendar.c.hour_start)).all()
        if not calendar:
            return [(None, None, "") for _ in hours]
        logged: dict[str, set[str]] = {}
        for entity, key in conn.execute(
                sa.select(ingestion_log.c.entity, ingestion_log.c.partition_key).distinct()
                .where(ingestion_log.c.entity.in_(tables),
                       ingestion_log.c.partition_key >= calendar[0].partition_key,
                       ingestion_log.c.partition_key <= calendar[-1].partition_key)):
            logged.setdefault(key, set()).add(entity)
        synced: dict[datetime, tuple[datetime | None, str]] = {}
        last: tuple[datetime | None, str] = (None, "")
        for key, hour_end in calendar:
            if logged.get(key, set()) >= set(tables):
                last = (hour_end, f"ops.ingestion_log:{system}@{key}")
            synced[hour_end] = last
        out = []
        for hour_end in hours:
            at, evidence = synced.get(hour_end, (None, ""))
            out.append((at, (hour_end - at).total_seconds() / HOUR_S, evidence)
                       if at else (None, None, ""))
        return out
    return series


def judge(engine: sa.Engine, config: InterfacesConfig, start: datetime, end: datetime,
          now: datetime) -> list[dict]:
    """The health rows of every link for the calendar hours in [start, end), replacing
    what was written for those hours before."""
    start, end, stamp = _naive(start), _naive(end), _naive(now)
    rows: list[dict] = []
    with engine.connect() as conn:
        calendar = conn.execute(
            sa.select(plant_calendar.c.partition_key, plant_calendar.c.hour_end)
            .where(plant_calendar.c.hour_start >= start, plant_calendar.c.hour_start < end)
            .order_by(plant_calendar.c.hour_start)).all()
        hours = [h.hour_end for h in calendar]
        for link in known_links(config):
            series = (SYSTEM_LINKS[link.name] if link.kind == "system"
                      else _warehouse(link.sender))(conn, hours, start, end)
            for (key, hour_end), (synced, age, evidence) in zip(calendar, series, strict=True):
                over = age is not None and age > link.gap_hours
                rows.append({
                    "link": link.name, "partition_key": key, "hour_end": hour_end,
                    "kind": link.kind, "sender": link.sender, "receiver": link.receiver,
                    "last_sync_at": synced, "age_hours": age,
                    "threshold_hours": link.gap_hours, "over_threshold": int(over),
                    "evidence": json.dumps([evidence] if evidence else []),
                    "checked_at": stamp})
    with engine.begin() as conn:
        keys = [h.partition_key for h in calendar]
        for i in range(0, len(keys), 500):
            conn.execute(interface_health.delete().where(
                interface_health.c.partition_key.in_(keys[i:i + 500])))
        if rows:
            conn.execute(interface_health.insert(), rows)
    return rows


def latest_state(rows: list[dict]) -> list[dict]:
    """Per link, its last hour judged: age, threshold, and since when it is broken."""
    last: dict[str, dict] = {}
    for row in rows:
        last[row["link"]] = row
    return [{"link": r["link"], "kind": r["kind"], "hour": r["partition_key"],
             "last_sync_at": r["last_sync_at"], "age_hours": r["age_hours"],
             "threshold_hours": r["threshold_hours"], "broken": bool(r["over_threshold"])}
            for r in last.values()]
