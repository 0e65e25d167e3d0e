"""The product installed from its wheel, not editable from the source tree: every bundled
file is package data, and `perfflow validate` and a short `perfflow demo` run from a
folder outside the repository with nothing of the checkout on the path.

The wheel goes into a fresh virtualenv with `--no-deps`; the third-party packages it
needs are this test environment's, made visible by one path line in a .pth file (a path
line does not run that folder's own .pth files, so the editable install of the checkout
stays out). The test checks where each package was imported from.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from perf_orchestration.scenarios.config import bundled_scenario_path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("perf_orchestration", "assets", "sensors", "resources", "jobs", "dbt_like_sql")
START = datetime(2026, 11, 2, 9, 0)
HOURS = 3
pytestmark = pytest.mark.timeout(600)


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True,
                         text=True)
    if out.returncode == 0 and out.stdout.strip():
        return out.stdout.split()
    return [str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    dist, source = tmp / "dist", tmp / "source"
    for name in PACKAGES:  # built from a copy: setuptools leaves build/ where it builds
        shutil.copytree(ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist),
                    str(source)], check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob("perf_orchestration-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv),
                                                    "platbase": str(venv)}))
    ours = sysconfig.get_path("purelib")
    (site / "test-environment.pth").write_text(ours + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    outside = tmp / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PERFFLOW_", "DAGSTER_")) and k != "PYTHONPATH"}
    return {"wheel": wheel, "venv": venv, "site": site, "cwd": outside, "env": env}


def _run(installed, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(installed["venv"] / "bin" / args[0]), *args[1:]],
                          cwd=installed["cwd"], env=installed["env"], capture_output=True,
                          text=True, timeout=timeout)


def test_the_wheel_holds_every_bundled_file_and_no_test(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    missing = [f for f in _tracked() if f not in names]
    assert missing == [], f"not in the wheel: {missing}"
    assert {"dbt_like_sql/sources.yml", "perf_orchestration/deploy/roles.sql",
            "perf_orchestration/reports/war_room.html.j2",
            "perf_orchestration/scenarios/default.yaml"} <= names
    assert not [n for n in names if n.startswith("tests/")]


def test_the_installed_packages_come_from_the_wheel(installed):
    code = ("import importlib, json; print(json.dumps({m: importlib.import_module(m).__file__ "
            f"for m in {list(PACKAGES)!r}}}))")
    proc = _run(installed, "python", "-c", code)
    assert proc.returncode == 0, proc.stderr
    for module, where in yaml.safe_load(proc.stdout).items():
        assert Path(where).is_relative_to(installed["site"]), (module, where)


def _short_scenario(folder: Path) -> Path:
    data = yaml.safe_load(bundled_scenario_path().read_text(encoding="utf-8"))
    end = START + timedelta(hours=HOURS)

    def inside(incident: dict) -> bool:
        times = incident.get("at") or incident.get("start") or incident.get("hour")
        times = times if isinstance(times, list) else [times]
        return all(START <= datetime.fromisoformat(str(t)) < end for t in times)

    data.update(name="wheel-short", start=START.isoformat(), hours=HOURS,
                incidents=[i for i in data["incidents"] if inside(i)])
    path = folder / "short.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_validate_and_a_short_demo_run_from_the_installed_wheel(installed):
    proc = _run(installed, "perfflow", "validate")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scenario = _short_scenario(installed["cwd"])
    out = installed["cwd"] / "out"
    proc = _run(installed, "perfflow", "demo", "--out", str(out), "--scenario", str(scenario),
                "--quiet", timeout=540)
    assert proc.returncode == 0 and "demo ok" in proc.stdout, proc.stdout[-3000:] + \
        proc.stderr[-3000:]
    summary = yaml.safe_load((out / "summary.json").read_text())
    materialized = set(summary["assets_materialized"])
    assert any(a.startswith("staging/") for a in materialized)
    assert {"marts/team_hourly_quality", "ops/alert_episodes",
            "marts/goal_scores"} <= materialized
    assert "Traceback" not in proc.stderr
