"""`perfflow demo`: the whole flow for a scenario, against the simulator, in one process.

It starts the simulator on a free loopback port, points the source resources at
it, runs the roster job and then the main job over the scenario's hours as one
in-process run (the partitioned assets use a single-run backfill policy), and
writes summary.json and report.md from the run's events and the warehouse, with the
goal-health heatmap as goal_health.png beside them.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg

from perf_orchestration.cli.deploy import open_instance, prepare_home
from perf_orchestration.cli.goal_report import demo_pages
from perf_orchestration.cli.report import write_report
from perf_orchestration.cli.summary import build_summary, reports_summary
from perf_orchestration.clock import CLOCK_TAG, REPLAY
from perf_orchestration.deploy.checks import SettingError
from perf_orchestration.ingestion.entities import SYSTEMS
from perf_orchestration.plant_calendar import (
    TIMEZONE_ENV,
    partition_key,
    plant_tz,
    window_tags,
)
from perf_orchestration.scenarios.config import Scenario, TeamSpec, load_scenario
from perf_orchestration.simulator import SimulatorServer
from perf_orchestration.simulator.common import (
    LINE_DEFECT_CODES,
    Station,
    production_teams,
    products_of,
    stations_of,
)
from perf_orchestration.simulator.generate_business import skipped_features
from perf_orchestration.simulator.names import build_roster
from perf_orchestration.warehouse import embedded_url, make_engine, redacted
from perf_orchestration.workbooks.generate import demo_folder

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
EMBEDDED_INSTANCE_YAML = "telemetry:\n  enabled: false\n"


class _Progress:
    """Prints what the demo is doing, with the time since it started."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:6.1f}s] {message}", file=sys.stderr,
                  flush=True)


def partition_range(scenario: Scenario) -> tuple[str, str, int]:
    """First and last hour of the scenario as the tables key them, in its time zone."""
    last = scenario.end - timedelta(hours=1)
    return (partition_key(scenario.start, scenario.timezone),
            partition_key(last, scenario.timezone), scenario.hours)


def flow_tags(scenario: Scenario) -> dict[str, str]:
    """One run over the scenario's days, narrowed to its hours."""
    days = scenario.days
    start = scenario.start.astimezone(scenario.tz).replace(minute=0, second=0, microsecond=0)
    return {RANGE_START_TAG: days[0], RANGE_END_TAG: days[-1],
            **window_tags(start, scenario.end.astimezone(scenario.tz))}


def _check_zone(scenario: Scenario) -> None:
    """The partitions are cut when the definitions load; a process that loaded them for
    another zone cannot run this scenario (each `perfflow demo` is its own process)."""
    from assets.partitions import PLANT_TIMEZONE

    if PLANT_TIMEZONE != scenario.timezone:
        raise SettingError(f"the definitions were loaded for the time zone {PLANT_TIMEZONE}, "
                           f"the scenario's plant is in {scenario.timezone}: run the demo in "
                           "a new process")


def _progress_logger(progress: _Progress) -> dg.LoggerDefinition:
    """A console logger that shows only what the assets say, not every engine event."""
    import logging

    class _Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            meta = getattr(record, "dagster_meta", None) or {}
            if meta.get("dagster_event") is None and record.levelno >= logging.INFO:
                progress("  " + str(meta.get("orig_message") or record.getMessage()))
            elif record.levelno >= logging.ERROR:
                progress("  ERROR " + str(meta.get("orig_message") or record.getMessage()))

    @dg.logger
    def progress_logger(_init_context) -> logging.Logger:
        log = logging.getLogger("perfflow.demo")
        log.handlers[:] = [_Handler()]
        log.setLevel(logging.INFO)
        log.propagate = False
        return log

    return progress_logger


def _run_sensor(defs, instance, logger, progress, sensor_name: str) -> list:
    """One tick of a sensor, as the daemon would run it, and its runs in process."""
    sensor = defs.resolve_sensor_def(sensor_name)
    cursor_key = f"demo_{sensor_name}_cursor"
    cursor = instance.run_storage.get_cursor_values({cursor_key}).get(cursor_key)
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                 resources=dict(defs.resources or {})) as ctx:
        tick = sensor.evaluate_tick(ctx)
    if tick.cursor:
        instance.run_storage.set_cursor_values({cursor_key: tick.cursor})
    if not tick.run_requests:
        progress(f"{sensor_name}: {tick.skip_message or 'nothing to do'}")
        return []
    job = defs.resolve_job_def(sensor.job_name).with_logger_defs({"console": logger})
    results = []
    for request in tick.run_requests:
        if instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": request.run_key})):
            progress(f"{sensor_name}: {request.run_key} already ran (run key), skipped")
            continue
        progress(f"{sensor_name}: launching {sensor.job_name} for {request.run_key[:80]}")
        results.append(job.execute_in_process(
            instance=instance, raise_on_error=False,
            run_config={**request.run_config, "loggers": {"console": {}}},
            tags={**request.tags, "dagster/run_key": request.run_key}))
    return results


