"""The fault suite's shared piece: every scenario states its invariants through `invariant`.

`invariant(scenario, name, holds, **counts)` asserts the invariant (the message names the
scenario and the counts) and, when PERFFLOW_RELIABILITY_LOG names a file, appends one JSON
line per call to it. `tests/faults/report.py` runs this folder with that variable set and
renders the lines as the table in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


@pytest.fixture
def invariant(request):
    log = os.environ.get("PERFFLOW_RELIABILITY_LOG")

    def check(scenario: str, name: str, holds: bool, **counts) -> None:
        if log:
            record = {"test": request.node.nodeid, "scenario": scenario, "invariant": name,
                      "holds": bool(holds), "counts": counts}
            with Path(log).open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, default=str) + "\n")
        assert holds, f"{scenario}: invariant '{name}' broken ({counts})"

    return check
