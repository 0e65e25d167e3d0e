"""`perfflow trace marts.breakpoints CHAIN/LEVEL`: one link of a breakpoint chain down to
its source records, each with the run that landed it (for an auditor)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.tables import RAW_TABLES
from perf_orchestration.tables.marts import breakpoints
from perf_orchestration.tables.ops import interface_health

SHOWN = ("source_system", "ingestion_run_id", "ingested_at", "partition_key")


def parse_link(key: str) -> tuple[int, int]:
    chain, _, level = key.partition("/")
    if not (chain.isdigit() and (level or "0").isdigit()):
        raise ConfigError([f"trace: {key!r} is not CHAIN/LEVEL (e.g. 1/3: chain 1, level 3; "
                           "level 0 is the problem)"])
    return int(chain), int(level or 0)


def _record_lines(conn: sa.Connection, record: str) -> list[str]:
    where, _, ident = record.partition(":")
    schema, _, name = where.partition(".")
    if schema == "raw" and name in RAW_TABLES:
        table = RAW_TABLES[name]
        row = conn.execute(sa.select(table).where(table.c.source_record_id == ident)) \
            .mappings().first()
        if row is None:
            return [f"    {record}: not in the warehouse any more"]
        fields = ", ".join(f"{k}={row[k]}" for k in table.c.keys()
                           if k not in SHOWN and k != "source_record_id")
        landed = ", ".join(f"{k}={row[k]}" for k in SHOWN)
        return [f"    {record}: {fields}", f"      landed: {landed}"]
    if where == "ops.interface_health":
        link, _, hour = ident.partition("@")
        row = conn.execute(sa.select(interface_health).where(
            interface_health.c.link == link, interface_health.c.partition_key == hour)) \
            .mappings().first()
        if row is None:
            return [f"    {record}: not judged any more"]
        lines = [f"    {record}: last sync {row['last_sync_at']} UTC, age {row['age_hours']:.1f}"
                 f" h (threshold {row['threshold_hours']:g} h), evidence {row['evidence']}"]
        for evidence in json.loads(row["evidence"]):
            for table in ("tms_stock_receipts", "tms_dispatches", "erp_order_lines",
                          "wms_order_receipts"):
                hit = conn.execute(sa.select(RAW_TABLES[table].c.ingestion_run_id).where(
                    RAW_TABLES[table].c.source_record_id == evidence)).first()
                if hit:
                    lines.append(f"      raw.{table}:{evidence} landed by run {hit[0]}")
        return lines
    return [f"    {record}"]


def trace_link(engine: sa.Engine, key: str) -> list[str]:
    chain, level = parse_link(key)
    with engine.connect() as conn:
        row = conn.execute(sa.select(breakpoints).where(
            breakpoints.c.chain == chain, breakpoints.c.level == level)).mappings().first()
        if row is None:
            raise ConfigError([f"trace: marts.breakpoints has no chain {chain} level {level}"])
        out = [f"chain {chain}, level {level}: {row['label']} ({row['node']}, scope "
               f"{row['scope']})", f"  problem: {row['problem']} ({row['problem_kind']} "
               f"{row['problem_id']}), {row['impact']} late order line(s)"]
        if level:
            out.append(f"  sign {row['sign']}, lag {row['lag_hours']} h: before/around "
                       f"{row['value_before']}, during {row['value_during']}, correlation "
                       f"{row['correlation']} over {row['points']} hours"
                       + (", the deepest supported break" if row["is_break"] else "")
                       + (", on an interface" if row["is_interface"] else ""))
        out.append(f"  problem hours: {', '.join(json.loads(row['problem_hours']))}")
        tested = json.loads(row["tested"])
        if tested:
            out.append("  causes tested one level down:")
            out += [f"    {t['node']}: {t['reason']}" for t in tested]
        out.append("  records:")
        for record in json.loads(row["records"]):
            out += _record_lines(conn, record)
        out.append(f"  window {row['window_start']} .. {row['window_end']} UTC, "
                   f"{row['config_version']}, refreshed {row['refreshed_at']}")
    return out
