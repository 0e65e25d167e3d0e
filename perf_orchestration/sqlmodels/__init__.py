"""A small dbt-like runner for the SQL models in `dbt_like_sql/`.

`load_project` reads and validates a model folder, `run_model` materializes one
model (table, view, or an incremental time window) on PostgreSQL or the embedded
SQLite warehouse, and `run_tests` runs its column tests. No Jinja and no dagster
here: the Dagster assets wrap these functions.
"""

from perf_orchestration.sqlmodels.checks import TestResult, run_tests
from perf_orchestration.sqlmodels.dialect import FULL_REFRESH_WINDOW, to_sqlite, window_params
from perf_orchestration.sqlmodels.errors import ModelError, TranslationError
from perf_orchestration.sqlmodels.project import SourceTable, SqlModel, SqlProject, load_project
from perf_orchestration.sqlmodels.runner import ModelResult, run_model, run_project

__all__ = [
    "FULL_REFRESH_WINDOW",
    "ModelError",
    "ModelResult",
    "SourceTable",
    "SqlModel",
    "SqlProject",
    "TestResult",
    "TranslationError",
    "load_project",
    "run_model",
    "run_project",
    "run_tests",
    "to_sqlite",
    "window_params",
]
