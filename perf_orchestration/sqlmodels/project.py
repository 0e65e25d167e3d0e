"""Discovering a dbt-style SQL-model folder: models, sources, their dependencies and order.

Layout: `sources.yml` at the root; each model is `<schema>/<name>.sql` (any depth below
the schema folder) with `<name>.yml` beside it. Loading checks everything it can without
a database (yml fields, template tags, refs, sources, parameters, cycles) and reports all
problems at once as a ConfigError, one line each naming the file.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from perf_orchestration.config.loading import ConfigError, load_model
from perf_orchestration.sqlmodels.config import (
    IDENTIFIER,
    ColumnSpec,
    ModelFile,
    ModelSettings,
    SourcesFile,
)
from perf_orchestration.sqlmodels.dialect import WINDOW_PARAMS, sql_for
from perf_orchestration.sqlmodels.errors import TranslationError
from perf_orchestration.sqlmodels.render import (
    Tag,
    expand_includes,
    find_params,
    find_tags,
    parse_relation_expr,
    strip_terminator,
    substitute,
)
from perf_orchestration.warehouse import SCHEMAS

SOURCES_FILE = "sources.yml"
INCLUDES_DIR = "includes"  # SQL pasted into models by {{ include('name') }}, not models


@dataclass(frozen=True)
class SourceTable:
    """A raw table that models read with `{{ source(source, name) }}`."""

    source: str
    name: str
    schema: str
    identifier: str
    description: str = ""
    loaded_at_field: str | None = None
    freshness_hours: float | None = None

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.identifier}"


@dataclass(frozen=True)
class SqlModel:
    """One model: its files, the SQL as written and rendered, its config and column tests."""

    name: str
    path: Path
    yml_path: Path
    schema: str
    sql: str
    rendered: str
    refs: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]
    config: ModelSettings
    columns: tuple[ColumnSpec, ...]
    description: str
    params: frozenset[str]
    code_version: str

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def materialized(self) -> str:
        return self.config.materialized


@dataclass(frozen=True)
class SqlProject:
    """A loaded, validated model folder; `order()` lists models so that refs come first."""

    root: Path
    models: Mapping[str, SqlModel]
    sources: Mapping[tuple[str, str], SourceTable]
    _order: tuple[str, ...] = field(repr=False)

    def order(self) -> list[str]:
        """Model names in dependency order (ties by name, so the order is stable)."""
        return list(self._order)

    def model(self, name: str) -> SqlModel:
        try:
            return self.models[name]
        except KeyError:
            raise KeyError(f"no model {name!r} in {self.root}") from None

    def sql_hash(self, name: str) -> str:
        """A code version for the model: changes exactly when its .sql or .yml text changes."""
        return self.model(name).code_version

    def compiled_sql(self, name: str, dialect: str = "postgresql") -> str:
        """The model's select as `dialect` ("postgresql" or "sqlite") runs it."""
        model = self.model(name)
        return sql_for(dialect, model.rendered, model.path)

    def resolve(self, expr: str) -> str:
        """The relation named by `ref('x')` or `source('s', 't')` (as in relationships tests)."""
        tag = parse_relation_expr(expr)
        if tag is None:
            raise ValueError(f"{expr!r} is not ref('model') or source('system', 'entity')")
        return self._relation(tag)

    def downstream(self, name: str) -> list[str]:
        """Models that depend on `name`, directly or not, in dependency order."""
        found = {name}
        for other in self._order:
            if set(self.models[other].refs) & found:
                found.add(other)
        return [m for m in self._order if m in found and m != name]

    def portability_problems(self) -> list[str]:
        """One line per model whose SQL does not translate to SQLite (empty when all do)."""
        problems = []
        for name in self._order:
            try:
                self.compiled_sql(name, "sqlite")
            except TranslationError as exc:
                problems.append(str(exc))
        return problems

    def _relation(self, tag: Tag) -> str:
        if tag.kind == "ref":
            return self.models[tag.args[0]].relation
        return self.sources[(tag.args[0], tag.args[1])].relation


