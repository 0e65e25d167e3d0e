"""`perfflow group rollup` and `perfflow group roles`: the group layer of a deployment
whose plants each have their own warehouse (docs/deploy.md, "Several plants")."""

from __future__ import annotations

from perf_orchestration.deploy.checks import SettingError
from perf_orchestration.group.config import load_group
from perf_orchestration.group.rollup import roll_up
from perf_orchestration.group.settings import group_file, group_warehouse_url, plant_urls
from perf_orchestration.warehouse import make_engine, redacted


def run_group_rollup(group: str | None, warehouse: str | None, plants: list[str]) -> int:
    path = group_file(group)
    loaded = load_group(path)
    urls = plant_urls(loaded, path, plants)
    url = group_warehouse_url(warehouse)
    result = roll_up(loaded, urls, url)
    print(f"group {loaded.name!r}: {result.plant_rows} plant goal rows from "
          f"{', '.join(result.plants_read)} rolled up into {len(result.group_rows)} group rows "
          f"and {len(result.cells)} heatmap cells in {redacted(url)}")
    return 0


def run_group_roles(group: str | None, warehouse: str | None, prefix: str) -> int:
    from perf_orchestration.group.roles import apply_plant_roles

    loaded = load_group(group_file(group))
    engine = make_engine(group_warehouse_url(warehouse))
    try:
        if engine.dialect.name != "postgresql":
            raise SettingError("plant roles need a PostgreSQL group warehouse "
                               "(row-level security)")
        roles = apply_plant_roles(engine, loaded, prefix)
    finally:
        engine.dispose()
    print(f"plant roles: {', '.join(roles)} (each reads its plant's rows of "
          "marts.group_plant_goal_scores and marts.group_goal_health)")
    return 0
