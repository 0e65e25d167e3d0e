"""causes.yaml: the candidate direct causes of each metric, validated as a graph.

A cause names a metric of the metric library with an hourly mart, one of the nodes the
analysis reads itself (NODES), or an interface of interfaces.yaml (`interface:wms→tms`).
The graph must be acyclic (a walk from a problem ends), and no lag may be longer than the
history the analysis looks at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import load_model
from perf_orchestration.metrics.library import METRICS_BY_NAME, TEAM_HOURLY
from perf_orchestration.scenarios.config import LINKS

CAUSES_FILE = "causes.yaml"
HOURLY_MARTS = (TEAM_HOURLY, "delivery_hourly")
# nodes read by the analysis itself, beside the library's metrics and the interfaces
NODES = {
    "stock_age_h": "the oldest stock (hours) a dispatch was planned on (delivery_hourly)",
    "order_receipt_wait_h": "the longest ERP-to-WMS wait of an order line (delivery_hourly)",
    "device_failures": "equipment failures per hour of the subject's devices (MES)",
    "defects:top": "defects per hour of the code most frequent in the problem's hours (QMS)",
    "fai_failures:top": "failed first-article inspections per hour of the defect code most "
                        "frequent in the problem's hours (MES)",
}
INTERFACE = "interface:"
Scope = Literal["plant"]


def known_node(name: str) -> bool:
    if name.startswith(INTERFACE):
        return name[len(INTERFACE):].replace("->", "→") in LINKS
    metric = METRICS_BY_NAME.get(name)
    return name in NODES or (metric is not None and metric.mart in HOURLY_MARTS)


class Cause(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cause: str
    sign: Literal["+", "-"]
    lag_hours: int = Field(default=0, ge=0, le=24 * 14)


class Problem(BaseModel):
    """A target whose miss on a plant day counts as a problem (besides episodes and red
    goal cells)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    scope: Scope = "plant"
    op: Literal["<", "<=", ">", ">="]
    value: float


class CausesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=100)
    days: int = Field(default=3, ge=1, le=90, description="history looked at (plant days)")
    min_points: int = Field(default=6, ge=3, le=10_000)
    min_problem_hours: int = Field(default=2, ge=1, le=24 * 14)
    min_correlation: float = Field(default=0.5, gt=0, le=1)
    min_shift: float = Field(default=1.0, gt=0, le=100)
    problems: tuple[Problem, ...] = ()
    causes: dict[str, Annotated[tuple[Cause, ...], Field(max_length=20)]] = Field(
        default_factory=dict)

    @model_validator(mode="after")
    def _graph(self) -> CausesConfig:
        problems = []
        for i, p in enumerate(self.problems):
            if not known_node(p.metric) or p.metric in NODES:
                problems.append(f"problems[{i}]: unknown metric {p.metric!r} (a metric of "
                                "the library with an hourly mart)")
        for effect, causes in self.causes.items():
            if not known_node(effect):
                problems.append(f"causes.{effect}: unknown metric or node {effect!r}")
            for j, c in enumerate(causes):
                if not known_node(c.cause):
                    problems.append(f"causes.{effect}[{j}]: unknown cause {c.cause!r} (a "
                                    "library metric with an hourly mart, "
                                    f"{', '.join(NODES)}, or interface:<link> of "
                                    f"{', '.join(LINKS)})")
                if c.lag_hours >= 24 * self.days:
                    problems.append(f"causes.{effect}[{j}]: lag of {c.lag_hours} h is longer "
                                    f"than the history looked at ({self.days} days)")
        cycle = _cycle(self.causes)
        if cycle:
            problems.append(f"causes: a cycle {' -> '.join(cycle)} (a walk would not end)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def of(self, effect: str) -> tuple[Cause, ...]:
        return self.causes.get(effect, ())


def _cycle(causes: dict[str, tuple[Cause, ...]]) -> list[str]:
    """One cycle of the graph as its nodes, or []."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        if state.get(node) == 1:
            return path[path.index(node):] + [node]
        if state.get(node) == 2:
            return []
        state[node] = 1
        for c in causes.get(node, ()):
            found = visit(c.cause, path + [node])
            if found:
                return found
        state[node] = 2
        return []

    for start in causes:
        found = visit(start, [])
        if found:
            return found
    return []


def load_causes(path: Path | str | None = None) -> CausesConfig:
    """Read and validate causes.yaml (default: the bundled one), or raise ConfigError."""
    return load_model(Path(path) if path else bundled_file(CAUSES_FILE), CausesConfig)
