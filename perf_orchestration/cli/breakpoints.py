"""`perfflow breakpoints [--days N] [--day D]`: the 3x3 chains of the last days, printed
(read only: the asset marts/breakpoints writes them)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from perf_orchestration.breakpoints.store import run_breakpoints
from perf_orchestration.cli.query import default_warehouse_url
from perf_orchestration.config.files import plant_causes, plant_rules
from perf_orchestration.tables import plant_calendar
from perf_orchestration.warehouse import make_engine


def run_breakpoints_cli(days: int | None, day: str | None, warehouse: str | None,
                        config: str | None) -> int:
    causes, rules = plant_causes(config), plant_rules(config)
    engine = make_engine(warehouse or default_warehouse_url())
    try:
        if day:
            last = date.fromisoformat(day)
        else:
            with engine.connect() as conn:
                latest = conn.execute(sa.select(sa.func.max(plant_calendar.c.local_date))) \
                    .scalar()
            if latest is None:
                print("perfflow breakpoints: the warehouse has no plant calendar yet (run the "
                      "flow first)")
                return 1
            last = date.fromisoformat(latest)
        chains = run_breakpoints(engine, causes, rules, last, days, datetime.now(UTC),
                                 write=False)
    finally:
        engine.dispose()
    span = days or causes.days
    print(f"breakpoints of the {span} plant day(s) up to {last} ({causes.version}):")
    if not chains:
        print("  no problem in those days")
    for c in chains:
        print(f"{c['chain']}. {c['text']}")
        for step in c["steps"][1:]:
            records = ", ".join(step["records"][:3])
            print(f"   level {step['level']}: {step['node']} (sign {step['sign']}, lag "
                  f"{step['lag_hours']} h, {step['points']} hours)"
                  + (f"; records: {records}" if records else ""))
        print(f"   {c['note']}")
    return 0
