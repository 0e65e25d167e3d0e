"""Deterministic generation of every source table for a scenario.

Pure: no global random state, no wall-clock time, no I/O, so the same scenario
yields the same dataset byte for byte and tests can assert exact facts about it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from perf_orchestration.ingestion.entities import ENTITIES, Entity
from perf_orchestration.scenarios.config import Scenario
from perf_orchestration.simulator import generate_business as biz
from perf_orchestration.simulator import generate_delivery as delivery
from perf_orchestration.simulator import generate_history as history
from perf_orchestration.simulator import generate_mes as mes
from perf_orchestration.simulator import generate_onboarding as onboarding
from perf_orchestration.simulator import generate_people as people
from perf_orchestration.simulator import generate_work_logs as work_logs
from perf_orchestration.simulator.common import iso, parse_time, utc
from perf_orchestration.simulator.dataset import Dataset, FaultRecord, Record, RowMeta
from perf_orchestration.simulator.faults import apply_data_faults
from perf_orchestration.simulator.names import build_roster, team_rows

__all__ = ["Dataset", "FaultRecord", "RowMeta", "generate_dataset", "literal_rows", "row_meta"]


def generate_dataset(scenario: Scenario) -> Dataset:
    """Every entity's records for `scenario`, with the scenario's data faults applied."""
    roster = build_roster(scenario)
    floor = mes.Shopfloor(scenario, roster)
    production, defects = mes.production_and_defects(floor)
    onboarding.add_crew(scenario, roster, production)
    contracts, ticket_responses = history.contracts_and_responses(scenario, roster)
    generated: dict[str, list[dict[str, Any]]] = {
        "mes_production": production,
        "mes_first_article_inspections": mes.first_article_inspections(floor),
        "mes_equipment_events": mes.equipment_events(floor),
        "mes_equipment_checks": mes.equipment_checks(floor),
        "mes_changeovers": (changeover_rows := mes.changeovers(floor)),
        "mes_planned_stops": mes.planned_stops(floor, changeover_rows),
        "mes_process_measurements": mes.process_measurements(floor),
        "qms_defects": defects,
        "erp_work_orders": biz.work_orders(scenario),
        "crm_opportunities": (biz.opportunities(scenario, roster)
                              + onboarding.first_deals(scenario, roster)),
        "crm_renewals": biz.renewals(scenario, roster),
        "crm_service_tickets": biz.service_tickets(scenario),
        "hr_teams": team_rows(scenario),
        "hr_employees": roster.rows,
        "hr_trainings": (people.trainings(scenario, roster)
                         + onboarding.trainings(scenario, roster)),
        "crm_proposals": people.proposals(scenario, roster),
        "hr_feedback_responses": [],
        "hr_mentor_feedback": onboarding.mentor_feedback(scenario, roster),
        **delivery.delivery_chain(scenario),
        "crm_contracts": contracts,
        "crm_ticket_responses": ticket_responses,
        **work_logs.work_logs(scenario, roster),
    }
    tables: dict[str, list[Record]] = {}
    meta: dict[str, list[RowMeta]] = {}
    literal: set[str] = set()
    for ent in ENTITIES:
        rows = scenario.records.get(f"{ent.system}/{ent.name}")
        if rows is not None:
            literal.add(ent.table)
            records = literal_rows(rows, scenario.tz)
        else:
            records = [_served(ent, row, scenario.tz) for row in generated[ent.table]]
        tables[ent.table] = records
        meta[ent.table] = [row_meta(ent, r, scenario) for r in records]
    fault_log = apply_data_faults(scenario, tables, meta, skip=literal)
    for table in tables:
        order = sorted(range(len(tables[table])),
                       key=lambda i, m=meta[table]: (m[i].updated_at, m[i].row_id))
        tables[table] = [tables[table][i] for i in order]
        meta[table] = [meta[table][i] for i in order]
    return Dataset(scenario=scenario.name, tables=tables, meta=meta, fault_log=fault_log)


def _served(ent: Entity, row: dict[str, Any], tz: ZoneInfo) -> Record:
    """The record as a source serves it: every column, in entity order, JSON-ready."""
    return {c.name: _json_value(row.get(c.name), tz) for c in ent.columns}


def _json_value(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return iso(value if value.tzinfo else value.replace(tzinfo=tz), tz)
    if isinstance(value, date):
        return value.isoformat()
    return value


def literal_rows(rows: list[dict[str, Any]], tz: ZoneInfo) -> list[Record]:
    """Literal scenario records as served: unchanged except YAML datetimes become ISO strings."""
    return [{k: _json_value(v, tz) for k, v in row.items()} if isinstance(row, dict) else row
            for row in rows]


def row_meta(ent: Entity, record: Any, scenario: Scenario, incident: str | None = None,
             default_updated: datetime | None = None) -> RowMeta:
    """Where a record is filed, read from its own fields.

    A missing or unreadable updated_at falls back to the event time, then to
    `default_updated` (or the scenario start); an unreadable event time falls back
    to updated_at, so every row lands in some window and can always be fetched.
    """
    fields = record if isinstance(record, dict) else {}
    row_id = fields.get(ent.id_column)
    event = parse_time(fields.get(ent.event_time), scenario.tz) if ent.event_time else None
    updated = (parse_time(fields.get("updated_at"), scenario.tz) or event
               or default_updated or utc(scenario.start))
    if ent.event_time and event is None:
        event = updated
    return RowMeta("" if row_id is None else str(row_id), event, updated, incident)
