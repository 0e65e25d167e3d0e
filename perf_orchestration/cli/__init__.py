"""The `perfflow` command: demo, live, simulate, validate, intake, backtest, breakpoints,
silence, ack, ack-server, task, trace, query, group (rollup, roles) and deployment checks
(check-instance, roles).

Bad input (a config, scenario or URL that cannot be used) ends with one line
per problem and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from perf_orchestration.cli.backfill import ENGINES
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.deploy.checks import SettingError
from perf_orchestration.group.plant import PlantIdError
from perf_orchestration.plant_calendar import TimezoneSettingError
from perf_orchestration.warehouse import WarehouseError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perfflow", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole flow against the plant simulator")
    demo.add_argument("--out", required=True, help="folder for the instance, warehouse, summary")
    demo.add_argument("--scenario", help="scenario YAML (default: the bundled default)")
    demo.add_argument("--warehouse", help="warehouse URL (default: embedded SQLite under --out)")
    demo.add_argument("--quiet", action="store_true", help="print only the final summary line")
    demo.add_argument("--instance-config", metavar="FILE",
                      help="Dagster instance YAML, e.g. deploy/dagster.yaml for PostgreSQL "
                      "storage (default: embedded SQLite under --out)")

    sim = sub.add_parser("simulate", help="serve the plant simulator over HTTP")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--scenario", help="scenario YAML (default: the bundled default)")
    sim.add_argument("--token", help="require this bearer token (default: none)")

    val = sub.add_parser("validate", help="validate a plant config folder and scenarios")
    val.add_argument("--config", help="config folder (default: $PERFFLOW_CONFIG_DIR or bundled)")
    val.add_argument("--scenario", action="append", default=[], help="a scenario file to check")

    src = sub.add_parser("sources", help="check the plant's source systems (sources.yaml)")
    src_sub = src.add_subparsers(dest="action", required=True)
    chk = src_sub.add_parser("check", help="read, map and validate one window of every "
                             "configured entity; one line each, exit 1 on any failure")
    chk.add_argument("--config", help="config folder (default: $PERFFLOW_CONFIG_DIR or bundled)")
    chk.add_argument("--system", action="append", default=[], help="only this system "
                     "(mes, qms, erp, crm, hr); repeatable")
    chk.add_argument("--at", help="end of the hour read (ISO 8601; default: the last full "
                     "hour in the plant's zone)")
    chk.add_argument("--simulate", action="store_true", help="check against the plant "
                     "simulator serving --scenario (the bundled one by default)")
    chk.add_argument("--scenario", help="scenario file for --simulate")

    bt = sub.add_parser("backtest", help="replay rules over history; nothing is sent")
    bt.add_argument("--rules", help="rules YAML (default: the bundled rules.yaml)")
    bt.add_argument("--from", dest="start", required=True, help="plant time, 2026-11-02T00:00")
    bt.add_argument("--to", dest="end", required=True, help="plant time (exclusive)")
    bt.add_argument("--warehouse", help="warehouse URL (default as for query)")

    intake = sub.add_parser("intake", help="consolidate a folder of department workbooks once")
    intake.add_argument("dir", help="folder of .xlsx workbooks (sub-folders included)")
    intake.add_argument("--warehouse", help="warehouse URL (default as for query)")
    intake.add_argument("--config", help="config folder with workbooks.yaml "
                        "(default: $PERFFLOW_CONFIG_DIR or bundled)")
    live = sub.add_parser("live", help="run the Dagster daemon (and UI) with the sensors on")
    live.add_argument("--out", required=True, help="folder for the instance, warehouse, logs")
    live.add_argument("--simulate", action="store_true",
                      help="serve the sources from the simulator, with local webhook and mail")
    live.add_argument("--ui", type=int, metavar="PORT", help="also start the Dagster UI")
    live.add_argument("--scenario", help="with --simulate: the scenario the simulator serves "
                      "(default: the bundled default); its plant's time zone is used")
    live.add_argument("--config", help="plant config folder (default: bundled)")
    live.add_argument("--warehouse", help="warehouse URL (default: embedded under --out)")
    live.add_argument("--instance-config", metavar="FILE",
                      help="Dagster instance config to install, e.g. deploy/dagster.yaml "
                      "(PostgreSQL storage; default: an embedded instance under --out)")
    live.add_argument("--ack-port", type=int, default=0, metavar="PORT",
                      help="port of the acknowledgement endpoint on 127.0.0.1, started when "
                      "PERFFLOW_ACK_SECRET is set or with --simulate (default: a free port)")
    tr = sub.add_parser("trace", help="the chain behind a goal-health cell or goal score, or "
                        "a link of a breakpoint chain down to its records")
    tr.add_argument("table", help="marts.goal_health, marts.goal_scores or marts.breakpoints")
    tr.add_argument("key", help="GOAL_ID or GOAL_ID@PERIOD (e.g. t3-first-article@2026-11-02); "
                    "for marts.breakpoints CHAIN/LEVEL (e.g. 1/3)")
    tr.add_argument("--warehouse", help="warehouse URL (default as for query)")
    tr.add_argument("--config", help="config folder (default: $PERFFLOW_CONFIG_DIR or bundled)")

    bp = sub.add_parser("breakpoints", help="3x3 breakpoint chains of the last days: the "
                        "problems that hurt delivery most and the causes the data supports")
    bp.add_argument("--days", type=int, help="plant days looked at (default: causes.yaml)")
    bp.add_argument("--day", help="the last plant day (YYYY-MM-DD; default: the latest)")
    bp.add_argument("--warehouse", help="warehouse URL (default as for query)")
    bp.add_argument("--config", help="config folder (default: $PERFFLOW_CONFIG_DIR or bundled)")

    sil = sub.add_parser("silence", help="hold matching alert notifications for a while")
    sil.add_argument("action", choices=["add", "list", "expire"])
    sil.add_argument("silence_id", nargs="?", help="for expire: the silence id")
    sil.add_argument("--match", action="append", default=[], metavar="LABEL=VALUE",
                     help="labels: rule_id, team, line, device, subject, severity, domain, kind")
    sil.add_argument("--for", dest="duration", help="duration: 90m, 2h, 1d")
    sil.add_argument("--until", help="end, plant time (instead of --for)")
    sil.add_argument("--start", help="start, plant time (default: now)")
    sil.add_argument("--by", help="who silences")
    sil.add_argument("--comment", help="why")
    sil.add_argument("--warehouse", help="warehouse URL (default as for query)")

    ack = sub.add_parser("ack", help="acknowledge an alert (stops its escalation)")
    ack.add_argument("episode_id", nargs="?", help="ops.alert_episodes.episode_id")
    ack.add_argument("--by", help="who acknowledges (employee id)")
    ack.add_argument("--link", help="the signed acknowledgement link of a notification")
    ack.add_argument("--warehouse", help="warehouse URL (default as for query)")

    acks = sub.add_parser("ack-server", help="serve the signed acknowledgement links of "
                          "notifications over HTTP (behind the plant's reverse proxy)")
    acks.add_argument("--port", type=int, required=True)
    acks.add_argument("--host", default="127.0.0.1",
                      help="address to bind (default: 127.0.0.1, for a reverse proxy)")
    acks.add_argument("--path", default="/ack", help="the links' path (default: /ack)")
    acks.add_argument("--warehouse", help="warehouse URL (default as for query)")
    acks.add_argument("--config", help="config folder, for the rules' descriptions "
                      "(default: $PERFFLOW_CONFIG_DIR or bundled)")

    task = sub.add_parser("task", help="list open tasks or mark one done")
    task.add_argument("action", choices=["list", "done"])
    task.add_argument("task_id", nargs="?", help="for done: the task id or a unique prefix")
    task.add_argument("--warehouse", help="warehouse URL (default as for query)")

    ci = sub.add_parser("check-instance", help="check that the Dagster instance and the "
                        "warehouse are reachable with the configured settings")
    ci.add_argument("--instance-config", metavar="FILE",
                    help="instance YAML (default: $DAGSTER_HOME/dagster.yaml)")
    ci.add_argument("--warehouse", help="warehouse URL (default: $PERFFLOW_WAREHOUSE_URL)")

    roles = sub.add_parser("roles", help="least-privilege roles of a PostgreSQL warehouse")
    roles_sub = roles.add_subparsers(dest="roles_command", required=True)
    ra = roles_sub.add_parser("apply", help="create or update the pipeline, HR and auditor "
                              "roles and their grants (idempotent)")
    ra.add_argument("--warehouse", help="warehouse URL of an owner or superuser login "
                    "(default: $PERFFLOW_WAREHOUSE_URL)")
    ra.add_argument("--prefix", default="perfflow",
                    help="role names are PREFIX_pipeline, PREFIX_hr, PREFIX_auditor")
    ra.add_argument("--file", help="roles SQL (default: perf_orchestration/deploy/roles.sql)")

    bf = sub.add_parser("backfill", help="the flow over a range of plant days as one run on a "
                        "deployment's instance, in process or with its steps on Celery workers")
    bf.add_argument("first", help="first plant day, YYYY-MM-DD")
    bf.add_argument("last", help="last plant day, YYYY-MM-DD (included)")
    bf.add_argument("--engine", choices=list(ENGINES), default="in-process")
    bf.add_argument("--instance-config", metavar="FILE", default="deploy/dagster.yaml",
                    help="instance YAML (default: deploy/dagster.yaml)")
    bf.add_argument("--home", default=os.environ.get("DAGSTER_HOME") or "dagster_home",
                    help="the instance's folder (default: $DAGSTER_HOME)")
    bf.add_argument("--json", action="store_true", help="print the outcome as JSON")

    grp = sub.add_parser("group", help="a group of plants: roll their goals up, plant roles")
    grp_sub = grp.add_subparsers(dest="group_command", required=True)
    gr = grp_sub.add_parser("rollup", help="read every plant's goal scores and write the group "
                            "goals, as ratios of sums, and the group heatmap")
    gr.add_argument("--group", metavar="FILE",
                    help="the group file (default: $PERFFLOW_GROUP_FILE)")
    gr.add_argument("--plant", action="append", default=[], metavar="ID=URL",
                    help="a plant's warehouse (default: $PERFFLOW_<ID>_WAREHOUSE_URL)")
    gr.add_argument("--warehouse", help="the group warehouse "
                    "(default: $PERFFLOW_GROUP_WAREHOUSE_URL)")
    gro = grp_sub.add_parser("roles", help="PostgreSQL roles that read one plant's rows of the "
                             "group warehouse (idempotent)")
    gro.add_argument("--group", metavar="FILE",
                     help="the group file (default: $PERFFLOW_GROUP_FILE)")
    gro.add_argument("--warehouse", help="the group warehouse "
                     "(default: $PERFFLOW_GROUP_WAREHOUSE_URL)")
    gro.add_argument("--prefix", default="perfflow_plant_",
                     help="role names are PREFIX<plant id in lower case>")

    q = sub.add_parser("query", help="run SQL on the warehouse and print CSV")
    q.add_argument("--warehouse", help="warehouse URL (default: $PERFFLOW_WAREHOUSE_URL or "
                   "the demo's ./demo-out warehouse)")
    q.add_argument("sql")
    return p


# How Dagster records a run over many plant days (docs/deploy.md, "The unit of work"): a
# step's per-partition materializations written as one batch, and one planned event per
# asset instead of one per partition. Set for runs in this process and the processes it
# starts (the daemon, its runs); a value already set wins.
DAGSTER_ENV = {"DAGSTER_EVENT_BATCH_SIZE": "1000",
               "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1"}


def use_dagster_env() -> None:
    for name, value in DAGSTER_ENV.items():
        os.environ.setdefault(name, value)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    use_dagster_env()
    try:
        if args.command == "demo":
            from perf_orchestration.group.config import is_group_file

            if is_group_file(args.scenario):
                from perf_orchestration.cli.group_demo import run_group_demo

                if args.warehouse or args.instance_config:
                    raise SettingError("a group demo keeps each plant's warehouse and instance "
                                       "under --out; --warehouse and --instance-config are "
                                       "for one plant")
                return run_group_demo(args.out, args.scenario, quiet=args.quiet)
            from perf_orchestration.cli.demo import run_demo
            return run_demo(args.out, args.scenario, args.warehouse, quiet=args.quiet,
                            instance_config=args.instance_config)
        if args.command == "simulate":
            from perf_orchestration.cli.simulate import run_simulate
            return run_simulate(args.host, args.port, args.scenario, args.token)
        if args.command == "validate":
            from perf_orchestration.cli.validate import run_validate
            return run_validate(args.config, args.scenario)
        if args.command == "sources":
            from perf_orchestration.cli.sources import run_sources_check
            return run_sources_check(args.config, args.system, args.at, args.simulate,
                                     args.scenario)
        if args.command == "backtest":
            from perf_orchestration.cli.backtest import run_backtest
            return run_backtest(args.rules, args.start, args.end, args.warehouse)
        if args.command == "intake":
            from perf_orchestration.cli.intake import run_intake
            return run_intake(args.dir, args.warehouse, args.config)
        if args.command == "live":
            from perf_orchestration.cli.live import run_live
            return run_live(args.out, args.simulate, args.ui, args.config, args.warehouse,
                            args.instance_config, args.ack_port, args.scenario)
        if args.command == "silence":
            from perf_orchestration.cli.silence import run_silence
            return run_silence(args)
        if args.command == "ack":
            from perf_orchestration.cli.ack import run_ack
            return run_ack(args.episode_id, args.by, args.link, args.warehouse)
        if args.command == "ack-server":
            from perf_orchestration.cli.ack_server import run_ack_server
            return run_ack_server(args.host, args.port, args.warehouse, args.path, args.config)
        if args.command == "task":
            from perf_orchestration.cli.task import run_task
            return run_task(args.action, args.task_id, args.warehouse)
        if args.command == "trace":
            from perf_orchestration.cli.trace import run_trace
            return run_trace(args.table, args.key, args.warehouse, args.config)
        if args.command == "breakpoints":
            from perf_orchestration.cli.breakpoints import run_breakpoints_cli
            return run_breakpoints_cli(args.days, args.day, args.warehouse, args.config)
        if args.command == "check-instance":
            from perf_orchestration.cli.deploy import run_check_instance
            return run_check_instance(args.instance_config, args.warehouse)
        if args.command == "roles":
            from perf_orchestration.cli.deploy import run_roles_apply
            return run_roles_apply(args.warehouse, args.prefix, args.file)
        if args.command == "backfill":
            from perf_orchestration.cli.backfill import run_backfill
            return run_backfill(args)
        if args.command == "group":
            from perf_orchestration.cli.group import run_group_roles, run_group_rollup

            if args.group_command == "rollup":
                return run_group_rollup(args.group, args.warehouse, args.plant)
            return run_group_roles(args.group, args.warehouse, args.prefix)
        if args.command == "query":
            from perf_orchestration.cli.query import run_query
            return run_query(args.warehouse, args.sql)
    except ConfigError as err:
        for line in err.problems:
            print(line, file=sys.stderr)
        return 1
    except (WarehouseError, SettingError, TimezoneSettingError, PlantIdError) as err:
        print(f"perfflow {args.command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
