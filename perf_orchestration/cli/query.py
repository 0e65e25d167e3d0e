"""`perfflow query`: rows as CSV, with the warehouse schemas attached as in the pipeline."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import sqlalchemy as sa

from perf_orchestration.warehouse import WarehouseError, embedded_url, make_engine

DEFAULT_DEMO_DIR = Path("demo-out")


def default_warehouse_url() -> str:
    env = os.environ.get("PERFFLOW_WAREHOUSE_URL")
    if env:
        return env
    path = DEFAULT_DEMO_DIR / "warehouse"
    if not path.exists():
        raise WarehouseError("no warehouse given: pass --warehouse URL, set "
                             "PERFFLOW_WAREHOUSE_URL, or run `perfflow demo --out demo-out` first")
    return embedded_url(path)


def run_query(url: str | None, sql: str) -> int:
    engine = make_engine(url or default_warehouse_url())
    try:
        with engine.connect() as conn:
            result = conn.execute(sa.text(sql))
            writer = csv.writer(sys.stdout, lineterminator="\n")
            if result.returns_rows:
                writer.writerow(result.keys())
                for row in result:
                    writer.writerow(row)
            conn.commit()
    except sa.exc.DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(f"perfflow query: {first}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0
