"""Which team a device works for, from the plant's own MES records.

A plant's device ids are its own (`ROB-0042`, `焊机3`), so the team of a device alert is
read from the MES records that name both the device and its team (equipment events, then
equipment checks), the latest first. Only a device no record names yet falls back to the
plant simulator's naming, `<team>-D<nn>`.
"""

from __future__ import annotations

import sqlalchemy as sa

from perf_orchestration.tables import RAW_TABLES

SOURCES = ("mes_equipment_events", "mes_equipment_checks")


def device_teams(conn: sa.Connection, devices: list[str]) -> dict[str, str]:
    """The team of each device (one query per source table for all of them)."""
    found: dict[str, str] = {}
    inspector = sa.inspect(conn)
    for name in SOURCES:
        wanted = [d for d in devices if d not in found]
        if not wanted or not inspector.has_table(name, schema="raw"):
            continue
        t = RAW_TABLES[name]
        rows = conn.execute(sa.select(t.c.device_id, t.c.team_id)
                            .where(t.c.device_id.in_(wanted))
                            .order_by(t.c.updated_at, t.c.team_id))
        found |= {device: team for device, team in rows if team}  # the latest wins
    return {d: found.get(d) or _by_name(d) for d in devices}


def device_team(conn: sa.Connection, device: str) -> str:
    return device_teams(conn, [device])[device]


def _by_name(device: str) -> str:
    return device.rpartition("-D")[0] if "-D" in device else device
