"""`perfflow group rollup` and `perfflow group roles`: the group layer of a deployment
whose plants each have their own warehouse (docs/deploy.md, "Several plants")."""

from __future__ import annotations

import os
from pathlib import Path

from perf_orchestration.deploy.checks import SettingError
from perf_orchestration.group.config import GroupFile, load_group
from perf_orchestration.group.rollup import roll_up
from perf_orchestration.warehouse import make_engine, redacted

GROUP_WAREHOUSE_ENV = "PERFFLOW_GROUP_WAREHOUSE_URL"


def plant_url_env(plant_id: str) -> str:
    """The variable holding a plant's warehouse URL: PERFFLOW_<ID>_WAREHOUSE_URL."""
    return f"PERFFLOW_{plant_id.upper().replace('-', '_')}_WAREHOUSE_URL"


def plant_urls(group: GroupFile, path: Path, given: list[str]) -> dict[str, str]:
    """Each plant's warehouse: `--plant ID=URL`, else its variable. An id the group does
    not configure is refused, naming it."""
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


def _group_url(warehouse: str | None) -> str:
    url = warehouse or os.environ.get(GROUP_WAREHOUSE_ENV)
    if not url:
        raise SettingError(f"no group warehouse: pass --warehouse or set {GROUP_WAREHOUSE_ENV}")
    return url


def run_group_rollup(group_file: str, warehouse: str | None, plants: list[str]) -> int:
    path = Path(group_file)
    group = load_group(path)
    urls = plant_urls(group, path, plants)
    url = _group_url(warehouse)
    result = roll_up(group, urls, url)
    print(f"group {group.name!r}: {result.plant_rows} plant goal rows from "
          f"{', '.join(result.plants_read)} rolled up into {len(result.group_rows)} group rows "
          f"and {len(result.cells)} heatmap cells in {redacted(url)}")
    return 0


def run_group_roles(group_file: str, warehouse: str | None, prefix: str) -> int:
    from perf_orchestration.group.roles import apply_plant_roles

    group = load_group(group_file)
    engine = make_engine(_group_url(warehouse))
    try:
        if engine.dialect.name != "postgresql":
            raise SettingError("plant roles need a PostgreSQL group warehouse "
                               "(row-level security)")
        roles = apply_plant_roles(engine, group, prefix)
    finally:
        engine.dispose()
    print(f"plant roles: {', '.join(roles)} (each reads its plant's rows of "
          "marts.group_plant_goal_scores and marts.group_goal_health)")
    return 0
