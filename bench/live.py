"""Benchmark: signal -> delivered with the Dagster daemon running, and the sensor tick cost.

Latency: `perfflow live --simulate` (daemon, queued run coordinator, sensors on) with a
rule that fires on every equipment failure and alerts the maintenance lead by signed
webhook. Breach records are added to the simulator every few seconds; each one's latency
runs from the moment it was added (its updated_at) to the webhook receiving its alert.
Floor, same run: one signed webhook delivery of the same size from this process.

Tick cost: `watch_tick` against the simulator and a warehouse holding 1 day and 90 days
of history (source records and past episodes), for a tick that finds one new record.
Floor, same run: the same tick when nothing is new.

    .venv/bin/python bench/live.py [--breaches 20] [--spacing 3] [--backfill-days 120]

With --backfill-days N the latency is measured while a second plant (the default layout,
its own simulator, PostgreSQL warehouse and instance) backfills N plant days beside it
(`perfflow backfill`, a process of its own at a lower CPU priority).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

RULES_YAML = """\
version: bench-live
watch: {lateness_seconds: 60, lookback_hours: 2}
rules:
  - id: device-failure
    description: A device failed
    event: equipment_failure
    subject: device
    condition: {count_at_least: 1, per: event}
    actions:
      - {id: maintenance-alert, role: maintenance_lead, channel: webhook,
         template: breach_alert}
"""


# every alert on its own, at once: the figure is the flow's own latency, not a group_wait
ROUTING_YAML = """\
version: bench-live
route: {id: all, group_by: [device], group_wait_seconds: 0, group_interval_seconds: 0,
        repeat_interval_seconds: 86400}
"""


def _stations(scenario) -> list:
    """The served plant's stations, each with its device, taken in turn by the breaches."""
    from perf_orchestration.simulator.common import production_teams, stations_of

    return [s for team in production_teams(scenario) for s in stations_of(team)]


def _failure(i: int, now: datetime, stations: list) -> dict:
    station = stations[i % len(stations)]
    return {"event_id": f"BENCH-EV-{now:%H%M%S}-{i:03d}", "device_id": station.device_id,
            "device_type": "robot", "station_id": station.station_id,
            "team_id": station.team.id, "occurred_at": now.isoformat(),
            "event_type": "failure", "state": "down", "failure_code": "F04-WIRE-FEED"}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


@contextmanager
def concurrent_backfill(days: int, pg: str):
    """A second plant's history landing while the live stack runs: the default plant's
    layout with its own simulator, PostgreSQL warehouse and Dagster instance database,
    `perfflow backfill` over `days` plant days in a process of its own (it lowers its own
    CPU priority, as every backfill run does). Yields a dict the caller fills and reads."""
    import subprocess

    import yaml
    from transforms import scratch_pg_database
    from year import _env, start_simulator, year_scenario

    from perf_orchestration.scenarios.config import Scenario

    data = year_scenario(days)
    data["name"] = f"second-plant-{days}d"
    plant_days = Scenario.model_validate(data).days
    with tempfile.TemporaryDirectory() as tmp, scratch_pg_database(pg) as warehouse, \
            scratch_pg_database(pg) as instance_db:
        path = Path(tmp) / "plant2.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        sim, url = start_simulator(path)
        env = {**_env(url, warehouse, instance_db, pg, data["timezone"]),
               "PATH": str(Path(sys.executable).parent) + ":" + os.environ.get("PATH", "")}
        state = {"days": days}
        t = time.perf_counter()
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "perfflow"), "backfill", plant_days[0],
             plant_days[-1], "--instance-config", str(ROOT / "deploy" / "dagster.yaml"),
             "--home", str(Path(tmp) / "home"), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        try:
            time.sleep(20)  # into its ingestion before the first breach
            state["running_at_first_breach"] = proc.poll() is None
            yield state
            state["running_at_last_delivery"] = proc.poll() is None
            out, err = proc.communicate(timeout=1800)
            state["seconds"] = round(time.perf_counter() - t, 1)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            state["success"] = bool(lines) and json.loads(lines[-1])["success"]
            if not state["success"]:
                state["error"] = (err or out)[-1500:]
        finally:
            if proc.poll() is None:
                proc.kill()
            sim.terminate()
            sim.wait(timeout=30)


