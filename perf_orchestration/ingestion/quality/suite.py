"""The Great Expectations suite of one source entity, and the names of its helper columns.

GX judges a frame built from the records: the raw columns (for nulls), a typed
tag per column (for parse failures), a text copy (for allowed values) and a
numeric copy (for ranges and ordered pairs). The copies exist so that no
expectation ever meets a value of the wrong type and raises instead of judging.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from perf_orchestration.ingestion.entities import Entity
from perf_orchestration.ingestion.quality.parsing import TYPE_PATTERNS
from perf_orchestration.ingestion.quality.runtime import import_gx

if TYPE_CHECKING:  # pragma: no cover - typing only
    import great_expectations as gx

#: The order in which a row's failures are ranked; the first one is its verdict.
CHECK_ORDER: Final = ("schema", "not_null", "type", "allowed", "range", "pair", "unique")

#: GX expectation type per check, for readers of QuarantinedRow.failed_expectation.
EXPECTATION_ORDER: Final = (
    "expect_table_columns_to_match_set",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_compound_columns_to_be_unique",  # expect_column_values_to_be_unique for 1 column
)


def type_column(name: str) -> str:
    """Helper column holding the typed tag that the regex expectation checks."""
    return f"__type__{name}"


def text_column(name: str) -> str:
    """Helper column holding string values only, for the allowed-set check."""
    return f"__text__{name}"


def number_column(name: str) -> str:
    """Helper column holding parsed numbers (NaN otherwise), for range and pair checks."""
    return f"__number__{name}"


def required_columns(entity: Entity) -> list[str]:
    """The columns every batch must carry; optional ones may be absent altogether."""
    return [c.name for c in entity.columns if c.required]


def numeric_columns(entity: Entity) -> list[str]:
    """Columns that need a numeric copy: those with a range or in an ordered pair."""
    paired = {name for pair in entity.ordered_pairs for name in pair}
    return [
        c.name for c in entity.columns if c.min is not None or c.max is not None or c.name in paired
    ]


def allowed_columns(entity: Entity) -> list[str]:
    """Columns restricted to a set of values."""
    return [c.name for c in entity.columns if c.allowed is not None]


def build_suite(entity: Entity) -> gx.ExpectationSuite:
    """The entity's suite, named f"{entity.table}_suite", expectations in CHECK_ORDER.

    Each expectation's meta carries the check kind and the entity columns it
    covers, so a result can be turned back into a reason without parsing kwargs.
    """
    gx = import_gx()
    expect = gx.expectations

    def meta(check: str, *columns: str) -> dict[str, Any]:
        return {"check": check, "columns": list(columns)}

    items: list[Any] = [schema_expectation(entity)]
    items += [
        expect.ExpectColumnValuesToNotBeNull(column=name, meta=meta("not_null", name))
        for name in required_columns(entity)
    ]
    items += [
        expect.ExpectColumnValuesToMatchRegex(
            column=type_column(c.name), regex=TYPE_PATTERNS[c.type], meta=meta("type", c.name)
        )
        for c in entity.columns
    ]
    items += [
        expect.ExpectColumnValuesToBeInSet(
            column=text_column(c.name), value_set=list(c.allowed), meta=meta("allowed", c.name)
        )
        for c in entity.columns
        if c.allowed is not None
    ]
    items += [
        expect.ExpectColumnValuesToBeBetween(
            column=number_column(c.name),
            min_value=c.min,
            max_value=c.max,
            meta=meta("range", c.name),
        )
        for c in entity.columns
        if c.min is not None or c.max is not None
    ]
    items += [
        expect.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=number_column(a),
            column_B=number_column(b),
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=meta("pair", a, b),
        )
        for a, b in entity.ordered_pairs
    ]
    if len(entity.key) == 1:
        items.append(
            expect.ExpectColumnValuesToBeUnique(
                column=type_column(entity.key[0]), meta=meta("unique", *entity.key)
            )
        )
    else:
        items.append(
            expect.ExpectCompoundColumnsToBeUnique(
                column_list=[type_column(name) for name in entity.key],
                ignore_row_if="any_value_is_missing",
                meta=meta("unique", *entity.key),
            )
        )
    for rank, item in enumerate(items):
        item.meta["rank"] = rank
    return gx.ExpectationSuite(name=f"{entity.table}_suite", expectations=items)


def schema_expectation(entity: Entity) -> Any:
    """The batch-level check that every required column is there; extra columns are allowed."""
    expect = import_gx().expectations
    return expect.ExpectTableColumnsToMatchSet(
        column_set=required_columns(entity),
        exact_match=False,
        meta={"check": "schema", "columns": [], "rank": 0},
    )


def schema_suite(entity: Entity) -> gx.ExpectationSuite:
    """A suite of the schema check alone, run when the batch has drifted and nothing else can."""
    gx = import_gx()
    return gx.ExpectationSuite(
        name=f"{entity.table}_schema_suite", expectations=[schema_expectation(entity)]
    )
