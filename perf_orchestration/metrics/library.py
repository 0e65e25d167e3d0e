"""The plant's metrics: one table that line thresholds, rules and goals all refer to.

Each metric names the mart and columns that hold it, its numerator and denominator
(every mart row carries both, so a rollup divides summed quantities instead of
averaging ratios), whether higher or lower is better, and whether it is an ISO 22400-2
KPI or a plant-specific metric. docs/metrics.md explains each formula and its NULL rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Label = Literal["iso", "plant"]
Direction = Literal["higher", "lower"]

TEAM_HOURLY = "team_hourly_quality"
DELIVERY_HOURLY = "delivery_hourly"  # per production line and hour; delivery_daily per day
# Marts that carry the team-hour quantities summed and every ratio recomputed from them.
TEAM_ROLLUPS = ("team_daily_quality", "team_shift_quality", "team_weekly_quality",
                "line_daily_quality", "plant_daily_quality")


@dataclass(frozen=True)
class Metric:
    """One metric: where its value, numerator and denominator live, and how to read it.

    `column` is the mart column holding the value; `where` restricts the mart's rows
    (e.g. one process parameter); `null_when_zero` lists other columns whose 0 makes the
    metric NULL besides its denominator. A metric without a denominator is a count or a sum.
    """

    name: str
    label: Label
    iso_name: str | None
    mart: str
    numerator: str
    denominator: str | None
    direction: Direction
    unit: str
    description: str
    column: str = ""
    where: tuple[tuple[str, str], ...] = ()
    rollup_marts: tuple[str, ...] = ()
    line_types: tuple[str, ...] = field(default=())
    null_when_zero: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.column:
            object.__setattr__(self, "column", self.name)
        if (self.label == "iso") != bool(self.iso_name):
            raise ValueError(f"metric {self.name}: an ISO metric needs its ISO name, "
                             "a plant metric has none")

    @property
    def marts(self) -> tuple[str, ...]:
        """Every mart holding the metric: its own grain first, then the rollups."""
        return (self.mart, *self.rollup_marts)

    @property
    def is_ratio(self) -> bool:
        """A share between 0 and 1 (bands of such metrics must lie in [0, 1])."""
        return self.unit == "ratio"


def _team(name: str, label: Label, iso_name: str | None, numerator: str, denominator: str,
          direction: Direction, description: str, unit: str = "ratio",
          null_when_zero: tuple[str, ...] = ()) -> Metric:
    return Metric(name, label, iso_name, TEAM_HOURLY, numerator, denominator, direction, unit,
                  description, rollup_marts=TEAM_ROLLUPS, null_when_zero=null_when_zero)


METRICS: tuple[Metric, ...] = (
    _team("availability", "iso", "Availability", "run_minutes", "planned_minutes", "higher",
          "Actual production time over planned busy time."),
    _team("performance", "iso", "Effectiveness", "ideal_minutes", "run_minutes", "higher",
          "Ideal time of the units produced (units x ideal cycle time) over actual "
          "production time."),
    _team("quality_ratio", "iso", "Quality ratio", "good_count", "total_count", "higher",
          "Good units over units produced."),
    _team("oee", "iso", "OEE index", "good_ideal_minutes", "planned_minutes", "higher",
          "Ideal time of the good units over planned busy time; equals availability x "
          "performance x quality ratio when the units share one ideal cycle time."),
    _team("first_pass_yield", "iso", "First pass yield", "good_count", "total_count", "higher",
          "Units good the first time (reworked and scrapped units excluded) over units "
          "produced."),
    _team("rework_ratio", "iso", "Rework ratio", "rework_count", "total_count", "lower",
          "Reworked units over units produced."),
    _team("scrap_ratio", "iso", "Scrap ratio", "scrap_count", "total_count", "lower",
          "Scrapped units over units produced."),
    _team("setup_ratio", "iso", "Setup ratio", "changeover_actual_minutes", "run_minutes",
          "lower", "Changeover (setup) minutes over actual production time."),
    _team("downtime_rate", "plant", None, "downtime_minutes", "planned_minutes", "lower",
          "Planned minutes not run over planned busy time (1 - availability); one of the "
          "team's 'three rates and one efficiency'."),
    _team("output_per_head", "plant", None, "good_count", "person_hours_on_shift", "higher",
          "Good units per person-hour of the team's people on shift; NULL when nothing was "
          "planned (a planned stop is not judged).",
          unit="good units per person-hour", null_when_zero=("planned_minutes",)),
    _team("first_article_pass_rate", "plant", None, "fai_passed", "fai_total", "higher",
          "First-article inspections passed over inspections."),
    _team("equipment_check_completion", "plant", None, "checks_completed", "checks_due",
          "higher", "Equipment checks completed over checks due."),
    _team("changeover_deviation", "plant", None, "changeover_excess_minutes",
          "changeover_standard_minutes", "lower",
          "Changeover minutes over standard, relative to standard: (actual - standard) / "
          "standard; negative when changeovers beat the standard.", unit="fraction"),
    Metric("mtbf_minutes", "iso", "Mean operating time between failures (MTBF)",
           "device_daily_reliability", "operating_minutes", "failures", "higher", "minutes",
           "Operating minutes (station planned minutes - repair minutes) per failure."),
    Metric("mttr_minutes", "iso", "Mean time to restoration (MTTR)",
           "device_daily_reliability", "repair_minutes", "repaired_failures", "lower",
           "minutes", "Minutes from failure to repair, per repaired failure."),
    Metric("device_failures", "plant", None, "device_daily_reliability", "failures", None,
           "lower", "failures", "Failures of a device on a local date.", column="failures"),
    Metric("weld_strength_cv", "plant", None, "line_process_quality", "value_stddev",
           "value_mean", "lower", "ratio",
           "Coefficient of variation of weld strength: sample standard deviation over mean.",
           column="value_cv", where=(("parameter", "weld_strength_kn"),),
           line_types=("welding",)),
    Metric("voc_over_limit_frequency", "plant", None, "line_process_quality",
           "over_limit_count", "limited_hour_count", "lower", "readings per hour",
           "VOC readings above their upper limit per measured hour.",
           column="over_limit_per_hour", where=(("parameter", "voc_mg_m3"),),
           line_types=("painting",)),
    Metric("voc_over_limit_share", "plant", None, "line_process_quality", "over_limit_count",
           "limited_reading_count", "lower", "ratio",
           "Share of VOC readings above their upper limit.", column="over_limit_share",
           where=(("parameter", "voc_mg_m3"),), line_types=("painting",)),
    Metric("work_order_closure_hours", "plant", None, "work_order_closure_daily",
           "closure_hours_total", "closed_orders", "lower", "hours",
           "Average hours from release to closure of the work orders closed that day.",
           column="avg_closure_hours"),
    Metric("open_work_orders", "plant", None, "work_order_closure_daily", "open_orders", None,
           "lower", "orders", "Work orders open at the end of the day.", column="open_orders"),
    Metric("stage_conversion", "plant", None, "sales_funnel_daily", "reached_count",
           "previous_stage_reached_count", "higher", "fraction",
           "Opportunities reaching a stage over those reaching the previous stage, the same "
           "day (a flow ratio; may exceed 1 on a day).", column="conversion_from_previous"),
    Metric("renewal_amount", "plant", None, "renewals_daily", "won_amount", None, "higher",
           "currency", "Amount of the renewals won that day.", column="won_amount"),
    Metric("ticket_resolution_hours", "plant", None, "service_ticket_resolution_daily",
           "resolution_hours_total", "resolved_tickets", "lower", "hours",
           "Average hours from opening to resolution of the tickets resolved that day.",
           column="avg_resolution_hours"),
    *(Metric(name, "plant", None, DELIVERY_HOURLY, numerator, denominator, direction,
             "ratio", description, rollup_marts=("delivery_daily",))
      for name, numerator, denominator, direction, description in (
          ("on_time_delivery_rate", "lines_on_time", "lines_due", "higher",
           "Order lines shipped by their promised time over the lines promised (ERP; per "
           "production line and hour or day)."),
          ("delivery_delay_rate", "lines_late", "lines_due", "lower",
           "Order lines shipped after their promise or not shipped yet, over the lines "
           "promised."),
          ("dispatch_accuracy", "dispatches_accurate", "dispatches", "higher",
           "TMS dispatches loaded as planned over the dispatches planned (a short load "
           "means the stock the TMS planned on was not there)."))),
    Metric("sales_follow_up_compliance", "plant", None, "sales_process_daily",
           "on_time_advances", "advances", "higher", "ratio",
           "Opportunity stage advances reached within the sales process's 120-minute "
           "follow-up time, over all advances (CRM; per owner, channel and day).",
           column="follow_up_compliance"),
)

METRICS_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def metric(name: str) -> Metric:
    """The metric called `name`; KeyError lists the known ones."""
    try:
        return METRICS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r} (known: {', '.join(METRICS_BY_NAME)})") from None
