"""`perfflow check-instance` and `perfflow roles apply`: a production deployment's two checks.

check-instance reads the instance config (DAGSTER_HOME/dagster.yaml, or a file), makes
sure every variable it names is set, connects once to each PostgreSQL server it uses,
then opens the Dagster instance (which creates its tables if needed) and reads its run,
event-log and schedule storage; it does the same for the warehouse. Any failure is one
line naming the variable to fix.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from perf_orchestration.deploy.checks import (
    RoleNames,
    SettingError,
    apply_roles,
    check_postgres,
    instance_pg_targets,
    read_instance_config,
    warehouse_target,
)
from perf_orchestration.warehouse import WarehouseError, ensure_schemas, make_engine, redacted

POOLED_STATEMENT_TIMEOUT_MS = 120_000
POOL_RECYCLE_S = 300  # a connection older than this is replaced (server restarts, idle cuts)
DEFAULT_HOME_MESSAGE = "DAGSTER_HOME is not set; set it or pass --instance-config FILE"


def instance_config_path(config: str | None) -> Path:
    if config:
        return Path(config).resolve()
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise SettingError(DEFAULT_HOME_MESSAGE)
    return Path(home) / "dagster.yaml"


def prepare_home(config_file: Path, home: Path) -> list[str]:
    """Check `config_file`'s settings and servers, and install it as home's dagster.yaml.

    Returns one line per PostgreSQL server, for the user to see where things go.
    """
    doc = read_instance_config(config_file)
    lines = []
    for target in instance_pg_targets(doc):
        version = check_postgres(target)
        lines.append(f"{target.what}: PostgreSQL {version} at {redacted(target.url)}")
    home.mkdir(parents=True, exist_ok=True)
    if config_file.resolve() != (home / "dagster.yaml").resolve():
        shutil.copyfile(config_file, home / "dagster.yaml")
    return lines


def open_instance(home: Path, pooled: bool = False):
    """The Dagster instance in `home`, with each storage read once (SettingError if not).

    `pooled` keeps PostgreSQL connections open between writes (as dagster-webserver does)
    instead of one new connection per event; for a single process running runs in process.
    """
    import dagster as dg

    try:
        instance = dg.DagsterInstance.from_config(str(home))
        if pooled and "Postgres" in type(instance.run_storage).__name__:
            instance.optimize_for_webserver(statement_timeout=POOLED_STATEMENT_TIMEOUT_MS,
                                            pool_recycle=POOL_RECYCLE_S, max_overflow=4)
        instance.get_runs(limit=1)
        instance.event_log_storage.get_asset_records([])
        instance.schedule_storage.all_instigator_state() if instance.schedule_storage else None
    except Exception as exc:  # noqa: BLE001 - any failure is reported in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SettingError(f"Dagster instance in {home} cannot be opened: {first}") from None
    return instance


def _describe_instance(instance) -> str:
    coordinator = instance.run_coordinator
    limits = instance.get_concurrency_config().run_queue_config
    queue = (f"queued runs, at most {limits.max_concurrent_runs} at once"
             + (f", tag limits {[dict(t) for t in limits.tag_concurrency_limits]}"
                if limits.tag_concurrency_limits else "")) if limits else \
        type(coordinator).__name__
    return (f"run storage {type(instance.run_storage).__name__}, event log "
            f"{type(instance.event_log_storage).__name__}, schedules "
            f"{type(instance.schedule_storage).__name__}; {queue}")


def run_check_instance(config: str | None, warehouse: str | None) -> int:
    config_file = instance_config_path(config)
    with tempfile.TemporaryDirectory(prefix="perfflow-check-") as tmp:
        home = config_file.parent if config is None else Path(tmp) / "dagster_home"
        for line in prepare_home(config_file, home):
            print(line)
        instance = open_instance(home)
        print(f"instance: ok ({_describe_instance(instance)})")
        instance.dispose()
    setting = "--warehouse" if warehouse else "PERFFLOW_WAREHOUSE_URL"
    url = warehouse or os.environ.get("PERFFLOW_WAREHOUSE_URL")
    if not url:
        raise SettingError("PERFFLOW_WAREHOUSE_URL is not set (the warehouse the runs write "
                           "to); set it or pass --warehouse URL")
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            version = check_postgres(warehouse_target(
                engine.url.render_as_string(hide_password=False), setting))
            print(f"warehouse: ok, PostgreSQL {version} at {redacted(url)}")
        else:
            with engine.connect():
                pass
            print(f"warehouse: ok, embedded SQLite at {redacted(url)}")
    finally:
        engine.dispose()
    return 0


def run_roles_apply(warehouse: str | None, prefix: str, sql_file: str | None) -> int:
    url = warehouse or os.environ.get("PERFFLOW_WAREHOUSE_URL")
    if not url:
        raise SettingError("no warehouse given: pass --warehouse URL (an owner or superuser "
                           "login) or set PERFFLOW_WAREHOUSE_URL")
    names = RoleNames.with_prefix(prefix)
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            check_postgres(warehouse_target(engine.url.render_as_string(hide_password=False),
                                            "--warehouse" if warehouse else
                                            "PERFFLOW_WAREHOUSE_URL"))
        from perf_orchestration.tables import metadata

        ensure_schemas(engine, metadata)  # so the grants cover every table the code defines
        apply_roles(engine, names, Path(sql_file) if sql_file else None)
    except WarehouseError as exc:
        raise SettingError(str(exc)) from None
    finally:
        engine.dispose()
    print(f"roles applied on {redacted(url)}: {names.pipeline} (owns raw, staging, marts, "
          f"ops), {names.hr} (reads marts), {names.auditor} (reads ops, marts and raw "
          "provenance columns)")
    return 0

