"""Soak: the live stack for N minutes under a breach every 30 s, cycling source faults, one
PostgreSQL restart and one daemon restart; then the promises are checked.

`perfflow live --simulate` (daemon with the sensors on, the Dagster UI, the
acknowledgement endpoint), its Dagster instance and warehouse on a PostgreSQL server of
its own (so it can be restarted), on loopback only. Every `--breach-every` seconds a
device fails at the simulator (a rule tells the maintenance lead of each failure at
once); every `--fault-every` seconds the watched endpoint misbehaves in turn: HTTP 5xx,
a read timeout, 429 with Retry-After, the system unreachable for 15 s. At 40 % of the
run PostgreSQL is restarted, at 60 % the daemon is killed and started again.

Afterwards: every breach reached its person exactly once (duplicates counted by
Idempotency-Key), daemon and webserver memory after warm-up grew by at most 10 %, no run
is stuck in STARTED, the acknowledgement endpoint still answers. Floor, same run: the
memory of the daemon and the webserver right after warm-up.

    .venv/bin/python bench/soak.py [--minutes 20] [--breach-every 30] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live import ROUTING_YAML, RULES_YAML, _failure, _stations  # noqa: E402

FAULTS = [("http_5xx", {"count": 3}), ("timeout", {"count": 1, "delay_seconds": 3}),
          ("rate_limited", {"count": 2, "retry_after_seconds": 2}), ("outage", {})]
OUTAGE_SECONDS = 15
WARM_UP_SHARE = 0.2
MAX_GROWTH = 0.10
ANSWERS = (200, 400, 403, 404)  # a link-less request is refused with a page: it answers


def _tree(pid: int) -> list[tuple[int, float, str]]:
    """(pid, resident MB, command) of a process and its long-lived children (the daemon's
    code server), not the run processes it launches: they come and go with the work."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            command = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "execute_run" in command or "execute_step" in command:
                continue
            kb = next(int(line.split()[1]) for line in
                      Path(f"/proc/{p}/status").read_text().splitlines()
                      if line.startswith("VmRSS:"))
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (OSError, StopIteration):
            continue
        out.append((p, kb / 1024, command[:100]))
        todo += [int(c) for c in children]
    return out


def _tree_rss_mb(pid: int, seen: dict[str, float]) -> float:
    """The process's resident memory plus its largest code server's.

    The daemon replaces its code server (`dagster api grpc`) from time to time, and the
    old one lingers until its heartbeat times out: summing them would count a passing
    overlap as growth. The largest size each command reached is kept in `seen`.
    """
    own, servers = 0.0, [0.0]
    for child, mb, command in _tree(pid):
        seen[command] = max(seen.get(command, 0.0), mb)
        if child == pid:
            own = mb
        else:
            servers.append(mb)
    return own + max(servers)


