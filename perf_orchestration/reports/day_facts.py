"""What the line managers' stand-up looks at for one plant day, read from the warehouse.

Every section is a list of plain dicts with times in the plant's local time, so the page
(war_room.py) only lays them out. A table that does not exist yet (a fresh warehouse)
gives an empty section, never an error. Nothing here recomputes a metric: goal health
comes from the goal scores through the one health formula, red items carry the same
trace an auditor gets from `perfflow trace`.
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from perf_orchestration.alerting.effects import EFFECTIVE, JUDGED, effect_rows
from perf_orchestration.alerting.response import percentile, subject_team_map
from perf_orchestration.breakpoints.store import read_chains
from perf_orchestration.clock import BASIS, response_seconds
from perf_orchestration.config.files import plant_complaints
from perf_orchestration.customers.chart import response_speed_png
from perf_orchestration.customers.response_speed import read_evidence
from perf_orchestration.goals.health import health_rows, scores_for_day
from perf_orchestration.goals.periods import as_datetime
from perf_orchestration.goals.trace import trace_lines
from perf_orchestration.goals.tree import GoalTree
from perf_orchestration.plant_calendar import day_bounds, local_time
from perf_orchestration.sqlmodels.dialect import window_params
from perf_orchestration.text.keywords import complaint_keywords, word_cloud_png

OPEN_STATES = ("pending", "firing", "fired")


@dataclass
class DayFacts:
    day: date
    health: list[dict] = field(default_factory=list)
    red: list[dict] = field(default_factory=list)
    episodes: list[dict] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    response_times: list[dict] = field(default_factory=list)
    funnel: list[dict] = field(default_factory=list)
    alarms: list[dict] = field(default_factory=list)
    keywords: list[dict] = field(default_factory=list)
    word_cloud: str = ""  # PNG, base64
    response_speed: dict | None = None  # marts.response_speed_evidence (not per day)
    response_buckets: list[dict] = field(default_factory=list)
    response_chart: str = ""  # PNG, base64
    chains: list[dict] = field(default_factory=list)  # marts.breakpoints (latest analysis)
    tickets: int = 0
    intake_files: list[dict] = field(default_factory=list)
    workbook_rows: dict[str, list[dict]] = field(default_factory=dict)
    effects: list[dict] = field(default_factory=list)  # expected effects of the day's actions

    @property
    def effects_seen_share(self) -> float | None:
        """The share of the day's judged actions whose effect was seen."""
        judged = [e for e in self.effects if e["status"] in JUDGED]
        return sum(e["status"] == EFFECTIVE for e in judged) / len(judged) if judged else None

    def counts(self) -> dict[str, int]:
        """The sizes of the sections, for asset metadata and the demo summary."""
        return {"health_cells": len(self.health), "red_items": len(self.red),
                "open_episodes": sum(e["open"] for e in self.episodes),
                "episodes": len(self.episodes), "open_tasks": len(self.tasks),
                "funnel_stages": len(self.funnel), "alarm_devices": len(self.alarms),
                "tickets": self.tickets, "intake_files": len(self.intake_files),
                "workbook_rows": sum(len(v) for v in self.workbook_rows.values()),
                "effects_judged": sum(e["status"] in JUDGED for e in self.effects),
                "effects_seen": sum(e["status"] == EFFECTIVE for e in self.effects)}


def _hhmm(value: object) -> str:
    return "" if value is None else local_time(as_datetime(value)).strftime("%m-%d %H:%M")


