"""What the intake did, read back from ops.file_intake: for summaries and the demo."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.tables import file_intake


def intake_summary(engine: Engine, folder: Path | str | None = None) -> dict:
    """Files, sheets, rows landed and quarantined and total checks of the current versions
    of the files (under `folder` when given); superseded versions are left out."""
    query = sa.select(file_intake).where(file_intake.c.status != "superseded").order_by(
        file_intake.c.path)
    if folder is not None:
        prefix = str(Path(folder).resolve()).rstrip("/") + "/"
        query = query.where(file_intake.c.path.startswith(prefix, autoescape=True))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    checks = Counter(r["total_check"] for r in rows)
    return {
        "files": len(rows),
        "sheets": sum(r["sheets_read"] for r in rows),
        "rows_landed": sum(r["rows_landed"] for r in rows),
        "rows_quarantined": sum(r["rows_quarantined"] for r in rows),
        "total_checks": {k: checks.get(k, 0) for k in ("ok", "mismatch", "absent", "not_run")},
        "by_status": dict(sorted(Counter(r["status"] for r in rows).items())),
        "by_file": [{"file": Path(r["path"]).name, "kind": r["kind"], "status": r["status"],
                     "sheets_read": r["sheets_read"], "rows_landed": r["rows_landed"],
                     "rows_quarantined": r["rows_quarantined"],
                     "total_check": r["total_check"], "reason": r["reason"]} for r in rows],
    }
