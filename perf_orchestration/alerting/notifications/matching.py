"""Labels of an alert episode, the routes it takes, and the windows that mute it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from perf_orchestration.alerting.devices import device_team
from perf_orchestration.alerting.notifications.config import (
    WEEKDAYS,
    MuteWindow,
    Route,
    RoutingConfig,
)
from perf_orchestration.alerting.rules import Rule
from perf_orchestration.plant_calendar import plant_tz
from perf_orchestration.tables import RAW_TABLES

if TYPE_CHECKING:
    from perf_orchestration.alerting.actions import ActionSpec


def matches(matchers: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in matchers.items())


def episode_labels(conn: sa.Connection, rule: Rule, subject: str) -> dict[str, str]:
    """The rule's labels plus rule_id, subject, and the team, line, line type and device it
    concerns (the line type lets routing.yaml be written once for every plant)."""
    labels = {**rule.labels, "rule_id": rule.id, "subject": subject}
    team = None
    if rule.subject == "team":
        team = subject
    elif rule.subject == "device":
        labels["device"] = subject
        team = device_team(conn, subject)
    elif rule.subject == "line":
        labels["line"] = subject
    teams = RAW_TABLES["hr_teams"]
    if team:
        labels["team"] = team
        found = conn.execute(sa.select(teams.c.line_id, teams.c.line_type)
                             .where(teams.c.team_id == team)).first()
    elif "line" in labels:
        found = conn.execute(sa.select(teams.c.line_id, teams.c.line_type)
                             .where(teams.c.line_id == labels["line"]).limit(1)).first()
    else:
        found = None
    if found is not None:
        labels["line"], labels["line_type"] = found
    return labels


@dataclass(frozen=True)
class ResolvedRoute:
    """A matched route with the settings it inherited."""

    id: str
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    receivers: tuple[str, ...] = ()


def _resolve(route: Route, parent: ResolvedRoute | None) -> ResolvedRoute:
    def pick(name: str, default):
        value = getattr(route, name)
        return default if value is None else value

    p = parent
    return ResolvedRoute(
        route.id, tuple(pick("group_by", p.group_by if p else ())),
        timedelta(seconds=pick("group_wait_seconds", p.group_wait.total_seconds() if p else 0)),
        timedelta(seconds=pick("group_interval_seconds",
                               p.group_interval.total_seconds() if p else 0)),
        timedelta(seconds=pick("repeat_interval_seconds",
                               p.repeat_interval.total_seconds() if p else 0)),
        route.receivers)


def matched_routes(config: RoutingConfig, labels: dict[str, str]) -> list[ResolvedRoute]:
    """The deepest matching routes, Alertmanager's way: the first matching child is taken,
    and further siblings only when it says `continue`; a route whose children all fail to
    match takes the alert itself."""

    def walk(route: Route, parent: ResolvedRoute | None) -> list[ResolvedRoute]:
        here = _resolve(route, parent)
        out: list[ResolvedRoute] = []
        for child in route.routes:
            if matches(child.match, labels):
                out += walk(child, here)
                if not child.continue_:
                    break
        return out or [here]

    return walk(config.route, None)


def mute_window_end(window: MuteWindow, labels: dict[str, str], at: datetime) -> datetime | None:
    """When the window that holds the alert at `at` (UTC naive) ends, or None."""
    if not matches(window.match, labels):
        return None
    tz = plant_tz()
    local = at.replace(tzinfo=UTC).astimezone(tz)
    if local.date() in window.dates:
        end = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tz)
        return end.astimezone(UTC).replace(tzinfo=None)
    if WEEKDAYS[local.weekday()] in window.weekdays and window.start and window.end \
            and window.start <= local.time() < window.end:
        end = datetime.combine(local.date(), window.end, tz)
        return end.astimezone(UTC).replace(tzinfo=None)
    return None


def receiver_specs(config: RoutingConfig, labels: dict[str, str]) -> list[ActionSpec]:
    """The extra notifications the route an alert takes asks for, one per receiver and
    role (or one for its named people), as action specs of the episode."""
    from perf_orchestration.alerting.actions import ActionSpec

    specs = []
    for receiver_id in matched_routes(config, labels)[0].receivers:
        receiver = config.receiver(receiver_id)
        action_id = f"receiver-{receiver.id}"
        if receiver.people:
            specs.append(ActionSpec(action_id, "named", receiver.channel, "breach_alert",
                                    people=receiver.people))
        specs += [ActionSpec(f"{action_id}-{role}", role, receiver.channel, "breach_alert")
                  for role in receiver.roles]
    return specs
