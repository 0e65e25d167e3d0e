"""Rendering `{{ ref('model') }}` and `{{ source('system', 'entity') }}` without Jinja.

Models need only these two tags, so a regex keeps the SQL free of a template engine
and anything else in `{{ }}`, `{% %}` or `{# #}` is reported with its line. Replacement
keeps the file's line layout, so a database's line number points into the file.

One more tag, `{{ include('name') }}`, pastes `includes/name.sql` in place before the
others are read, so a select list shared by several models (the quality ratios of every
rollup) is written once. Lines after an include are shifted by its length.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_OPENER = re.compile(r"\{\{|\{%|\{#")
_QUOTED = r"""\s*(['"])([^'"]*)\{q}\s*"""
_REF = re.compile(r"\{\{\s*ref\(" + _QUOTED.format(q=1) + r"\)\s*\}\}")
_SOURCE = re.compile(r"\{\{\s*source\(" + _QUOTED.format(q=1) + "," + _QUOTED.format(q=3)
                     + r"\)\s*\}\}")
_BARE_REF = re.compile(r"^\s*ref\(" + _QUOTED.format(q=1) + r"\)\s*$")
_BARE_SOURCE = re.compile(r"^\s*source\(" + _QUOTED.format(q=1) + "," + _QUOTED.format(q=3)
                          + r"\)\s*$")
_INCLUDE = re.compile(r"\{\{\s*include\(\s*(['\"])([a-z_][a-z0-9_]*)\1\s*\)\s*\}\}")
# A bound parameter as SQLAlchemy's text() finds it: `:name`, not `::type`.
_PARAM = re.compile(r"(?<![:\w\\]):([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Tag:
    """A `ref` (args: model) or `source` (args: system, entity) found at a line of a file."""

    kind: str
    args: tuple[str, ...]
    line: int
    start: int
    end: int


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def find_tags(text: str, path: Path) -> tuple[list[Tag], list[str]]:
    """The ref/source tags of a model file, and one problem line per tag it cannot use."""
    tags: list[Tag] = []
    problems: list[str] = []
    covered = []
    for match in _TAG.finditer(text):
        covered.append((match.start(), match.end()))
        line = line_of(text, match.start())
        ref = _REF.fullmatch(match.group())
        source = _SOURCE.fullmatch(match.group())
        if ref:
            tags.append(Tag("ref", (ref.group(2),), line, match.start(), match.end()))
        elif source:
            tags.append(Tag("source", (source.group(2), source.group(4)), line,
                            match.start(), match.end()))
        else:
            snippet = " ".join(match.group().split())[:60]
            problems.append(f"{path}: line {line}: unsupported template construct {snippet!r} "
                            "(only {{ ref('model') }} and {{ source('system', 'entity') }})")
    for match in _OPENER.finditer(text):
        if not any(start <= match.start() < end for start, end in covered):
            problems.append(f"{path}: line {line_of(text, match.start())}: "
                            f"unclosed template tag {match.group()!r}")
    return tags, problems


def expand_includes(text: str, includes: Path, path: Path, problems: list[str]) -> str:
    """`text` with every `{{ include('name') }}` replaced by `includes/name.sql`."""

    def paste(match: re.Match) -> str:
        target = includes / f"{match.group(2)}.sql"
        if not target.exists():
            problems.append(f"{path}: line {line_of(text, match.start())}: include "
                            f"{match.group(2)!r} has no file {target}")
            return ""
        return target.read_text(encoding="utf-8").rstrip("\n")

    return _INCLUDE.sub(paste, text)


def substitute(text: str, tags: list[Tag], relation: Callable[[Tag], str]) -> str:
    """`text` with every tag replaced by its relation, newlines inside tags kept."""
    out, position = [], 0
    for tag in sorted(tags, key=lambda t: t.start):
        out.append(text[position:tag.start])
        out.append(relation(tag) + "\n" * text.count("\n", tag.start, tag.end))
        position = tag.end
    out.append(text[position:])
    return "".join(out)


def parse_relation_expr(expr: str) -> Tag | None:
    """`ref('x')` or `source('s', 't')` as written in a relationships test, or None."""
    ref = _BARE_REF.match(expr)
    if ref:
        return Tag("ref", (ref.group(2),), 0, 0, 0)
    source = _BARE_SOURCE.match(expr)
    if source:
        return Tag("source", (source.group(2), source.group(4)), 0, 0, 0)
    return None


def find_params(sql: str) -> list[tuple[str, int, bool]]:
    """Bound parameters in `sql`: (name, line, followed by a `::` cast)."""
    return [(m.group(1), line_of(sql, m.start()), sql.startswith("::", m.end()))
            for m in _PARAM.finditer(sql)]


def strip_terminator(sql: str) -> str:
    """The SQL without trailing semicolons, so it can be wrapped in create/insert statements."""
    return sql.rstrip().rstrip(";").rstrip()
