"""Messy department workbooks, generated: for the demo, the tests' neighbours and bench/.

They look the way plants keep them: a merged title block, the header on row 4 or 5 (two
rows with merged group cells, or bilingual "日期\\nDate" cells), Chinese column names,
numbers typed as text, dates in several formats, blank rows, weekly subtotals, a sheet
total and a summary sheet with the grand total. Team and people names come from the plant
simulator, so the rows speak of the same plant. Same arguments, same bytes of data.

The demo's drop is drawn from the scenario's plant: its workshops (most production teams
first) name the production reports, its sales people fill the sales report; a report the
plant has nobody or nothing for is skipped and said so.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from openpyxl import Workbook

from perf_orchestration.plant_calendar import iso_week_key
from perf_orchestration.scenarios.config import Scenario
from perf_orchestration.simulator.common import production_teams
from perf_orchestration.simulator.generate_business import SALES_ROLES
from perf_orchestration.simulator.names import build_roster
from perf_orchestration.text.filenames import file_part

PROD_HEADER = ("日期", "班次", "产量(件)", "质量", None, "首件检验", None)
PROD_LEAVES = (None, None, None, "不良数", "返工数", "次数", "合格")
TOTAL_COLUMNS = (2, 3, 5, 6)  # output, defects, fai checked, fai passed (0-based)
REGIONS = ("华东 East", "华南 South", "华北 North", "西部 West")
SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class Mess:
    """What is wrong with a generated workbook on purpose."""

    bad_rows: int = 0  # rows with a value the quality suite must reject
    total_off: float = 0.0  # added to the grand total on the summary sheet


def _date_cell(rng: random.Random, day: date):
    style = rng.randrange(6)
    if style == 0:
        return datetime(day.year, day.month, day.day)
    if style == 1:
        return day.strftime("%Y/%m/%d")
    if style == 2:
        return f"{day.year}年{day.month}月{day.day}日"
    if style == 3:
        return day.strftime("%Y%m%d")
    if style == 4:
        return (day - date(1899, 12, 30)).days  # an Excel serial typed as a number
    return day.isoformat()


def _number_cell(rng: random.Random, value: float | int):
    if rng.random() < 0.15:
        return f"{value:,}" if isinstance(value, int) else f"¥{value:,.2f}"
    return value


def _production_sheet(wb: Workbook, rng: random.Random, title: str, heading: str,
                      month: date, days: int, bad: int) -> list[int]:
    ws = wb.create_sheet(SHEET_TITLE_FORBIDDEN.sub("-", title)[:31])
    ws.append([heading])
    ws.merge_cells("A1:G1")
    ws.append(["部门 Department:", title, None, "单位: 件"])
    ws.append([])
    ws.append(list(PROD_HEADER))
    ws.append(list(PROD_LEAVES))
    for col in "ABC":
        ws.merge_cells(f"{col}4:{col}5")
    ws.merge_cells("D4:E4")
    ws.merge_cells("F4:G4")
    sums = [0, 0, 0, 0]
    week = [0, 0, 0, 0]
    bad_rows = set(rng.sample(range(days * 2), min(bad, days * 2)))
    for d in range(days):
        day = month + timedelta(days=d)
        for s, shift in enumerate(("白班", "夜班")):
            output = rng.randint(380, 520)
            defects = rng.randint(2, 25)
            checked = rng.randint(2, 5)
            passed = checked - (rng.random() < 0.1)
            row = [_date_cell(rng, day), shift, _number_cell(rng, output), defects,
                   rng.randint(0, defects), _number_cell(rng, checked), passed]
            if d * 2 + s in bad_rows:
                row[rng.choice((2, 6))] = rng.choice(("n/a", "待补", -5))
            else:
                for i, v in enumerate((output, defects, checked, passed)):
                    sums[i] += v
                    week[i] += v
            ws.append(row)
        if d % 7 == 6:
            ws.append([f"小计（第{d // 7 + 1}周）", None, *_spread(week)])
            week = [0, 0, 0, 0]
        if d == days // 2:
            ws.append([])
    ws.append(["合计", None, *_spread(sums)])
    ws.append([])
    ws.append(["制表: " + heading.split()[0]])
    return sums


def _spread(values: list[int]) -> list:
    """Output, defects, rework (left blank), fai checked, fai passed in sheet column order."""
    return [values[0], values[1], None, values[2], values[3]]


def _summary_sheet(wb: Workbook, rows: list[tuple[str, list]], headers: list[str],
                   grand_label: str, total_off: float) -> None:
    ws = wb.create_sheet("汇总", 0)
    ws.append(["汇总 Summary"])
    ws.append([])
    ws.append(["名称", *headers])
    grand = [0] * len(headers)
    for name, values in rows:
        ws.append([name, *values])
        grand = [g + v for g, v in zip(grand, values, strict=True)]
    if total_off:
        grand[0] = grand[0] + total_off
    ws.append([grand_label, *grand])


def production_workbook(path: Path, scenario: Scenario, sheets: int | None = None,
                        days: int = 30, month: date = date(2026, 11, 1), seed: int = 0,
                        mess: Mess = Mess(), workshop: str | None = None) -> Path:
    """A workshop's monthly production and quality report, one sheet per team."""
    rng = random.Random(f"production|{path.name}|{seed}")
    teams = [t.name for t in production_teams(scenario)
             if workshop is None or t.workshop == workshop]
    titles = [teams[i % len(teams)] + (f" {i // len(teams) + 1}" if i >= len(teams) else "")
              for i in range(sheets or len(teams))]
    wb = Workbook()
    wb.remove(wb.active)
    per_sheet = []
    for i, title in enumerate(titles):
        heading = f"{title} {month:%Y-%m} 生产质量月报 Production and quality"
        bad = mess.bad_rows // len(titles) + (i < mess.bad_rows % len(titles))
        per_sheet.append((title, _production_sheet(wb, rng, title, heading, month, days, bad)))
    _summary_sheet(wb, per_sheet, ["产量", "不良数", "首检次数", "首检合格"], "总计",
                   mess.total_off)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _sales_sheet(wb: Workbook, rng: random.Random, region: str, reps: list[str],
                 weeks: list[date], bad: int) -> list:
    ws = wb.create_sheet(region)
    ws.append([f"销售周报 Sales weekly report - {region}"])
    ws.merge_cells("A1:F1")
    ws.append([])
    ws.append(["周开始\nWeek start", "销售代表\nSales rep", "电话数\nCalls", "拜访数\nVisits",
               "成交数\nDeals", "成交金额（元）\nRevenue (CNY)"])
    sums = [0, 0, 0, 0.0]
    bad_rows = set(rng.sample(range(len(reps) * len(weeks)), min(bad, len(reps) * len(weeks))))
    n = 0
    for week in weeks:
        for rep in reps:
            calls, visits = rng.randint(20, 80), rng.randint(3, 15)
            deals = rng.randint(0, 4)
            revenue = round(deals * rng.uniform(20_000, 180_000), 2)
            row = [_date_cell(rng, week), rep, calls, _number_cell(rng, visits), deals,
                   _number_cell(rng, revenue)]
            if n in bad_rows:
                row[rng.choice((0, 3))] = rng.choice(("下周补", "2026-13-45", "-"))
            else:
                sums = [a + b for a, b in zip(sums, (calls, visits, deals, revenue),
                                              strict=True)]
            ws.append(row)
            n += 1
        ws.append(["Subtotal", None, None, None, None, None])
    ws.append([None, "Total", *sums[:3], round(sums[3], 2)])
    return [*sums[:3], round(sums[3], 2)]


