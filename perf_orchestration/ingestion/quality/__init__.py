"""Data-quality guard for source records: the per-entity Great Expectations suite and
row-level verdicts that land good rows and quarantine bad ones with a reason.

Importing this package does not import great_expectations (seconds of start-up);
the first validation in a process does, and reuses one context from then on.

Order in which a row's failures are ranked (the first is its failed_expectation):
schema (expect_table_columns_to_match_set, whole batch) → exact duplicates
("duplicate_row", before the GX run) → not null → type/parse
(expect_column_values_to_match_regex on a typed tag) → allowed set → min/max →
ordered pairs → natural-key uniqueness.
"""

from perf_orchestration.ingestion.quality.runtime import QualitySuiteError
from perf_orchestration.ingestion.quality.suite import CHECK_ORDER, EXPECTATION_ORDER, build_suite
from perf_orchestration.ingestion.quality.validate import (
    DUPLICATE_ROW,
    POSITION_COLUMN,
    QuarantinedRow,
    ValidationOutcome,
    quarantine_share,
    validate_records,
)

__all__ = [
    "CHECK_ORDER",
    "DUPLICATE_ROW",
    "EXPECTATION_ORDER",
    "POSITION_COLUMN",
    "QualitySuiteError",
    "QuarantinedRow",
    "ValidationOutcome",
    "build_suite",
    "quarantine_share",
    "validate_records",
]
