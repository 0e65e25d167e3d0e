"""The composition root: every wiring package's Definitions, merged, plus resources."""

import dagster as dg

from assets import alerts, goals, ingestion, sql_models
from jobs import actions, flow
from resources.delivery import delivery_resource
from resources.sources import source_resources
from resources.warehouse import WarehouseResource
from sensors import episodes, notifications, run_failures, source_watch

defs = dg.Definitions.merge(
    ingestion.defs,
    sql_models.defs,
    alerts.defs,
    goals.defs,
    flow.defs,
    actions.defs,
    episodes.defs,
    source_watch.defs,
    notifications.defs,
    run_failures.defs,
    dg.Definitions(
        resources={
            "warehouse": WarehouseResource(url=dg.EnvVar("PERFFLOW_WAREHOUSE_URL")),
            "delivery": delivery_resource(),
            **source_resources(),
        }
    ),
)
