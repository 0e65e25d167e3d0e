"""A group's plants each backfilling a year side by side, beside the single-plant year of
the same run, in one command.

    .venv/bin/python bench/group_year.py [--group FILE] [--days 365] [--pg URL]
                                         [--setups in-process,celery1,celery2]

The group (default: the bundled three-plant group) is served as it is deployed
(docs/deploy.md section 5): each plant its own simulator process serving its year (in
its own time zone, ending where its scenario starts), its own PostgreSQL warehouse and
Dagster instance database, its own config folder and plant id. Simulators start first
and are not timed. Then, in this order:

- the single-plant year: the group's first plant alone, `perf_flow_job` over its year in
  one in-process run (as bench/year.py runs it): the figure the group is held against;
- per setup, every plant's year at once, each in a process of its own, on fresh
  warehouses and instance databases: `in-process` (each plant's run in its process, its
  ingestion units over two processes), `celeryN` (each plant's run on `perfflow backfill
  --engine celery` with N dagster-celery workers of its own over a Redis broker of its own:
  a worker serves one plant, docs/deploy.md section 5).

The wall time of a setup runs from the first plant's start to the last plant's end. It
prints the figures and writes bench/results/group-year-<UTC date>.json. The target (issue
"A year of history in minutes"): the group's year on two workers <= 2 x the single-plant
year and <= 15 minutes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import yaml
from year import (
    DEFAULT_PG,
    ROOT,
    _env,
    celery_plant,
    event_counts,
    start_simulator,
    write_results,
    year_scenario,
)

BUNDLED_GROUP = ROOT / "perf_orchestration" / "scenarios" / "group.yaml"


class Plant:
    """One plant of the group: its year, its simulator, its folders."""

    def __init__(self, group_path: Path, spec, days: int, tmp: Path) -> None:
        from perf_orchestration.group.config import resolved
        from perf_orchestration.scenarios.config import Scenario

        self.id = spec.id
        self.data = year_scenario(days, resolved(group_path, spec.scenario))
        self.days = Scenario.model_validate(self.data).days
        self.config = resolved(group_path, spec.config) if spec.config else None
        self.folder = tmp / self.id
        self.folder.mkdir()
        self.scenario = self.folder / "year.yaml"
        self.scenario.write_text(yaml.safe_dump(self.data, sort_keys=False))
        self.url = ""

    def env(self, warehouse: str, instance_db: str, pg: str) -> dict:
        from perf_orchestration.config.files import CONFIG_DIR_ENV
        from perf_orchestration.group.plant import PLANT_ID_ENV

        env = _env(self.url, warehouse, instance_db, pg, self.data["timezone"])
        env[PLANT_ID_ENV] = self.id
        if self.config:
            env[CONFIG_DIR_ENV] = str(self.config)
        return env


def _run(plant: Plant, home: Path, env: dict, engine: str) -> dict:
    """The plant's year in a child process (bench/year.py --child)."""
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "year.py"), "--child", str(home),
         plant.days[0], plant.days[-1], "--engine", engine],
        capture_output=True, text=True, cwd=ROOT, env=env)
    out = {"wall_s": round(time.perf_counter() - t, 1), "returncode": proc.returncode}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        out["runs"] = json.loads(lines[-1])
    else:
        out["stderr"] = proc.stderr[-3000:]
    return out


def measure(plants: list[Plant], setup: str, pg: str, label: str) -> dict:
    """Every plant's year at once on `setup`, on fresh warehouses and instance databases."""
    from transforms import scratch_pg_database

    engine, workers = ("celery", int(setup[6:])) if setup.startswith("celery") else \
        ("in-process", 0)
    with ExitStack() as stack:
        jobs = []
        for plant in plants:
            warehouse = stack.enter_context(scratch_pg_database(pg))
            instance_db = stack.enter_context(scratch_pg_database(pg))
            env = plant.env(warehouse, instance_db, pg)
            home = plant.folder / f"home-{label}"
            folder = plant.folder / label
            folder.mkdir()
            if engine == "celery":
                stack.enter_context(celery_plant(env, home, folder, workers))
            jobs.append((plant, home, env, instance_db))
        t = time.perf_counter()
        with ThreadPoolExecutor(len(jobs)) as pool:
            outs = list(pool.map(lambda j: _run(j[0], j[1], j[2], engine), jobs))
        wall = time.perf_counter() - t
        result = {"setup": setup, "engine": engine, "workers_per_plant": workers,
                  "wall_s": round(wall, 1), "plants": {}}
        for (plant, _, _, instance_db), out in zip(jobs, outs, strict=True):
            flow = out.get("runs", {}).get("perf_flow_job", {})
            if flow.get("run_id"):
                counts = event_counts(instance_db, flow["run_id"])
                out["events"] = counts["total"]
                out["longest_steps_s"] = dict(list(counts["steps_s"].items())[:8])
            out["success"] = bool(flow.get("success"))
            result["plants"][plant.id] = out
    result["success"] = all(p["success"] for p in result["plants"].values())
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", default=str(BUNDLED_GROUP), help="the group file")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL admin URL")
    ap.add_argument("--setups", default="in-process,celery1,celery2",
                    help="comma-separated: in-process, celeryN (N workers per plant); empty: "
                    "the single-plant year only")
    args = ap.parse_args()
    from run import machine

    from perf_orchestration.group.config import load_group_and_plants

    group_path = Path(args.group).resolve()
    group = load_group_and_plants(group_path)
    res: dict = {"machine": machine(), "group": group.name, "days": args.days,
                 "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as sims:
        plants = [Plant(group_path, spec, args.days, Path(tmp)) for spec in group.plants]
        t = time.perf_counter()
        with ThreadPoolExecutor(len(plants)) as pool:
            started = list(pool.map(lambda p: start_simulator(p.scenario), plants))
        for plant, (proc, url) in zip(plants, started, strict=True):
            sims.callback(proc.wait, timeout=30)
            sims.callback(proc.terminate)
            plant.url = url
        res["simulators_ready_s"] = round(time.perf_counter() - t, 1)
        res["plants"] = {p.id: {"timezone": p.data["timezone"], "days": len(p.days),
                                "teams": len(p.data["plant"]["teams"]),
                                "stations": sum(t["stations"] for t in p.data["plant"]["teams"])}
                         for p in plants}
        print(f"simulators ready in {res['simulators_ready_s']} s: {res['plants']}", flush=True)
        res["single"] = measure(plants[:1], "in-process", args.pg, "single")
        print(f"single plant {plants[0].id}: {json.dumps(res['single'])}", flush=True)
        res["setups"] = []
        for setup in filter(None, args.setups.split(",")):
            res["setups"].append(measure(plants, setup.strip(), args.pg, setup.strip()))
            print(f"group on {setup}: {json.dumps(res['setups'][-1])}", flush=True)
    single = res["single"]["wall_s"]
    res["summary"] = {"single_plant_year_s": single, **{
        s["setup"]: {"group_year_s": s["wall_s"], "ratio_to_single": round(s["wall_s"] / single, 2),
                     "success": s["success"], "target_2x": s["wall_s"] <= 2 * single,
                     "target_15_min": s["wall_s"] <= 900} for s in res["setups"]}}
    print(json.dumps(res["summary"], indent=2))
    name = "" if group_path == BUNDLED_GROUP.resolve() else f"-{group_path.stem}"
    write_results(f"group-year{name}", args.days, res)


if __name__ == "__main__":
    main()
