"""The QA engineer's root-cause checklist for a quality breach, built from the sources.

It gathers what a QA engineer looks at first for a team and a time window: the top
defect codes (QMS defects and failed first-article inspections), the stations they came
from, changeovers just before or during the window, and equipment states and failures,
each with the source record ids so the checklist can be traced.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.plant_calendar import plant_tz
from perf_orchestration.tables import RAW_TABLES

LOOKBACK_FOR_CHANGEOVERS = timedelta(hours=2)


@dataclass
class Checklist:
    team_id: str
    window_start: datetime
    window_end: datetime
    top_defect_codes: list[tuple[str, int]] = field(default_factory=list)
    stations: list[tuple[str, int]] = field(default_factory=list)
    changeovers: list[dict] = field(default_factory=list)
    equipment_events: list[dict] = field(default_factory=list)
    source_records: dict[str, list[str]] = field(default_factory=dict)

    def as_text(self) -> str:
        """The checklist as the QA engineer reads it."""
        codes = ", ".join(f"{c} ({n})" for c, n in self.top_defect_codes[:3]) or "none recorded"
        stations = ", ".join(f"{s} ({n})" for s, n in self.stations[:3]) or "none"
        tz = plant_tz()
        start = self.window_start.replace(tzinfo=UTC).astimezone(tz)
        end = self.window_end.replace(tzinfo=UTC).astimezone(tz)
        lines = [
            f"Root-cause checklist for {self.team_id}, "
            f"{start:%Y-%m-%d %H:%M} - {end:%H:%M} plant time",
            f"1. Top defect codes: {codes}. Confirm the dominant failure mode on the parts.",
            f"2. Affected stations: {stations}. Inspect fixtures, tooling and parameters there.",
        ]
        if self.changeovers:
            co = "; ".join(f"{c['station_id']} {c['from_product']}->{c['to_product']} at "
                           f"{c['started_at']:%H:%M} ({c['actual_minutes']:.0f} of "
                           f"{c['standard_minutes']:.0f} min)" for c in self.changeovers[:5])
            lines.append(f"3. Recent changeovers: {co}. Check first-piece settings after each.")
        else:
            lines.append("3. No changeover in or just before the window: look at material "
                         "lots and operator changes.")
        failures = [e for e in self.equipment_events if e["event_type"] != "state_change"]
        if failures:
            ev = "; ".join(f"{e['device_id']} {e['event_type']} {e['failure_code'] or ''} at "
                           f"{e['occurred_at']:%H:%M}".replace("  ", " ") for e in failures[:5])
            lines.append(f"4. Equipment: {ev}. Verify the device state before restarting.")
        else:
            lines.append("4. Equipment: no failures in the window; check calibration records.")
        lines.append("5. Record the confirmed cause and the containment action on the task.")
        return "\n".join(lines)


def build_checklist(engine: Engine, team_id: str, start: datetime, end: datetime,
                    teams: tuple[str, ...] = ()) -> Checklist:
    """Everything in the window [start, end) (UTC naive) for the team, from raw sources.
    `team_id` names the subject (a team, or a line with its `teams`)."""
    members = teams or (team_id,)
    defects = RAW_TABLES["qms_defects"]
    fai = RAW_TABLES["mes_first_article_inspections"]
    changeovers = RAW_TABLES["mes_changeovers"]
    events = RAW_TABLES["mes_equipment_events"]
    out = Checklist(team_id, start, end)
    codes: Counter[str] = Counter()
    stations: Counter[str] = Counter()
    with engine.connect() as conn:
        defect_rows = conn.execute(
            sa.select(defects.c.defect_id, defects.c.defect_code, defects.c.station_id,
                      defects.c.quantity)
            .where(defects.c.team_id.in_(members), defects.c.detected_at >= start,
                   defects.c.detected_at < end)).all()
        fai_rows = conn.execute(
            sa.select(fai.c.inspection_id, fai.c.defect_code, fai.c.station_id)
            .where(fai.c.team_id.in_(members), fai.c.result == "fail",
                   fai.c.inspected_at >= start, fai.c.inspected_at < end)).all()
        co_rows = conn.execute(
            sa.select(changeovers).where(
                changeovers.c.team_id.in_(members),
                changeovers.c.started_at >= start - LOOKBACK_FOR_CHANGEOVERS,
                changeovers.c.started_at < end).order_by(changeovers.c.started_at)).mappings()
        out.changeovers = [dict(r) for r in co_rows]
        ev_rows = conn.execute(
            sa.select(events).where(events.c.team_id.in_(members), events.c.occurred_at >= start,
                                    events.c.occurred_at < end)
            .order_by(events.c.occurred_at)).mappings()
        out.equipment_events = [dict(r) for r in ev_rows]
    for r in defect_rows:
        codes[r.defect_code] += r.quantity
        stations[r.station_id] += r.quantity
    for r in fai_rows:
        if r.defect_code:
            codes[r.defect_code] += 1
        stations[r.station_id] += 1
    out.top_defect_codes = codes.most_common()
    out.stations = stations.most_common()
    out.source_records = {
        "raw.qms_defects": [r.defect_id for r in defect_rows],
        "raw.mes_first_article_inspections": [r.inspection_id for r in fai_rows],
        "raw.mes_changeovers": [c["changeover_id"] for c in out.changeovers],
        "raw.mes_equipment_events": [e["event_id"] for e in out.equipment_events],
    }
    return out
