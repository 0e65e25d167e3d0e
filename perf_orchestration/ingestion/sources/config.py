"""sources.yaml: how each source system is reached and how its rows become canonical entities.

A plant describes its systems as data, never as code: for each system a kind (`http` for
an API, `sql` for a database table, view or query) with how it is reached and
authenticated, and for each entity where its records are, how a time window is asked for,
how pages follow each other and how its fields map onto the entity's columns
(ingestion/entities.py). Secrets are never written in the file, only the names of the
environment variables holding them. The bundled file describes the plant simulator in this
same format, so the default path runs through the same readers.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import ConfigError, load_model
from perf_orchestration.ingestion.entities import ENTITIES, SYSTEMS

SOURCES_FILE = "sources.yaml"
TimeFormat = Literal["iso8601", "naive_local", "epoch_seconds", "epoch_millis"]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                               description="the name of an environment variable")]
ENTITY_COLUMNS = {(e.system, e.name): e for e in ENTITIES}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- auth ---------------------------------------------------------------------------------

class BearerAuth(_Strict):
    """`Authorization: Bearer <token>`, the token from an environment variable."""

    type: Literal["bearer"]
    token_env: EnvName


class BasicAuth(_Strict):
    """HTTP basic auth, user name and password from environment variables."""

    type: Literal["basic"]
    username_env: EnvName
    password_env: EnvName


class ApiKeyAuth(_Strict):
    """An API key in a header (e.g. X-API-Key) or a query parameter (e.g. api_key)."""

    type: Literal["api_key"]
    name: str = Field(min_length=1, description="header or query parameter name")
    location: Literal["header", "query"] = "header"
    key_env: EnvName


Auth = Annotated[BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="type")]


# --- paging -------------------------------------------------------------------------------

class NoPaging(_Strict):
    """One request answers the whole window."""

    type: Literal["none"]


class PageNumberPaging(_Strict):
    """?page=1,2,... until a page has fewer records than page_size (or total_pages says)."""

    type: Literal["page_number"]
    page_param: str = "page"
    first_page: int = Field(default=1, ge=0)
    size_param: str | None = "page_size"
    page_size: int = Field(default=500, ge=1, le=100_000)
    total_pages_path: str | None = Field(default=None, description="JSONPath of the page count")


class OffsetPaging(_Strict):
    """?offset=0&limit=N, then offset=N, ... until a short page (or the total is reached)."""

    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(default=500, ge=1, le=100_000)
    total_path: str | None = Field(default=None, description="JSONPath of the record count")


class CursorPaging(_Strict):
    """The body names the next page's token (next_page_token, nextCursor, ...)."""

    type: Literal["cursor"]
    cursor_path: str = Field(description="JSONPath of the next token in the body")
    cursor_param: str = Field(description="query parameter the token is sent back in")
    size_param: str | None = None
    page_size: int = Field(default=1000, ge=1, le=100_000)


class NextUrlPaging(_Strict):
    """The body holds the next page's full URL (HAL, OData @odata.nextLink, ...)."""

    type: Literal["next_url"]
    next_url_path: str = Field(description="JSONPath of the next page's URL in the body")


class LinkHeaderPaging(_Strict):
    """The `Link: <...>; rel="next"` header holds the next page's URL (RFC 8288)."""

    type: Literal["link_header"]
    size_param: str | None = None
    page_size: int = Field(default=500, ge=1, le=100_000)


Paging = Annotated[NoPaging | PageNumberPaging | OffsetPaging | CursorPaging | NextUrlPaging
                   | LinkHeaderPaging, Field(discriminator="type")]


# --- windows, fields ----------------------------------------------------------------------

class WindowSpec(_Strict):
    """How an entity's time window [start, end) and its resume point are asked for."""

    start_param: str | None = Field(default="start", description="None: the API has no window")
    end_param: str | None = "end"
    format: TimeFormat = Field(default="iso8601", description="how the window's times are sent")
    since_param: str | None = Field(default=None, description="rows changed after a point")
    cursor_path: str | None = Field(default=None, description="JSONPath of the resume point "
                                    "the body returns (sent back as since_param)")


class FieldSpec(_Strict):
    """Where a canonical column's value comes from and how it is read."""

    from_: str = Field(alias="from", min_length=1,
                       description="source field: a name or a dotted path (a.b.c)")
    time: TimeFormat | None = Field(default=None, description="how a time field is written")
    values: dict[str, Any] | None = Field(default=None,
                                          description="source value -> canonical value")


class EntitySpec(_Strict):
    """One entity of a system: where its records are and how they map."""

    fields: dict[str, str | FieldSpec] = Field(
        default_factory=dict, description="canonical column -> source field (default: same)")
    times: TimeFormat | None = Field(default=None,
                                     description="how the record's time fields are written")


class HttpEntity(EntitySpec):
    path: str = Field(pattern=r"^/", description="path below base_url, e.g. /api/v2/output")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    records: str | None = Field(default=None, description="JSONPath of the records")
    window: WindowSpec | None = None
    paging: Paging | None = None


class SqlEntity(EntitySpec):
    table: str | None = Field(default=None, description="table or view, schema.name allowed")
    query: str | None = Field(default=None, description="a SELECT with :start and :end")
    time_column: str | None = Field(default=None, description="the table's event time column "
                                    "the window filters on")

    @model_validator(mode="after")
    def _one_source(self) -> SqlEntity:
        if (self.table is None) == (self.query is None):
            raise ValueError("give either table (with time_column for a windowed entity) or "
                             "query, not both and not neither")
        if self.query is not None and not self.query.lstrip().lower().startswith(
                ("select", "with")):
            raise ValueError("query: only a SELECT (or WITH ... SELECT) is read")
        return self


