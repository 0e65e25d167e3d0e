"""Job-description drafts from marts.role_snapshots: one Markdown file per role and one HR
workbook with a sheet per role.

A draft says what the role's top performers do measurably more or differently, with the
evidence in plain numbers, and what a new hire of the role should practise in the first
90 days, tied to the role's onboarding track (onboarding.yaml). It is read from the mart
only, so it names behaviours, never people.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from perf_orchestration.people.config import OnboardingConfig
from perf_orchestration.reports.hr_export import HEADER_FILL, STATUS_FILLS, _colour, _table
from perf_orchestration.tables.marts import role_snapshots

METRICS = {"renewal_win_rate": ("renewal win rate, renewed / decided contracts,", "{:.0%}"),
           "median_repair_minutes": ("median repair time,", "{:.0f} min")}
FIRST_JOBS = {"mes_production": "the first production hour run without a mentor",
              "crm_won_deal": "the first won deal"}
CORRECTIONS = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}
COLUMNS = (  # header, key, width, number format
    ("Behaviour", "label", 48, None), ("Source", "source", 20, None),
    ("Measure", "measure", 22, None), ("Status", "status", 18, None),
    ("Direction", "direction", 9, None), ("Top mean", "top_mean", 10, "0.000"),
    ("Rest mean", "rest_mean", 10, "0.000"), ("Lift", "lift", 8, "0.00"),
    ("p", "p_value", 10, "0.0000"), ("p corrected", "p_adjusted", 11, "0.0000"),
    ("Top people", "top_people", 10, "0"), ("Rest people", "rest_people", 10, "0"),
    ("Records", "records", 10, "0"), ("Why not tested", "reason", 30, None))
STATUS_COLOURS = {"distinguishing": STATUS_FILLS["green"]}


@dataclass(frozen=True)
class SnapshotReport:
    workbook: Path
    drafts: list[Path]
    roles: int
    distinguishing: int


def read_snapshots(engine: sa.Engine) -> dict[str, list[dict]]:
    """The mart's rows by role (empty when the people loop has not written it yet)."""
    if not sa.inspect(engine).has_table(role_snapshots.name, schema=role_snapshots.schema):
        return {}
    by_role: dict[str, list[dict]] = defaultdict(list)
    with engine.connect() as conn:
        for r in conn.execute(sa.select(role_snapshots).order_by(
                role_snapshots.c.role, role_snapshots.c.p_adjusted,
                role_snapshots.c.behaviour)).mappings():
            by_role[r["role"]].append(dict(r))
    return dict(by_role)


def _value(row: dict, key: str) -> str:
    value = row[key]
    if row["measure"].startswith("share"):
        return f"{value:.0%}"
    return f"{value:.1f} {row['measure'].removeprefix('uses ')}"


def _evidence(row: dict) -> str:
    lift = f"{row['lift']:.2f} times" if row["lift"] else "none in the rest"
    return (f"{_value(row, 'top_mean')} among top performers against {_value(row, 'rest_mean')} "
            f"among the rest ({lift}); corrected p {row['p_adjusted']:.2g} (raw "
            f"{row['p_value']:.2g}); {row['top_people']} + {row['rest_people']} people, "
            f"{row['records']:,} records of {row['source']}")


def _title(role: str) -> str:
    return role.replace("_", " ")


