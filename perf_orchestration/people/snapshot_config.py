"""snapshots.yaml: which roles get a capability snapshot, the metric that ranks their
people, the statistics, and the catalogues that give behaviours readable labels.

Validated with pydantic; a bad entry is one line naming the file and the entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import load_model
from perf_orchestration.ingestion.entities import FAILURE_CODES, ROLES
from perf_orchestration.people.config import VersionLabel, _Strict

SNAPSHOTS_FILE = "snapshots.yaml"
# metric -> the raw logs its people's behaviours are read from
METRIC_LOGS = {
    "renewal_win_rate": ("crm_activities", "crm_template_usage"),
    "median_repair_minutes": ("mes_maintenance_log",),
}


class RoleSnapshot(_Strict):
    """One role's snapshot: who is on top by which metric, over which window, and how sure
    a difference must be to be called distinguishing."""

    role: str
    metric: Literal["renewal_win_rate", "median_repair_minutes"] = Field(
        description="renewal_win_rate: renewed / decided contracts of raw.crm_contracts in "
        "the window (ties broken by renewed annual value), higher is better; "
        "median_repair_minutes: median finished - started of raw.mes_maintenance_log jobs, "
        "lower is better")
    window_months: int = Field(default=6, ge=1, le=36, description="Months of 30 days back "
                               "from the latest record of the role's logs")
    top_share: float = Field(default=0.25, gt=0, lt=1, description="Top share by the metric")
    min_people_per_group: int = Field(default=5, ge=2, le=1000, description="Fewer people "
                                      "in the top or in the rest: no snapshot")
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="Significance level")
    correction: Literal["holm", "fdr_bh"] = Field(
        default="holm", description="holm (family-wise) or fdr_bh (Benjamini-Hochberg) over "
        "the role's behaviours tried")

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"unknown role {value!r} (known: {', '.join(ROLES)})")
        return value

    @property
    def logs(self) -> tuple[str, ...]:
        return METRIC_LOGS[self.metric]


class FailureFamily(_Strict):
    label: str
    codes: list[str] = Field(min_length=1)

    @field_validator("codes")
    @classmethod
    def _known_codes(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if c not in FAILURE_CODES]
        if bad:
            raise ValueError(f"unknown failure code(s) {', '.join(bad)} "
                             f"(known: {', '.join(FAILURE_CODES)})")
        return value


class Catalogues(_Strict):
    """Ids used in the logs with the words HR reads; an id not listed is still counted,
    under its own id, and reported."""

    templates: dict[str, str] = Field(description="template id -> what it is")
    phrases: dict[str, str] = Field(description="follow-up note phrase -> what it shows")
    steps: dict[str, str] = Field(description="maintenance step -> what it is")
    failure_families: dict[str, FailureFamily]

    @model_validator(mode="after")
    def _one_family_per_code(self) -> Catalogues:
        seen: dict[str, str] = {}
        for family, spec in self.failure_families.items():
            for code in spec.codes:
                if code in seen:
                    raise ValueError(f"failure family {family}: code {code} is already in "
                                     f"family {seen[code]}")
                seen[code] = family
        return self

    def family_of(self, code: str) -> str | None:
        return next((f for f, spec in self.failure_families.items() if code in spec.codes),
                    None)


class SnapshotsConfig(_Strict):
    version: VersionLabel
    follow_up_hours: float = Field(default=4, gt=0, le=24 * 7, description="A first "
                                   "follow-up this soon after the customer signal is fast")
    roles: list[RoleSnapshot] = Field(min_length=1)
    catalogues: Catalogues

    @model_validator(mode="after")
    def _one_entry_per_role(self) -> SnapshotsConfig:
        roles = [r.role for r in self.roles]
        dup = sorted({r for r in roles if roles.count(r) > 1})
        if dup:
            raise ValueError(f"duplicate role(s) {', '.join(dup)}")
        return self


def load_snapshots(path: Path | str | None = None) -> SnapshotsConfig:
    """Read and validate snapshots.yaml (default: the bundled one), or raise ConfigError."""
    return load_model(path or bundled_file(SNAPSHOTS_FILE), SnapshotsConfig)
