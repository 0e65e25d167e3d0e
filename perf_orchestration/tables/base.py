"""Columns written the way DDL reads: one line per column, `name type [flags]`.

The warehouse tables the product owns are declared in one registry per schema
(`raw.py`, `staging.py`, `ops.py`, `marts.py`) on one MetaData. A table's columns are a
small text block rather than a list of `sa.Column(...)` calls, so a table reads like its
DDL and a new one is a few lines, not a copy of another's:

    goal_id      text pk
    period       text pk          -- local date or ISO week
    template     text not null
    triggered_by text not null default system

Types: text, int, bigint, float, datetime, date. Flags: `pk`, `not null`, `autoincrement`,
`default VALUE` (a server default). `--` starts a comment.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()  # every table the product writes from Python, in every schema

TYPES = {"text": sa.Text, "int": sa.Integer, "bigint": sa.BigInteger, "float": sa.Float,
         "datetime": sa.DateTime, "date": sa.Date}


def columns(spec: str) -> list[sa.Column]:
    """The columns of a spec block, in order."""
    out = []
    for raw in spec.splitlines():
        line = raw.split("--", 1)[0].strip()
        if not line:
            continue
        name, kind, *flags = line.split()
        words = " ".join(flags)
        default = words.split("default ", 1)[1].split()[0] if "default " in words else None
        out.append(sa.Column(
            name, TYPES[kind], primary_key="pk" in flags,
            nullable=not ("pk" in flags or "not null" in words),
            autoincrement=True if "autoincrement" in flags else "auto",
            server_default=default))
    return out


def table(schema: str, name: str, spec: str, *extra: sa.SchemaItem, comment: str) -> sa.Table:
    """A table of `schema` from its column spec, indexes and constraints."""
    return sa.Table(name, metadata, *columns(spec), *extra, schema=schema, comment=comment)
