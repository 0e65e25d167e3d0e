"""Errors of the SQL-model runner that name the model file, so a user never reads a traceback.

Config problems (bad yml, unknown ref, cycle) are `ConfigError`s from `configfile`; the
errors here arise when a model is translated or run against a warehouse.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

# PostgreSQL appends "LINE 3: select ..." to errors it can place in the statement.
_PG_LINE = re.compile(r"^LINE (\d+):", re.MULTILINE)
# Names a missing column or table in the messages of PostgreSQL and SQLite.
_MISSING_NAME = re.compile(r'(?:column|relation) "([^"]+)" does not exist'
                           r"|no such (?:column|table): (\S+)")


class ModelError(Exception):
    """A model that cannot be translated or run; the message starts with its file."""

    def __init__(self, path: Path | str, message: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        self.detail = message
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")


class TranslationError(ModelError):
    """Model SQL that uses a construct outside the subset that translates to SQLite."""


def db_error(path: Path, exc: sa.exc.StatementError, source_sql: str = "") -> ModelError:
    """A ModelError for a database error, with the line where the database or the text shows it.

    The line comes from PostgreSQL's `LINE n:` when the statement kept the file's line
    layout; otherwise, for a missing column or table, from the first line of `source_sql`
    that mentions the name (said as "see line n", since that is a guess).
    """
    text = str(getattr(exc, "orig", None) or exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    found = _PG_LINE.search(text)
    if found and source_sql:
        return ModelError(path, first, int(found.group(1)))
    missing = _MISSING_NAME.search(text)
    if missing and source_sql:
        name = (missing.group(1) or missing.group(2)).split(".")[-1]
        line = _first_mention(source_sql, name)
        if line:
            return ModelError(path, f"{first} (see line {line})")
    return ModelError(path, first)


def _first_mention(sql: str, name: str) -> int | None:
    pattern = re.compile(rf"(?<!\w){re.escape(name)}\b")
    for number, line in enumerate(sql.splitlines(), start=1):
        code = line.split("--", 1)[0]
        if pattern.search(code):
            return number
    return None
