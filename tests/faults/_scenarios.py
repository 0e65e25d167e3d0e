"""Building blocks of the fault scenarios: a small simulated plant, in-process ingestion of
one or two hourly partitions, the team-hour mart over them, and the process helpers the
daemon scenarios need (the process tree of a dagster-daemon, a TCP relay that can cut a
warehouse connection)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from perf_orchestration.ingestion.client import SourceClient
from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE
from perf_orchestration.ingestion.landing import IngestionResult, Window, hourly_windows, ingest
from perf_orchestration.plant_calendar import calendar_rows
from perf_orchestration.scenarios.config import Scenario, load_scenario
from perf_orchestration.simulator import SimulatorServer
from perf_orchestration.sqlmodels import load_project, run_model
from perf_orchestration.sqlmodels.windows import model_window
from perf_orchestration.tables import metadata, upsert_calendar
from perf_orchestration.warehouse import ensure_schemas, make_engine

TOKEN = "fault-token"
SQL_ROOT = Path(__file__).resolve().parents[2] / "dbt_like_sql"
FIRST_HOUR = "2026-11-02-00:00"


def scenario(hours: int = 2, incidents: list[dict] | None = None, **changes) -> Scenario:
    """The default plant for `hours` from its start, with only the given incidents."""
    base = load_scenario().model_dump()
    base.update({"hours": hours, "incidents": incidents or []})
    base.update(changes)
    return Scenario.model_validate(base)


def fault(fault_kind: str, table: str, hour: str = "2026-11-02T00:00:00", **fields) -> dict:
    """A source_fault incident on `table` (e.g. mes_production) for one hour of data."""
    system, _, entity = table.partition("_")
    return {"kind": "source_fault", "id": f"{fault_kind}-{entity}", "system": system,
            "entity": entity, "fault": fault_kind, "hour": hour, **fields}


def engine(url: str) -> sa.Engine:
    eng = make_engine(url)
    ensure_schemas(eng, metadata)
    return eng


def client(server: SimulatorServer, system: str, **kw) -> SourceClient:
    kw.setdefault("backoff_seconds", 0.01)
    kw.setdefault("read_timeout", 1.0)
    return SourceClient(system, server.url, TOKEN, **kw)


def windows(sc: Scenario, keys: list[str] | None = None) -> list[Window]:
    """The scenario's hourly partitions (those named in `keys`, if given)."""
    found = hourly_windows(sc.start, sc.end)
    return [w for w in found if keys is None or w.partition_key in keys]


def ingest_table(eng: sa.Engine, server: SimulatorServer, table: str,
                 keys: list[str] | None = None, run_id: str = "run-1",
                 **client_kw) -> IngestionResult:
    """Fetch, validate and land `table` for the given hourly partitions (all by default)."""
    entity = ENTITIES_BY_TABLE[table]
    wins = None if not entity.partitioned else windows(server.scenario, keys)
    return ingest(eng, client(server, entity.system, **client_kw), entity, wins, run_id)


def set_clock(server: SimulatorServer, now: datetime | None) -> None:
    """Rows updated after `now` stay hidden at the simulator (None shows everything)."""
    server.set_clock(now)


# --- the team-hour mart ----------------------------------------------------------------

TEAM_HOURLY = "team_hourly_quality"


def _ancestors(project, name: str) -> set[str]:
    out: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        for ref in project.model(current).refs:
            if ref not in out:
                out.add(ref)
                todo.append(ref)
    return out


def build_team_hourly(eng: sa.Engine, start: datetime, end: datetime) -> None:
    """Calendar, staging and marts.team_hourly_quality for the hours [start, end), with the
    same windows the Dagster assets use."""
    project = load_project(SQL_ROOT)
    wanted = _ancestors(project, TEAM_HOURLY) | {TEAM_HOURLY}
    with eng.begin() as conn:
        upsert_calendar(conn, calendar_rows(start, end))
    for name in project.order():
        if name not in wanted:
            continue
        model = project.model(name)
        window = None
        if model.materialized == "incremental" and model.config.partition_by:
            window = model_window(model.config.partition_by, start, end)
        run_model(eng, project, name, window)


