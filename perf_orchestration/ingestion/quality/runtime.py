"""One Great Expectations context per process, created on first use.

`import great_expectations` costs seconds and `gx.get_context()` builds stores
and a docs-site folder, so neither may happen when the project's definitions
load; the first validation pays once and every later one reuses the context,
the pandas datasource, one dataframe asset per entity table and its batch
definition.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )
    from great_expectations.data_context import AbstractDataContext

DATASOURCE_NAME = "perf_orchestration_quality"
BATCH_DEFINITION_NAME = "whole_batch"

_lock = threading.RLock()
_context: AbstractDataContext | None = None
_batch_definitions: dict[str, BatchDefinition] = {}


class QualitySuiteError(RuntimeError):
    """An expectation raised inside GX: a bug in the suite or its frame, never bad data."""


def import_gx() -> Any:
    """Import great_expectations with its own logging quietened to warnings and above."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    return gx


def get_context() -> AbstractDataContext:
    """The process's ephemeral context: in-memory stores, no docs folder, no progress bars."""
    global _context
    with _lock:
        if _context is None:
            gx = import_gx()
            from great_expectations.data_context.types.base import (
                DataContextConfig,
                InMemoryStoreBackendDefaults,
                ProgressBarsConfig,
            )

            config = DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                analytics_enabled=False,
                progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
            )
            _context = gx.get_context(mode="ephemeral", project_config=config)
        return _context


def _batch_definition(asset_name: str) -> BatchDefinition:
    """The whole-dataframe batch definition of an asset, added the first time it is asked for."""
    with _lock:
        known = _batch_definitions.get(asset_name)
        if known is not None:
            return known
        context = get_context()
        try:
            datasource = context.data_sources.get(DATASOURCE_NAME)
        except LookupError:
            datasource = context.data_sources.add_pandas(DATASOURCE_NAME)
        try:
            asset = datasource.get_asset(asset_name)
        except LookupError:
            asset = datasource.add_dataframe_asset(asset_name)
        try:
            definition = asset.get_batch_definition(BATCH_DEFINITION_NAME)
        except LookupError:
            definition = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)
        _batch_definitions[asset_name] = definition
        return definition


def run_suite(asset_name: str, frame: pd.DataFrame, suite: Any) -> ExpectationSuiteValidationResult:
    """Validate the frame with COMPLETE results, so every failing row's index is reported.

    Raises QualitySuiteError when any expectation raised instead of judging the
    data: a silent exception would read as "no unexpected rows" and land bad rows.
    """
    with _lock:
        batch = _batch_definition(asset_name).get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    problems = []
    for item in result.results:
        message = _raised(item.exception_info)
        if message is not None:
            config = item.expectation_config
            problems.append(f"{config.type} {config.kwargs.get('column', '')}: {message}")
    if problems:
        raise QualitySuiteError(
            f"Great Expectations raised while validating {asset_name}: " + "; ".join(problems)
        )
    return result


def _raised(info: Any) -> str | None:
    """The exception message in a result's exception_info, flat or keyed by metric."""
    if not info:
        return None
    if isinstance(info, dict) and "raised_exception" in info:
        if info.get("raised_exception"):
            return str(info.get("exception_message") or "unknown error")
        return None
    if isinstance(info, dict):
        for nested in info.values():
            message = _raised(nested)
            if message is not None:
                return message
    return None
