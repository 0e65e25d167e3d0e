"""marts.breakpoints: the chains as rows (one per level), and back as text and dicts for
the CLI, the war room, the HR export and summary.json."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from perf_orchestration.breakpoints.analysis import Chain, Step
from perf_orchestration.breakpoints.series import Hours
from perf_orchestration.tables.marts import breakpoints as table


def _tested(steps: list[Step]) -> str:
    return json.dumps([{"node": s.node, "supported": s.supported, "reason": s.reason,
                        "correlation": s.correlation, "points": s.points} for s in steps])


def chain_rows(chains: list[Chain], hours: Hours, version: str, now: datetime) -> list[dict]:
    rows = []
    start = hours.starts[hours.keys[0]] if hours.keys else now
    end = hours.ends[hours.keys[-1]] if hours.keys else now
    for chain in chains:
        p = chain.problem
        common = {"chain": chain.rank, "problem_kind": p.kind, "problem_id": p.ident,
                  "problem": p.description, "scope": p.scope, "impact": p.impact,
                  "problem_hours": json.dumps(p.hours), "note": chain.note,
                  "window_start": start, "window_end": end, "config_version": version,
                  "refreshed_at": now}
        rows.append({**common, "level": 0, "node": p.metric, "label": p.description,
                     "sign": None, "lag_hours": None, "value_before": None,
                     "value_during": None, "correlation": None, "points": len(p.hours),
                     "is_interface": 0, "is_break": int(not chain.steps),
                     "records": json.dumps(p.records),
                     "tested": _tested([s for s in chain.tested if s.level == 1])})
        for i, s in enumerate(chain.steps):
            rows.append({**common, "level": s.level, "node": s.node, "label": s.label,
                         "sign": s.sign, "lag_hours": s.lag_hours, "value_before": s.before,
                         "value_during": s.during, "correlation": s.correlation,
                         "points": s.points, "is_interface": int(s.interface),
                         "is_break": int(i == len(chain.steps) - 1),
                         "records": json.dumps(s.records),
                         "tested": _tested([t for t in chain.tested
                                            if t.level == s.level + 1])})
    return rows


def write_chains(engine: sa.Engine, rows: list[dict]) -> None:
    """Replace the chains (the analysis is of the latest days, rebuilt whole)."""
    with engine.begin() as conn:
        conn.execute(table.delete())
        if rows:
            conn.execute(table.insert(), [{**r, "refreshed_at": r["refreshed_at"].replace(
                tzinfo=None)} for r in rows])


def read_chains(engine: sa.Engine) -> list[dict]:
    """The chains as written: [{chain, problem, impact, ends_at_interface, note, steps}]."""
    if "breakpoints" not in sa.inspect(engine).get_table_names(schema="marts"):
        return []
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.chain, table.c.level)) \
            .mappings().all()
    return _as_chains([dict(r) for r in rows])


def _value(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def chain_text(chain: dict) -> str:
    """One line: problem -> cause -> ... -> break, each with before/during values."""
    parts = [f"{chain['problem']} [{chain['impact']} late line(s)]"]
    for s in chain["steps"][1:]:
        parts.append(f"{s['label']} {_value(s['value_before'])} -> {_value(s['value_during'])}"
                     f" (r {_value(s['correlation'])})"
                     + (" [interface]" if s["is_interface"] else ""))
    text = " -> ".join(parts)
    return text + ("" if len(chain["steps"]) > 1 else f" ({chain['note']})")


def run_breakpoints(engine: sa.Engine, config, rules, last_day, days: int | None,
                    now: datetime, write: bool = True) -> list[dict]:
    """Analyse the last `days` plant days up to `last_day`, write marts.breakpoints (unless
    `write` is false) and return the chains as read_chains gives them."""
    from perf_orchestration.breakpoints.analysis import breakpoints

    chains, _, hours = breakpoints(engine, config, rules, last_day, days)
    rows = chain_rows(chains, hours, config.version, now)
    if write:
        write_chains(engine, rows)
        return read_chains(engine)
    return _as_chains(rows)


def _as_chains(rows: list[dict]) -> list[dict]:
    chains: dict[int, dict] = {}
    for r in rows:
        c = chains.setdefault(r["chain"], {k: r[k] for k in (
            "chain", "problem", "problem_kind", "problem_id", "scope", "impact", "note")}
            | {"problem_hours": json.loads(r["problem_hours"]), "steps": []})
        c["steps"].append({k: r[k] for k in (
            "level", "node", "label", "sign", "lag_hours", "value_before", "value_during",
            "correlation", "points", "is_interface", "is_break")}
            | {"records": json.loads(r["records"]), "tested": json.loads(r["tested"])})
    for c in chains.values():
        c["ends_at_interface"] = bool(c["steps"][-1]["is_interface"])
        c["text"] = chain_text(c)
    return list(chains.values())