@dataclass
class _Draft:
    name: str
    path: Path
    yml_path: Path
    schema: str
    text: str
    yml_text: str
    spec: ModelFile | None
    tags: list[Tag]


def load_project(root: Path | str) -> SqlProject:
    """Read and validate the model folder at `root`, or raise ConfigError listing every problem."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError([f"{root}: not a folder of SQL models"])
    problems: list[str] = []
    loaded_sources = _load_sources(root, problems)
    sources = loaded_sources or {}
    drafts = _load_drafts(root, problems)
    _check_orphan_ymls(root, problems)
    models: dict[str, SqlModel] = {}
    for draft in drafts.values():
        model = _resolve(draft, drafts, sources, problems, loaded_sources is not None)
        if model is not None:
            models[model.name] = model
    graph = {d.name: sorted({t.args[0] for t in d.tags if t.kind == "ref" and t.args[0] in drafts})
             for d in drafts.values()}
    problems += _cycles(graph, drafts)
    if problems:
        raise ConfigError(problems)
    return SqlProject(root, dict(sorted(models.items())), sources, tuple(_topological(graph)))


def _load_sources(root: Path,
                  problems: list[str]) -> dict[tuple[str, str], SourceTable] | None:
    """The source tables, or None when sources.yml is invalid (its problems are added)."""
    path = root / SOURCES_FILE
    if not path.exists():
        return {}
    try:
        spec = load_model(path, SourcesFile)
    except ConfigError as exc:
        problems += exc.problems
        return None
    return {(s.name, t.name): SourceTable(s.name, t.name, s.schema_, t.identifier or t.name,
                                          t.description, t.loaded_at_field, t.freshness_hours)
            for s in spec.sources for t in s.tables}


def _load_drafts(root: Path, problems: list[str]) -> dict[str, _Draft]:
    drafts: dict[str, _Draft] = {}
    for path in sorted(root.rglob("*.sql")):
        rel = path.relative_to(root)
        name = path.stem
        if rel.parts[0] == INCLUDES_DIR:
            continue
        if len(rel.parts) < 2 or rel.parts[0] not in SCHEMAS:
            problems.append(f"{path}: a model must sit in a schema folder "
                            f"({', '.join(s + '/' for s in SCHEMAS)})")
            continue
        if not IDENTIFIER.fullmatch(name):
            problems.append(f"{path}: model name {name!r} is not a lowercase SQL name "
                            "(a-z, 0-9 and _, not starting with a digit)")
            continue
        if name in drafts:
            problems.append(f"{path}: model name {name!r} is also used by {drafts[name].path}")
            continue
        text = expand_includes(path.read_text(encoding="utf-8"), root / INCLUDES_DIR, path,
                               problems)
        tags, tag_problems = find_tags(text, path)
        problems += tag_problems
        yml_path = path.with_suffix(".yml")
        spec, yml_text = None, ""
        if not yml_path.exists():
            problems.append(f"{path}: no {yml_path.name} beside it (description, config, columns)")
        else:
            yml_text = yml_path.read_text(encoding="utf-8")
            try:
                spec = load_model(yml_path, ModelFile)
            except ConfigError as exc:
                problems += exc.problems
            if spec is not None and spec.name not in (None, name):
                problems.append(f"{yml_path}: name: {spec.name!r} differs from the file stem "
                                f"{name!r}")
        drafts[name] = _Draft(name, path, yml_path, rel.parts[0], text, yml_text, spec, tags)
    return drafts


def _check_orphan_ymls(root: Path, problems: list[str]) -> None:
    for pattern in ("*.yml", "*.yaml"):
        for path in sorted(root.rglob(pattern)):
            if path.parent == root and path.name == SOURCES_FILE:
                continue
            if not path.with_suffix(".sql").exists():
                problems.append(f"{path}: no model {path.stem}.sql beside it "
                                "(a model's yml has the .sql file's stem and the .yml suffix)")


def _resolve(draft: _Draft, drafts: dict[str, _Draft],
             sources: dict[tuple[str, str], SourceTable], problems: list[str],
             sources_valid: bool) -> SqlModel | None:
    """The model with refs and sources replaced, or None after adding its problems.

    Unknown sources are not reported when sources.yml itself is invalid: its own problems
    say what to fix, and every source() would otherwise repeat them.
    """
    count = len(problems)

    def relation(tag: Tag) -> str:
        if tag.kind == "ref":
            target = drafts.get(tag.args[0])
            if target is None:
                problems.append(f"{draft.path}: line {tag.line}: ref('{tag.args[0]}') names no "
                                "model")
                return "missing"
            return f"{target.schema}.{target.name}"
        found = sources.get((tag.args[0], tag.args[1]))
        if found is None and not sources_valid:
            return "missing"
        if found is None:
            problems.append(f"{draft.path}: line {tag.line}: source('{tag.args[0]}', "
                            f"'{tag.args[1]}') is not in {SOURCES_FILE}")
            return "missing"
        return found.relation

    rendered = strip_terminator(substitute(draft.text, draft.tags, relation))
    params = set()
    for name, line, cast in find_params(rendered):
        params.add(name)
        if name not in WINDOW_PARAMS:
            problems.append(f"{draft.path}: line {line}: unknown parameter :{name} "
                            "(models take :window_start and :window_end)")
        elif cast:
            problems.append(f"{draft.path}: line {line}: write cast(:{name} as timestamp), "
                            f"not :{name}::timestamp (SQLAlchemy reads ':{name}:' as a name)")
    spec = draft.spec
    if spec is not None:
        if params and spec.config.materialized != "incremental":
            problems.append(f"{draft.path}: :window_start/:window_end are only for incremental "
                            f"models ({draft.yml_path.name} says {spec.config.materialized})")
        _check_relationships(draft, spec, drafts, sources, problems)
    if spec is None or len(problems) > count:
        return None
    refs = tuple(dict.fromkeys(t.args[0] for t in draft.tags if t.kind == "ref"))
    used_sources = tuple(dict.fromkeys((t.args[0], t.args[1]) for t in draft.tags
                                       if t.kind == "source"))
    digest = hashlib.sha256((draft.text + "\0" + draft.yml_text).encode("utf-8")).hexdigest()
    return SqlModel(draft.name, draft.path, draft.yml_path, draft.schema, draft.text, rendered,
                    refs, used_sources, spec.config, spec.columns, spec.description,
                    frozenset(params), digest[:16])


def _check_relationships(draft: _Draft, spec: ModelFile, drafts: dict[str, _Draft],
                         sources: dict[tuple[str, str], SourceTable], problems: list[str]) -> None:
    for i, column in enumerate(spec.columns):
        for j, test in enumerate(column.tests):
            if test.kind != "relationships":
                continue
            where = f"{draft.yml_path}: columns[{i}].tests[{j}].relationships.to"
            tag = parse_relation_expr(test.to or "")
            if tag is None:
                problems.append(f"{where}: {test.to!r} is not ref('model') or "
                                "source('system', 'entity')")
            elif tag.kind == "ref" and tag.args[0] not in drafts:
                problems.append(f"{where}: ref('{tag.args[0]}') names no model")
            elif tag.kind == "source" and tuple(tag.args) not in sources and sources:
                problems.append(f"{where}: source('{tag.args[0]}', '{tag.args[1]}') is not in "
                                f"{SOURCES_FILE}")


def _cycles(graph: dict[str, list[str]], drafts: dict[str, _Draft]) -> list[str]:
    """One problem line per dependency cycle, naming its files in ref order."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    seen: set[frozenset[str]] = set()
    problems = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    files = " -> ".join(str(drafts[n].path) for n in cycle)
                    problems.append(f"cycle between models: {files}")
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return problems


def _topological(graph: dict[str, list[str]]) -> list[str]:
    """Kahn's algorithm, taking the alphabetically first ready model each step."""
    waiting = {node: len(deps) for node, deps in graph.items()}
    users: dict[str, list[str]] = {node: [] for node in graph}
    for node, deps in graph.items():
        for dep in deps:
            users[dep].append(node)
    ready = [node for node, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        node = heapq.heappop(ready)
        out.append(node)
        for user in users[node]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    return out
