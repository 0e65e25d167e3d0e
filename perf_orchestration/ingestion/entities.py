"""The source entities: one table that the simulator, the quality suites, the raw
tables and the ingestion assets are all built from.

Keeping the contract of every source record in one place means a new column is
added once and the simulator, the Great Expectations suite and the DDL follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["str", "int", "float", "datetime", "date"]

DEFECT_CODES = (
    "D01-POROSITY", "D02-CRACK", "D03-UNDERCUT", "D04-SPATTER", "D05-RUN",
    "D06-ORANGE-PEEL", "D07-THIN-FILM", "D08-DIMENSION", "D09-BURR",
    "D10-MISSING-PART", "D11-TORQUE", "D12-SCRATCH",
)
FAILURE_CODES = (
    "F01-SERVO", "F02-HYDRAULIC", "F03-SENSOR", "F04-WIRE-FEED", "F05-NOZZLE",
    "F06-CONVEYOR", "F07-PLC", "F08-SPINDLE",
)
ROLES = (
    "operator", "team_leader", "qa_engineer", "production_planner",
    "maintenance_lead", "maintenance_technician", "workshop_director",
    "account_manager", "sales_rep", "engineer", "hr_partner", "manager",
)
COURSES = (
    "mes-fault-codes", "lean-basics", "weld-quality", "paint-process", "crm-proposals",
    "safety-induction", "product-catalogue",
)
MENTOR_TOPICS = ("check-in", "skills", "safety", "quality", "customer")
ACTIVITY_KINDS = ("call", "visit", "email", "follow_up_note")
LINE_TYPES = ("welding", "painting", "assembly", "machining", "technical_centre", "office")


@dataclass(frozen=True)
class Column:
    """One field of a source record, with the rules its values must follow."""

    name: str
    type: ColumnType
    required: bool = True
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Entity:
    """A source system's record type: where it is served and what a good row is."""

    system: str
    name: str
    description: str
    id_column: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    event_time: str | None
    # (column_a, column_b): a >= b must hold row by row.
    ordered_pairs: tuple[tuple[str, str], ...] = field(default=())

    @property
    def table(self) -> str:
        return f"{self.system}_{self.name}"

    @property
    def path(self) -> str:
        return f"/{self.system}/{self.name}"

    @property
    def partitioned(self) -> bool:
        return self.event_time is not None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name: str, type_: ColumnType, required: bool = True, **rules) -> Column:
    return Column(name, type_, required, **rules)


_UPDATED = _c("updated_at", "datetime")

