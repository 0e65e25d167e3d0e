"""Who receives an action: the HR roster's people of a role for the alert's subject.

A team subject reaches that team's role holders; a device reaches its team's (devices
are named <team>-D<nn>); a line reaches the role holders of every team on the line; a
link between systems (an interface) reaches the role's holders in every team.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.devices import device_team
from perf_orchestration.tables import RAW_TABLES

employees = RAW_TABLES["hr_employees"]
teams = RAW_TABLES["hr_teams"]


@dataclass(frozen=True)
class Person:
    employee_id: str
    name: str
    email: str
    team_id: str
    role: str


def subject_teams(engine: Engine, subject_kind: str, subject: str) -> list[str]:
    """The teams an alert's subject belongs to."""
    if subject_kind == "team":
        return [subject]
    if subject_kind == "device":
        with engine.connect() as conn:
            return [device_team(conn, subject)]
    if subject_kind == "line":
        with engine.connect() as conn:
            return list(conn.execute(sa.select(teams.c.team_id)
                                     .where(teams.c.line_id == subject)
                                     .order_by(teams.c.team_id)).scalars())
    if subject_kind == "link":  # an interface serves the whole plant
        with engine.connect() as conn:
            return list(conn.execute(sa.select(teams.c.team_id).order_by(teams.c.team_id))
                        .scalars())
    if subject_kind == "person":
        with engine.connect() as conn:
            return list(conn.execute(sa.select(employees.c.team_id)
                                     .where(employees.c.employee_id == subject)).scalars())
    raise ValueError(f"unknown subject kind {subject_kind!r}")


def recipients(engine: Engine, role: str, subject_kind: str, subject: str) -> list[Person]:
    """Everyone holding `role` for the subject; for a person subject with no role
    match, the person themself."""
    team_ids = subject_teams(engine, subject_kind, subject)
    query = (sa.select(employees.c.employee_id, employees.c.name, employees.c.email,
                       employees.c.team_id, employees.c.role)
             .where(employees.c.role == role, employees.c.team_id.in_(team_ids))
             .order_by(employees.c.employee_id))
    with engine.connect() as conn:
        return [Person(*row) for row in conn.execute(query)]


def people_by_id(engine: Engine, employee_ids: tuple[str, ...]) -> list[Person]:
    """Named people of the roster, in the order given (ids not in the roster are skipped)."""
    query = (sa.select(employees.c.employee_id, employees.c.name, employees.c.email,
                       employees.c.team_id, employees.c.role)
             .where(employees.c.employee_id.in_(list(employee_ids))))
    with engine.connect() as conn:
        found = {row[0]: Person(*row) for row in conn.execute(query)}
    return [found[i] for i in employee_ids if i in found]