STORM_TEAMS = 2  # teams of the storm line whose first-article rate drops
STORM_DEVICES = 3  # devices of those teams that fail three times each
STORM_FAILURE_CODE = "F04-WIRE-FEED"


@dataclass(frozen=True)
class Storm:
    """Who the live storm hits: teams of one production line and some of their devices."""

    line_id: str
    teams: tuple[TeamSpec, ...]
    devices: tuple[Station, ...]


def storm_plan(scenario: Scenario) -> Storm:
    """The line with the most production teams and no incident of the scenario (the first
    in plant order; any line when every one has incidents), up to two of its teams, and
    three devices: the second station of each team, then first stations from the last."""
    incident_teams = {getattr(i, "team", None) for i in scenario.incidents}
    incident_teams |= {i.device.rpartition("-D")[0] for i in scenario.incidents
                       if i.kind == "equipment_failure"}
    lines: dict[str, list[TeamSpec]] = {}
    for team in production_teams(scenario):
        lines.setdefault(team.line_id, []).append(team)
    quiet = [line for line, teams in lines.items()
             if not any(t.id in incident_teams for t in teams)]
    line = max(quiet or list(lines), key=lambda name: len(lines[name]))
    teams = tuple(lines[line][:STORM_TEAMS])
    stations = [stations_of(t) for t in teams]
    order = [st[1] for st in stations if len(st) > 1] + [st[0] for st in reversed(stations)]
    order += [s for st in stations for s in st[2:]]
    return Storm(line, teams, tuple(order[:STORM_DEVICES]))


def _storm_records(scenario: Scenario, storm: Storm, now: datetime
                   ) -> tuple[list[dict], list[dict]]:
    """The storm's devices fail three times each, and its teams' first-article pass rate
    drops for the two hours before (closed by a later record)."""
    roster = build_roster(scenario)
    failures = [{"event_id": f"LIVE-{now:%Y%m%d}-{st.device_id}-{i}",
                 "device_id": st.device_id, "device_type": st.device_type,
                 "station_id": st.station_id, "team_id": st.team.id,
                 "occurred_at": now.isoformat(), "event_type": "failure", "state": "down",
                 "failure_code": STORM_FAILURE_CODE}
                for st in storm.devices for i in range(3)]
    hour = now.replace(minute=0, second=0)
    inspections = []
    for team in storm.teams:
        station = stations_of(team)[0].station_id
        product = products_of(team.line_type)[0]
        inspector = roster.first(team.id, "qa_engineer", "team_leader") or roster.rows[0][
            "employee_id"]
        code = LINE_DEFECT_CODES[team.line_type][0]
        for h in (3, 2):
            for i in range(6):
                at = hour - timedelta(hours=h) + timedelta(minutes=10 * i)
                inspections.append({
                    "inspection_id": f"LIVE-{at:%Y%m%d%H%M}-{team.id}", "station_id": station,
                    "team_id": team.id, "inspected_at": at.isoformat(), "product": product,
                    "result": "fail" if i % 2 else "pass",
                    "defect_code": code if i % 2 else None, "inspector_id": inspector})
        closing = hour - timedelta(minutes=50)
        inspections.append({
            "inspection_id": f"LIVE-{closing:%Y%m%d%H%M}-{team.id}-close",
            "station_id": station, "team_id": team.id, "inspected_at": closing.isoformat(),
            "product": product, "result": "pass", "defect_code": None,
            "inspector_id": inspector})
    return failures, inspections


def _live_storm(defs, instance, logger, progress, server: SimulatorServer,
                scenario: Scenario) -> list:
    """The live path in a storm: the source watch reads the MES; then devices of one line
    fail three times each and its teams' first-article pass rate has dropped; the next
    tick fires their episodes, and the routing groups and inhibits their notifications
    (signal -> delivered is real)."""
    results = _run_sensor(defs, instance, logger, progress, "source_watch_sensor")
    if not production_teams(scenario):
        return results
    storm = storm_plan(scenario)
    now = datetime.now(plant_tz()).replace(microsecond=0)
    failures, inspections = _storm_records(scenario, storm, now)
    server.add_records("mes", "equipment_events", failures)
    server.add_records("mes", "first_article_inspections", inspections)
    progress(f"live storm at {now:%H:%M:%S} on line {storm.line_id}: "
             f"{', '.join(s.device_id for s in storm.devices)} failed 3 times each; "
             f"first-article dips of {' and '.join(t.id for t in storm.teams)} "
             "(records added to the MES)")
    return results + _run_sensor(defs, instance, logger, progress, "source_watch_sensor")