def latency(breaches: int, spacing: float) -> dict:
    from perf_orchestration.cli.live import start_live
    from perf_orchestration.delivery import WebhookChannel
    from perf_orchestration.delivery.base import Message

    # the daemon's last writes may race the clean-up of its folder
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        config = Path(tmp) / "config"
        config.mkdir()
        (config / "rules.yaml").write_text(RULES_YAML)
        (config / "routing.yaml").write_text(ROUTING_YAML)
        t = time.perf_counter()
        with start_live(Path(tmp) / "live", config_dir=str(config)) as stack:
            if not stack.wait_until_watching(120):
                sys.exit(f"the daemon did not start watching; see {stack.out_dir}/daemon.log")
            startup = time.perf_counter() - t
            sent: dict[str, datetime] = {}
            stations = _stations(stack.simulator.scenario)
            for i in range(breaches):
                now = datetime.now(UTC)
                record = _failure(i, now.astimezone(stack.simulator.scenario.tz), stations)
                stack.simulator.add_records("mes", "equipment_events", [record])
                sent[record["event_id"]] = now
                time.sleep(spacing)
            deadline = time.monotonic() + 120
            got: dict[str, datetime] = {}
            while time.monotonic() < deadline and len(got) < breaches:
                for item in stack.webhook.unique():
                    alerts = item["json"].get("data", {}).get("alerts", [])
                    episodes = [str(a.get("episode_id", "")) for a in alerts]
                    for event_id in sent:
                        if any(e.endswith(event_id) for e in episodes):
                            got.setdefault(event_id, item["received_at"])
                time.sleep(0.2)
            secs = [(got[e] - sent[e]).total_seconds() for e in sent if e in got]
            channel = WebhookChannel(stack.webhook.url, stack.env["PERFFLOW_WEBHOOK_SECRET"])
            message = Message("bench-floor-key", "E0", "Floor", "[a device] A device failed",
                              "x" * 600)
            t = time.perf_counter()
            channel.send(message)
            floor = time.perf_counter() - t
            duplicates = stack.webhook.duplicates
    return {"breaches": breaches, "delivered": len(secs), "duplicates": duplicates,
            "p50_s": round(statistics.median(secs), 2) if secs else None,
            "p95_s": round(_pct(secs, 0.95), 2) if secs else None,
            "max_s": round(max(secs), 2) if secs else None,
            "floor_direct_delivery_s": round(floor, 4), "startup_s": round(startup, 1)}


def _history(engine, server, days: int) -> None:
    """Past source records and episodes for `days` days before the watched hour."""
    import sqlalchemy as sa

    from perf_orchestration.tables import alert_episodes, alert_transitions

    start = datetime.now(UTC) - timedelta(days=days)
    stations = _stations(server.scenario)
    device = stations[0].device_id
    records, episodes, transitions = [], [], []
    for d in range(days):
        for h in range(0, 24, 2):
            at = start + timedelta(days=d, hours=h)
            for i in range(20):
                records.append(_failure(i, at, stations) | {"event_id": f"H-{d}-{h}-{i}",
                                                  "event_type": "state_change",
                                                  "updated_at": at.isoformat()})
        eid = f"device-failure|{device}|H-{d}"
        t = (start + timedelta(days=d)).replace(tzinfo=None)
        episodes.append({"episode_id": eid, "rule_id": "device-failure", "rule_version": "h",
                         "subject": device, "state": "fired", "episode_start": t})
        transitions.append({"episode_id": eid, "rule_id": "device-failure",
                            "subject": device, "from_state": "inactive", "to_state": "fired",
                            "at": t, "recorded_at": t, "recorded_by": "source_watch"})
    server.add_records("mes", "equipment_events", records)
    with engine.begin() as conn:
        conn.execute(sa.insert(alert_episodes), episodes)
        conn.execute(sa.insert(alert_transitions), transitions)


