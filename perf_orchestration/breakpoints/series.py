"""Hourly series of the nodes the breakpoint analysis walks, for one scope, read from the
warehouse: library metrics as ratios of summed quantities, the delivery chain's ages, the
interfaces' ages, device failures and defect codes, each with the records behind an hour.

A scope is `plant`, `line:<id>`, `team:<id>` or `device:<id>`. Hours are the plant
calendar's (`partition_key`, e.g. 2026-11-02-09:00); an hour without data is absent from
a series, never 0.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from perf_orchestration.breakpoints.config import INTERFACE
from perf_orchestration.metrics.library import METRICS_BY_NAME, TEAM_HOURLY
from perf_orchestration.tables import RAW_TABLES, plant_calendar
from perf_orchestration.tables.ops import interface_health

MAX_RECORDS = 10
BREAKDOWNS = ("defects:top", "fai_failures:top")


@dataclass
class Hours:
    """The calendar hours of the analysis, in order, with their UTC bounds."""

    keys: list[str]
    starts: dict[str, datetime]
    ends: dict[str, datetime]
    position: dict[str, int] = field(init=False, repr=False)
    ordered_starts: list[datetime] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.position = {k: i for i, k in enumerate(self.keys)}
        self.ordered_starts = [self.starts[k] for k in self.keys]

    @classmethod
    def read(cls, conn: sa.Connection, start: datetime, end: datetime) -> Hours:
        rows = conn.execute(sa.select(plant_calendar.c.partition_key, plant_calendar.c.hour_start,
                                      plant_calendar.c.hour_end)
                            .where(plant_calendar.c.hour_start >= start,
                                   plant_calendar.c.hour_start < end)
                            .order_by(plant_calendar.c.hour_start)).all()
        return cls([r[0] for r in rows], {r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows})

    def shifted(self, key: str, lag: int) -> str | None:
        i = self.position[key] - lag
        return self.keys[i] if 0 <= i < len(self.keys) else None


def _scope_filter(mart: str, scope: str) -> tuple[str, dict]:
    kind, _, ident = scope.partition(":")
    if kind == "plant":
        return "", {}
    column = {"line": "line_id", "team": "team_id"}.get(kind)
    if column is None or (mart == "delivery_hourly" and kind == "team"):
        raise LookupError(f"{mart} has no rows per {kind}")
    return f" and {column} = :ident", {"ident": ident}


def metric_series(conn: sa.Connection, name: str, scope: str, hours: Hours) -> dict[str, float]:
    """A library metric per hour: its numerator summed over the scope's rows over its
    denominator summed (never an average of ratios)."""
    metric = METRICS_BY_NAME[name]
    where, params = _scope_filter(metric.mart, scope)
    sql = (f"select partition_key, sum({metric.numerator}) as num, "
           f"sum({metric.denominator}) as den from marts.{metric.mart} "
           f"where hour_start >= :start and hour_start < :end{where} group by partition_key")
    out = {}
    for key, num, den in conn.execute(sa.text(sql), {"start": hours.starts[hours.keys[0]],
                                                     "end": hours.ends[hours.keys[-1]],
                                                     **params}):
        if num is not None and den:
            out[key] = float(num) / float(den)
    return out


def _max_series(conn, column: str, scope: str, hours: Hours) -> dict[str, float]:
    where, params = _scope_filter("delivery_hourly", scope)
    sql = (f"select partition_key, max({column}) from marts.delivery_hourly "
           f"where hour_start >= :start and hour_start < :end{where} group by partition_key")
    return {k: float(v) for k, v in conn.execute(sa.text(sql), {
        "start": hours.starts[hours.keys[0]], "end": hours.ends[hours.keys[-1]], **params})
        if v is not None}


def _interface_series(conn, link: str, hours: Hours) -> dict[str, float]:
    rows = conn.execute(sa.select(interface_health.c.partition_key, interface_health.c.age_hours)
                        .where(interface_health.c.link == link,
                               interface_health.c.partition_key.in_(hours.keys)))
    return {k: float(v) for k, v in rows if v is not None}


def _teams_of(conn, scope: str) -> list[str] | None:
    """The team ids of a scope (None: every team)."""
    kind, _, ident = scope.partition(":")
    if kind == "team":
        return [ident]
    if kind == "line":
        teams = RAW_TABLES["hr_teams"]
        return list(conn.execute(sa.select(teams.c.team_id).where(teams.c.line_id == ident))
                    .scalars())
    return None


def _hour_of(hours: Hours, at: datetime) -> str | None:
    """The calendar hour `at` falls in (hours are in order and do not overlap)."""
    i = bisect.bisect_right(hours.ordered_starts, at) - 1
    return hours.keys[i] if i >= 0 and at < hours.ends[hours.keys[i]] else None


def _event_rows(conn, table: str, time_col: str, scope: str, hours: Hours, *where):
    t = RAW_TABLES[table]
    query = sa.select(t).where(t.c[time_col] >= hours.starts[hours.keys[0]],
                               t.c[time_col] < hours.ends[hours.keys[-1]], *where)
    kind, _, ident = scope.partition(":")
    if kind == "device" and "device_id" in t.c:
        query = query.where(t.c.device_id == ident)
    else:
        teams = _teams_of(conn, scope)
        if teams is not None:
            query = query.where(t.c.team_id.in_(teams))
    return conn.execute(query).mappings().all()


def _defects(conn, node: str, scope: str, hours: Hours) -> list[tuple[str, str, float, str]]:
    """(hour, defect code, quantity, record) of the scope's QMS defects (`defects:top`) or
    failed first-article inspections (`fai_failures:top`): a defect breakdown."""
    if node == "defects:top":
        return [(_hour_of(hours, r["detected_at"]), r["defect_code"],
                 float(r["quantity"] or 0), f"raw.qms_defects:{r['defect_id']}")
                for r in _event_rows(conn, "qms_defects", "detected_at", scope, hours)]
    fai = RAW_TABLES["mes_first_article_inspections"]
    return [(_hour_of(hours, r["inspected_at"]), r["defect_code"], 1.0,
             f"raw.mes_first_article_inspections:{r['inspection_id']}")
            for r in _event_rows(conn, "mes_first_article_inspections", "inspected_at", scope,
                                 hours, fai.c.result == "fail", fai.c.defect_code.is_not(None))]


def node_series(conn: sa.Connection, node: str, scope: str, hours: Hours,
                problem_hours: list[str]) -> tuple[dict[str, float], str]:
    """The node's hourly values for the scope and a label saying what they are (e.g. the
    defect code chosen for `defects:top`). Raises LookupError when the node has no series
    for that kind of scope."""
    if node.startswith(INTERFACE):
        link = node[len(INTERFACE):].replace("->", "→")
        return _interface_series(conn, link, hours), f"age of the {link} link (h)"
    if node == "stock_age_h":
        return _max_series(conn, "stock_age_max_h", scope, hours), "oldest TMS stock used (h)"
    if node == "order_receipt_wait_h":
        return (_max_series(conn, "order_receipt_lag_max_h", scope, hours),
                "longest ERP-to-WMS wait (h)")
    if node == "device_failures":
        events = RAW_TABLES["mes_equipment_events"]
        counts = Counter(_hour_of(hours, r["occurred_at"]) for r in _event_rows(
            conn, "mes_equipment_events", "occurred_at", scope, hours,
            events.c.event_type == "failure"))
        return {k: float(counts.get(k, 0)) for k in hours.keys}, "equipment failures per hour"
    if node in BREAKDOWNS:
        found = _defects(conn, node, scope, hours)
        during = set(problem_hours)
        codes = Counter()
        for key, code, quantity, _ in found:
            if key in during:
                codes[code] += quantity
        if not codes:
            return {}, "no defects in the problem's hours"
        code = codes.most_common(1)[0][0]
        per_hour: dict[str, float] = defaultdict(float)
        for key, found_code, quantity, _ in found:
            if found_code == code:
                per_hour[key] += quantity
        what = "defects" if node == "defects:top" else "first-article failures"
        return {k: per_hour.get(k, 0.0) for k in hours.keys}, f"{what} {code} per hour"
    metric = METRICS_BY_NAME[node]
    if metric.mart not in (TEAM_HOURLY, "delivery_hourly"):
        raise LookupError(f"{node} has no hourly mart")
    return metric_series(conn, node, scope, hours), node.replace("_", " ")


def node_records(conn: sa.Connection, node: str, scope: str, hours: Hours,
                 keys: list[str]) -> list[str]:
    """Up to MAX_RECORDS source records behind the node in the given hours, as
    'table:id' (what `perfflow trace` and an auditor follow)."""
    if not keys:
        return []
    start, end = min(hours.starts[k] for k in keys), max(hours.ends[k] for k in keys)
    lines, dispatches = RAW_TABLES["erp_order_lines"], RAW_TABLES["tms_dispatches"]
    kind, _, ident = scope.partition(":")
    line_filter = [lines.c.production_line_id == ident] if kind == "line" else []
    if node.startswith(INTERFACE):
        link = node[len(INTERFACE):].replace("->", "→")
        rows = conn.execute(sa.select(interface_health.c.partition_key,
                                      interface_health.c.evidence)
                            .where(interface_health.c.link == link,
                                   interface_health.c.partition_key.in_(keys))
                            .order_by(interface_health.c.partition_key)).all()
        return [f"ops.interface_health:{link}@{k}" for k, _ in rows][:MAX_RECORDS]
    if node in ("on_time_delivery_rate", "delivery_delay_rate"):
        query = (sa.select(lines.c.line_id).where(
            lines.c.promised_ship_at >= start, lines.c.promised_ship_at < end, *line_filter,
            sa.or_(lines.c.shipped_at.is_(None), lines.c.shipped_at > lines.c.promised_ship_at))
            .order_by(lines.c.promised_ship_at))
        return [f"raw.erp_order_lines:{i}" for i in conn.execute(query.limit(MAX_RECORDS))
                .scalars()]
    if node in ("dispatch_accuracy", "stock_age_h"):
        query = (sa.select(dispatches.c.dispatch_id)
                 .select_from(dispatches.join(lines, lines.c.line_id == dispatches.c.line_id))
                 .where(lines.c.promised_ship_at >= start, lines.c.promised_ship_at < end,
                        *line_filter,
                        *([dispatches.c.status == "short"] if node == "dispatch_accuracy"
                          else []))
                 .order_by(dispatches.c.planned_at))
        return [f"raw.tms_dispatches:{i}" for i in conn.execute(query.limit(MAX_RECORDS))
                .scalars()]
    if node == "order_receipt_wait_h":
        receipts = RAW_TABLES["wms_order_receipts"]
        query = (sa.select(receipts.c.receipt_id)
                 .where(receipts.c.received_at >= start, receipts.c.received_at < end)
                 .order_by(receipts.c.received_at))
        return [f"raw.wms_order_receipts:{i}" for i in conn.execute(query.limit(MAX_RECORDS))
                .scalars()]
    if node == "device_failures":
        events = RAW_TABLES["mes_equipment_events"]
        rows = _event_rows(conn, "mes_equipment_events", "occurred_at", scope, hours,
                           events.c.event_type == "failure", events.c.occurred_at >= start,
                           events.c.occurred_at < end)
        return [f"raw.mes_equipment_events:{r['event_id']}" for r in rows][:MAX_RECORDS]
    if node in BREAKDOWNS:
        during = set(keys)
        return [record for key, _, _, record in _defects(conn, node, scope, hours)
                if key in during][:MAX_RECORDS]
    return [f"marts.{METRICS_BY_NAME[node].mart}:{scope}@{k}" for k in keys][:MAX_RECORDS]