def _dispatch_notifications(defs, instance, logger, progress, url: str) -> list:
    """Wait for the queued notification groups to come due and dispatch them, as the
    dispatch sensor does in the daemon (group_wait is 10 s in the bundled routing)."""
    from perf_orchestration.alerting.actions import utcnow
    from perf_orchestration.alerting.notifications.notify import next_due
    from perf_orchestration.config.files import plant_routing

    engine = make_engine(url)
    results = []
    try:
        for _ in range(5):
            due = next_due(engine, plant_routing())
            if due is None or due > utcnow() + timedelta(seconds=30):
                break
            wait = (due - utcnow()).total_seconds()
            if wait > 0:
                progress(f"notifications: groups due in {wait:.1f}s (group_wait)")
                time.sleep(wait + 0.05)
            results += _run_sensor(defs, instance, logger, progress,
                                   "notification_dispatch_sensor")
    finally:
        engine.dispose()
    return results


def _people_loop(defs, instance, logger, progress, server: SimulatorServer, url: str) -> list:
    """The people loop: requests go out, the people asked answer through the forms source
    (one answer names no request, one an old form version), and the answers come back."""
    import sqlalchemy as sa

    from perf_orchestration.simulator.generate_people import answers_for
    from perf_orchestration.tables import feedback_requests

    job = defs.resolve_job_def("people_job").with_logger_defs({"console": logger})
    results = [job.execute_in_process(instance=instance, raise_on_error=False,
                                      run_config={"loggers": {"console": {}}})]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            asked = [dict(r) for r in conn.execute(sa.select(feedback_requests)).mappings()]
    finally:
        engine.dispose()
    answered_at = datetime.now(plant_tz()).replace(microsecond=0).isoformat()
    server.add_records("hr", "feedback_responses", answers_for(asked, answered_at))
    progress(f"people: {len(asked)} request(s) answered in the forms source")
    # the second run is what the answers change: the forms source and everything below it
    again = dg.AssetSelection.assets(["raw", "hr_feedback_responses"]).downstream()
    results.append(job.execute_in_process(
        instance=instance, raise_on_error=False, run_config={"loggers": {"console": {}}},
        asset_selection=sorted(again.resolve(defs.resolve_asset_graph())
                               & job.asset_layer.executable_asset_keys)))
    return results


def _reports(defs, instance, logger, progress, scenario: Scenario, out_dir: Path) -> list:
    """The war-room page and the HR workbooks of every plant day of the scenario."""
    days = scenario.days
    job = defs.resolve_job_def("reports_job").with_logger_defs({"console": logger})
    results = [job.execute_in_process(instance=instance, partition_key=day,
                                      raise_on_error=False,
                                      run_config={"loggers": {"console": {}}}) for day in days]
    progress(f"reports of {', '.join(days)} in {out_dir / 'reports'}")
    return results


