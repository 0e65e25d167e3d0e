"""Which metrics each production line watches, with its red and yellow bands.

Lines differ (a paint line has VOC limits, a weld line weld-strength variation), so the
bands live in YAML (`line_metrics.yaml`), validated against the metric library: an
unknown metric, a metric that does not apply to the line type, or bands in the wrong
order for the metric's direction fail with the file, the field and the line id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import load_model
from perf_orchestration.metrics.library import METRICS_BY_NAME, Metric

LINE_CONFIG_FILE = "line_metrics.yaml"
BUNDLED_LINE_CONFIG = bundled_file(LINE_CONFIG_FILE)
Status = Literal["green", "yellow", "red"]
ProductionLineType = Literal["welding", "painting", "assembly", "machining"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    """A metric's thresholds on one line: past `yellow` is yellow, past `red` is red.

    "Past" follows the metric's direction: below the threshold when higher is better,
    above it when lower is better. A value exactly at a threshold is on the better side.
    """

    metric: str = Field(description="a metric name from perf_orchestration.metrics.library")
    yellow: float = Field(description="the threshold between green and yellow")
    red: float = Field(description="the threshold between yellow and red")

    @model_validator(mode="after")
    def _known_and_ordered(self) -> Band:
        found = METRICS_BY_NAME.get(self.metric)
        if found is None:
            raise ValueError(f"unknown metric {self.metric!r} (known: "
                             f"{', '.join(METRICS_BY_NAME)})")
        if found.direction == "higher" and not self.red < self.yellow:
            raise ValueError(f"{self.metric}: higher is better, so red ({self.red:g}) must be "
                             f"below yellow ({self.yellow:g})")
        if found.direction == "lower" and not self.red > self.yellow:
            raise ValueError(f"{self.metric}: lower is better, so red ({self.red:g}) must be "
                             f"above yellow ({self.yellow:g})")
        if found.is_ratio and not (0 <= self.red <= 1 and 0 <= self.yellow <= 1):
            raise ValueError(f"{self.metric} is a ratio: red and yellow must lie in [0, 1]")
        return self

    @property
    def definition(self) -> Metric:
        return METRICS_BY_NAME[self.metric]

    def status(self, value: float | None) -> Status | None:
        """green, yellow or red for a value; None for a NULL metric (no data is no colour)."""
        if value is None:
            return None
        if self.definition.direction == "higher":
            return "red" if value < self.red else "yellow" if value < self.yellow else "green"
        return "red" if value > self.red else "yellow" if value > self.yellow else "green"


class LineSpec(_Strict):
    """One production line and the bands of the metrics it watches."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9-]{1,15}$", description="line id, as in hr_teams")
    name: str = Field(min_length=1)
    line_type: ProductionLineType
    metrics: tuple[Band, ...]

    @model_validator(mode="after")
    def _applicable_once(self) -> LineSpec:
        if not self.metrics:
            raise ValueError("a line needs at least one metric")
        names = [b.metric for b in self.metrics]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"metrics listed twice: {', '.join(doubled)}")
        for i, band in enumerate(self.metrics):
            types = band.definition.line_types
            if types and self.line_type not in types:
                raise ValueError(f"metrics[{i}]: {band.metric} applies to "
                                 f"{' and '.join(types)} lines, not {self.line_type}")
        return self

    def band(self, metric: str) -> Band | None:
        return next((b for b in self.metrics if b.metric == metric), None)


class LineConfig(_Strict):
    """line_metrics.yaml: every production line with its metric bands."""

    lines: tuple[LineSpec, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> LineConfig:
        if not self.lines:
            raise ValueError("no lines configured")
        ids = [line.id for line in self.lines]
        doubled = sorted({i for i in ids if ids.count(i) > 1})
        if doubled:
            raise ValueError(f"lines listed twice: {', '.join(doubled)}")
        return self

    def line(self, line_id: str) -> LineSpec:
        """The line `line_id`; KeyError names the known lines."""
        for line in self.lines:
            if line.id == line_id:
                return line
        known = ", ".join(line.id for line in self.lines)
        raise KeyError(f"no line {line_id!r} in the line config (known: {known})")


def load_line_config(path: Path | str | None = None) -> LineConfig:
    """Read and validate a line config (default: the bundled one), or raise ConfigError."""
    return load_model(Path(path) if path else BUNDLED_LINE_CONFIG, LineConfig)
