"""The composition root: every wiring package's Definitions, merged, plus resources."""

import dagster as dg

from assets import (
    alerts,
    breakpoints,
    customers,
    goals,
    ingestion,
    interfaces,
    people,
    reports,
    sql_models,
)
from jobs import actions, flow
from jobs import sources as sources_jobs
from jobs import workbooks as workbook_jobs
from resources.delivery import delivery_resource
from resources.folders import IntakeFolderResource, ReportsFolderResource
from resources.sources import source_resources
from resources.warehouse import WarehouseResource
from sensors import episodes, notifications, run_failures, source_watch
from sensors import workbooks as workbook_sensors

defs = dg.Definitions.merge(
    ingestion.defs,
    sql_models.defs,
    alerts.defs,
    goals.defs,
    people.defs,
    customers.defs,
    interfaces.defs,
    breakpoints.defs,
    reports.defs,
    flow.defs,
    actions.defs,
    episodes.defs,
    workbook_jobs.defs,
    sources_jobs.defs,
    workbook_sensors.defs,
    source_watch.defs,
    notifications.defs,
    run_failures.defs,
    dg.Definitions(
        resources={
            "warehouse": WarehouseResource(url=dg.EnvVar("PERFFLOW_WAREHOUSE_URL")),
            "delivery": delivery_resource(),
            "intake_folder": IntakeFolderResource(),
            "reports_folder": ReportsFolderResource(),
            **source_resources(),
        }
    ),
)