class DayReader:
    """Queries of one plant day that read only the tables that exist: `window` binds the
    day's [start, end) as `:window_start` / `:window_end`."""

    def __init__(self, engine: sa.Engine, day: date):
        self.engine, self.day = engine, day
        self.start, self.end = day_bounds(day)
        self.window = window_params(engine.dialect.name, (self.start, self.end))
        inspector = sa.inspect(engine)
        self.tables = {f"{s}.{t}" for s in ("raw", "staging", "marts", "ops")
                       for t in inspector.get_table_names(schema=s)}

    def rows(self, needs: tuple[str, ...], sql: str, **params) -> list[dict]:
        if not set(needs) <= self.tables:
            return []
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def day_facts(engine: sa.Engine, tree: GoalTree, day: date) -> DayFacts:
    """Everything on the war-room page of the local date `day`."""
    reader = DayReader(engine, day)
    facts = DayFacts(day)
    names = {r["employee_id"]: r["name"] for r in reader.rows(
        ("raw.hr_employees",), "select employee_id, name from raw.hr_employees")}
    if "marts.goal_scores" in reader.tables:
        facts.health = health_rows(engine, tree, run_id="", scores=scores_for_day(engine, day))
        facts.red = [{**r, "trace": trace_lines(engine, tree, "marts.goal_scores",
                                                f"{r['goal_id']}@{r['period']}")}
                     for r in facts.health if r["status"] == "red"]
    facts.episodes = _episodes(reader, names)
    facts.tasks = _tasks(reader, names, {e["episode_id"] for e in facts.episodes})
    facts.response_times = _response_times(reader, facts.episodes)
    facts.effects = _effects(reader, facts.episodes)
    facts.funnel = reader.rows(
        ("marts.sales_funnel_daily",),
        "select stage, reached_count, reached_amount, previous_stage, "
        "previous_stage_reached_count from marts.sales_funnel_daily "
        "where local_date = :day order by stage_order", day=day.isoformat())
    facts.alarms = _alarms(reader)
    tickets = reader.rows(
        ("raw.crm_service_tickets",),
        "select ticket_id, category, subject from raw.crm_service_tickets "
        "where opened_at >= :window_start and opened_at < :window_end order by opened_at",
        **reader.window)
    facts.tickets = len(tickets)
    facts.keywords = complaint_keywords(tickets, plant_complaints())
    cloud = word_cloud_png(facts.keywords)
    facts.word_cloud = base64.b64encode(cloud).decode("ascii") if cloud else ""
    facts.chains = read_chains(engine)
    if "marts.response_speed_evidence" in reader.tables:
        facts.response_speed, facts.response_buckets = read_evidence(engine)
        chart = facts.response_speed and response_speed_png(facts.response_speed,
                                                            facts.response_buckets)
        facts.response_chart = base64.b64encode(chart).decode("ascii") if chart else ""
    facts.intake_files = [{**f, "received": _hhmm(f["intake_at"])} for f in reader.rows(
        ("ops.file_intake",),
        "select path, kind, status, reason, sheets_read, rows_landed, rows_quarantined, "
        "total_check, intake_at from ops.file_intake where intake_at >= :window_start "
        "order by intake_at, path", **reader.window)]
    facts.workbook_rows = workbook_rows(reader)
    return facts


def workbook_rows(reader: DayReader) -> dict[str, list[dict]]:
    """Per workbook kind with a team and a report date, the rows the departments reported
    for the day, each with its file, sheet and row (tables named by the intake config)."""
    from perf_orchestration.workbooks.config import PROVENANCE

    out = {}
    for table in sorted(t for t in reader.tables if t.startswith("raw.excel_")):
        columns = [c["name"] for c in sa.inspect(reader.engine).get_columns(
            table.split(".")[1], schema="raw")]
        if not {"team", "report_date"} <= set(columns):
            continue
        shown = [c for c in columns if c not in PROVENANCE and c not in (
            "ingestion_run_id", "ingested_at", "report_date")]
        rows = reader.rows((table,), f"select {', '.join(shown)}, source_record_id from "
                           f"{table} where report_date = :day order by team, source_record_id",
                           day=reader.day.isoformat())
        if rows:
            out[table.removeprefix("raw.excel_")] = rows
    return out


def _episodes(reader: DayReader, names: dict) -> list[dict]:
    """The day's episodes, with who was told: those that started during the day, and those
    of the wall clock still pending or firing, or resolved during it, that started before
    (an event rule's firing is an instant of its day; a replay has no day but its own)."""
    episodes = reader.rows(
        ("ops.alert_episodes",),
        "select episode_id, rule_id, subject, state, episode_start, signal_at, detected_at, "
        "delivered_at, acknowledged_by, resolved_at, value, threshold, clock "
        "from ops.alert_episodes where episode_start < :window_end and "
        "(episode_start >= :window_start or (clock = 'wall' and "
        "(state in ('pending', 'firing') or resolved_at >= :window_start))) "
        "order by episode_start", **reader.window)
    owners: dict[str, list[str]] = {}
    for r in reader.rows(("ops.action_log",),
                         "select episode_id, recipient_id, recipient_role, status "
                         "from ops.action_log where kind = 'fire' order by recipient_role"):
        who = f"{names.get(r['recipient_id'], r['recipient_id'])} ({r['recipient_role']})"
        if who not in owners.setdefault(r["episode_id"], []):
            owners[r["episode_id"]].append(who)
    out = []
    for e in episodes:
        seconds = response_seconds(e)
        out.append({**e, "open": e["state"] in OPEN_STATES, "basis": BASIS[e["clock"]],
                    "started": _hhmm(e["episode_start"]), "resolved": _hhmm(e["resolved_at"]),
                    "owners": owners.get(e["episode_id"], []), "response_seconds": seconds})
    return out


