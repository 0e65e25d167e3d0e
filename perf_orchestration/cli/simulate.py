"""`perfflow simulate`: the plant simulator alone, for use beside `dagster dev`."""

from __future__ import annotations

import sys

from perf_orchestration.scenarios.config import load_scenario
from perf_orchestration.simulator import SimulatorServer


def run_simulate(host: str, port: int, scenario_path: str | None, token: str | None) -> int:
    scenario = load_scenario(scenario_path)
    server = SimulatorServer(scenario, host=host, port=port, token=token)
    print(f"plant simulator for scenario {scenario.name!r} on {server.url} "
          f"({scenario.start.isoformat()} + {scenario.hours}h); Ctrl-C stops it", file=sys.stderr)
    print(f"for dagster dev: export PERFFLOW_MES_URL={server.url} PERFFLOW_MES_TOKEN="
          f"{token or '<any>'} (and QMS, ERP, CRM, HR)",
          file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
