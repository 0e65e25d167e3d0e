"""Which raw source records stand behind each metric, for the drill-down of `perfflow trace`.

Per metric: the raw table its numerator and denominator are counted from, an optional
scope (the process parameter of a process metric) and what a "bad" record is (a failed
inspection, a missed check) so an auditor sees the records that pulled a number down
first. The SQL fragments are constants of this table, never user input.
"""

from __future__ import annotations

from dataclasses import dataclass

from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE


@dataclass(frozen=True)
class SourceRecords:
    table: str
    scope: str | None = None
    bad: str | None = None
    bad_label: str = "bad"
    good_label: str = "others"  # what the records that are not bad are called


_PRODUCTION = SourceRecords("mes_production", bad="good_count < total_count",
                            bad_label="with units not good first time",
                            good_label="all good first time")
METRIC_SOURCES: dict[str, SourceRecords] = {
    **dict.fromkeys(("availability", "performance", "quality_ratio", "oee", "first_pass_yield",
                     "rework_ratio", "scrap_ratio", "downtime_rate", "output_per_head"),
                    _PRODUCTION),
    "first_article_pass_rate": SourceRecords("mes_first_article_inspections",
                                             bad="result = 'fail'", bad_label="failed",
                                             good_label="passed"),
    "equipment_check_completion": SourceRecords("mes_equipment_checks", bad="status = 'missed'",
                                                bad_label="missed", good_label="done"),
    "changeover_deviation": SourceRecords("mes_changeovers",
                                          bad="actual_minutes > standard_minutes",
                                          bad_label="over standard",
                                          good_label="within standard"),
    "setup_ratio": SourceRecords("mes_changeovers"),
    **dict.fromkeys(("mtbf_minutes", "mttr_minutes", "device_failures"),
                    SourceRecords("mes_equipment_events", bad="event_type = 'failure'",
                                  bad_label="failures", good_label="other events")),
    "weld_strength_cv": SourceRecords("mes_process_measurements",
                                      scope="parameter = 'weld_strength_kn'"),
    **dict.fromkeys(("voc_over_limit_frequency", "voc_over_limit_share"),
                    SourceRecords("mes_process_measurements", scope="parameter = 'voc_mg_m3'",
                                  bad="value > upper_limit", bad_label="over limit",
                                  good_label="within limit")),
    **dict.fromkeys(("work_order_closure_hours", "open_work_orders"),
                    SourceRecords("erp_work_orders", bad="status <> 'closed'",
                                  bad_label="open", good_label="closed")),
    "stage_conversion": SourceRecords("crm_opportunities"),
    "renewal_amount": SourceRecords("crm_renewals", scope="status = 'won'"),
    "ticket_resolution_hours": SourceRecords("crm_service_tickets"),
    "sales_follow_up_compliance": SourceRecords("crm_opportunities"),
}


def subject_filter(table: str, kind: str) -> str | None:
    """SQL restricting raw `table` to the subjects bound as :subjects, an expanding list
    (None: whole plant)."""
    columns = ENTITIES_BY_TABLE[table].column_names
    if kind == "plant":
        return None
    if "team_id" in columns:
        if kind == "team":
            return "r.team_id in :subjects"
        if kind == "line":
            return "r.team_id in (select team_id from raw.hr_teams where line_id in :subjects)"
    if "owner_id" in columns:
        if kind == "person":
            return "r.owner_id in :subjects"
        if kind == "team":
            return ("r.owner_id in (select employee_id from raw.hr_employees "
                    "where team_id in :subjects)")
    return None
