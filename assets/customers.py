"""The customer evidence as an asset: renewal odds by how fast service tickets were first
answered (logic in perf_orchestration.customers)."""

import base64
from datetime import UTC, datetime

import dagster as dg

from perf_orchestration.config.files import plant_response_speed
from perf_orchestration.customers.chart import response_speed_png
from perf_orchestration.tables import create_tables


@dg.asset(key=["marts", "response_speed_evidence"],
          deps=[["raw", "crm_ticket_responses"], ["raw", "crm_contracts"]],
          description="Renewal odds by time to first answer of service tickets, and the odds "
          "ratio of an answer within response_speed.yaml's fast_hours (logistic regression "
          "controlling for account size, standard errors clustered by account); writes "
          "marts.response_speed_evidence and marts.response_speed_buckets.",
          group_name="customers", owners=["team:customer-service"], kinds={"python", "sql"},
          required_resource_keys={"warehouse"}, pool="warehouse_write")
def response_speed_evidence(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    # pandas and statsmodels load in the run, not with the code location
    from perf_orchestration.customers.response_speed import (
        EXCLUSIONS,
        analyse,
        bucket_table,
        write_evidence,
    )

    engine = context.resources.warehouse.get_engine()
    create_tables(engine)
    config = plant_response_speed()
    evidence = analyse(engine, config)
    write_evidence(engine, evidence, config, datetime.now(UTC))
    context.log.info(f"response speed: {evidence.statement}")
    png = response_speed_png({**evidence.as_dict(), "fast_hours": config.fast_hours},
                             evidence.buckets)
    estimate = {k: dg.MetadataValue.float(float(v))
                for k in ("odds_ratio", "ci_low", "ci_high", "p_value")
                if (v := getattr(evidence, k)) is not None}
    return dg.MaterializeResult(metadata={
        "status": evidence.status, "statement": evidence.statement, **estimate,
        **{k: getattr(evidence, k) for k in ("tickets", "accounts", "contracts",
                                              "fast_tickets")},
        "excluded": dg.MetadataValue.json({reason: {"tickets": n, "why": EXCLUSIONS[reason]}
                                           for reason, n in evidence.excluded.items()}),
        "buckets": dg.MetadataValue.md(bucket_table(evidence.buckets)),
        "chart": dg.MetadataValue.md(
            f"![renewal share by response time](data:image/png;base64,"
            f"{base64.b64encode(png).decode('ascii')})" if png else "no decided tickets"),
        "config_version": config.version})


defs = dg.Definitions(assets=[response_speed_evidence])
