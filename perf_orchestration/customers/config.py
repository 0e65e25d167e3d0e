"""response_speed.yaml: what the response-speed evidence tests and how much data it needs."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import load_model

RESPONSE_SPEED_FILE = "response_speed.yaml"


class ResponseSpeedConfig(BaseModel):
    """The threshold under test, the buckets shown, and the data an estimate needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=100)
    fast_hours: float = Field(default=4, gt=0, le=24 * 14)
    buckets_hours: tuple[float, ...] = Field(default=(1, 4, 8, 24), min_length=1, max_length=12)
    lookback_days: int = Field(default=180, ge=1, le=3 * 365)
    min_tickets: int = Field(default=100, ge=10)
    min_per_group: int = Field(default=20, ge=1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)

    @model_validator(mode="after")
    def _edges(self) -> ResponseSpeedConfig:
        edges = self.buckets_hours
        if any(e <= 0 for e in edges) or list(edges) != sorted(set(edges)):
            raise ValueError("buckets_hours: upper edges must be positive and increasing")
        if self.fast_hours not in edges:
            raise ValueError(f"buckets_hours: must contain fast_hours ({self.fast_hours:g}) "
                             "so the buckets split where the claim does")
        return self


def load_response_speed(path: Path | str | None = None) -> ResponseSpeedConfig:
    """Read and validate response_speed.yaml (default: the bundled one), or raise ConfigError."""
    return load_model(Path(path) if path else bundled_file(RESPONSE_SPEED_FILE),
                      ResponseSpeedConfig)
