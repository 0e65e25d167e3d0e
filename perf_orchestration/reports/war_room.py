"""The war-room page: one self-contained HTML file per plant day for the stand-up.

The page has no script, no font, no stylesheet and no picture it would fetch: the
heatmap is an inline PNG and the styles are in the page, so it opens from a file, an
e-mail attachment or a phone with no network. Layout is one column that tables scroll
inside, so it reads on a phone screen.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from jinja2 import Environment, PackageLoader, StrictUndefined

from perf_orchestration.goals.heatmap import render_png
from perf_orchestration.goals.tree import GoalTree
from perf_orchestration.plant_calendar import local_time
from perf_orchestration.reports.day_facts import DayFacts, day_facts
from perf_orchestration.warehouse import redacted

TEMPLATE = "war_room.html.j2"


def page_name(day: date, live: bool = False) -> str:
    return f"war_room_{'live_' if live else ''}{day.isoformat()}.html"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _ratio(num: float | None, den: float | None) -> str:
    return "-" if not den or num is None else f"{num / den:.0%}"


def render_page(facts: DayFacts, goals_version: str, source: str, now: datetime,
                live: bool = False) -> str:
    """The page's HTML for the facts of one day."""
    env = Environment(loader=PackageLoader("perf_orchestration.reports", ""), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["basename"] = lambda path: Path(str(path)).name
    env.globals.update(fmt=_fmt, seconds=_seconds, percent=_percent, money=_money,
                       ratio=_ratio)
    counts = {s: sum(r["status"] == s for r in facts.health) for s in ("red", "yellow", "green")}
    heatmap = ""
    if facts.health:
        png = render_png(facts.health, f"Goal health {facts.day} ({goals_version})")
        heatmap = base64.b64encode(png).decode("ascii")
    return env.get_template(TEMPLATE).render(
        facts=facts, counts=facts.counts(), heatmap=heatmap, goals_version=goals_version,
        source=source, generated=local_time(now).strftime("%Y-%m-%d %H:%M"),
        title=(f"live part, {facts.day} (wall clock)" if live else f"plant day {facts.day}"),
        health_counts=", ".join(f"{n} {s}" for s, n in counts.items())
        + f", {len(facts.health) - sum(counts.values())} without data")


def write_war_room(engine: sa.Engine, tree: GoalTree, day: date, folder: Path,
                   now: datetime | None = None, live: bool = False) -> tuple[Path, DayFacts]:
    """Write FOLDER/war_room_<day>.html (replacing an earlier one) and return its facts;
    `live` writes the page of the live part (war_room_live_<day>.html), titled so."""
    facts = day_facts(engine, tree, day)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    html = render_page(facts, tree.version, redacted(engine.url), now, live)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / page_name(day, live)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path, facts
