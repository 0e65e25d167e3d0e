"""Benchmark suite: every figure beside its floor, measured in the same run, in one command.

    .venv/bin/python bench/run.py [--scale N] [--pg URL] [--skip-live] [--skip-backfill]

--scale multiplies the days of the default plant: ingestion lands N days, the backfill
runs 1 and 2N days. A year is measured end to end by bench/year.py (not extrapolated).
A bigger plant (more teams or stations) is a scenario file (--scenario). Figures and floors:

- code-location load: `import perf_orchestration.definitions` in a fresh interpreter;
  floor a bare `import dagster` (target: under 5 s);
- ingestion rows/s on SQLite and PostgreSQL: fetch, validate, land every entity through
  the real path; floor fetching the same rows with no checks or landing;
- transforms per hourly partition at 1, 10 and 30 days of history, and a 30-day backfill,
  on SQLite and PostgreSQL (bench/transforms.py); floor a plain SQL aggregate of the same
  raw rows;
- the whole flow (`perfflow demo`: perf_flow_job, one run) for 1 hour, 1 day and 2N days
  with a PostgreSQL warehouse and PostgreSQL instance storage (deploy/dagster.yaml); floor
  fetching the same days;
- sensor tick cost and signal -> delivered latency: bench/live.py, when present.

It prints a table and writes bench/results/<UTC date>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
sys.path.insert(0, str(ROOT / "bench"))


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal")))
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(), "load_average_at_start": os.getloadavg()}


def _fresh_import(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={k: v for k, v in os.environ.items()
                              if not k.startswith("PERFFLOW_")}, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def load_time(repeats: int = 3) -> dict:
    """Loading the code location, as the webserver, daemon and each run process do."""
    defs = [_fresh_import("perf_orchestration.definitions") for _ in range(repeats)]
    floor = [_fresh_import("dagster") for _ in range(repeats)]
    return {"definitions_import_s": round(statistics.median(defs), 2),
            "floor_import_dagster_s": round(statistics.median(floor), 2), "repeats": repeats}


def _scenario(days: float, base: str | None, faults: bool = True) -> dict:
    from perf_orchestration.scenarios.config import load_scenario

    data = load_scenario(base).model_dump(mode="json")
    data["hours"] = max(1, round(24 * days))
    if not faults:
        data["incidents"] = []
    return data


def _write_scenario(data: dict, folder: Path, name: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def fetch_floor(scenario_data: dict) -> tuple[float, int]:
    """Seconds to fetch every entity of the scenario with no checks or landing, and rows."""
    from perf_orchestration.ingestion.client import SourceClient
    from perf_orchestration.ingestion.entities import ENTITIES
    from perf_orchestration.ingestion.landing import fetch_spans, hourly_windows
    from perf_orchestration.scenarios.config import Scenario
    from perf_orchestration.simulator import SimulatorServer

    scenario = Scenario.model_validate(scenario_data)
    rows = 0
    with SimulatorServer(scenario, port=0) as server:
        t = time.perf_counter()
        for e in ENTITIES:
            client = SourceClient(e.system, server.url, read_timeout=30)
            spans = (fetch_spans(hourly_windows(scenario.start, scenario.end))
                     if e.partitioned else [None])
            for span in spans:  # a plant day a time, as the ingestion fetches
                rows += len(client.fetch(e.name, start=span and span[0].start,
                                         end=span and span[-1].end).items)
        return time.perf_counter() - t, rows


def ingestion(label: str, url: str, scenario_data: dict) -> dict:
    """Rows/s through fetch, Great Expectations validation and landing, every entity."""
    from perf_orchestration.ingestion.client import SourceClient
    from perf_orchestration.ingestion.entities import ENTITIES
    from perf_orchestration.ingestion.landing import hourly_windows, ingest
    from perf_orchestration.ingestion.quality import validate_records  # noqa: F401 - warm the import
    from perf_orchestration.scenarios.config import Scenario
    from perf_orchestration.simulator import SimulatorServer
    from perf_orchestration.tables import metadata
    from perf_orchestration.warehouse import ensure_schemas, make_engine

    scenario = Scenario.model_validate(scenario_data)
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    fetched = 0
    with SimulatorServer(scenario, port=0) as server:
        t = time.perf_counter()
        for e in ENTITIES:
            client = SourceClient(e.system, server.url, read_timeout=30)
            windows = hourly_windows(scenario.start, scenario.end) if e.partitioned else None
            fetched += ingest(engine, client, e, windows, "bench").total("fetched")
        seconds = time.perf_counter() - t
    engine.dispose()
    floor, floor_rows = fetch_floor(scenario_data)
    return {"warehouse": label, "hours": scenario.hours, "rows": fetched,
            "seconds": round(seconds, 2), "rows_per_s": round(fetched / seconds),
            "floor_fetch_only_s": round(floor, 2),
            "floor_rows_per_s": round(floor_rows / floor)}


def _instance_env(admin_url: str, database: str) -> dict:
    import sqlalchemy as sa

    url = sa.make_url(admin_url)
    return {"PERFFLOW_DAGSTER_PG_HOST": url.host or "127.0.0.1",
            "PERFFLOW_DAGSTER_PG_PORT": str(url.port or 5432),
            "PERFFLOW_DAGSTER_PG_DB": database,
            "PERFFLOW_DAGSTER_PG_USER": url.username or "postgres",
            "PERFFLOW_DAGSTER_PG_PASSWORD": url.password or ""}


def flow_run(admin_url: str, scenario_data: dict, folder: Path, name: str,
             instance: str) -> dict:
    """`perfflow demo` over the scenario: PostgreSQL warehouse, chosen instance storage."""
    import sqlalchemy as sa
    from transforms import scratch_pg_database

    path = _write_scenario(scenario_data, folder, name)
    with scratch_pg_database(admin_url) as warehouse, \
            scratch_pg_database(admin_url) as instance_db:
        cmd = [str(BIN / "perfflow"), "demo", "--out", str(folder / name), "--scenario",
               str(path), "--warehouse", warehouse, "--quiet"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PERFFLOW_")}
        if instance == "postgres":
            cmd += ["--instance-config", str(ROOT / "deploy" / "dagster.yaml")]
            env.update(_instance_env(admin_url, sa.make_url(instance_db).database))
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    summary = json.loads((folder / name / "summary.json").read_text())
    return {"hours": scenario_data["hours"], "partitions": summary["partitions"]["count"],
            "rows_fetched": summary["rows"]["fetched"],
            "perf_flow_job_s": summary["stages"]["perf_flow_job_seconds"],
            "demo_wall_s": round(wall, 1), "instance_storage": instance}


def backfill(admin_url: str, scale: int, base: str | None, instance: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="perfflow-bench-") as tmp:
        folder = Path(tmp)
        hour = flow_run(admin_url, _scenario(1 / 24, base, faults=False), folder, "one_hour",
                        instance)
        runs = [flow_run(admin_url, _scenario(d, base), folder, f"days_{d}", instance)
                for d in (1, 2 * scale)]
    days = runs[-1]["hours"] / 24
    floor, rows = fetch_floor(_scenario(days, base))
    return {"one_hour": hour, "runs": runs,
            "floor_fetch_only_s": round(floor, 2), "floor_days": days, "floor_rows": rows}


def live(skip_latency: bool) -> dict | None:
    script = ROOT / "bench" / "live.py"
    if not script.exists():
        print("bench/live.py not present: sensor tick cost and signal -> delivered latency "
              "skipped")
        return None
    cmd = [sys.executable, str(script)] + (["--skip-latency"] if skip_latency else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        print(f"bench/live.py failed, skipped: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rows(res: dict) -> list[tuple[str, str, str, str]]:
    """(figure, value, floor, target) lines of the printed table."""
    out = []
    lt = res["load_time"]
    out.append(("code-location load (import perf_orchestration.definitions)",
                f"{lt['definitions_import_s']:.2f} s", f"{lt['floor_import_dagster_s']:.2f} s "
                "(import dagster)", "< 5 s"))
    for ing in res.get("ingestion", []):
        out.append((f"ingestion, {ing['warehouse']}, {ing['hours']} h, {ing['rows']:,} rows",
                    f"{ing['rows_per_s']:,} rows/s ({ing['seconds']} s)",
                    f"{ing['floor_rows_per_s']:,} rows/s (fetch only)", ""))
    for tr in res.get("transforms", []):
        for ph in tr["per_hour"]:
            out.append((f"transform 1 hour, all models, {tr['warehouse']}, "
                        f"{ph['history_days']} d history", f"{ph['seconds']:.3f} s",
                        f"{ph['floor_seconds']:.4f} s (SQL aggregate)", ""))
        bf = tr["backfill"]
        out.append((f"transform {bf['days']}-day backfill, one run, {tr['warehouse']}",
                    f"{bf['seconds']:.1f} s ({bf['raw_rows_per_s']:,} raw rows/s)",
                    f"{bf['floor_seconds']:.2f} s (SQL aggregate)", ""))
    if "backfill" in res:
        bf = res["backfill"]
        h = bf["one_hour"]
        out.append(("whole flow, 1 hour (perf_flow_job, its day narrowed to the hour)",
                    f"{h['perf_flow_job_s']:.1f} s", "", "< 10 s"))
        for r in bf["runs"]:
            out.append((f"backfill {r['hours'] / 24:g} day(s), one run, PostgreSQL",
                        f"{r['perf_flow_job_s']:.1f} s",
                        f"{bf['floor_fetch_only_s']:.1f} s for {bf['floor_days']:g} d "
                        "(fetch only)" if r is bf["runs"][-1] else "", ""))
        out.append(("backfill a year", "bench/year.py", "", "<= 6 min"))
    lv = res.get("live")
    if lv:
        for t in lv.get("tick_cost", []):
            out.append((f"sensor tick cost, {t['days']} d history",
                        f"{t['tick_one_new_record_ms']} ms",
                        f"{t['floor_empty_tick_ms']} ms (empty tick)", "< 1 s"))
        lat = lv.get("latency")
        if lat:
            out.append(("signal -> delivered latency (daemon), p95", f"{lat['p95_s']} s",
                        f"{lat['floor_direct_delivery_s']} s (one direct delivery)", ""))
    else:
        out.append(("sensor tick cost", "(bench/live.py)", "(empty tick)", "< 1 s"))
        out.append(("signal -> delivered latency", "(bench/live.py)", "", ""))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=1, help="days of the default plant (>= 1)")
    ap.add_argument("--scenario", help="base scenario (default: the bundled default plant)")
    ap.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL admin URL; scratch "
                    "databases are made and dropped")
    ap.add_argument("--instance", choices=["postgres", "embedded"], default="postgres",
                    help="instance storage for the backfill runs")
    ap.add_argument("--skip-backfill", action="store_true")
    ap.add_argument("--skip-transforms", action="store_true")
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-latency", action="store_true", help="bench/live.py tick cost only")
    args = ap.parse_args()
    from transforms import bench as transforms_bench
    from transforms import scratch_pg_database

    from perf_orchestration.warehouse import embedded_url

    res: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                 "scale": args.scale, "machine": machine()}
    print(f"machine: {res['machine']}")
    res["load_time"] = load_time()
    data = _scenario(args.scale, args.scenario, faults=False)
    with tempfile.TemporaryDirectory() as tmp:
        res["ingestion"] = [ingestion("SQLite", embedded_url(tmp), data)]
    with scratch_pg_database(args.pg) as url:
        res["ingestion"].append(ingestion("PostgreSQL", url, data))
    if not args.skip_transforms:
        with tempfile.TemporaryDirectory() as tmp:
            res["transforms"] = [transforms_bench("SQLite", embedded_url(tmp))]
        with scratch_pg_database(args.pg) as url:
            res["transforms"].append(transforms_bench("PostgreSQL", url))
    if not args.skip_backfill:
        res["backfill"] = backfill(args.pg, args.scale, args.scenario, args.instance)
    if not args.skip_live:
        res["live"] = live(args.skip_latency)
    rows = _rows(res)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    for r in [("figure", "value", "floor (same run)", "target"), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nwritten {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
