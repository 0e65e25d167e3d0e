"""Where the group layer finds its group file and warehouses: flags first, else the
environment (the group's code location has only the environment)."""

from __future__ import annotations

import os
from pathlib import Path

from perf_orchestration.deploy.checks import SettingError
from perf_orchestration.group.config import GroupFile

GROUP_FILE_ENV = "PERFFLOW_GROUP_FILE"
GROUP_WAREHOUSE_ENV = "PERFFLOW_GROUP_WAREHOUSE_URL"


def plant_url_env(plant_id: str) -> str:
    """The variable holding a plant's warehouse URL: PERFFLOW_<ID>_WAREHOUSE_URL."""
    return f"PERFFLOW_{plant_id.upper().replace('-', '_')}_WAREHOUSE_URL"


def group_file(given: str | None = None) -> Path:
    """The group file: `--group`, else PERFFLOW_GROUP_FILE."""
    value = given or os.environ.get(GROUP_FILE_ENV)
    if not value:
        raise SettingError(f"no group file: pass --group or set {GROUP_FILE_ENV}")
    return Path(value)


def group_warehouse_url(given: str | None = None) -> str:
    """The group warehouse: `--warehouse`, else PERFFLOW_GROUP_WAREHOUSE_URL."""
    url = given or os.environ.get(GROUP_WAREHOUSE_ENV)
    if not url:
        raise SettingError(f"no group warehouse: pass --warehouse or set {GROUP_WAREHOUSE_ENV}")
    return url


def plant_urls(group: GroupFile, path: Path, given: list[str] = ()) -> dict[str, str]:
    """Each plant's warehouse: `--plant ID=URL`, else its variable. An id the group does
    not configure is refused, naming it and the file."""
    known = [p.id for p in group.plants]
    urls: dict[str, str] = {}
    for item in given:
        plant, sep, url = item.partition("=")
        if not sep or not url:
            raise SettingError(f"--plant {item}: expected ID=URL")
        if plant not in known:
            raise SettingError(f"--plant {plant}: plant {plant} is not configured in {path} "
                               f"(plants: {', '.join(known)})")
        urls[plant] = url
    for plant in known:
        if plant not in urls:
            url = os.environ.get(plant_url_env(plant))
            if not url:
                raise SettingError(f"no warehouse for plant {plant}: pass --plant {plant}=URL "
                                   f"or set {plant_url_env(plant)}")
            urls[plant] = url
    return urls
