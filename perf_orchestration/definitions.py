"""The composition root: every wiring package's Definitions, merged, plus resources."""

import dagster as dg

from assets import ingestion, sql_models
from jobs import flow
from resources.sources import source_resources
from resources.warehouse import WarehouseResource

defs = dg.Definitions.merge(
    ingestion.defs,
    sql_models.defs,
    flow.defs,
    dg.Definitions(
        resources={
            "warehouse": WarehouseResource(url=dg.EnvVar("PERFFLOW_WAREHOUSE_URL")),
            **source_resources(),
        }
    ),
)
