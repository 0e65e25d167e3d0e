"""Which metrics each production line watches, with its red and yellow bands.

Lines differ (a paint line has VOC limits, a weld line weld-strength variation), so the
bands live in YAML (`line_metrics.yaml`), written per line type so that every plant's lines
get them, with an optional entry per line id whose bands replace its type's for the metrics
it lists. They are validated against the metric library: an unknown metric, a metric that
does not apply to the line type, or bands in the wrong order for the metric's direction
fail with the file, the field and the line type or id.
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
    """One production line (or, with `id` None, every line of a type) and its bands."""

    id: str | None = Field(default=None, pattern=r"^\w[\w.-]{0,63}$",
                           description="line id, as in hr_teams.line_id (letters of any "
                           "script, digits, '.', '-', '_')")
    name: str = Field(default="", description="what the plant calls the line")
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
    """line_metrics.yaml: the bands of each production line type, and of single lines."""

    line_types: tuple[LineSpec, ...] = Field(
        default=(), description="bands per line type, for every line of that type")
    lines: tuple[LineSpec, ...] = Field(
        default=(), description="one line's own bands, replacing its type's for the metrics "
        "listed")

    @model_validator(mode="after")
    def _unique_ids(self) -> LineConfig:
        if not self.lines and not self.line_types:
            raise ValueError("no line types or lines configured")
        if any(t.id is not None for t in self.line_types):
            raise ValueError("line_types: an entry per line type has no id (put a line's own "
                             "bands under lines)")
        if any(line.id is None for line in self.lines):
            raise ValueError("lines: every entry names its line id")
        for what, ids in (("lines", [line.id for line in self.lines]),
                          ("line types", [t.line_type for t in self.line_types])):
            doubled = sorted({i for i in ids if ids.count(i) > 1})
            if doubled:
                raise ValueError(f"{what} listed twice: {', '.join(doubled)}")
        return self

    def line(self, line_id: str, line_type: str | None = None) -> LineSpec:
        """The bands of line `line_id` of `line_type`: its type's, with its own entry's
        replacing them metric by metric. KeyError when neither is configured."""
        own = next((line for line in self.lines if line.id == line_id), None)
        kind = line_type or (own.line_type if own else None)
        base = next((t for t in self.line_types if t.line_type == kind), None)
        if own is None and base is None:
            known = ", ".join([str(t.line_type) for t in self.line_types] +
                              [str(line.id) for line in self.lines])
            raise KeyError(f"no line {line_id!r} of type {kind} in the line config (known: "
                           f"{known})")
        mine = {b.metric: b for b in own.metrics} if own else {}
        bands = tuple(mine.pop(b.metric, b) for b in (base.metrics if base else ())) + \
            tuple(mine.values())
        return LineSpec(id=line_id, name=own.name if own else "", line_type=kind,
                        metrics=bands)


def load_line_config(path: Path | str | None = None) -> LineConfig:
    """Read and validate a line config (default: the bundled one), or raise ConfigError."""
    return load_model(Path(path) if path else BUNDLED_LINE_CONFIG, LineConfig)