def tick_cost(days: int, repeats: int = 15) -> dict:
    import yaml

    from perf_orchestration.alerting.rules.config import RuleSet
    from perf_orchestration.alerting.source_watch import WatchCursor, watch_tick
    from perf_orchestration.ingestion.client import SourceClient
    from perf_orchestration.scenarios.config import load_scenario
    from perf_orchestration.simulator import SimulatorServer
    from perf_orchestration.tables import metadata
    from perf_orchestration.warehouse import embedded_url, ensure_schemas, make_engine

    rules = RuleSet.model_validate(yaml.safe_load(RULES_YAML))
    with tempfile.TemporaryDirectory() as tmp, \
            SimulatorServer(load_scenario(), port=0) as server:
        engine = make_engine(embedded_url(Path(tmp) / "wh"))
        ensure_schemas(engine, metadata)
        _history(engine, server, days)
        clients = {"mes": SourceClient("mes", server.url)}
        cursor = WatchCursor()
        watch_tick(engine, rules, clients, cursor)
        cursor.transition_id = 10**9  # past history: the sensor has launched it before
        empty, one = [], []
        for i in range(repeats):
            t = time.perf_counter()
            watch_tick(engine, rules, clients, cursor)
            empty.append(time.perf_counter() - t)
            server.add_records("mes", "equipment_events",
                               [_failure(i, datetime.now(UTC), _stations(server.scenario))
                                | {"event_id": f"N-{i}", "event_type": "state_change"}])
            t = time.perf_counter()
            watch_tick(engine, rules, clients, cursor)
            one.append(time.perf_counter() - t)
        engine.dispose()
    return {"days": days, "source_rows": days * 12 * 20,
            "tick_one_new_record_ms": round(statistics.median(one) * 1000, 1),
            "floor_empty_tick_ms": round(statistics.median(empty) * 1000, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--breaches", type=int, default=20)
    p.add_argument("--spacing", type=float, default=3.0, help="seconds between breaches")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--backfill-days", type=int, default=0,
                   help="measure the latency while a second plant backfills this many days "
                   "on PostgreSQL (0: a quiet machine)")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--skip-ticks", action="store_true")
    args = p.parse_args()
    out = {"machine": f"{platform.node()} {platform.machine()} {platform.processor() or ''}"}
    out["tick_cost"] = [] if args.skip_ticks else [tick_cost(1), tick_cost(90)]
    for t in out["tick_cost"]:
        print(f"sensor tick, {t['days']:>2} day(s) of history ({t['source_rows']} source rows): "
              f"{t['tick_one_new_record_ms']} ms with one new record; floor (empty tick) "
              f"{t['floor_empty_tick_ms']} ms")
    if not args.skip_latency and args.backfill_days:
        with concurrent_backfill(args.backfill_days, args.pg) as load:
            out["latency"] = lat = latency(args.breaches, args.spacing)
        out["latency"]["concurrent_backfill"] = load
        print(f"while a second plant backfilled {load['days']} days: running at the first "
              f"breach {load['running_at_first_breach']}, at the last delivery "
              f"{load['running_at_last_delivery']}; the backfill took {load.get('seconds')} s, "
              f"success {load.get('success')}")
    elif not args.skip_latency:
        out["latency"] = lat = latency(args.breaches, args.spacing)
    if not args.skip_latency:
        print(f"signal -> delivered with the daemon, {lat['delivered']}/{lat['breaches']} "
              f"breaches: p50 {lat['p50_s']} s, p95 {lat['p95_s']} s, max {lat['max_s']} s "
              f"(target p95 <= {15 if args.backfill_days else 12} s); "
              f"duplicates {lat['duplicates']}; floor (one direct "
              f"signed delivery) {lat['floor_direct_delivery_s']} s; stack start "
              f"{lat['startup_s']} s")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
