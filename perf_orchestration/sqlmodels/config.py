"""The yml files of a SQL-model project (sources.yml and one yml per model), as pydantic models.

Every name that ends up in SQL as an identifier is validated here against
`IDENTIFIER`, so the runner can put it into statements without quoting tricks.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from perf_orchestration.warehouse import SCHEMAS

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
TEST_KINDS = ("not_null", "unique", "accepted_values", "relationships")


def _identifier(value: str) -> str:
    if not IDENTIFIER.fullmatch(value):  # match() would let a trailing newline through
        raise ValueError(f"{value!r} is not a lowercase SQL name (a-z, 0-9 and _, "
                         "not starting with a digit)")
    return value


def _schema(value: str) -> str:
    if value not in SCHEMAS:
        raise ValueError(f"schema {value!r} is not a warehouse schema ({', '.join(SCHEMAS)})")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
SchemaName = Annotated[str, AfterValidator(_schema)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSettings(_Strict):
    """The `config:` block: how the model is materialized."""

    materialized: Literal["table", "view", "incremental"] = Field(
        "table", description="table: rebuilt each run; view; incremental: a time window replaced")
    partition_by: Identifier | None = Field(
        None, description="incremental only: the time column whose window a run replaces")
    unique_key: tuple[Identifier, ...] | None = Field(
        None, description="columns enforced unique by an index on table and incremental models")

    @model_validator(mode="before")
    @classmethod
    def _unique_key_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("unique_key"), str):
            data = {**data, "unique_key": [data["unique_key"]]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ModelSettings:
        if self.materialized == "incremental" and not self.partition_by:
            raise ValueError("an incremental model needs partition_by (its time column)")
        if self.materialized != "incremental" and self.partition_by:
            raise ValueError("partition_by applies to incremental models only")
        if self.materialized == "view" and self.unique_key:
            raise ValueError("unique_key applies to table and incremental models, not views")
        return self


class ColumnTest(_Strict):
    """One column test, written in yml as `not_null`, `unique`, `{accepted_values: {values}}`
    or `{relationships: {to, field}}` and normalised here to one shape."""

    kind: Literal["not_null", "unique", "accepted_values", "relationships"]
    values: tuple[str | int | float | bool, ...] | None = Field(
        None, min_length=1, description="accepted_values: the allowed values")
    to: str | None = Field(None, description="relationships: ref('model') or source('s', 't')")
    field: Identifier | None = Field(None, description="relationships: the column referred to")

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data in ("accepted_values", "relationships"):
                raise ValueError(f"test {data!r} needs arguments")
            if data not in TEST_KINDS:
                raise ValueError(f"unknown test {data!r} (expected one of {', '.join(TEST_KINDS)})")
            return {"kind": data}
        if isinstance(data, dict) and len(data) == 1:
            kind, args = next(iter(data.items()))
            if kind not in TEST_KINDS:
                raise ValueError(f"unknown test {kind!r} (expected one of {', '.join(TEST_KINDS)})")
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise ValueError(f"the arguments of test {kind!r} must be a mapping")
            return {"kind": kind, **args}
        if isinstance(data, dict) and "kind" in data:
            return data
        raise ValueError("a test is a name (not_null, unique) or a mapping with one test name")

    @model_validator(mode="after")
    def _arguments(self) -> ColumnTest:
        if self.kind == "accepted_values" and not self.values:
            raise ValueError("accepted_values needs values: [...]")
        if self.kind == "relationships" and not (self.to and self.field):
            raise ValueError("relationships needs to: \"ref('model')\" and field: column")
        if self.kind in ("not_null", "unique") and (self.values or self.to or self.field):
            raise ValueError(f"test {self.kind!r} takes no arguments")
        return self


class ColumnSpec(_Strict):
    """A documented column and its tests."""

    name: Identifier
    description: str = ""
    tests: tuple[ColumnTest, ...] = ()


class ModelFile(_Strict):
    """The yml beside a model's .sql file (same stem)."""

    name: Identifier | None = Field(None, description="optional; must equal the file stem")
    description: str = ""
    config: ModelSettings = ModelSettings()
    columns: tuple[ColumnSpec, ...] = ()

    @model_validator(mode="after")
    def _unique_columns(self) -> ModelFile:
        names = [c.name for c in self.columns]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"columns listed twice: {', '.join(doubled)}")
        return self


class SourceTableSpec(_Strict):
    """A raw table landed by ingestion; `identifier` is its name in the warehouse."""

    name: Identifier
    identifier: Identifier | None = None
    description: str = ""
    loaded_at_field: Identifier | None = Field(None, description="column telling when rows landed")
    freshness_hours: PositiveFloat | None = Field(None, description="rows older than this: stale")


class SourceSpec(_Strict):
    """A source system and the tables it lands in one schema."""

    name: Identifier
    schema_: SchemaName = Field("raw", alias="schema")
    description: str = ""
    tables: tuple[SourceTableSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_tables(self) -> SourceSpec:
        names = [t.name for t in self.tables]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"tables listed twice: {', '.join(doubled)}")
        return self


class SourcesFile(_Strict):
    """sources.yml: the raw tables that models read through `{{ source() }}`."""

    sources: tuple[SourceSpec, ...] = ()

    @model_validator(mode="after")
    def _unique_sources(self) -> SourcesFile:
        names = [s.name for s in self.sources]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"sources listed twice: {', '.join(doubled)}")
        return self
