"""HR scorecard workbooks: one .xlsx per department (workshop), one sheet per team.

Each sheet holds the team's scorecard for the day (every team and person goal of the
team with its score row and health colour) and, below it, the team's people with their
badges and feedback answers. HR gets the formatting it expects: a frozen header, number
formats, red/yellow/green fills from conditional formatting (so a re-sorted or edited
sheet keeps its colours), an auto-filter on the scorecard and columns wide enough to read.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from perf_orchestration.breakpoints.store import read_chains
from perf_orchestration.goals.health import health_rows, scores_for_day
from perf_orchestration.goals.subjects import SUBJECTS_WITH_DATA
from perf_orchestration.goals.tree import GoalTree
from perf_orchestration.reports.day_facts import DayReader, workbook_rows
from perf_orchestration.text.filenames import unique_file_parts

STATUS_FILLS = {"red": "F4B6B4", "yellow": "FBE7A1", "green": "B7E1C1"}
HEADER_FILL = "DDDAD2"
SCORE_COLUMNS = (  # header, key, width, number format
    ("Subject", "subject", 12, None), ("Name", "name", 24, None), ("Goal", "goal_id", 30, None),
    ("Metric", "metric", 28, None), ("Period", "period", 11, None),
    ("Actual", "actual", 10, "0.000"), ("Target", "target", 10, "0.000"),
    ("Attainment", "attainment", 11, "0.0%"), ("Score", "score", 9, "0.0%"),
    ("Weight %", "weight", 9, "0.0"), ("Progress", "progress_ratio", 10, "0.000"),
    ("Health", "status", 9, None), ("Without data because", "null_reason", 30, None))
PEOPLE_COLUMNS = (
    ("Employee", "employee_id", 12, None), ("Name", "name", 24, None),
    ("Role", "role", 18, None), ("Badges", "badges", 34, None),
    ("Feedback answers", "answers", 10, "0"), ("Last answer", "last_answer", 18, None),
    ("New hire: day", "days_since_hire", 10, "0"), ("Onboarding", "onboarding", 11, None),
    ("Training share", "training_share", 10, "0%"),
    ("Mentor feedback / week", "feedback_per_week", 10, "0.00"),
    ("Days to first job", "days_to_first_job", 10, "0"))
BREAKPOINT_COLUMNS = (
    ("Chain", "chain", 7, "0"), ("Level", "level", 7, "0"), ("What", "label", 46, None),
    ("Node", "node", 24, None), ("Scope", "scope", 12, None),
    ("Before / around", "value_before", 12, "0.000"), ("During", "value_during", 10, "0.000"),
    ("Correlation", "correlation", 11, "0.00"), ("Interface", "interface", 9, None),
    ("Deepest break", "is_break", 9, None), ("Records", "records", 60, None),
    ("Note", "note", 40, None))
# onboarding statuses (marts.onboarding_progress) in the same colours as goal health
ONBOARDING_FILLS = {"late": STATUS_FILLS["red"], "at_risk": STATUS_FILLS["yellow"],
                    "on_track": STATUS_FILLS["green"]}


@dataclass(frozen=True)
class DepartmentWorkbook:
    department: str
    path: Path
    teams: int
    goal_rows: int
    people: int
    red: int


def _sheet_title(team: dict, taken: set[str]) -> str:
    """Excel allows 31 characters and no []:*?/\\ in a sheet name, unique per workbook."""
    title = re.sub(r"[\[\]:*?/\\]", " ", f"{team['team_id']} {team['name']}")[:31].strip()
    base, n = title, 2
    while title in taken:
        title = f"{base[:28]} {n}"
        n += 1
    taken.add(title)
    return title


def _read(reader: DayReader) -> tuple[list[dict], dict[str, dict], dict, dict, dict]:
    def rows(table: str, sql: str, **params) -> list[dict]:
        return reader.rows((table,), sql, **params)

    teams = rows("raw.hr_teams", "select team_id, name, workshop, line_type from raw.hr_teams "
                                 "order by workshop, team_id")
    people = {r["employee_id"]: r for r in rows(
        "raw.hr_employees", "select employee_id, name, team_id, role from raw.hr_employees "
                            "order by employee_id")}
    badges: dict[str, list[str]] = defaultdict(list)
    for b in rows("marts.badges", "select employee_id, title, awarded_at from marts.badges "
                                  "where revoked_at is null order by awarded_at"):
        badges[b["employee_id"]].append(b["title"])
    answers: dict[str, list[str]] = defaultdict(list)
    for a in rows("marts.feedback", "select respondent_id, answered_at from marts.feedback "
                                    "order by answered_at"):
        answers[a["respondent_id"]].append(str(a["answered_at"])[:16])
    onboarding = {r["employee_id"]: r for r in rows(
        "marts.onboarding_progress",
        "select employee_id, days_since_hire, status as onboarding, training_share, "
        "feedback_per_week, days_to_first_job from marts.onboarding_progress "
        "where as_of_date = :day", day=reader.day.isoformat())}
    return teams, people, badges, answers, onboarding


def scorecard_rows(reader: DayReader, tree: GoalTree) -> list[dict]:
    """Every team and person goal scored for the day, with its health colour."""
    if "marts.goal_scores" not in reader.tables:
        return []
    scores = scores_for_day(reader.engine, reader.day)
    health = {h["goal_id"]: h for h in health_rows(reader.engine, tree, "", scores=scores)}
    out = []
    for goal_id, s in sorted(scores.items(), key=lambda kv: (kv[1]["subject"], kv[0])):
        h = health.get(goal_id)
        if h is None:  # plant- and line-level goals belong to no team sheet
            continue
        out.append({**s, "progress_ratio": h["progress_ratio"], "status": h["status"]})
    return out


def _sheets_of(row: dict, who: dict | None, teams: list[dict]) -> list[str]:
    """The team sheets a goal row goes on: its team, its person's team, or for a goal of the
    whole plant (a sales channel's follow-up) the teams whose rows its mart sums."""
    if who is not None:
        return [who["team_id"]]
    if any(t["team_id"] == row["subject"] for t in teams):
        return [row["subject"]]
    kinds = SUBJECTS_WITH_DATA.get(row["mart"], ((), ()))[0]
    return [t["team_id"] for t in teams if t["line_type"] in kinds]


def write_hr_workbooks(engine: sa.Engine, tree: GoalTree, day: date,
                       folder: Path) -> list[DepartmentWorkbook]:
    """Write FOLDER/hr_scorecards_<day>_<department>.xlsx for every department."""
    reader = DayReader(engine, day)
    teams, people, badges, answers, onboarding = _read(reader)
    names = {t["team_id"]: t["name"] for t in teams}
    by_team: dict[str, list[dict]] = defaultdict(list)
    for row in scorecard_rows(reader, tree):
        who = people.get(row["subject"])
        for team in _sheets_of(row, who, teams):
            by_team[team].append({**row, "name": who["name"] if who else names.get(team, "")})
    members: dict[str, list[dict]] = defaultdict(list)
    for p in people.values():
        members[p["team_id"]].append({**p, **onboarding.get(p["employee_id"], {}),
                                      "badges": ", ".join(badges.get(p["employee_id"], [])),
                                      "answers": len(answers.get(p["employee_id"], [])),
                                      "last_answer": (answers.get(p["employee_id"]) or [""])[-1]})
    reported: dict[str, list[dict]] = defaultdict(list)  # by team id, from the workbooks
    team_ids = {t["name"]: t["team_id"] for t in teams}
    for kind, kind_rows in workbook_rows(reader).items():
        for r in kind_rows:
            reported[team_ids.get(r["team"], r["team"])].append({"kind": kind, **r})
    departments: dict[str, list[dict]] = defaultdict(list)
    for t in teams:
        departments[t["workshop"]].append(t)
    chains = breakpoint_rows(read_chains(engine))
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    parts = unique_file_parts(list(departments), default="department")
    for department, dept_teams in departments.items():
        path = folder / f"hr_scorecards_{day.isoformat()}_{parts[department]}.xlsx"
        written.append(_write_department(path, department, dept_teams,
                                         (by_team, members, reported), day, tree.version,
                                         chains))
    return written


def breakpoint_rows(chains: list[dict]) -> list[dict]:
    """Every step of the plant's breakpoint chains as a sheet row (the problem is level 0)."""
    return [{**step, "chain": c["chain"], "scope": c["scope"], "note": c["note"],
             "interface": "yes" if step["is_interface"] else "",
             "is_break": "yes" if step["is_break"] else "",
             "records": ", ".join(step["records"][:5])}
            for c in chains for step in c["steps"]]


def _write_department(path: Path, department: str, teams: list[dict],
                      blocks: tuple[dict, dict, dict], day: date,
                      version: str, chains: list[dict]) -> DepartmentWorkbook:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()
    goal_rows = people = red = 0
    for team in teams:
        ws = wb.create_sheet(_sheet_title(team, taken))
        rows, staff, reported = (b.get(team["team_id"], []) for b in blocks)
        _fill_sheet(ws, team, department, (rows, reported, staff), day, version)
        goal_rows += len(rows)
        people += len(staff)
        red += sum(r["status"] == "red" for r in rows)
    _breakpoint_sheet(wb.create_sheet("Breakpoints 3x3"), chains, day)
    wb.properties.title = f"HR scorecards {department} {day.isoformat()}"
    tmp = path.with_suffix(".xlsx.tmp")
    wb.save(tmp)
    tmp.replace(path)
    return DepartmentWorkbook(department, path, len(teams), goal_rows, people, red)


def _fill_sheet(ws, team: dict, department: str, blocks: tuple[list, list, list], day: date,
                version: str) -> None:
    """Scorecard (frozen header, filter, health colours), then what the team's department
    workbooks reported for the day (with file!sheet!row), then the team's people."""
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    rows, reported, staff = blocks
    bold, header_fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL)
    ws["A1"] = f"{team['team_id']} {team['name']} ({department}): scorecard {day.isoformat()}"
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = (f"goals {version}; attainment = actual / target (or target / actual when lower "
                "is better), capped at 150%; health = actual against expected progress")
    header_row = 3
    _table(ws, header_row, SCORE_COLUMNS, rows, bold, header_fill)
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    last = header_row + max(1, len(rows))
    ws.auto_filter.ref = f"A{header_row}:{get_column_letter(len(SCORE_COLUMNS))}{last}"
    _colour(ws, _column(SCORE_COLUMNS, "status"), header_row + 1, last, STATUS_FILLS)
    if not rows:
        ws.cell(row=header_row + 1, column=1, value="no goals are set for this team")
    if reported:
        top = last + 3
        ws.cell(row=top - 1, column=1,
                value="Reported in department workbooks (intake folder)").font = bold
        columns = tuple((k, k, 12, None) for k in reported[0])
        _table(ws, top, columns, reported, bold, header_fill)
        last = top + len(reported)
    people_row = last + 3
    ws.cell(row=people_row - 1, column=1, value="People").font = bold
    _table(ws, people_row, PEOPLE_COLUMNS, staff, bold, header_fill)
    _colour(ws, _column(PEOPLE_COLUMNS, "onboarding"), people_row + 1,
            people_row + max(1, len(staff)), ONBOARDING_FILLS)
    for i in range(1, max(len(SCORE_COLUMNS), len(PEOPLE_COLUMNS)) + 1):
        widths = [cols[i - 1][2] for cols in (SCORE_COLUMNS, PEOPLE_COLUMNS) if i <= len(cols)]
        ws.column_dimensions[get_column_letter(i)].width = max(widths)