def sales_workbook(path: Path, scenario: Scenario, sheets: int | None = None,
                   weeks: int = 4, first_week: date = date(2026, 11, 2), seed: int = 0,
                   mess: Mess = Mess()) -> Path:
    """The sales department's weekly report, one sheet per region, reps from the roster."""
    rng = random.Random(f"sales|{path.name}|{seed}")
    roster = build_roster(scenario)
    names = {r["employee_id"]: r["name"] for r in roster.rows}
    reps = [names[i] for i in roster.with_role(*SALES_ROLES)][:24]
    if not reps:
        raise ValueError("the plant has no sales rep or account manager for a sales report")
    regions = [REGIONS[i % len(REGIONS)] + (f" {i // len(REGIONS) + 1}"
                                            if i >= len(REGIONS) else "")
               for i in range(sheets or len(REGIONS))]
    week_starts = [first_week + timedelta(weeks=w) for w in range(weeks)]
    wb = Workbook()
    wb.remove(wb.active)
    per_sheet = []
    for i, region in enumerate(regions):
        share = reps[i * 6 % len(reps):][:6] or reps[:6]
        bad = mess.bad_rows // len(regions) + (i < mess.bad_rows % len(regions))
        per_sheet.append((region, _sales_sheet(wb, rng, region, share, week_starts, bad)))
    _summary_sheet(wb, per_sheet, ["电话数", "拜访数", "成交数", "成交金额"], "Grand total",
                   mess.total_off)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def encrypted_file(path: Path) -> Path:
    """What Excel writes for a password-protected workbook: an OLE container, not a zip."""
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
                     + b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00" * 8)
    return path


