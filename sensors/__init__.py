"""Dagster sensors, thin wrappers over perf_orchestration."""