def run_demo(out: str, scenario_path: str | None, warehouse: str | None,
             quiet: bool = False, instance_config: str | None = None) -> int:
    progress = _Progress(quiet)
    stages: dict[str, float] = {}
    scenario = load_scenario(scenario_path)
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    home = out_dir / "dagster_home"
    home.mkdir(exist_ok=True)
    if instance_config:  # a missing variable or an unreachable server fails here, in one line
        for line in prepare_home(Path(instance_config).resolve(), home):
            progress(line)
    else:
        (home / "dagster.yaml").write_text(EMBEDDED_INSTANCE_YAML)
    url = warehouse or embedded_url(out_dir / "warehouse")
    intake_dir = out_dir / "intake"
    make_engine(url).dispose()  # a bad URL fails here with a one-line error
    first, last, count = partition_range(scenario)
    progress(f"scenario {scenario.name!r}: {count} hours {first} .. {last}")
    skipped = skipped_features(scenario, build_roster(scenario))

    t = time.perf_counter()
    token = secrets.token_urlsafe(16)
    server = SimulatorServer(scenario, port=0, token=token)
    server.start()
    stages["simulator_start_seconds"] = time.perf_counter() - t
    progress(f"plant simulator serving on {server.url}")
    from perf_orchestration.testing.smtp import SmtpReceiver
    from perf_orchestration.testing.webhook import WebhookReceiver

    webhook_secret = secrets.token_hex(16)
    webhook = WebhookReceiver(webhook_secret)
    webhook.start()
    smtp = SmtpReceiver()
    smtp.start()
    progress(f"team chat webhook receiver on {webhook.url}, mail server on port {smtp.port}")
    env = {"PERFFLOW_WAREHOUSE_URL": url, "PERFFLOW_WEBHOOK_URL": webhook.url,
           "PERFFLOW_WEBHOOK_SECRET": webhook_secret, "PERFFLOW_SMTP_HOST": "127.0.0.1",
           "PERFFLOW_SMTP_PORT": str(smtp.port), "PERFFLOW_INTAKE_DIR": str(intake_dir),
           "PERFFLOW_REPORTS_DIR": str(out_dir / "reports"), TIMEZONE_ENV: scenario.timezone}
    for system in SYSTEMS:
        env[f"PERFFLOW_{system.upper()}_URL"] = server.url
        env[f"PERFFLOW_{system.upper()}_TOKEN"] = token
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from perf_orchestration.definitions import defs

        _check_zone(scenario)
        instance = open_instance(home, pooled=True)
        logger = _progress_logger(progress)
        results = []
        for job_name, tags, label in (
            ("roster_job", {}, "HR roster snapshot"),
            ("perf_flow_job", {**flow_tags(scenario), CLOCK_TAG: REPLAY},
             f"main flow over {count} hours of {len(scenario.days)} plant day(s) "
             "in one run"),
        ):
            t = time.perf_counter()
            progress(f"{label}: {job_name}")
            job = defs.resolve_job_def(job_name).with_logger_defs({"console": logger})
            result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False,
                                             run_config={"loggers": {"console": {}}})
            stages[f"{job_name}_seconds"] = time.perf_counter() - t
            progress(f"{job_name}: {'succeeded' if result.success else 'FAILED'} "
                     f"(run {result.run_id[:8]})")
            results.append(result)
        t = time.perf_counter()
        results += _run_sensor(defs, instance, logger, progress, "alert_episode_sensor")
        stages["actions_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        if not production_teams(scenario):
            skipped.append({"feature": "live storm",
                            "reason": "the plant has no production team with stations"})
        results += _live_storm(defs, instance, logger, progress, server, scenario)
        stages["live_storm_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        results += _people_loop(defs, instance, logger, progress, server, url)
        stages["people_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        dropped = demo_folder(intake_dir, scenario, skipped)
        progress(f"{len(dropped)} department workbooks dropped into {intake_dir}")
        results += _run_sensor(defs, instance, logger, progress, "workbook_intake_sensor")
        stages["workbooks_seconds"] = time.perf_counter() - t
        # the storm's notification groups came due while the people loop and the intake ran
        t = time.perf_counter()
        results += _dispatch_notifications(defs, instance, logger, progress, url)
        stages["notifications_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        reports = _reports(defs, instance, logger, progress, scenario, out_dir)
        results += reports
        stages["reports_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        summary = build_summary(
            scenario=scenario, warehouse_url=redacted(url), partitions=(first, last, count),
            results=results, simulator_stats=server.stats(), engine_url=url, intake_dir=intake_dir,
            receivers={"webhook": webhook.count_by_key(), "email": smtp.count_by_key(),
                       "webhook_rejected": webhook.rejected},
        )
        summary["goal_health"], summary["live_page"] = demo_pages(url, out_dir, skipped)
        summary["skipped"] = skipped
        for entry in skipped:
            progress(f"skipped {entry['feature']}: {entry['reason']}")
        summary["reports"] = reports_summary(reports, out_dir)
        stages["summary_seconds"] = time.perf_counter() - t
    finally:
        server.stop()
        webhook.stop()
        smtp.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    stages["total_seconds"] = progress_total = time.perf_counter() - progress.t0
    summary["stages"] = {k: round(v, 3) for k, v in stages.items()}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    write_report(out_dir / "report.md", summary)
    rows = summary["rows"]
    print(f"demo {'ok' if summary['success'] else 'FAILED'} in {progress_total:.1f}s: "
          f"{len(summary['assets_materialized'])} assets, checks {summary['checks']['passed']} "
          f"passed / {summary['checks']['failed']} failed, rows fetched {rows['fetched']} = "
          f"landed {rows['landed']} + quarantined {rows['quarantined']}; "
          f"summary in {out_dir / 'summary.json'}")
    return 0 if summary["success"] else 1
