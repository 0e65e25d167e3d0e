"""What HR and the line managers look at, per plant day: the war-room page and the HR
scorecard workbooks (logic in perf_orchestration.reports)."""

from datetime import date
from pathlib import Path

import dagster as dg

from assets.partitions import daily_partitions
from perf_orchestration.config.files import config_dir, plant_onboarding
from perf_orchestration.goals.pipeline import load_goal_config

COMMON = dict(group_name="reports", owners=["team:performance"], kinds={"python", "html"},
              partitions_def=daily_partitions, backfill_policy=dg.BackfillPolicy.single_run(),
              required_resource_keys={"warehouse", "reports_folder"})
SCORES = ["marts", "goal_scores"]


def _folder(context: dg.AssetExecutionContext) -> Path:
    return context.resources.reports_folder.path()


def _days(context: dg.AssetExecutionContext) -> list[date]:
    """The plant days of the run: one, or every day of a backfill (one run per range)."""
    return [date.fromisoformat(key) for key in context.partition_keys]


@dg.asset(key=["reports", "war_room"],
          deps=[SCORES, ["marts", "sales_funnel_daily"], ["raw", "mes_equipment_events"],
                ["raw", "crm_service_tickets"], ["marts", "response_speed_evidence"],
                ["marts", "breakpoints"]],
          description="The stand-up page of the plant day: goal-health heatmap, red items "
          "with their source records, alert episodes and tasks with owners, response times, "
          "sales funnel, equipment alarms, complaint keywords and the response-speed evidence. "
          "One self-contained HTML file (no network needed), readable on a phone.", **COMMON)
def war_room_page(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from perf_orchestration.reports.war_room import write_war_room

    engine = context.resources.warehouse.get_engine()
    tree = load_goal_config(config_dir(), engine).tree
    pages = []
    for day in _days(context):
        path, facts = write_war_room(engine, tree, day, _folder(context) / "war_room")
        context.log.info(f"war room {facts.day}: {facts.counts()} -> {path}")
        pages.append(str(path))
    return dg.MaterializeResult(metadata={  # the last day's page and sections
        "path": dg.MetadataValue.path(pages[-1]), "pages": len(pages), **facts.counts(),
        "red": dg.MetadataValue.json([f"{r['subject']} {r['metric']}" for r in facts.red]),
        "complaint_keywords": dg.MetadataValue.json(
            {k["keyword"]: k["tickets"] for k in facts.keywords}),
        "word_cloud": dg.MetadataValue.md(
            f"![complaint keywords](data:image/png;base64,{facts.word_cloud})"
            if facts.word_cloud else "no service tickets"),
        "config_version": tree.version})


@dg.asset(key=["reports", "hr_scorecards"],
          deps=[SCORES, ["marts", "badges"], ["marts", "feedback"], ["raw", "hr_employees"],
                ["raw", "hr_teams"], ["marts", "role_snapshots"], ["marts", "breakpoints"]],
          description="HR scorecard workbooks of the plant day: one .xlsx per department, one "
          "sheet per team with its goal scores and health colours, and its people with their "
          "badges and feedback; and the role capability snapshots (a job-description draft "
          "per role in Markdown and a workbook with a sheet per role).",
          **{**COMMON, "kinds": {"python", "excel"}})
def hr_scorecards(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from perf_orchestration.reports.hr_export import write_hr_workbooks
    from perf_orchestration.reports.role_snapshots import write_role_snapshots

    engine = context.resources.warehouse.get_engine()
    tree = load_goal_config(config_dir(), engine).tree
    books, snapshots = [], None
    for day in _days(context):
        books += write_hr_workbooks(engine, tree, day, _folder(context) / "hr")
        snapshots = write_role_snapshots(engine, plant_onboarding(), day,
                                         _folder(context) / "hr")
        context.log.info(f"HR scorecards {day}: {len(books)} workbook(s) so far")
    return dg.MaterializeResult(metadata={
        "role_snapshots": str(snapshots.workbook) if snapshots else "marts.role_snapshots "
                          "not written yet (people_job)",
        "role_snapshot_drafts": dg.MetadataValue.json(
            [str(p) for p in snapshots.drafts] if snapshots else []),
        "workbooks": len(books), "goal_rows": sum(b.goal_rows for b in books),
        "red": sum(b.red for b in books), "config_version": tree.version,
        "files": dg.MetadataValue.table(
            records=[dg.TableRecord({"department": b.department, "file": str(b.path),
                                     "teams": b.teams, "goal_rows": b.goal_rows,
                                     "people": b.people, "red": b.red}) for b in books],
            schema=dg.TableSchema(columns=[
                dg.TableColumn("department", "string"), dg.TableColumn("file", "string"),
                dg.TableColumn("teams", "int"), dg.TableColumn("goal_rows", "int"),
                dg.TableColumn("people", "int"), dg.TableColumn("red", "int")]))})


reports_job = dg.define_asset_job(
    "reports_job", selection=dg.AssetSelection.groups("reports"),
    partitions_def=daily_partitions, executor_def=dg.in_process_executor,
    description="The war-room page and the HR scorecard workbooks of one plant day.")

reports_schedule = dg.build_schedule_from_partitioned_job(
    reports_job, hour_of_day=6, minute_of_hour=30,
    description="Before the morning stand-up: yesterday's war-room page and HR workbooks.")

defs = dg.Definitions(assets=[war_room_page, hr_scorecards], jobs=[reports_job],
                      schedules=[reports_schedule])
