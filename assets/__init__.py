"""Dagster asset and asset-check definitions, thin wrappers over perf_orchestration."""

import warnings

import dagster as dg

# Single-run backfills and pools are relied on deliberately; their beta notice is noise.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
