"""Benchmark: `perfflow demo` on the default 24-hour scenario, cold process, by stage.

Prints wall time, peak memory and the demo's own stage split, next to a floor
measured in the same run: a cold interpreter importing dagster, and fetching
every entity of the same day from the simulator with no validation or landing.

    .venv/bin/python bench/demo.py [--scenario FILE] [--warehouse URL]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def _fetch_floor(scenario: str | None) -> float:
    code = (
        "import time\n"
        "from perf_orchestration.scenarios.config import load_scenario\n"
        "from perf_orchestration.simulator import SimulatorServer\n"
        "from perf_orchestration.ingestion.client import SourceClient\n"
        "from perf_orchestration.ingestion.entities import ENTITIES\n"
        "from perf_orchestration.ingestion.landing import hourly_windows\n"
        f"s = load_scenario({scenario!r})\n"
        "srv = SimulatorServer(s, port=0); srv.start()\n"
        "t = time.perf_counter()\n"
        "for e in ENTITIES:\n"
        "    c = SourceClient(e.system, srv.url, read_timeout=30)\n"
        "    ws = hourly_windows(s.start, s.end) if e.partitioned else [None]\n"
        "    for w in ws:\n"
        "        c.fetch(e.name, start=w and w.start, end=w and w.end)\n"
        "print(time.perf_counter() - t)\n"
        "srv.stop()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario")
    ap.add_argument("--warehouse")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(BIN / "perfflow"), "demo", "--out", tmp, "--quiet"]
        if args.scenario:
            cmd += ["--scenario", args.scenario]
        if args.warehouse:
            cmd += ["--warehouse", args.warehouse]
        wall, peak = _timed(cmd)
        summary = json.loads((Path(tmp) / "summary.json").read_text())
    import_floor, _ = _timed([sys.executable, "-c", "import dagster"])
    fetch_floor = _fetch_floor(args.scenario)
    rows = summary["rows"]
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
          f"python {platform.python_version()}")
    print(f"perfflow demo (cold process)     {wall:8.2f} s   peak RSS {peak:7.0f} MiB")
    for stage, seconds in summary["stages"].items():
        print(f"  {stage:<30} {seconds:8.2f} s")
    print(f"rows fetched {rows['fetched']}, landed {rows['landed']}, "
          f"quarantined {rows['quarantined']}; {rows['fetched'] / wall:,.0f} rows/s end to end")
    print("floors (same run):")
    print(f"  cold `import dagster`          {import_floor:8.2f} s")
    print(f"  fetch every entity, no checks  {fetch_floor:8.2f} s")
    print(f"target: under 60 s end to end -> {'met' if wall < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
