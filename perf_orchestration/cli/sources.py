"""`perfflow sources check`: can every configured entity be read, mapped and validated?

One line per entity as it is judged (reached, let in, one window read, its records mapped
and validated by the entity's suite: rows and the first problem), a total at the end, exit
1 on any failure. `--simulate` checks against the plant simulator serving a scenario (the
bundled one by default), which is how the bundled description itself is checked.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import datetime

from perf_orchestration.config.files import config_dir
from perf_orchestration.ingestion.entities import SYSTEMS
from perf_orchestration.ingestion.sources import SOURCES_FILE, load_sources, reader_for
from perf_orchestration.ingestion.sources.check import check_sources
from perf_orchestration.plant_calendar import plant_tz


def run_sources_check(config: str | None, systems: list[str], at: str | None,
                      simulate: bool, scenario_path: str | None) -> int:
    directory = config_dir(config)
    described = load_sources(directory)  # a bad file fails here, one line per problem
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        print(f"perfflow sources check: unknown system {', '.join(unknown)} (known: "
              f"{', '.join(SYSTEMS)})", file=sys.stderr)
        return 1
    server, saved = None, {}
    try:
        if simulate:
            server, saved, end = _start_simulator(scenario_path)
        else:
            end = _window_end(at)
        path = directory / SOURCES_FILE
        print(f"checking the sources of {path if path.exists() else 'the bundled file'}, "
              f"one hour up to {end.isoformat()}", file=sys.stderr)
        results = []
        for result in check_sources(lambda s: reader_for(s, described[s]), end,
                                    tuple(systems) or None):
            print(result.line(), flush=True)
            results.append(result)
    finally:
        if server is not None:
            server.stop()
            _restore(saved)
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)} of {len(results)} entities readable"
          + (f"; {len(failed)} failed" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


def _window_end(at: str | None) -> datetime:
    tz = plant_tz()
    if at is None:
        return datetime.now(tz).replace(minute=0, second=0, microsecond=0)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise SystemExit(f"perfflow sources check: --at {at!r} is not an ISO 8601 time") \
            from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _start_simulator(scenario_path: str | None):
    from perf_orchestration.scenarios.config import load_scenario
    from perf_orchestration.simulator import SimulatorServer

    scenario = load_scenario(scenario_path)
    token = secrets.token_urlsafe(12)
    server = SimulatorServer(scenario, port=0, token=token).start()
    env = {}
    for system in SYSTEMS:
        env[f"PERFFLOW_{system.upper()}_URL"] = server.url
        env[f"PERFFLOW_{system.upper()}_TOKEN"] = token
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    print(f"plant simulator for {scenario.name!r} on {server.url}", file=sys.stderr)
    return server, saved, scenario.end


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
