"""The composition root: every wiring package's Definitions, merged, plus resources."""

import dagster as dg

from assets import alerts, goals, ingestion, people, sql_models
from jobs import actions, flow
from jobs import workbooks as workbook_jobs
from resources.delivery import delivery_resource
from resources.sources import source_resources
from resources.warehouse import WarehouseResource
from resources.workbooks import IntakeFolderResource
from sensors import episodes, notifications, run_failures, source_watch
from sensors import workbooks as workbook_sensors

defs = dg.Definitions.merge(
    ingestion.defs,
    sql_models.defs,
    alerts.defs,
    goals.defs,
    people.defs,
    flow.defs,
    actions.defs,
    episodes.defs,
    workbook_jobs.defs,
    workbook_sensors.defs,
    source_watch.defs,
    notifications.defs,
    run_failures.defs,
    dg.Definitions(
        resources={
            "warehouse": WarehouseResource(url=dg.EnvVar("PERFFLOW_WAREHOUSE_URL")),
            "delivery": delivery_resource(),
            "intake_folder": IntakeFolderResource(),
            **source_resources(),
        }
    ),
)
