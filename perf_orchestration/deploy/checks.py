"""Production deployment checks: the instance config's settings, the servers, the roles.

A deployment reads every connection setting from the environment. When one is
missing or wrong, the user gets one line naming the environment variable to fix
(never a traceback): these helpers read which variables a `dagster.yaml` uses,
try each PostgreSQL server once with a short timeout, and turn the driver's
message into that line. `apply_roles` runs `perf_orchestration/deploy/roles.sql` with the role names
as bound settings, so one file serves every deployment (and every test database).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.config.bundled import package_path
from perf_orchestration.config.loading import ConfigError, parse_yaml
from perf_orchestration.warehouse import redacted

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")
CONNECT_TIMEOUT_S = 5
STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")


class SettingError(Exception):
    """A deployment setting that is missing or wrong; the message names it, in one line."""


@dataclass(frozen=True)
class PgTarget:
    """One PostgreSQL server a config points at, and the variable behind each field."""

    what: str  # "Dagster instance storage" or "warehouse"
    url: str
    env: dict[str, str]  # field (hostname, port, db_name, username, password, url) -> variable


def _env_name(value: object) -> str | None:
    return value.get("env") if isinstance(value, dict) and set(value) == {"env"} else None


def env_references(node: object) -> list[str]:
    """Every `{env: NAME}` in a parsed YAML document, in order."""
    name = _env_name(node)
    if name:
        return [name]
    if isinstance(node, dict):
        return [n for v in node.values() for n in env_references(v)]
    if isinstance(node, list):
        return [n for v in node for n in env_references(v)]
    return []


def _resolve(value: object) -> str:
    name = _env_name(value)
    return os.environ[name] if name else str(value)


def read_instance_config(path: Path) -> dict:
    """The instance YAML, checked for unset variables; SettingError names the first one."""
    try:
        doc = parse_yaml(Path(path)) or {}
    except ConfigError as exc:  # unreadable, not YAML, or past the YAML limits
        raise SettingError(f"instance config {exc.problems[0]}") from None
    for name in env_references(doc):
        if name not in os.environ:
            hint = " (set it empty for trust or peer authentication)" \
                if name.endswith("PASSWORD") else ""
            raise SettingError(f"{name} is not set; {path.name} reads it{hint}")
    return doc


def instance_pg_targets(doc: dict) -> list[PgTarget]:
    """The PostgreSQL servers an instance config stores runs, events and schedules in."""
    configs = []
    for key in STORAGE_KEYS:
        section = doc.get(key) or {}
        if key == "storage":
            configs.append(section.get("postgres"))
        elif "postgres" in str(section.get("module", "")):
            configs.append(section.get("config"))
    targets: dict[str, PgTarget] = {}
    for config in filter(None, configs):
        if "postgres_url" in config:
            name = _env_name(config["postgres_url"])
            url, env = _resolve(config["postgres_url"]), {"url": name} if name else {}
        else:
            db = config.get("postgres_db") or {}
            env = {k: n for k, v in db.items() if (n := _env_name(v))}
            url = sa.engine.URL.create(
                "postgresql+psycopg2",  # as the scheme in deploy/dagster.yaml
                username=_resolve(db.get("username", "")),
                password=_resolve(db.get("password", "")) or None,
                host=_resolve(db.get("hostname", "")), port=int(_resolve(db.get("port", 5432))),
                database=_resolve(db.get("db_name", ""))).render_as_string(hide_password=False)
        targets.setdefault(url, PgTarget("Dagster instance storage", url, env))
    return list(targets.values())


def _settings(target: PgTarget, *fields: str) -> str:
    names = [target.env[f] for f in fields if f in target.env] or \
        ([target.env["url"]] if "url" in target.env else [])
    return " and ".join(names) or "the URL"


def describe_failure(target: PgTarget, message: str) -> str:
    """One line: what failed, the server's reason, and which settings to check."""
    first = message.strip().splitlines()[0] if message.strip() else "no reason given"
    if "failed: " in first:  # connection to server at "host", port 5432 failed: FATAL: ...
        first = first.split("failed: ", 1)[1]
    first = first.removeprefix("FATAL:").strip()
    low = message.lower()
    if "password" in low or ("role" in low and "does not exist" in low):
        fields = ("username", "password")
    elif "database" in low and "does not exist" in low:
        fields = ("db_name",)
    elif "port" in low and ("invalid" in low or "out of range" in low):
        fields = ("port",)
    else:
        fields = ("hostname", "port")
    return (f"{target.what} at {redacted(target.url)} is not usable: {first} "
            f"(check {_settings(target, *fields)})")


