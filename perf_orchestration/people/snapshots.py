"""Role capability snapshots (snapshots.yaml) into marts.role_snapshots: per role, the
behaviours of its operation logs that distinguish its top performers from the rest.

Per role and window: rank the role's people by its metric, take the top `top_share` and
the rest, and compare the two groups on every behaviour, person by person (Mann-Whitney U,
two-sided), correcting the p-values for the number of behaviours tried (Holm or
Benjamini-Hochberg). A behaviour distinguishes when its corrected p is below `alpha`. The
mart names behaviours, never people: a group of fewer than `min_people_per_group` people
gets no snapshot, only a status row saying why. The mart is rebuilt whole on each run.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.people.snapshot_config import RoleSnapshot, SnapshotsConfig
from perf_orchestration.people.snapshot_features import (
    Features,
    repair_features,
    repair_minutes,
    sales_features,
    win_rates,
)
from perf_orchestration.tables import RAW_TABLES
from perf_orchestration.tables.marts import role_snapshots

MONTH = timedelta(days=30)
STATUS_BEHAVIOUR = "*"
LOG_TIME = {"crm_activities": "occurred_at", "crm_template_usage": "sent_at",
            "mes_maintenance_log": "finished_at"}
LOG_PERSON = {"crm_activities": "owner_id", "crm_template_usage": "sender_id",
              "mes_maintenance_log": "technician_id"}


def _read(conn: sa.Connection, table: str, people: list[str], column: str) -> pd.DataFrame:
    t = RAW_TABLES[table]
    cols = [c for c in t.columns if c.name not in ("source_system", "ingestion_run_id",
                                                   "ingested_at", "partition_key")]
    rows = conn.execute(sa.select(*cols).where(t.c[column].in_(people))).mappings().all()
    frame = pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in cols])
    for c in RAW_TABLES[table].columns:
        if isinstance(c.type, sa.DateTime) and c.name in frame:
            frame[c.name] = pd.to_datetime(frame[c.name])
    return frame


def _in_window(frame: pd.DataFrame, column: str, start: datetime, end: datetime
               ) -> pd.DataFrame:
    return frame[(frame[column] > start) & (frame[column] <= end)]


def build_role_snapshots(engine: Engine, config: SnapshotsConfig) -> dict:
    """Replace marts.role_snapshots; per role its status, behaviours and metadata lines."""
    emp = RAW_TABLES["hr_employees"]
    rows: list[dict] = []
    roles: dict[str, dict] = {}
    with engine.connect() as conn:
        for spec in config.roles:
            people = sorted(conn.execute(sa.select(emp.c.employee_id).where(
                emp.c.role == spec.role)).scalars())
            logs = {t: _read(conn, t, people, LOG_PERSON[t]) for t in spec.logs}
            contracts = (_read(conn, "crm_contracts", people, "owner_id")
                         if spec.metric == "renewal_win_rate" else None)
            role_rows, roles[spec.role] = snapshot_role(spec, config, people, logs, contracts)
            rows += role_rows
    with engine.begin() as conn:
        conn.execute(role_snapshots.delete())
        if rows:
            conn.execute(role_snapshots.insert(),
                         [{c.name: r.get(c.name) for c in role_snapshots.columns} for r in rows])
    return {"rows": len(rows), "roles": roles}


def snapshot_role(spec: RoleSnapshot, config: SnapshotsConfig, people: list[str],
                  logs: dict[str, pd.DataFrame], contracts: pd.DataFrame | None
                  ) -> tuple[list[dict], dict]:
    """The mart rows of one role and its metadata (status, counts, lines)."""
    base = {"role": spec.role, "metric": spec.metric, "correction": spec.correction,
            "alpha": spec.alpha, "config_version": config.version}
    info: dict = {"people": len(people), "lines": []}

    def no_snapshot(reason: str, **extra) -> tuple[list[dict], dict]:
        info.update(status="no_snapshot", reason=reason)
        return [{**base, **extra, "behaviour": STATUS_BEHAVIOUR, "label": "no snapshot",
                 "source": ", ".join(logs), "measure": "-", "status": "no_snapshot",
                 "in_catalogue": 1, "reason": reason}], info

    times = [f[LOG_TIME[t]].max() for t, f in logs.items() if len(f)]
    if contracts is not None and len(contracts.dropna(subset=["decided_at"])):
        times.append(contracts["decided_at"].max())
    if not people:
        return no_snapshot(f"no one on the HR roster holds the role {spec.role}")
    if not times:
        return no_snapshot(f"no records of the {len(people)} {spec.role}(s) in "
                           f"{', '.join(_log_name(t) for t in logs)}")
    end = max(times).to_pydatetime()
    start = end - spec.window_months * MONTH
    window = {"window_start": start, "window_end": end}
    info["window"] = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    logs = {t: _in_window(f, LOG_TIME[t], start, end) for t, f in logs.items()}
    info["records"] = {_log_name(t): len(f) for t, f in logs.items()}
    info["lines"] += _empty_months(logs, start, spec.window_months)
    if spec.metric == "renewal_win_rate":
        decided = _in_window(contracts, "decided_at", start, end)
        metric = win_rates(people, decided)
        features = sales_features(people, logs["crm_activities"], logs["crm_template_usage"],
                                  config.catalogues, spec.window_months,
                                  config.follow_up_hours)
        missing = "no decided contract in raw.crm_contracts"
    else:
        jobs = logs["mes_maintenance_log"]
        metric = repair_minutes(people, jobs)
        features = repair_features(people, jobs, config.catalogues, spec.window_months)
        missing = "no repair job in mes/maintenance_log"
    info["lines"] += _unknown_lines(features)
    info["metric_records"] = int(metric["records"].sum())
    if len(metric) < len(people):
        info["lines"].append(f"{len(people) - len(metric)} of {len(people)} {spec.role}(s) "
                             f"have {missing} in the window and are not ranked")
    if metric.empty:
        return no_snapshot(f"no metric data: {missing} in the window", **window)
    ranked = metric.sort_values(["score", "tie"], ascending=False, kind="stable")
    if ranked[["score", "tie"]].drop_duplicates().shape[0] == 1:
        return no_snapshot(f"no high performers by the metric: all {len(ranked)} ranked "
                           f"people have the same {spec.metric} ({ranked['metric'].iloc[0]:g})",
                           **window)
    n_top = math.floor(spec.top_share * len(ranked) + 0.5)
    top, rest = ranked.iloc[:n_top], ranked.iloc[n_top:]
    info.update(top_people=len(top), rest_people=len(rest))
    if min(len(top), len(rest)) < spec.min_people_per_group:
        return no_snapshot(
            f"too few people to compare without pointing at someone: {len(top)} in the top "
            f"{spec.top_share:.0%} and {len(rest)} in the rest by {spec.metric}, fewer than "
            f"{spec.min_people_per_group} in a group", **window)
    extra = {**window, "top_metric": float(top["metric"].median()),
             "rest_metric": float(rest["metric"].median())}
    rows = compare(features, set(top["person"]), set(rest["person"]), spec)
    rows = [{**base, **extra, **r} for r in rows]
    found = [r for r in rows if r["status"] == "distinguishing"]
    info.update(status="snapshot", behaviours=len(rows), distinguishing=[
        f"{r['behaviour']} ({r['direction']}, lift {_lift(r['lift'])}, p adj "
        f"{r['p_adjusted']:.2g})" for r in found], top_metric=extra["top_metric"],
        rest_metric=extra["rest_metric"])
    if not found:
        info["lines"].append(f"no behaviour distinguishes the top {spec.top_share:.0%} of "
                             f"{spec.role}s from the rest at {spec.correction}-corrected "
                             f"alpha {spec.alpha}")
    return rows, info


def compare(features: Features, top: set[str], rest: set[str], spec: RoleSnapshot
            ) -> list[dict]:
    """Per behaviour: group means, lift, Mann-Whitney p and its corrected value, people
    and records behind it."""
    from scipy.stats import mannwhitneyu
    from statsmodels.stats.multitest import multipletests

    frame = features.frame()
    out: list[dict] = []
    for behaviour, rows in frame.groupby("behaviour", sort=True):
        first = rows.iloc[0]
        a = rows[rows["person"].isin(top)]
        b = rows[rows["person"].isin(rest)]
        values_a, values_b = a["value"].dropna().astype(float), b["value"].dropna().astype(float)
        row = {"behaviour": behaviour, "label": first["label"], "source": first["source"],
               "measure": first["measure"], "in_catalogue": int(first["in_catalogue"]),
               "top_people": len(values_a), "rest_people": len(values_b),
               "records": int(a["records"].sum() + b["records"].sum())}
        if min(len(values_a), len(values_b)) < spec.min_people_per_group:
            out.append({**row, "status": "not_tested", "reason": "fewer than "
                        f"{spec.min_people_per_group} people with such records in a group"})
            continue
        mean_a, mean_b = float(values_a.mean()), float(values_b.mean())
        p = float(mannwhitneyu(values_a, values_b, alternative="two-sided").pvalue)
        out.append({**row, "top_mean": mean_a, "rest_mean": mean_b,
                    "lift": mean_a / mean_b if mean_b else None,
                    "direction": "more" if mean_a > mean_b else "less",
                    "p_value": 1.0 if math.isnan(p) else p})
    tested = [r for r in out if "p_value" in r]
    if tested:
        reject, adjusted, _, _ = multipletests([r["p_value"] for r in tested],
                                               alpha=spec.alpha, method=spec.correction)
        for r, rej, adj in zip(tested, reject, adjusted, strict=True):
            r.update(p_adjusted=float(adj),
                     status="distinguishing" if rej else "not_distinguishing")
    return out


def _lift(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _log_name(table: str) -> str:
    system, _, name = table.partition("_")
    return f"{system}/{name}"


def _empty_months(logs: dict[str, pd.DataFrame], start: datetime, months: int) -> list[str]:
    """A line per 30-day month of the window in which a log has no record."""
    lines = []
    for table, frame in logs.items():
        for k in range(months):
            lo, hi = start + k * MONTH, start + (k + 1) * MONTH
            if not len(_in_window(frame, LOG_TIME[table], lo, hi)):
                lines.append(f"{_log_name(table)}: no records from {lo:%Y-%m-%d} to "
                             f"{hi:%Y-%m-%d} (month {k + 1} of {months} of the window); "
                             "its frequencies count it as a month without activity")
    return lines


def _unknown_lines(features: Features) -> list[str]:
    what = {"email_template": "template", "message_template": "template", "phrase": "phrase",
            "step": "step"}
    return [f"{source}: {what.get(kind, kind)} {ident!r} is not in the catalogue of "
            f"snapshots.yaml: {n} record(s) counted under its own id"
            for (source, kind, ident), n in sorted(features.unknown.items())]