def _growth(samples: list[tuple[float, float]], start: float, end: float) -> dict:
    """Median memory of the first and the last fifth of the window [start, end)."""
    inside = [mb for t, mb in samples if start <= t < end]
    if len(inside) < 5:
        return {"samples": len(inside)}
    fifth = max(1, len(inside) // 5)
    first = sorted(inside[:fifth])[fifth // 2]
    last = sorted(inside[-fifth:])[fifth // 2]
    return {"samples": len(inside), "after_warm_up_mb": round(first, 1),
            "end_mb": round(last, 1), "growth": round(last / first - 1, 3)}


def _restart_daemon(stack) -> subprocess.Popen:
    daemon = stack.processes[0]
    daemon.terminate()
    try:
        daemon.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.kill()
    with open(stack.out_dir / "daemon.log", "ab") as log:
        fresh = subprocess.Popen(daemon.args, env={**os.environ, **stack.env}, stdout=log,
                                 stderr=subprocess.STDOUT, cwd=stack.out_dir)
    stack.processes[0] = fresh
    return fresh


def _stuck_runs(server, database: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(server.url(database))
    with engine.connect() as conn:
        n = conn.execute(sa.text("select count(*) from runs where status in "
                                 "('STARTED', 'STARTING', 'CANCELING')")).scalar()
    engine.dispose()
    return int(n)


def soak(minutes: float, breach_every: float, fault_every: float) -> dict:
    import requests

    from perf_orchestration.cli.live import start_live
    from perf_orchestration.testing.postgres import PrivatePostgres, unavailable

    if unavailable():
        sys.exit(f"soak: a private PostgreSQL server is needed: {unavailable()}")
    pg = PrivatePostgres().start()
    warehouse = pg.create_database("soak_warehouse")
    pg.create_database("soak_instance")
    os.environ.update({"PERFFLOW_DAGSTER_PG_HOST": "127.0.0.1",
                       "PERFFLOW_DAGSTER_PG_PORT": str(pg.port),
                       "PERFFLOW_DAGSTER_PG_DB": "soak_instance",
                       "PERFFLOW_DAGSTER_PG_USER": "postgres", "PERFFLOW_DAGSTER_PG_PASSWORD": ""})
    tmp = tempfile.mkdtemp(prefix="perfflow-soak-")
    config = Path(tmp) / "config"
    config.mkdir()
    (config / "rules.yaml").write_text(RULES_YAML)
    (config / "routing.yaml").write_text(ROUTING_YAML)
    ui_port = _free_port()
    events: list[str] = []
    try:
        with start_live(Path(tmp) / "live", config_dir=str(config), warehouse=warehouse,
                        ui_port=ui_port,
                        instance_config=str(ROOT / "deploy" / "dagster.yaml")) as stack:
            if not stack.wait_until_watching(180):
                sys.exit(f"soak: the daemon did not start watching; see {stack.out_dir}")
            sim, tz = stack.simulator, stack.simulator.scenario.tz
            stations = _stations(sim.scenario)
            began = time.monotonic()
            length = minutes * 60
            daemon_memory: list[tuple[float, float]] = []
            web_memory: list[tuple[float, float]] = []
            sent: dict[str, datetime] = {}
            seen: dict[str, float] = {}
            next_breach = next_fault = 0.0
            faults = pg_restarted = daemon_restarted = 0
            restart_daemon_at = 0.0
            while (elapsed := time.monotonic() - began) < length:
                if elapsed >= next_breach:
                    now = datetime.now(UTC)
                    record = _failure(len(sent), now.astimezone(tz), stations)
                    sim.add_records("mes", "equipment_events", [record])
                    sent[record["event_id"]] = now
                    next_breach += breach_every
                if elapsed >= next_fault and elapsed > 10:
                    fault, settings = FAULTS[faults % len(FAULTS)]
                    if fault == "outage":
                        sim.outage(OUTAGE_SECONDS)
                    else:
                        sim.add_fault("mes", "equipment_events", fault, **settings)
                    events.append(f"{elapsed:6.0f} s  fault {fault}")
                    faults += 1
                    next_fault += fault_every
                if not pg_restarted and elapsed >= 0.4 * length:
                    pg.restart()
                    pg_restarted = 1
                    events.append(f"{elapsed:6.0f} s  PostgreSQL restarted")
                if not daemon_restarted and elapsed >= 0.6 * length:
                    _restart_daemon(stack)
                    daemon_restarted = 1
                    restart_daemon_at = elapsed
                    events.append(f"{elapsed:6.0f} s  daemon restarted")
                daemon_memory.append((elapsed, _tree_rss_mb(stack.processes[0].pid, seen)))
                web_memory.append((elapsed, _tree_rss_mb(stack.processes[1].pid, seen)))
                time.sleep(2)
            deadline = time.monotonic() + 120
            got: dict[str, list] = {}
            while time.monotonic() < deadline:
                got = {}
                for item in stack.webhook.unique():
                    for alert in item["json"].get("data", {}).get("alerts", []):
                        for event_id in sent:
                            if str(alert.get("episode_id", "")).endswith(event_id):
                                got.setdefault(event_id, []).append(item["received_at"])
                if len(got) >= len(sent):
                    break
                time.sleep(1)
            time.sleep(10)  # let the last runs finish before looking for stuck ones
            stuck = _stuck_runs(pg, "soak_instance")
            ack = requests.get(stack.ack.url, timeout=5)
            duplicates = stack.webhook.duplicates
            warm = WARM_UP_SHARE * length
            result = {
                "minutes": minutes, "breaches": len(sent),
                "told_once": sum(len(v) == 1 for v in got.values()),
                "told_twice_or_more": sum(len(v) > 1 for v in got.values()),
                "not_told": len(sent) - len(got), "duplicate_arrivals": duplicates,
                "faults": faults, "pg_restarts": pg_restarted,
                "daemon_restarts": daemon_restarted, "runs_stuck_started": stuck,
                "ack_endpoint_status": ack.status_code,
                # the daemon's memory: its first life up to the restart, then its second
                "daemon_memory": _growth(daemon_memory, warm, restart_daemon_at or length),
                "daemon_memory_after_restart": _growth(
                    daemon_memory, restart_daemon_at + 30, length) if daemon_restarted else {},
                "webserver_memory": _growth(web_memory, warm, length),
                "events": events,
                "largest_processes_mb": dict(sorted(seen.items(), key=lambda kv: -kv[1])[:8]),
            }
    finally:
        pg.close()
    growths = [m.get("growth") for m in (result["daemon_memory"],
                                          result["daemon_memory_after_restart"],
                                          result["webserver_memory"]) if m.get("growth")
               is not None]
    result["ok"] = (result["told_once"] == result["breaches"] and stuck == 0
                    and ack.status_code in ANSWERS and all(g <= MAX_GROWTH for g in growths))
    return result


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--breach-every", type=float, default=30)
    p.add_argument("--fault-every", type=float, default=60)
    p.add_argument("--out", help="write the figures as JSON here too")
    args = p.parse_args()
    result = soak(args.minutes, args.breach_every, args.fault_every)
    result["machine"] = f"{platform.node()} {platform.machine()} {os.cpu_count()} cores"
    result["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    for line in result["events"]:
        print(line)
    print(f"soak {result['minutes']} min: {result['told_once']}/{result['breaches']} breaches "
          f"told exactly once ({result['not_told']} not told, {result['told_twice_or_more']} "
          f"twice), {result['duplicate_arrivals']} duplicate arrivals; {result['faults']} "
          f"source faults, {result['pg_restarts']} PostgreSQL and {result['daemon_restarts']} "
          f"daemon restart; runs stuck in STARTED: {result['runs_stuck_started']}; ack "
          f"endpoint answers {result['ack_endpoint_status']}")
    for name in ("daemon_memory", "daemon_memory_after_restart", "webserver_memory"):
        m = result[name]
        if "growth" in m:
            print(f"{name}: {m['after_warm_up_mb']} MB after warm-up (floor) -> {m['end_mb']} "
                  f"MB at the end ({m['growth']:+.1%}; limit +{MAX_GROWTH:.0%})")
    if not result["ok"]:
        for command, mb in result["largest_processes_mb"].items():
            print(f"  largest: {mb:7.1f} MB  {command}")
    print("soak ok" if result["ok"] else "soak FAILED")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