def _response_times(reader: DayReader, episodes: list[dict]) -> list[dict]:
    """Per rule, team and basis: the day's episodes and their response p50 / p95, each on
    its own clock (docs/alerting.md)."""
    if not episodes:
        return []
    with reader.engine.connect() as conn:
        teams = subject_team_map(conn, sorted({e["subject"] for e in episodes}))
    groups: dict[tuple[str, str, str], list[float | None]] = {}
    for e in episodes:
        key = (e["rule_id"], teams[e["subject"]], e["basis"])
        groups.setdefault(key, []).append(e["response_seconds"])
    return [{"rule_id": rule, "team_id": team, "basis": basis, "episodes": len(values),
             "delivered_episodes": sum(v is not None for v in values),
             "p50_s": percentile([v for v in values if v is not None], 0.5),
             "p95_s": percentile([v for v in values if v is not None], 0.95)}
            for (rule, team, basis), values in sorted(groups.items())]


def _effects(reader: DayReader, episodes: list[dict]) -> list[dict]:
    """The expected effects of the day's episodes' actions, each window's value in plant
    time (ops.action_effects; docs/alerting.md, "Expected effects")."""
    if "ops.action_effects" not in reader.tables or not episodes:
        return []
    return [{**r, "target": f"{r['target_op']} {r['target_value']:g}",
             "seen": _hhmm(r["effect_seen_at"]), "until": _hhmm(r["window_end"]),
             "values": [(_hhmm(at), v) for at, v in r["values_seen"].items()]}
            for r in effect_rows(reader.engine, [e["episode_id"] for e in episodes])]


def _tasks(reader: DayReader, names: dict, episodes: set[str]) -> list[dict]:
    """Tasks of the day's episodes, and tasks open at some time of the day."""
    rows = [t for t in reader.rows(
        ("ops.tasks",),
        "select task_id, episode_id, owner_id, owner_role, title, status, created_at, due_at, "
        "done_at, case when created_at < :window_end and (done_at is null or "
        "done_at >= :window_start) then 1 else 0 end as in_day from ops.tasks "
        "order by due_at, task_id", **reader.window) if t["in_day"] or t["episode_id"] in episodes]
    return [{**t, "owner": f"{names.get(t['owner_id'], t['owner_id'])} ({t['owner_role']})",
             "due": _hhmm(t["due_at"]), "overdue": t["status"] == "open"
             and as_datetime(t["due_at"]) < reader.end} for t in rows]


def _alarms(reader: DayReader) -> list[dict]:
    """Equipment failures of the day per device, most failures first."""
    rows = reader.rows(
        ("raw.mes_equipment_events",),
        "select event_id, device_id, device_type, station_id, team_id, occurred_at, "
        "failure_code from raw.mes_equipment_events where event_type = 'failure' and "
        "occurred_at >= :window_start and occurred_at < :window_end order by occurred_at",
        **reader.window)
    devices: dict[str, dict] = {}
    for r in rows:
        d = devices.setdefault(r["device_id"], {
            "device_id": r["device_id"], "device_type": r["device_type"],
            "station_id": r["station_id"], "team_id": r["team_id"], "failures": 0,
            "codes": Counter(), "events": [], "first": _hhmm(r["occurred_at"])})
        d["failures"] += 1
        d["codes"][r["failure_code"] or "unspecified"] += 1
        d["events"].append(r["event_id"])
        d["last"] = _hhmm(r["occurred_at"])
    return sorted(({**d, "codes": ", ".join(f"{c} x{n}" for c, n in d["codes"].most_common())}
                   for d in devices.values()), key=lambda d: (-d["failures"], d["device_id"]))
