"""The reliability report: run the fault suite and write its invariants into the docs.

    .venv/bin/python tests/faults/report.py [PYTEST_ARGS...]

Runs `pytest tests/faults` in a subprocess with PERFFLOW_RELIABILITY_LOG naming a temporary
file (each `invariant(...)` call of the suite appends a JSON line to it), then rewrites the
part of docs/reliability.md between `<!-- fault-report:start -->` and
`<!-- fault-report:end -->` with one table row per invariant, the run's date, duration,
machine and pass/fail totals. Exits with pytest's status, so a broken invariant fails.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "reliability.md"
START, END = "<!-- fault-report:start -->", "<!-- fault-report:end -->"


def run_suite(extra: list[str]) -> tuple[int, list[dict], dict, float]:
    """pytest's exit status, the invariant records, the totals and the seconds taken."""
    with tempfile.TemporaryDirectory(prefix="perfflow-faults-") as tmp:
        log, junit = Path(tmp) / "invariants.jsonl", Path(tmp) / "junit.xml"
        env = {**os.environ, "PERFFLOW_RELIABILITY_LOG": str(log)}
        started = time.perf_counter()
        status = subprocess.call(
            [sys.executable, "-m", "pytest", "tests/faults", "-q", "-p", "no:cacheprovider",
             f"--junitxml={junit}", *extra], cwd=REPO, env=env)
        seconds = time.perf_counter() - started
        records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()
                   if line.strip()] if log.exists() else []
        totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if junit.exists():
            for suite in ET.parse(junit).getroot().iter("testsuite"):
                for key in totals:
                    totals[key] += int(suite.get(key, 0))
    totals["passed"] = totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"]
    return status, records, totals, seconds


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {json.dumps(v, separators=(',', ':')) if isinstance(v, dict) else v}"
                     for k, v in counts.items())


def render(records: list[dict], totals: dict, seconds: float, status: int) -> str:
    """The report section, markers included."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    broken = sum(not r["holds"] for r in records)
    lines = [
        START,
        "",
        f"Last run: {when}, {seconds:.0f} s on {os.cpu_count()} cores ({platform.machine()}, "
        f"Python {platform.python_version()}); tests: {totals['passed']} passed, "
        f"{totals['failures'] + totals['errors']} failed, {totals['skipped']} skipped; "
        f"invariants: {len(records) - broken} hold, {broken} broken"
        + ("" if status == 0 else f"; pytest exit status {status}") + ".",
        "Regenerate with `.venv/bin/python tests/faults/report.py`.",
        "",
        "| scenario | invariant | result | counts | test |",
        "|---|---|---|---|---|",
    ]
    for r in sorted(records, key=lambda r: (r["test"], r["scenario"])):
        lines.append(f"| {_cell(r['scenario'])} | {_cell(r['invariant'])} | "
                     f"{'holds' if r['holds'] else '**BROKEN**'} | {_cell(_counts(r['counts']))} "
                     f"| `{_cell(r['test'])}` |")
    lines += ["", END]
    return "\n".join(lines)


def write(section: str, doc: Path = DOC) -> None:
    """Replace the marked section of `doc`, or append one when the markers are missing."""
    text = doc.read_text(encoding="utf-8")
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n## Fault suite report\n\n" + section + "\n"
    doc.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    status, records, totals, seconds = run_suite(argv)
    if not records and totals["tests"] == 0:
        print("tests/faults/report.py: the suite ran no test; docs/reliability.md left as is",
              file=sys.stderr)
        return status or 1
    write(render(records, totals, seconds, status))
    broken = [r for r in records if not r["holds"]]
    print(f"{DOC.relative_to(REPO)}: {len(records)} invariants, {len(broken)} broken; "
          f"{totals['passed']} passed, {totals['failures'] + totals['errors']} failed, "
          f"{seconds:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
