"""Per person, over a role's window: the performance metric and the behaviours of the
operation logs, as plain numbers (frequencies per month, uses per 100, shares).

Every behaviour is a row of a long table (person, behaviour, value, records), so the
statistics treat a template, a phrase or a repair step alike. An id the catalogue does not
list is still counted, under its own id, and named in `unknown`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from perf_orchestration.people.snapshot_config import Catalogues

KIND_LABELS = {"call": "calls", "visit": "customer visits", "email": "e-mails",
               "follow_up_note": "follow-up notes"}
FEATURE_COLUMNS = ("person", "behaviour", "label", "source", "measure", "value", "records",
                   "in_catalogue")


@dataclass
class Features:
    """The role's behaviours per person, and what was counted outside the catalogue."""

    rows: list[dict] = field(default_factory=list)
    unknown: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (log, kind, id)

    def add(self, person: str, behaviour: str, label: str, source: str, measure: str,
            value: float | None, records: int, in_catalogue: bool) -> None:
        self.rows.append(dict(zip(FEATURE_COLUMNS, (person, behaviour, label, source, measure,
                                                    value, records, int(in_catalogue)),
                                  strict=True)))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(FEATURE_COLUMNS))


def split_ids(values: Iterable[str | None]) -> list[list[str]]:
    """`;`-separated ids (phrases, steps) as lists, blanks dropped."""
    return [[p.strip() for p in (v if isinstance(v, str) else "").split(";") if p.strip()]
            for v in values]


def _ids_share(out: Features, people: list[str], frame: pd.DataFrame, person_col: str,
               id_lists: list[list[str]], spec: tuple[str, str, str, str, dict[str, str]],
               per: float) -> None:
    """For each id seen in the log, `per` x share of the person's records using it (an id
    of the catalogue that nobody used has nothing to compare and is not tried)."""
    kind, source, measure, unit, catalogue = spec
    frame = frame.assign(_ids=id_lists)
    seen = sorted({i for ids in id_lists for i in ids})
    for i in seen:
        if i not in catalogue:
            out.unknown[(source, kind, i)] = sum(i in ids for ids in id_lists)
    for person in people:
        mine = frame[frame[person_col] == person]
        for i in seen:
            uses = sum(i in ids for ids in mine["_ids"])
            label = catalogue.get(i, f"{i} (not in the catalogue)")
            out.add(person, f"{kind}:{i}", f"{unit} {i!r}: {label}", source, measure,
                    per * uses / len(mine) if len(mine) else None, len(mine), i in catalogue)


def sales_features(people: list[str], activities: pd.DataFrame, messages: pd.DataFrame,
                   catalogues: Catalogues, months: int, follow_up_hours: float) -> Features:
    """Account-manager behaviours from crm/activities and crm/template_usage."""
    out = Features()
    for kind, label in KIND_LABELS.items():
        for person in people:
            n = int(((activities["owner_id"] == person) & (activities["kind"] == kind)).sum())
            out.add(person, f"activity:{kind}", f"{label} per month", "crm/activities",
                    "per month", n / months, n, True)
    emails = activities[activities["kind"] == "email"]
    _ids_share(out, people, emails, "owner_id", split_ids(emails["template_id"]),
               ("email_template", "crm/activities", "uses per 100 e-mails", "e-mail template",
                catalogues.templates), 100)
    notes = activities[activities["kind"] == "follow_up_note"]
    _ids_share(out, people, notes, "owner_id", split_ids(notes["phrases"]),
               ("phrase", "crm/activities", "share of follow-up notes", "phrase",
                catalogues.phrases), 1)
    _fast_follow_up(out, people, activities, follow_up_hours)
    _ids_share(out, people, messages, "sender_id",
               split_ids(messages["template_id"]),
               ("message_template", "crm/template_usage", "uses per 100 messages",
                "IM/e-mail template", catalogues.templates), 100)
    return out


def _fast_follow_up(out: Features, people: list[str], activities: pd.DataFrame,
                    hours: float) -> None:
    """Share of customer signals whose first follow-up came within `hours`."""
    signals = activities.dropna(subset=["signal_at"])
    first = signals.groupby(["owner_id", "signal_at"], as_index=False)["occurred_at"].min()
    first["fast"] = (first["occurred_at"] - first["signal_at"]) <= pd.Timedelta(hours=hours)
    for person in people:
        mine = first[first["owner_id"] == person]
        out.add(person, f"follow_up:within_{hours:g}h",
                f"first follow-up of a customer signal within {hours:g} h", "crm/activities",
                "share of signals", float(mine["fast"].mean()) if len(mine) else None,
                len(mine), True)


def repair_features(people: list[str], jobs: pd.DataFrame, catalogues: Catalogues,
                    months: int) -> Features:
    """Maintenance-technician behaviours from mes/maintenance_log."""
    out = Features()
    _ids_share(out, people, jobs, "technician_id", split_ids(jobs["steps"]),
               ("step", "mes/maintenance_log", "share of repair jobs", "step",
                catalogues.steps), 1)
    families = jobs["failure_code"].map(lambda c: catalogues.family_of(c) or c)
    for family in sorted(set(catalogues.failure_families) | set(families)):
        spec = catalogues.failure_families.get(family)
        label = spec.label if spec else f"failure code {family} (in no family)"
        for person in people:
            n = int(((jobs["technician_id"] == person) & (families == family)).sum())
            out.add(person, f"failure_family:{family}", f"repair jobs on {label} per month",
                    "mes/maintenance_log", "per month", n / months, n, spec is not None)
    return out


def win_rates(people: list[str], contracts: pd.DataFrame) -> pd.DataFrame:
    """Per person with decided contracts: renewed / decided, and the renewed annual value
    (the tie-break); higher is better. Records = decided contracts."""
    decided = contracts[contracts["outcome"].isin(["renewed", "churned"])
                        & contracts["owner_id"].isin(people)]
    renewed = decided["outcome"] == "renewed"
    out = pd.DataFrame({
        "person": decided["owner_id"], "renewed": renewed.astype(int),
        "value": decided["annual_value"].where(renewed, 0.0)}).groupby("person").agg(
        renewed=("renewed", "sum"), records=("renewed", "size"), tie=("value", "sum"))
    out["metric"] = out["renewed"] / out["records"]
    out["score"] = out["metric"]
    return out.reset_index()[["person", "metric", "score", "tie", "records"]]


def repair_minutes(people: list[str], jobs: pd.DataFrame) -> pd.DataFrame:
    """Per person with repair jobs: the median minutes from start to finish; lower is
    better (the score is its negative). Records = jobs."""
    mine = jobs[jobs["technician_id"].isin(people)]
    minutes = (mine["finished_at"] - mine["started_at"]).dt.total_seconds() / 60
    out = pd.DataFrame({"person": mine["technician_id"], "minutes": minutes}).groupby(
        "person").agg(metric=("minutes", "median"), records=("minutes", "size"))
    out["score"], out["tie"] = -out["metric"], 0.0
    return out.reset_index()[["person", "metric", "score", "tie", "records"]]