class HttpDefaults(_Strict):
    """What an HTTP system's entities share unless they say otherwise."""

    records: str = Field(default="$.items", description="JSONPath of the records in a page")
    window: WindowSpec = WindowSpec()
    paging: Paging = NoPaging(type="none")
    times: TimeFormat = "iso8601"


class Timeouts(_Strict):
    connect_seconds: float = Field(default=3.0, gt=0, le=120)
    read_seconds: float = Field(default=10.0, gt=0, le=600)


class Retries(_Strict):
    """Retries of 429, 5xx and timeouts with exponential backoff; Retry-After is honoured."""

    max: int = Field(default=4, ge=0, le=20)
    backoff_seconds: float = Field(default=0.2, ge=0, le=60)
    min_interval_seconds: float = Field(default=0.0, ge=0, le=60,
                                        description="rate limit: least time between requests")


def _zone(value: str | None) -> str | None:
    if value is not None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as "
                             "Europe/Berlin)") from None
    return value


class HttpSystem(_Strict):
    """A system read over HTTP."""

    kind: Literal["http"]
    base_url: str | None = Field(default=None, pattern=r"^https?://")
    base_url_env: EnvName | None = None
    auth: Auth | None = None
    timezone: str | None = Field(default=None, description="zone of naive local times "
                                 "(default: the plant's, PERFFLOW_PLANT_TIMEZONE)")
    timeouts: Timeouts = Timeouts()
    retries: Retries = Retries()
    defaults: HttpDefaults = HttpDefaults()
    entities: dict[str, HttpEntity]

    _zone = field_validator("timezone")(classmethod(lambda cls, v: _zone(v)))

    @model_validator(mode="after")
    def _one_url(self) -> HttpSystem:
        if (self.base_url is None) == (self.base_url_env is None):
            raise ValueError("give either base_url or base_url_env (the variable holding it)")
        return self


class SqlSystem(_Strict):
    """A system read from a database through SQLAlchemy (PostgreSQL, SQLite, SQL Server,
    Oracle, ... through their dialects)."""

    kind: Literal["sql"]
    url_env: EnvName = Field(description="variable holding the SQLAlchemy URL")
    timezone: str | None = None
    times: TimeFormat = Field(default="naive_local", description="how time columns are stored")
    chunk_rows: int = Field(default=5000, ge=1, le=1_000_000)
    entities: dict[str, SqlEntity]

    _zone = field_validator("timezone")(classmethod(lambda cls, v: _zone(v)))


System = Annotated[HttpSystem | SqlSystem, Field(discriminator="kind")]


class SourcesFile(_Strict):
    """sources.yaml as a whole."""

    version: str = Field(min_length=1, max_length=100)
    systems: dict[str, System]


def name_problems(file: SourcesFile) -> list[str]:
    """Systems, entities and columns the product does not know, one line each."""
    problems = []
    for system, spec in file.systems.items():
        if system not in SYSTEMS:
            problems.append(f"systems.{system}: unknown system (known: {', '.join(SYSTEMS)})")
            continue
        for name, entity in spec.entities.items():
            known = ENTITY_COLUMNS.get((system, name))
            where = f"systems.{system}.entities.{name}"
            if known is None:
                names = [e for s, e in ENTITY_COLUMNS if s == system]
                problems.append(f"{where}: unknown entity (known for {system}: "
                                f"{', '.join(names)})")
                continue
            stray = sorted(set(entity.fields) - set(known.column_names))
            if stray:
                problems.append(f"{where}.fields: {', '.join(stray)}: not a column of "
                                f"{system} {name} (columns: {', '.join(known.column_names)})")
            if isinstance(entity, SqlEntity) and entity.table and known.partitioned \
                    and not entity.time_column:
                problems.append(f"{where}.time_column: {system} {name} is read per time "
                                "window; name the column the window filters on")
    return problems


def load_sources_file(path: Path | str | None = None) -> SourcesFile:
    """Read and validate one sources.yaml (default: the bundled simulator description)."""
    path = Path(path) if path else bundled_file(SOURCES_FILE)
    file = load_model(path, SourcesFile)
    problems = name_problems(file)
    if problems:
        raise ConfigError([f"{path}: {p}" for p in problems])
    return file


def load_sources(directory: Path | str | None = None) -> dict[str, HttpSystem | SqlSystem]:
    """The description of every system in force: the plant folder's sources.yaml for the
    systems it names, the bundled (simulator) description for the others."""
    systems = dict(_bundled().systems)
    if directory is not None:
        path = Path(directory) / SOURCES_FILE
        if path.exists():
            systems.update(load_sources_file(path).systems)
    return systems


def entity_spec(systems: dict[str, HttpSystem | SqlSystem], system: str,
                entity: str) -> HttpEntity | SqlEntity:
    spec = systems.get(system)
    if spec is None or entity not in spec.entities:
        raise ConfigError([f"{SOURCES_FILE}: systems.{system}.entities.{entity}: not "
                           "configured; say how this entity is read"])
    return spec.entities[entity]


def bundled_system(system: str) -> HttpSystem:
    """The bundled description of `system`: how the plant simulator serves it."""
    spec = _bundled().systems.get(system)
    if not isinstance(spec, HttpSystem):
        raise ConfigError([f"{bundled_file(SOURCES_FILE)}: systems.{system}: not described"])
    return spec


@cache
def _bundled() -> SourcesFile:
    return load_sources_file(None)
