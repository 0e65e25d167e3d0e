"""The sources check job: what `perfflow sources check` prints, as a run in the Dagster UI."""

import dagster as dg
from pydantic import Field

from perf_orchestration.ingestion.entities import SYSTEMS
from perf_orchestration.ingestion.sources.check import check_sources
from perf_orchestration.plant_calendar import plant_tz
from resources.sources import source_resource_key


class SourcesCheckConfig(dg.Config):
    at: str | None = Field(default=None, description="end of the hour read (ISO 8601; "
                           "default: the last full hour in the plant's zone)")
    systems: list[str] = Field(default_factory=list, description="only these systems")


@dg.op(
    required_resource_keys={source_resource_key(s) for s in SYSTEMS},
    description="For every entity of sources.yaml: reach the system, log in, read one hour, "
    "map its records and validate them with the entity's Great Expectations suite. One log "
    "line per entity; fails naming every entity that cannot be read. Writes nothing.",
)
def check_source_entities(context: dg.OpExecutionContext, config: SourcesCheckConfig) -> None:
    from datetime import datetime

    tz = plant_tz()
    end = datetime.fromisoformat(config.at) if config.at else datetime.now(tz).replace(
        minute=0, second=0, microsecond=0)
    end = end if end.tzinfo else end.replace(tzinfo=tz)
    results = []
    for result in check_sources(
            lambda s: getattr(context.resources, source_resource_key(s)).client(), end,
            tuple(config.systems) or None):
        (context.log.info if result.ok else context.log.error)(result.line())
        results.append(result)
    table = "\n".join(f"| {r.system} | {r.entity} | {'ok' if r.ok else 'FAIL'} | {r.records} "
                      f"| {r.valid} | {(r.problem or '').replace('|', '/')[:200]} |"
                      for r in results)
    context.add_output_metadata({"entities": len(results),
                                 "failed": sum(not r.ok for r in results),
                                 "verdicts": dg.MetadataValue.md(
                                     "| system | entity | verdict | records | valid | problem |"
                                     "\n|---|---|---|---|---|---|\n" + table)})
    failed = [r for r in results if not r.ok]
    if failed:
        raise dg.Failure(description=f"{len(failed)} of {len(results)} entities cannot be "
                         "read: " + "; ".join(f"{r.system} {r.entity}: {r.problem}"
                                              for r in failed[:5]))


@dg.job(executor_def=dg.in_process_executor, tags={"domain": "sources"},
        description="Check every configured source entity (perfflow sources check): "
        "reachable, authenticated, one hour read, mapped and validated. Writes nothing.")
def sources_check_job():
    check_source_entities()


defs = dg.Definitions(jobs=[sources_check_job])
