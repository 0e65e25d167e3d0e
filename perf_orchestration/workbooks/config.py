"""workbooks.yaml: the workbook kinds departments drop for intake, validated before use.

A kind names the columns of its sheets (each with the Chinese and English header texts
departments actually write), the natural key of a row, the columns the workbook's own
totals are checked on, and hints that recognise it (file-name patterns, summary sheets).
The words that mark subtotal, total and grand-total rows are shared by all kinds.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import ConfigError, parse_yaml, validation_problems

WORKBOOKS_FILE = "workbooks.yaml"
BUNDLED_WORKBOOKS = bundled_file(WORKBOOKS_FILE)
PROVENANCE = ("file_hash", "source_file", "sheet_name", "row_number", "source_record_id")
_IDENT = r"^[a-z][a-z0-9_]{0,40}$"

WorkbookType = Literal["str", "int", "float", "date"]


def header_text(value: object) -> str:
    """A header cell or alias as compared: NFKC, lower case, no spaces, no (unit) suffix."""
    text = unicodedata.normalize("NFKC", str(value)).lower()
    text = re.sub(r"\([^)]*\)", "", text)
    return re.sub(r"[\s:_\-/.*]+", "", text)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkbookColumn(_Strict):
    """One column of a kind: its warehouse name, type and the header texts that mean it."""

    name: str = Field(pattern=_IDENT, description="column name in raw.excel_<kind>")
    type: WorkbookType = Field(description="str, int, float or date")
    aliases: list[str] = Field(min_length=1, description="header texts, Chinese and English")
    required: bool = Field(default=True, description="a row without a value is quarantined")
    from_sheet_name: bool = Field(
        default=False, description="when the header lacks the column, take the sheet's name")
    min: float | None = Field(default=None, description="smallest allowed value (numbers)")
    max: float | None = Field(default=None, description="largest allowed value (numbers)")


class WorkbookKind(_Strict):
    """A department's workbook format: columns, natural key, totals and how to recognise it."""

    id: str = Field(pattern=_IDENT, description="kind id; rows land in raw.excel_<id>")
    description: str
    file_patterns: list[str] = Field(
        default_factory=list, description="file-name globs tried first (case-insensitive)")
    summary_sheets: list[str] = Field(
        default_factory=list, description="names of sheets that only hold totals")
    header_search_rows: int = Field(default=15, ge=1, le=100,
                                    description="how far down the header row is looked for")
    columns: list[WorkbookColumn] = Field(min_length=1)
    key: list[str] = Field(min_length=1, description="columns unique per row within a file")
    total_columns: list[str] = Field(
        default_factory=list, description="numeric columns the workbook's totals are checked on")
    ordered_pairs: list[tuple[str, str]] = Field(
        default_factory=list, description="(a, b): a >= b must hold row by row")

    @property
    def table(self) -> str:
        return f"excel_{self.id}"

    def column(self, name: str) -> WorkbookColumn:
        return next(c for c in self.columns if c.name == name)

    @model_validator(mode="after")
    def _references(self) -> WorkbookKind:
        names = [c.name for c in self.columns]
        problems = [f"column {n!r} appears twice" for n in sorted(set(names))
                    if names.count(n) > 1]
        problems += [f"column {n!r} clashes with a provenance column" for n in names
                     if n in PROVENANCE]
        seen: dict[str, str] = {}
        for column in self.columns:
            for alias in column.aliases:
                text = header_text(alias)
                if text in seen and seen[text] != column.name:
                    problems.append(f"alias {alias!r} names both {seen[text]} and {column.name}")
                seen[text] = column.name
        numeric = {c.name for c in self.columns if c.type in ("int", "float")}
        for field, refs in (("key", self.key), ("total_columns", self.total_columns),
                            ("ordered_pairs", [n for pair in self.ordered_pairs for n in pair])):
            problems += [f"{field}: unknown column {n!r}" for n in refs if n not in names]
        problems += [f"total_columns: {n!r} is not a number column" for n in self.total_columns
                     if n in names and n not in numeric]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class RowMarkers(_Strict):
    """Texts that mark a row as a subtotal, a sheet total or the workbook's grand total."""

    subtotal: list[str] = Field(default_factory=lambda: ["小计", "分计", "subtotal"])
    total: list[str] = Field(default_factory=lambda: ["合计", "total"])
    grand_total: list[str] = Field(default_factory=lambda: ["总计", "总合计", "grand total"])
    notes: list[str] = Field(default_factory=lambda: ["制表", "审核", "备注", "prepared by"],
                             description="footer lines (who prepared, remarks): excluded")


class WorkbookLimits(_Strict):
    """What a dropped file may hold before it is refused unopened (a zip bomb, a sheet of
    millions of cells or a link to another file would stall or mislead the intake)."""

    max_file_bytes: int = Field(default=50_000_000, ge=1,
                                description="largest file on disk, in bytes")
    max_uncompressed_bytes: int = Field(default=200_000_000, ge=1,
                                        description="largest sum of the zip's unpacked parts")
    max_compression_ratio: float = Field(default=100.0, ge=1,
                                         description="largest unpacked/packed size of one part")
    max_sheets: int = Field(default=100, ge=1, description="most worksheets in one file")
    max_rows: int = Field(default=100_000, ge=1, description="most rows in one sheet")
    max_cells: int = Field(default=2_000_000, ge=1,
                           description="most cells (rows x columns) in one file")
    allow_external_links: bool = Field(
        default=False, description="accept workbooks whose formulas link to other files")


class WorkbookConfig(_Strict):
    """Every workbook kind the plant accepts, and the row markers they share."""

    version: int = Field(default=1, ge=1)
    date_formats: list[str] = Field(
        default_factory=lambda: ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d",
                                 "%d/%m/%Y", "%d.%m.%Y"],
        description="strptime formats tried in order for dates written as text")
    markers: RowMarkers = Field(default_factory=RowMarkers)
    total_tolerance: float = Field(default=0.01, ge=0,
                                   description="largest difference still counted as a match")
    kinds: list[WorkbookKind] = Field(min_length=1)
    limits: WorkbookLimits = Field(default_factory=WorkbookLimits,
                                   description="what a file may hold before it is refused")

    @model_validator(mode="after")
    def _unique_ids(self) -> WorkbookConfig:
        ids = [k.id for k in self.kinds]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"kind id(s) used twice: {', '.join(twice)}")
        return self

    def kind(self, kind_id: str) -> WorkbookKind:
        return next(k for k in self.kinds if k.id == kind_id)


def load_workbook_config(path: Path | str | None = None) -> WorkbookConfig:
    """Read and validate a workbooks file (default: the bundled one), or raise ConfigError."""
    path = Path(path) if path else BUNDLED_WORKBOOKS
    data = parse_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: (top level): expected a mapping of fields"])
    try:
        return WorkbookConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(validation_problems(str(path), err, data)) from None
