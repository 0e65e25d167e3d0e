"""`perfflow validate`: one line per problem naming the file and the entry; exit 1 on any."""

from __future__ import annotations

import sys
from pathlib import Path

from perf_orchestration.config.files import config_dir, validate_config_dir
from perf_orchestration.plant_calendar import TimezoneSettingError, plant_timezone


def run_validate(config: str | None, scenarios: list[str]) -> int:
    directory = config_dir(config)
    problems, checked = validate_config_dir(directory, [Path(s) for s in scenarios])
    try:
        plant_timezone()  # the plant setting the definitions read when they load
    except TimezoneSettingError as err:
        problems.append(str(err))
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 1
    print(f"{directory}: {checked} file(s) valid")
    return 0