def draft(role: str, rows: list[dict], onboarding: OnboardingConfig) -> str:
    """The Markdown job-description draft of one role."""
    first = rows[0]
    name = _title(role)
    lines = [f"# Role capability snapshot: {name}", ""]
    if first["status"] == "no_snapshot":
        return "\n".join(lines + [f"No snapshot: {first['reason']}.", ""])
    metric, fmt = METRICS[first["metric"]]
    tested = [r for r in rows if r["p_value"] is not None]
    found = [r for r in tested if r["status"] == "distinguishing"]
    top, rest = first["top_people"], first["rest_people"]
    lines += [
        f"Draft job description from the operation logs of {first['window_start']:%Y-%m-%d} "
        f"to {first['window_end']:%Y-%m-%d} (snapshots.yaml {first['config_version']}). "
        f"The top {top} {name}s by {metric} median {fmt.format(first['top_metric'])}, are "
        f"compared with the other {rest} (median {fmt.format(first['rest_metric'])}) on "
        f"{len(tested)} behaviours, person by person (Mann-Whitney U, two-sided, "
        f"{CORRECTIONS[first['correction']]}-corrected for the {len(tested)} behaviours "
        f"tried, alpha {first['alpha']:g}).", "",
        "## What top performers do measurably more or differently", ""]
    lines += ([f"- **{r['label']}**, {r['direction']}: {_evidence(r)}." for r in found]
              or ["No behaviour distinguishes the top performers from the rest at this "
                  "significance level; the draft has no evidence to add."])
    lines += ["", f"## Onboarding suggestions for new {name}s", ""]
    track = onboarding.track_of(role)
    if track:
        lines += [
            f"- Onboarding track `{track.id}` (onboarding.yaml {onboarding.version}): the "
            f"required courses {', '.join(track.required_courses)} within "
            f"{onboarding.targets.trainings_due_days} days, mentor feedback at least "
            f"{onboarding.targets.feedback_per_week:g} per week, and "
            f"{FIRST_JOBS[track.first_job]} by day {track.target_days}."]
    else:
        lines += [f"- The role is on no onboarding track of onboarding.yaml "
                  f"{onboarding.version}; add one to follow its new hires' first "
                  f"{onboarding.window_days} days."]
    lines += [f"- Practise in the first {onboarding.window_days} days: {r['label']} "
              f"({'more' if r['direction'] == 'more' else 'less'} than most: top performers "
              f"{_value(r, 'top_mean')})." for r in found]
    lines += ["", "## Behaviours tried that do not distinguish", "",
              ", ".join(r["label"] for r in tested if r["status"] != "distinguishing")
              or "none", ""]
    return "\n".join(lines)


def write_role_snapshots(engine: sa.Engine, onboarding: OnboardingConfig, day: date,
                         folder: Path) -> SnapshotReport | None:
    """FOLDER/role_snapshot_<role>_<day>.md per role and FOLDER/hr_role_snapshots_<day>.xlsx
    (None when marts.role_snapshots has not been written)."""
    by_role = read_snapshots(engine)
    if not by_role:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    drafts = []
    for role, rows in by_role.items():
        path = folder / f"role_snapshot_{role}_{day.isoformat()}.md"
        path.write_text(draft(role, rows, onboarding), encoding="utf-8")
        drafts.append(path)
    book = folder / f"hr_role_snapshots_{day.isoformat()}.xlsx"
    _workbook(book, by_role, onboarding, day)
    return SnapshotReport(book, drafts, len(by_role), sum(
        r["status"] == "distinguishing" for rows in by_role.values() for r in rows))


def _workbook(path: Path, by_role: dict[str, list[dict]], onboarding: OnboardingConfig,
              day: date) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL)
    for role, rows in by_role.items():
        ws = wb.create_sheet(_title(role)[:31])
        text = draft(role, rows, onboarding).splitlines()
        ws["A1"] = text[0].removeprefix("# ")
        ws["A1"].font = Font(bold=True, size=13)
        notes = [line.removeprefix("- ") for line in text[1:]
                 if line and not line.startswith("#")]
        for i, line in enumerate(notes, start=2):
            ws.cell(row=i, column=1, value=line.replace("**", ""))
        top = len(notes) + 3
        _table(ws, top, COLUMNS, rows, bold, fill)
        ws.freeze_panes = ws.cell(row=top + 1, column=1)
        last = top + max(1, len(rows))
        ws.auto_filter.ref = f"A{top}:{get_column_letter(len(COLUMNS))}{last}"
        _colour(ws, "D", top + 1, last, STATUS_COLOURS)
        for i, column in enumerate(COLUMNS, start=1):
            ws.column_dimensions[get_column_letter(i)].width = column[2]
    wb.properties.title = f"Role capability snapshots {day.isoformat()}"
    tmp = path.with_suffix(".xlsx.tmp")
    wb.save(tmp)
    tmp.replace(path)