ENTITIES: tuple[Entity, ...] = (
    Entity(
        "mes", "production", "Output per station and hour: planned and run minutes, counts.",
        "production_id",
        (
            _c("production_id", "str"), _c("station_id", "str"), _c("team_id", "str"),
            _c("hour_start", "datetime"),
            _c("planned_minutes", "float", min=0, max=60),
            _c("run_minutes", "float", min=0, max=60),
            _c("total_count", "int", min=0), _c("good_count", "int", min=0),
            _c("rework_count", "int", min=0), _c("scrap_count", "int", min=0),
            _c("ideal_cycle_seconds", "float", min=0.1, max=3600),
            # who ran the station that hour, and the mentor beside a new hire still learning
            _c("operator_id", "str", required=False), _c("mentor_id", "str", required=False),
            _UPDATED,
        ),
        key=("station_id", "hour_start"), event_time="hour_start",
        ordered_pairs=(("planned_minutes", "run_minutes"), ("total_count", "good_count")),
    ),
    Entity(
        "mes", "first_article_inspections",
        "First-article inspections after a start-up or changeover, pass or fail.",
        "inspection_id",
        (
            _c("inspection_id", "str"), _c("station_id", "str"), _c("team_id", "str"),
            _c("inspected_at", "datetime"), _c("product", "str"),
            _c("result", "str", allowed=("pass", "fail")),
            _c("defect_code", "str", required=False, allowed=DEFECT_CODES),
            _c("inspector_id", "str"), _UPDATED,
        ),
        key=("inspection_id",), event_time="inspected_at",
    ),
    Entity(
        "mes", "equipment_events", "Equipment state changes, failures and repairs.",
        "event_id",
        (
            _c("event_id", "str"), _c("device_id", "str"), _c("device_type", "str"),
            _c("station_id", "str"), _c("team_id", "str"), _c("occurred_at", "datetime"),
            _c("event_type", "str", allowed=("state_change", "failure", "repair")),
            _c("state", "str", allowed=("running", "idle", "setup", "down")),
            _c("failure_code", "str", required=False, allowed=FAILURE_CODES),
            _UPDATED,
        ),
        key=("event_id",), event_time="occurred_at",
    ),
    Entity(
        "mes", "equipment_checks", "Scheduled equipment checks and whether they were done.",
        "check_id",
        (
            _c("check_id", "str"), _c("device_id", "str"), _c("team_id", "str"),
            _c("due_at", "datetime"), _c("completed_at", "datetime", required=False),
            _c("status", "str", allowed=("completed", "missed")),
            _c("result", "str", required=False, allowed=("ok", "issue")),
            _UPDATED,
        ),
        key=("check_id",), event_time="due_at",
    ),
    Entity(
        "mes", "changeovers", "Product changeovers with standard and actual minutes.",
        "changeover_id",
        (
            _c("changeover_id", "str"), _c("station_id", "str"), _c("team_id", "str"),
            _c("started_at", "datetime"), _c("from_product", "str"), _c("to_product", "str"),
            _c("standard_minutes", "float", min=0, max=600),
            _c("actual_minutes", "float", min=0, max=1440), _UPDATED,
        ),
        key=("changeover_id",), event_time="started_at",
    ),
    Entity(
        "mes", "planned_stops",
        "Planned changeovers and maintenance from the production schedule: a station or a "
        "whole line stopped on purpose, from when to when.",
        "stop_id",
        (
            _c("stop_id", "str"), _c("line_id", "str"), _c("team_id", "str", required=False),
            _c("station_id", "str", required=False),
            _c("kind", "str", allowed=("changeover", "maintenance")),
            _c("planned_start", "datetime"), _c("planned_end", "datetime"), _UPDATED,
        ),
        key=("stop_id",), event_time="planned_start",
    ),
    Entity(
        "mes", "process_measurements",
        "Line-specific process readings: weld strength on welding lines, VOC on painting.",
        "measurement_id",
        (
            _c("measurement_id", "str"), _c("station_id", "str"), _c("team_id", "str"),
            _c("measured_at", "datetime"),
            _c("parameter", "str", allowed=("weld_strength_kn", "voc_mg_m3")),
            _c("value", "float", min=0), _c("upper_limit", "float", required=False, min=0),
            _UPDATED,
        ),
        key=("measurement_id",), event_time="measured_at",
    ),
    Entity(
        "qms", "defects", "Defects found by quality control, with their defect codes.",
        "defect_id",
        (
            _c("defect_id", "str"), _c("station_id", "str"), _c("team_id", "str"),
            _c("detected_at", "datetime"), _c("defect_code", "str", allowed=DEFECT_CODES),
            _c("quantity", "int", min=1),
            _c("severity", "str", allowed=("minor", "major", "critical")),
            _c("disposition", "str", allowed=("rework", "scrap", "use_as_is")),
            _UPDATED,
        ),
        key=("defect_id",), event_time="detected_at",
    ),
    Entity(
        "erp", "work_orders", "Work orders with their release and closure times.",
        "work_order_id",
        (
            _c("work_order_id", "str"), _c("team_id", "str"), _c("product", "str"),
            _c("quantity", "int", min=1), _c("released_at", "datetime"),
            _c("closed_at", "datetime", required=False),
            _c("status", "str", allowed=("released", "in_progress", "closed")),
            _UPDATED,
        ),
        key=("work_order_id",), event_time="released_at",
    ),
    Entity(
        "erp", "order_lines",
        "Sales order lines with the promised and the actual ship time, the line that makes "
        "the item and the TMS dispatch that carried it.",
        "line_id",
        (
            _c("line_id", "str"), _c("order_id", "str"), _c("account_id", "str"),
            _c("product", "str"), _c("production_line_id", "str"),
            _c("quantity", "int", min=1), _c("released_at", "datetime"),
            _c("promised_ship_at", "datetime"), _c("shipped_at", "datetime", required=False),
            _c("dispatch_id", "str", required=False),
            _c("status", "str", allowed=("open", "shipped")), _UPDATED,
        ),
        key=("line_id",), event_time="promised_ship_at",
    ),
    Entity(
        "wms", "order_receipts",
        "Order lines as the WMS received them from the ERP for picking (erp->wms link).",
        "receipt_id",
        (
            _c("receipt_id", "str"), _c("line_id", "str"), _c("released_at", "datetime"),
            _c("received_at", "datetime"), _UPDATED,
        ),
        key=("receipt_id",), event_time="received_at",
    ),
    Entity(
        "wms", "stock_movements", "Stock movements in the warehouse: picks for order lines.",
        "movement_id",
        (
            _c("movement_id", "str"), _c("product", "str"),
            _c("kind", "str", allowed=("pick", "receipt", "adjustment")),
            _c("quantity", "int"), _c("line_id", "str", required=False),
            _c("moved_at", "datetime"), _UPDATED,
        ),
        key=("movement_id",), event_time="moved_at",
    ),
    Entity(
        "wms", "stock_snapshots",
        "The stock on hand per product that the WMS publishes to the TMS every hour.",
        "snapshot_id",
        (
            _c("snapshot_id", "str"), _c("product", "str"), _c("on_hand", "int", min=0),
            _c("taken_at", "datetime"), _UPDATED,
        ),
        key=("snapshot_id",), event_time="taken_at",
    ),
    Entity(
        "tms", "stock_receipts",
        "The WMS stock snapshots as the TMS received them (wms->tms link): what it knows.",
        "receipt_id",
        (
            _c("receipt_id", "str"), _c("snapshot_id", "str"), _c("product", "str"),
            _c("on_hand", "int", min=0), _c("taken_at", "datetime"),
            _c("received_at", "datetime"), _UPDATED,
        ),
        key=("receipt_id",), event_time="received_at",
    ),
    Entity(
        "tms", "dispatches",
        "Dispatches the TMS planned for order lines, on the stock it last received: planned "
        "and loaded quantity, and when that stock was taken.",
        "dispatch_id",
        (
            _c("dispatch_id", "str"), _c("line_id", "str"), _c("product", "str"),
            _c("planned_quantity", "int", min=1), _c("loaded_quantity", "int", min=0),
            _c("planned_at", "datetime"), _c("stock_taken_at", "datetime", required=False),
            _c("status", "str", allowed=("loaded", "short")), _UPDATED,
        ),
        key=("dispatch_id",), event_time="planned_at",
        ordered_pairs=(("planned_quantity", "loaded_quantity"),),
    ),
    Entity(
        "crm", "opportunities", "Opportunity stage changes, one row per stage reached.",
        "change_id",
        (
            _c("change_id", "str"), _c("opportunity_id", "str"), _c("account_id", "str"),
            _c("owner_id", "str"),
            _c("stage", "str",
               allowed=("lead", "qualified", "proposal", "negotiation", "won", "lost")),
            _c("amount", "float", min=0), _c("channel", "str"), _c("changed_at", "datetime"),
            _UPDATED,
        ),
        key=("opportunity_id", "stage"), event_time="changed_at",
    ),
    Entity(
        "crm", "renewals", "Contract renewals closed in the CRM.",
        "renewal_id",
        (
            _c("renewal_id", "str"), _c("account_id", "str"), _c("contract_id", "str"),
            _c("owner_id", "str"), _c("closed_at", "datetime"), _c("amount", "float", min=0),
            _c("status", "str", allowed=("won", "lost")), _UPDATED,
        ),
        key=("renewal_id",), event_time="closed_at",
    ),
    Entity(
        "crm", "service_tickets", "Customer service tickets with open and resolve times.",
        "ticket_id",
        (
            _c("ticket_id", "str"), _c("account_id", "str"), _c("opened_at", "datetime"),
            _c("resolved_at", "datetime", required=False),
            _c("priority", "str", allowed=("low", "medium", "high")),
            _c("category", "str"), _c("subject", "str"), _UPDATED,
        ),
        key=("ticket_id",), event_time="opened_at",
    ),
    Entity(
        "hr", "teams", "Teams and technical centres with their line type and workshop.",
        "team_id",
        (
            _c("team_id", "str"), _c("name", "str"), _c("line_id", "str"),
            _c("line_type", "str", allowed=LINE_TYPES), _c("workshop", "str"), _UPDATED,
        ),
        key=("team_id",), event_time=None,
    ),
    Entity(
        "hr", "employees", "The HR roster: people, their team, role, shift and mentor.",
        "employee_id",
        (
            _c("employee_id", "str"), _c("name", "str"), _c("team_id", "str"),
            _c("role", "str", allowed=ROLES),
            _c("shift", "str", allowed=("day", "night", "office")),
            _c("email", "str"), _c("hired_at", "datetime"),
            _c("mentor_id", "str", required=False), _UPDATED,
        ),
        key=("employee_id",), event_time=None,
    ),
    Entity(
        "hr", "trainings", "Trainings completed by people, from the HR learning records.",
        "training_id",
        (
            _c("training_id", "str"), _c("employee_id", "str"),
            _c("course", "str", allowed=COURSES), _c("completed_at", "datetime"),
            _c("score", "float", required=False, min=0, max=100), _UPDATED,
        ),
        key=("training_id",), event_time=None,
    ),
    Entity(
        "crm", "proposals",
        "Customer proposals with the promised and the actual sending time, per owner.",
        "proposal_id",
        (
            _c("proposal_id", "str"), _c("account_id", "str"), _c("owner_id", "str"),
            _c("due_at", "datetime"), _c("sent_at", "datetime", required=False), _UPDATED,
        ),
        key=("proposal_id",), event_time=None,
    ),
    Entity(
        "hr", "feedback_responses",
        "Answers to feedback requests (forms), each naming its request and form version.",
        "response_id",
        (
            _c("response_id", "str"), _c("request_id", "str"), _c("form_id", "str"),
            _c("form_version", "str"), _c("respondent_id", "str"),
            _c("answered_at", "datetime"), _c("answers", "str"), _UPDATED,
        ),
        key=("response_id",), event_time=None,
    ),
    Entity(
        "hr", "mentor_feedback",
        "Feedback a mentor gave a new hire, one row per entry, from the HR onboarding tool.",
        "feedback_id",
        (
            _c("feedback_id", "str"), _c("mentor_id", "str"), _c("mentee_id", "str"),
            _c("given_at", "datetime"),
            _c("topic", "str", required=False, allowed=MENTOR_TOPICS), _UPDATED,
        ),
        key=("feedback_id",), event_time=None,
    ),
    Entity(
        "crm", "contracts",
        "The contract book: each customer contract with its annual value, owner, end of term "
        "and renewal decision (renewed, churned, or open while undecided).",
        "contract_id",
        (
            _c("contract_id", "str"), _c("account_id", "str"), _c("owner_id", "str"),
            _c("annual_value", "float", min=0), _c("term_end", "datetime"),
            _c("decided_at", "datetime", required=False),
            _c("outcome", "str", allowed=("renewed", "churned", "open")), _UPDATED,
        ),
        key=("contract_id",), event_time=None,
    ),
    Entity(
        "crm", "ticket_responses",
        "The CRM service history: per service ticket, the contract it was raised under, when "
        "it was opened and when the customer first got an answer.",
        "ticket_id",
        (
            _c("ticket_id", "str"), _c("account_id", "str"),
            _c("contract_id", "str", required=False), _c("opened_at", "datetime"),
            _c("first_response_at", "datetime", required=False),
            _c("responder_id", "str", required=False), _UPDATED,
        ),
        key=("ticket_id",), event_time=None,
    ),
    Entity(
        "crm", "activities",
        "CRM activities of account managers: calls, visits, e-mails (with the template used) "
        "and follow-up notes (with the catalogue phrases used, ';'-separated); signal_at is "
        "the customer signal an activity follows up.",
        "activity_id",
        (
            _c("activity_id", "str"), _c("owner_id", "str"), _c("account_id", "str"),
            _c("kind", "str", allowed=ACTIVITY_KINDS), _c("occurred_at", "datetime"),
            _c("template_id", "str", required=False), _c("phrases", "str", required=False),
            _c("signal_at", "datetime", required=False), _UPDATED,
        ),
        key=("activity_id",), event_time=None,
        ordered_pairs=(("occurred_at", "signal_at"),),
    ),
    Entity(
        "crm", "template_usage",
        "Template usage of the IM/e-mail system, as the CRM syncs it: one row per message a "
        "person sent to a customer, its channel and the template used (none when written "
        "freely).",
        "message_id",
        (
            _c("message_id", "str"), _c("sender_id", "str"),
            _c("channel", "str", allowed=("im", "email")), _c("sent_at", "datetime"),
            _c("template_id", "str", required=False), _UPDATED,
        ),
        key=("message_id",), event_time=None,
    ),
    Entity(
        "mes", "maintenance_log",
        "The MES maintenance log: per repair job, the technician, the device, the failure "
        "code handled, start and finish, and the steps taken (';'-separated).",
        "job_id",
        (
            _c("job_id", "str"), _c("technician_id", "str"), _c("device_id", "str"),
            _c("failure_code", "str", allowed=FAILURE_CODES), _c("started_at", "datetime"),
            _c("finished_at", "datetime"), _c("steps", "str", required=False), _UPDATED,
        ),
        key=("job_id",), event_time=None,
        ordered_pairs=(("finished_at", "started_at"),),
    ),
)

ENTITIES_BY_TABLE: dict[str, Entity] = {e.table: e for e in ENTITIES}
SYSTEMS: tuple[str, ...] = tuple(dict.fromkeys(e.system for e in ENTITIES))


def entity(system: str, name: str) -> Entity:
    """The entity served at /<system>/<name>; KeyError names what is known."""
    try:
        return ENTITIES_BY_TABLE[f"{system}_{name}"]
    except KeyError:
        known = ", ".join(e.path for e in ENTITIES)
        raise KeyError(f"unknown source entity /{system}/{name} (known: {known})") from None
