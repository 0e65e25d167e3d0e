"""interfaces.yaml: how long each link may go without a sync before it counts as broken."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import load_model
from perf_orchestration.scenarios.config import LINKS

INTERFACES_FILE = "interfaces.yaml"


class LinkSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    gap_hours: float = Field(gt=0, le=24 * 30)


class InterfacesConfig(BaseModel):
    """The gap thresholds of the warehouse links and of the links between systems."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=100)
    warehouse_gap_hours: float = Field(default=3, gt=0, le=24 * 30)
    links: dict[str, LinkSpec] = Field(default_factory=dict)

    @field_validator("links")
    @classmethod
    def _known_links(cls, links: dict[str, LinkSpec]) -> dict[str, LinkSpec]:
        unknown = sorted(set(links) - set(LINKS))
        if unknown:
            raise ValueError(f"unknown link(s) {', '.join(unknown)} (known: {', '.join(LINKS)})")
        return links

    def gap_hours(self, link: str) -> float:
        spec = self.links.get(link)
        return spec.gap_hours if spec else self.warehouse_gap_hours


def load_interfaces(path: Path | str | None = None) -> InterfacesConfig:
    """Read and validate interfaces.yaml (default: the bundled one), or raise ConfigError."""
    return load_model(Path(path) if path else bundled_file(INTERFACES_FILE), InterfacesConfig)
