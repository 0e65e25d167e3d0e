"""PostgreSQL roles that see one plant's rows of the group warehouse.

Each plant's own warehouse is a database of its own: a plant role is given CONNECT on
that database only (with the plant's HR or auditor grants of deploy/roles.sql inside it).
In the group warehouse, the per-plant tables carry `plant_id`; row-level security lets a
plant's role read its own rows and nothing else. The group totals
(`marts.group_goal_scores`) are not granted: with two plants, the total less one's own is
the other's. Idempotent: apply again after adding a plant.
"""

from __future__ import annotations

import sqlalchemy as sa

from perf_orchestration.group.config import GroupFile
from perf_orchestration.tables.group import group_goal_health, plant_goal_scores

PLANT_TABLES = (plant_goal_scores, group_goal_health)


def plant_role(plant_id: str, prefix: str = "perfflow_plant_") -> str:
    """The role name of a plant: lower case, dashes as underscores."""
    return prefix + plant_id.lower().replace("-", "_")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def plant_roles_sql(group: GroupFile, prefix: str = "perfflow_plant_") -> list[str]:
    """The statements, in order: roles, schema usage, grants, row-level security."""
    out = []
    for plant in group.plants:
        role = plant_role(plant.id, prefix)
        out.append("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                   f"'{role}') THEN CREATE ROLE {_ident(role)} NOLOGIN; END IF; END $$")
        out.append(f"GRANT USAGE ON SCHEMA marts TO {_ident(role)}")
    for table in PLANT_TABLES:
        name = f"marts.{_ident(table.name)}"
        out.append(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
        for plant in group.plants:
            role = plant_role(plant.id, prefix)
            policy = _ident(f"{role}_rows")
            out.append(f"DROP POLICY IF EXISTS {policy} ON {name}")
            out.append(f"CREATE POLICY {policy} ON {name} FOR SELECT TO {_ident(role)} "
                       f"USING (plant_id = '{plant.id}')")
            out.append(f"GRANT SELECT ON {name} TO {_ident(role)}")
    return out


def apply_plant_roles(engine: sa.Engine, group: GroupFile,
                      prefix: str = "perfflow_plant_") -> list[str]:
    """Create or update the plant roles on the group warehouse; the roles made."""
    if engine.dialect.name != "postgresql":
        raise ValueError("plant roles need a PostgreSQL group warehouse (row-level security)")
    with engine.begin() as conn:
        for statement in plant_roles_sql(group, prefix):
            conn.execute(sa.text(statement))
    return [plant_role(p.id, prefix) for p in group.plants]