def workshops_by_size(scenario: Scenario) -> list[str]:
    """The workshops with production teams, most teams first (ties in plant order)."""
    counts: dict[str, int] = {}
    for team in production_teams(scenario):
        counts[team.workshop] = counts.get(team.workshop, 0) + 1
    return sorted(counts, key=lambda w: -counts[w])


def demo_folder(directory: Path, scenario: Scenario,
                skipped: list[dict[str, str]] | None = None) -> list[Path]:
    """The demo's drop: a clean report of the largest workshop, one with bad rows and a wrong
    grand total from the next, a sales report with bad rows, a corrupt file and a
    password-protected one. What the plant cannot fill (a second workshop, sales people) is
    left out with a {feature, reason} entry appended to `skipped`.

    Files already there are left alone: xlsx files carry their save time, so writing them
    again would make new content (and a new intake) out of the same data.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    skipped = [] if skipped is None else skipped
    month = scenario.start.date().replace(day=1)
    first_week = scenario.start.date() - timedelta(days=scenario.start.weekday())
    has_sales = bool(build_roster(scenario).with_role(*SALES_ROLES))
    shops = workshops_by_size(scenario)
    makers: dict[str, Callable[[Path], object]] = {}
    if not shops:
        skipped.append({"feature": "production workbooks",
                        "reason": "the plant has no production team with stations"})
    for k, shop in enumerate(shops[:2]):  # the clean report, then the messy one
        mess = Mess(bad_rows=3, total_off=120) if k else Mess()
        makers[f"生产质量月报_{file_part(shop)}_{month:%Y-%m}.xlsx"] = \
            lambda p, shop=shop, k=k, mess=mess: production_workbook(
                p, scenario, days=14, month=month, seed=k, mess=mess, workshop=shop)
    if len(shops) == 1:
        skipped.append({"feature": "workbook with bad rows and a wrong total",
                        "reason": f"the plant has one workshop with production teams "
                        f"({shops[0]})"})
    if has_sales:
        makers[f"销售周报_{iso_week_key(first_week)}.xlsx"] = lambda p: sales_workbook(
            p, scenario, weeks=2, first_week=first_week, mess=Mess(bad_rows=2))
    else:
        skipped.append({"feature": "sales weekly workbooks",
                        "reason": "the plant has no sales rep or account manager"})
    broken = shops[-1] if shops else scenario.plant.teams[0].workshop
    makers[f"质量月报_{file_part(broken)}_{month:%Y-%m}.xlsx"] = \
        lambda p: p.write_bytes(b"PK\x03\x04" + bytes(64))
    if has_sales:
        makers[f"销售周报_{iso_week_key(first_week + timedelta(weeks=1))}_加密.xlsx"] = \
            encrypted_file
    paths = []
    for name, make in makers.items():
        path = directory / name
        if not path.exists():
            make(path)
        paths.append(path)
    return paths