def team_hour_value(eng: sa.Engine, column: str, team: str, partition_key: str) -> dict:
    """One team-hour row of the mart: the metric `column` and the counts behind it."""
    with eng.connect() as conn:
        row = conn.execute(sa.text(
            f"select {column} as value, fai_total, fai_passed from marts.{TEAM_HOURLY} "
            "where team_id = :t and partition_key = :p"), {"t": team, "p": partition_key}
        ).mappings().one()
    return dict(row)


# --- processes ---------------------------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (read from /proc), parents first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        out.append(current)
        todo += children.get(current, [])
    return out


def kill_tree(pid: int) -> list[int]:
    """SIGKILL `pid` and its descendants at once, as a machine or container failure would
    (the run workers below the daemon's code server die with it)."""
    pids = process_tree(pid)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def wait_for(predicate, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


class TcpRelay:
    """A TCP relay on loopback in front of a server: `cut()` closes every connection and
    refuses new ones (a network cut or a server that went away), `mend()` lets them in."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client_sock, _ = self._listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                client_sock.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client_sock.close()
                continue
            with self._lock:
                self._conns += [client_sock, upstream]
            for a, b in ((client_sock, upstream), (upstream, client_sock)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self._open.clear()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def mend(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._stop = True
        self.cut()
        self._listener.close()


# --- an alert that fired ------------------------------------------------------------------

FAI_RULE = "fai-below-92-5"


def load_roster(eng: sa.Engine) -> None:
    """The default plant's HR roster (teams and employees) landed from the simulator."""
    with SimulatorServer(scenario(hours=1), port=0, token=TOKEN) as server:
        ingest_table(eng, server, "hr_teams")
        ingest_table(eng, server, "hr_employees")


def fire_fai_episode(eng: sa.Engine, team: str = "T3") -> str:
    """Two hours of `team`'s first-article pass rate at 85% judged by the bundled rule, as
    the rules asset records them: pending, then firing. Returns the episode id."""
    from perf_orchestration.alerting.rules import Observation
    from perf_orchestration.alerting.rules.config import load_rules
    from perf_orchestration.alerting.store import RULES_ASSET, record_metric_evaluation

    rules = load_rules()
    start = datetime(2026, 11, 2, 1)  # UTC naive, as the marts keep hours
    hour = start.replace(hour=2) - start
    observations = {team: [Observation(start + n * hour, start + (n + 1) * hour, 0.85,
                                       start + (n + 1) * hour, line_id="PNT")
                           for n in range(2)]}
    result = record_metric_evaluation(eng, rules.rule(FAI_RULE), rules.stamp, observations,
                                      recorded_by=RULES_ASSET, run_id="rules-run")
    [episode] = result.fired
    return episode


def fault_actions_job():
    """alert_actions_job with its resources read from the environment (the warehouse, the
    webhook and the mail server a scenario started), for dg.execute_job and re-execution."""
    import dagster as dg

    from jobs.actions import alert_actions_job
    from resources.delivery import DeliveryResource
    from resources.warehouse import WarehouseResource

    resources = {
        "warehouse": WarehouseResource(url=dg.EnvVar("PERFFLOW_WAREHOUSE_URL")),
        "delivery": DeliveryResource(webhook_url=dg.EnvVar("PERFFLOW_WEBHOOK_URL"),
                                     webhook_secret=dg.EnvVar("PERFFLOW_WEBHOOK_SECRET"),
                                     smtp_port=dg.EnvVar.int("PERFFLOW_SMTP_PORT"),
                                     max_retries=1, backoff_seconds=0.01),
    }
    return dg.Definitions(jobs=[alert_actions_job], resources=resources).resolve_job_def(
        "alert_actions_job")


def free_port() -> int:
    """A port nothing listens on (bound, read, released): a receiver that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def routing_without_wait(directory: Path) -> Path:
    """A config folder whose routing sends a group at once (group_wait 0), so the action
    job itself delivers instead of leaving it to the dispatch sensor."""
    from perf_orchestration.config.files import bundled_config_dir

    directory.mkdir(parents=True, exist_ok=True)
    text = (bundled_config_dir() / "routing.yaml").read_text()
    (directory / "routing.yaml").write_text(
        text.replace("group_wait_seconds: 10", "group_wait_seconds: 0"))
    return directory