def check_postgres(target: PgTarget) -> str:
    """Connect once with a short timeout; the server version, or SettingError in one line."""
    try:
        engine = sa.create_engine(target.url, poolclass=sa.pool.NullPool,
                                  connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise SettingError(f"{target.what}: {_settings(target, 'url')} is not a database URL "
                           f"({exc})") from None
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("show server_version")).scalar())
    except sa.exc.DBAPIError as exc:
        raise SettingError(describe_failure(target, str(exc.orig or exc))) from None
    finally:
        engine.dispose()


def warehouse_target(url: str, setting: str) -> PgTarget:
    return PgTarget("warehouse", url, {"url": setting})


# --- least privilege ---------------------------------------------------------------------

@dataclass(frozen=True)
class RoleNames:
    """The three group roles of a warehouse (NOLOGIN; people and services are members)."""

    pipeline: str
    hr: str
    auditor: str

    @classmethod
    def with_prefix(cls, prefix: str = "perfflow") -> RoleNames:
        names = cls(f"{prefix}_pipeline", f"{prefix}_hr", f"{prefix}_auditor")
        for name in (names.pipeline, names.hr, names.auditor):
            if not ROLE_NAME.fullmatch(name):
                raise SettingError(f"role name {name!r} is not a plain lowercase identifier "
                                   "(letters, digits, underscore; at most 51 characters)")
        return names


def _statements(sql: str) -> tuple[str, str]:
    """roles.sql without psql meta-commands and comment lines, split into its settings
    statement and the rest."""
    body = "\n".join(line for line in sql.splitlines()
                     if not line.lstrip().startswith(("\\", "--")))
    head, sep, rest = body.partition(";")
    if not sep or "set_config" not in head:
        raise SettingError("roles.sql must start with the set_config statement for the names")
    return head, rest


def auditor_columns() -> tuple[str, ...]:
    """The raw columns an auditor may read: the provenance of every landing table, as the
    table registry declares it (entities' and workbook kinds')."""
    from perf_orchestration.tables import PROVENANCE_COLUMNS
    from perf_orchestration.workbooks.config import PROVENANCE as WORKBOOK_PROVENANCE

    return tuple(dict.fromkeys((*PROVENANCE_COLUMNS, *WORKBOOK_PROVENANCE)))


def apply_roles(engine: Engine, names: RoleNames, sql_file: Path | None = None) -> None:
    """Create or update the roles and their grants (idempotent; needs a superuser or owner).

    The settings statement's psql variables (:'pipeline_role', ...) become bound
    parameters; the rest of the file reads them with current_setting().
    """
    if engine.dialect.name != "postgresql":
        raise SettingError("roles apply to a PostgreSQL warehouse; the embedded SQLite "
                           "warehouse has no roles (protect its files instead)")
    sql_file = sql_file or package_path("perf_orchestration.deploy", "roles.sql")
    head, rest = _statements(sql_file.read_text())
    head = re.sub(r":'(\w+)'", r":\1", head)
    with engine.begin() as conn:
        conn.execute(sa.text(head), {"pipeline_role": names.pipeline, "hr_role": names.hr,
                                     "auditor_role": names.auditor,
                                     "provenance": ",".join(auditor_columns())})
        conn.exec_driver_sql(rest, execution_options={"no_parameters": True})


#: Where the Celery engine's broker and result backend are named (docs/deploy.md).
BROKER_ENV = "PERFFLOW_CELERY_BROKER_URL"
BACKEND_ENV = "PERFFLOW_CELERY_BACKEND_URL"


def broker_problem(url: str | None, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when the Celery broker at `url` answers; else one line naming it and why."""
    if not url:
        return f"the Celery broker URL is empty: set {BROKER_ENV} (e.g. redis://127.0.0.1:6379/0)"
    from kombu import Connection

    shown = redacted(url)
    try:
        with Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is reported in one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"Celery broker {shown} is not reachable: {reason} (start it, or check {BROKER_ENV})"
    return None
