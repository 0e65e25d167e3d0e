"""The import rules of pyproject.toml's import-linter contracts hold, and break loudly: a
forbidden import added to a copy of the tree fails `lint-imports` naming the import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = str(Path(sys.executable).with_name("lint-imports"))
TREE = ("perf_orchestration", "assets", "sensors", "jobs", "resources", "dbt_like_sql")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([LINT, "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_import_contracts_are_kept():
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout and "4 kept" in proc.stdout, proc.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    tree = tmp_path_factory.mktemp("tree")
    for name in TREE:
        shutil.copytree(ROOT / name, tree / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


@pytest.mark.parametrize(("module", "line", "named"), [
    ("perf_orchestration/goals/scores.py", "import dagster",
     "perf_orchestration.goals.scores -> dagster"),
    ("perf_orchestration/metrics/library.py", "from assets import partitions",
     "perf_orchestration.metrics.library -> assets.partitions"),
    ("perf_orchestration/simulator/common.py", "from perf_orchestration import warehouse",
     "perf_orchestration.simulator.common -> perf_orchestration.warehouse"),
    ("perf_orchestration/delivery/base.py", "from perf_orchestration.alerting import rules",
     "perf_orchestration.delivery.base -> perf_orchestration.alerting.rules"),
])
def test_a_forbidden_import_fails_naming_it(copy, module, line, named):
    path = copy / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # added by the test\n")
    try:
        proc = _lint(copy)
    finally:
        path.write_text(original)
    assert proc.returncode != 0
    assert "0 broken" not in proc.stdout and named in proc.stdout, proc.stdout
