"""The demo's report.md: a short human-readable account of summary.json."""

from __future__ import annotations

from pathlib import Path

from perf_orchestration.cli.summary import TEAM_DAY_METRICS


def write_report(path: Path, summary: dict) -> None:
    """A short human-readable account of the demo run."""
    rows = summary["rows"]
    lines = [
        f"# Demo report: scenario {summary['scenario']}",
        "",
        f"- Result: {'success' if summary['success'] else 'FAILED'}",
        f"- Warehouse: `{summary['warehouse']}`",
        f"- Partitions: {summary['partitions']['first']} .. {summary['partitions']['last']} "
        f"({summary['partitions']['count']} hours on {len(summary['partitions']['days'])} plant "
        f"day(s), the flow's partitions; {summary['partitions']['timezone']})",
        f"- Assets materialized: {len(summary['assets_materialized'])}",
        f"- Checks: {summary['checks']['passed']} passed, {summary['checks']['failed']} failed"
        + (f" ({', '.join(summary['checks']['failed_checks'])})"
           if summary["checks"]["failed_checks"] else ""),
        f"- Rows: fetched {rows['fetched']} = landed {rows['landed']} + quarantined "
        f"{rows['quarantined']} (of which {rows['duplicates']} exact duplicates); "
        f"{rows['late']} landed late; balanced in every partition: "
        f"{'yes' if summary['rows_balanced'] else 'NO'}",
        f"- Source calls: {summary['source_calls']['requests']} requests, "
        f"{summary['source_calls']['retried']} retried after a fault",
        *[f"- Skipped {e['feature']}: {e['reason']}" for e in summary.get("skipped", [])],
        "",
        "## Rows by entity",
        "",
        "| entity | partitions | fetched | landed | quarantined | duplicates | late | retries |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entity, e in summary["rows_by_entity"].items():
        lines.append(f"| {entity} | {e['partitions']} | {e['fetched']} | {e['landed']} | "
                     f"{e['quarantined']} | {e['duplicates']} | {e['late']} | {e['retries']} |")
    lines += ["", "## Quarantine reasons", ""]
    for entity, reasons in summary["quarantine_reasons"].items():
        for expectation, n in reasons.items():
            lines.append(f"- {entity}: {expectation} x {n}")
    if summary.get("team_daily_metrics"):
        lines += ["", "## Team metrics of the day (marts.team_daily_quality)", "",
                  "| team | date | " + " | ".join(TEAM_DAY_METRICS) + " |",
                  "|---|---|" + "---|" * len(TEAM_DAY_METRICS)]
        for r in summary["team_daily_metrics"]:
            cells = ["" if r[m] is None else f"{r[m]:.3f}" for m in TEAM_DAY_METRICS]
            lines.append(f"| {r['team_id']} | {r['local_date']} | " + " | ".join(cells) + " |")
    if summary.get("alerts"):
        lines += ["", "## Alerts and actions", "",
                  f"Response, signal -> delivered: replayed day (the scenario's clock) "
                  f"{summary['response_seconds']}; live part (wall clock) "
                  f"{summary['live_response_seconds']}; "
                  f"auto-triggered share of delivered actions: "
                  f"{summary['auto_triggered_ratio']}", ""]
        for a in summary["alerts"]:
            took = "-" if a.get("response_seconds") is None else f"{a['response_seconds']:.0f} s"
            lines.append(f"- {a['rule_id']} for {a['subject']} ({a['state']}): signal "
                         f"{a['signal_at']}, fired {a['fired_at']}, resolved {a['resolved_at']}"
                         f", response {took} ({a.get('clock', 'wall')} clock)")
            for act in a["actions"]:
                lines.append(f"  - {act['kind']} {act['action']} -> {act['recipient']} "
                             f"({act['role']}) by {act['channel']}: {act['status']}")
    health = summary.get("goal_health") or {}
    if health:
        cells = health["cells"]
        lines += ["", f"## Goal health {health['period']} ({health['config_version']})", "",
                  f"![goal health]({health['heatmap']})", "",
                  f"{cells['total']} cells: {cells['green']} green, {cells['yellow']} yellow, "
                  f"{cells['red']} red. Red cells, each traceable to its source records:", ""]
        lines += [f"- {r['subject']} {r['metric']} ({r['goal_id']}): progress ratio "
                  f"{r['progress_ratio']} - `{r['trace']}`" for r in health["red"]]
        centres = health.get("technical_centres") or []
        if centres:
            lines += ["", "Technical centres: how far each centre's own goals deviate from the "
                      "first-pass yield of the lines it serves (|own - yield| / yield):", ""]
            lines += [f"- {c['centre']} {c['period']} (lines {', '.join(c['lines'])}): own "
                      f"goals {c['own_goals_attainment']}, supported yield "
                      f"{c['supported_yield_attainment']}, deviation {c['deviation']}"
                      for c in centres]
    if summary.get("live_page"):
        lines += ["", "## Live part", "",
                  f"- War-room page of the live part, on the wall clock: "
                  f"[{summary['live_page']}]({summary['live_page']})"]
    for day, rep in (summary.get("reports") or {}).items():
        lines += ["", f"## Reports of {day}", "",
                  f"- War-room page: [{rep['war_room']}]({rep['war_room']}) "
                  f"({rep['war_room_sections']['red_items']} red items, "
                  f"{rep['war_room_sections']['open_episodes']} open alert episodes)"]
        lines += [f"- HR scorecards {w['department']}: [{w['file']}]({w['file']}) "
                  f"({w['teams']} team sheets, {w['goal_rows']} goal rows, {w['red']} red)"
                  for w in rep.get("hr_workbooks", [])]
    if summary.get("workbooks"):
        wb = summary["workbooks"]
        lines += ["", "## Department workbooks (intake folder)", "",
                  f"{wb['files']} files, {wb['sheets']} sheets read, rows landed "
                  f"{wb['rows_landed']}, quarantined {wb['rows_quarantined']}; total checks "
                  f"{wb['total_checks']}", ""]
        lines += [f"- {f['file']}: {f['status']}, rows landed {f['rows_landed']}, quarantined "
                  f"{f['rows_quarantined']}, total check {f['total_check']}"
                  + (f" ({f['reason']})" if f["reason"] else "") for f in wb["by_file"]]
    onboarding = (summary.get("people") or {}).get("onboarding") or {}
    if onboarding.get("new_hires"):
        lines += ["", f"## New hires on {onboarding['as_of_date']} (marts.onboarding_progress)",
                  "", "| employee | role | day | courses | feedback / week | days to first job "
                  "| status |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {h['employee_id']} | {h['role']} | {h['days_since_hire']} | "
                  f"{h['trainings']} | {h['feedback_per_week']} | "
                  f"{h['days_to_first_job'] if h['days_to_first_job'] is not None else '-'} "
                  f"({h['first_job_id'] or 'none yet'}) | {h['status']} |"
                  for h in onboarding["new_hires"]]
    notes = summary.get("notifications") or {}
    if notes.get("requested"):
        lines += ["", "## Notifications (routing.yaml)", "",
                  f"{notes['requested']} notification(s) asked for by the actions, "
                  f"{notes['sent']} grouped message(s) sent; by status: {notes['by_status']}",
                  ""]
        lines += [f"- {m['channel']} to {m['recipient']} ({m['reason']}, {m['alerts']} "
                  f"alert(s)): {m['status']}" for m in notes["messages"]]
        lines += [f"- not sent to {n['recipient']}: {n['episode_id']}: {n['status']}, "
                  f"{n['reason']}" for n in notes["not_sent"]]
    if summary["step_failures"]:
        lines += ["", "## Failed steps", ""]
        lines += [f"- {f['step']}: {f['error']}" for f in summary["step_failures"]]
    lines += ["", "## Stages (seconds)", ""]
    lines += [f"- {k}: {v}" for k, v in summary.get("stages", {}).items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