def _breakpoint_sheet(ws, chains: list[dict], day: date) -> None:
    """The plant's 3x3 chains: where delivery broke and the deepest break behind it."""
    from openpyxl.styles import Font, PatternFill

    ws["A1"] = f"Breakpoints of the days up to {day.isoformat()}: problem (level 0) and causes"
    ws["A1"].font = Font(bold=True, size=13)
    _table(ws, 3, BREAKPOINT_COLUMNS, chains, Font(bold=True),
           PatternFill("solid", fgColor=HEADER_FILL))
    if not chains:
        ws.cell(row=4, column=1, value="no problem in the days looked at")
    ws.freeze_panes = "A4"
    for column in BREAKPOINT_COLUMNS:
        ws.column_dimensions[_column(BREAKPOINT_COLUMNS, column[1])].width = column[2]


def _column(columns: tuple, key: str) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(1 + [c[1] for c in columns].index(key))


def _colour(ws, column: str, first: int, last: int, fills: dict[str, str]) -> None:
    """Conditional fills by cell text, so colours follow the text when HR sorts or edits."""
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import PatternFill

    for text, colour in fills.items():
        ws.conditional_formatting.add(f"{column}{first}:{column}{last}", CellIsRule(
            operator="equal", formula=[f'"{text}"'],
            fill=PatternFill("solid", fgColor=colour, bgColor=colour)))


def _table(ws, top: int, columns: tuple, rows: list[dict], bold, fill) -> None:
    for col, (header, _, _, _) in enumerate(columns, start=1):
        cell = ws.cell(row=top, column=col, value=header)
        cell.font, cell.fill = bold, fill
    for r, row in enumerate(rows, start=top + 1):
        for col, (_, key, _, number_format) in enumerate(columns, start=1):
            cell = ws.cell(row=r, column=col, value=row.get(key))
            if number_format:
                cell.number_format = number_format
