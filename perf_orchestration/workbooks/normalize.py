"""Cell values as departments type them, turned into the kind's column types.

Numbers stored as text ("1,234", "１２", " 56 "), dates written several ways
(2026/11/02, 2026年11月2日, an Excel date or its serial number) become numbers and dates.
A value that cannot be read is passed on unchanged, so the quality suite rejects it with a
reason quoting what the sheet said, instead of the reader guessing.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import cache
from typing import Any

from openpyxl.utils.datetime import from_excel

from perf_orchestration.workbooks.config import RowMarkers, WorkbookType

_NUMBER_NOISE = re.compile(r"[,\s¥$€]|元$")
_SERIAL_RANGE = (20_000, 80_000)  # Excel serials of 1954..2119: plausible report dates


def clean_text(value: Any) -> str | None:
    """Text as compared and stored: NFKC (full-width digits and brackets), trimmed."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text or None


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def to_type(type_: WorkbookType, value: Any, date_formats: list[str]) -> Any:
    """The value as `type_` when it can be read as one, else the value unchanged."""
    if is_blank(value):
        return None
    if type_ == "str":
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return clean_text(value)
    if type_ in ("int", "float"):
        return _number(value)
    return _date(value, date_formats)


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str):
        return value
    text = _NUMBER_NOISE.sub("", unicodedata.normalize("NFKC", value))
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            continue
    return value


def _date(value: Any, formats: list[str]) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if _SERIAL_RANGE[0] <= value <= _SERIAL_RANGE[1]:
            return from_excel(value).date()
        return value
    if not isinstance(value, str):
        return value
    text = unicodedata.normalize("NFKC", value).strip()
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return value


_MARKER_NOISE = re.compile(r"[\s:()\[\]]+")
_MARKER_KINDS = (("grand_total", "grand_total"), ("subtotal", "subtotal"), ("total", "total"),
                 ("notes", "note"))


def _marker_text(value: str) -> str:
    return _MARKER_NOISE.sub(" ", unicodedata.normalize("NFKC", value).lower()).strip()


def _marker_words(markers: RowMarkers) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return _normalized_words(tuple(tuple(getattr(markers, name)) for name, _ in _MARKER_KINDS))


@cache
def _normalized_words(words: tuple[tuple[str, ...], ...]
                      ) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((label, tuple(_marker_text(w) for w in group))
                 for (_, label), group in zip(_MARKER_KINDS, words, strict=True))


def row_marker(cells: tuple, markers: RowMarkers) -> str | None:
    """grand_total, subtotal, total or note when a text cell of the row says so.

    A cell marks its row when it starts or ends with a marker word ("小计（第1周）",
    "本月合计", "Total"); grand totals are looked for first, then subtotals, because
    "subtotal" and "grand total" both contain "total".
    """
    texts = [_marker_text(c) for c in cells if isinstance(c, str) and not c.isdigit()]
    texts = [t for t in texts if t]
    if not texts:
        return None
    for label, words in _marker_words(markers):
        for text in texts:
            if text.startswith(words) or text.endswith(words):
                return label
    return None
