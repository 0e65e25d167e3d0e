"""Input it must refuse: YAML bombs and oversized files, workbook zip bombs and overloads.

(a) every YAML the product reads (each named file of a plant config folder, scenarios, the
    Dagster instance config) refuses alias expansion ("billion laughs"), very deep nesting
    and an oversized file in well under a second, with one line naming the file;
(b) a workbook in the intake folder that is a zip bomb, has too many sheets, rows or cells,
    or links to external files is refused unopened and quarantined with the reason naming
    the limit, and the files beside it are consolidated as if it were not there.
"""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from perf_orchestration.cli import main
from perf_orchestration.config.bundled import bundled_config_dir, bundled_file
from perf_orchestration.config.files import NAMED_FILES, validate_config_dir
from perf_orchestration.config.loading import ConfigError, parse_yaml
from perf_orchestration.deploy.checks import SettingError, read_instance_config
from perf_orchestration.scenarios.config import load_scenario
from perf_orchestration.tables import file_intake, quarantine
from perf_orchestration.warehouse import make_engine
from perf_orchestration.workbooks import consolidate, workbook_files
from perf_orchestration.workbooks.config import WorkbookLimits, load_workbook_config
from perf_orchestration.workbooks.generate import demo_folder

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
    for i in range(8)) + "version: 1\n"
DEEP = "x: " + "[" * 5000 + "]" * 5000 + "\n"
QUICK_S = 1.0


def _bombs(tmp_path: Path, name: str) -> dict[str, Path]:
    out = {}
    for kind, text in (("laughs", LAUGHS), ("deep", DEEP),
                       ("oversized", "# padding\n" * 250_000 + "version: 1\n")):
        folder = tmp_path / kind
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
        out[kind] = folder / name
    return out


LOADERS = [*NAMED_FILES.items(), ("scenario.yaml", load_scenario)]


@pytest.mark.parametrize(("name", "loader"), LOADERS, ids=[n for n, _ in LOADERS])
def test_every_yaml_refuses_bombs_quickly_in_one_line_naming_the_file(tmp_path, name, loader,
                                                                       invariant):
    for kind, path in _bombs(tmp_path, name).items():
        started = time.perf_counter()
        with pytest.raises(ConfigError) as err:
            loader(path)
        seconds = time.perf_counter() - started
        lines = err.value.problems
        invariant(f"yaml {kind} ({name})", "refused in one line naming the file",
                  len(lines) == 1 and lines[0].startswith(f"{path}: refused: "),
                  lines=lines)
        invariant(f"yaml {kind} ({name})", "refused in well under a second",
                  seconds < QUICK_S, seconds=round(seconds, 3))


def test_the_reasons_name_the_limit_and_its_setting(tmp_path, monkeypatch):
    bombs = _bombs(tmp_path, "rules.yaml")
    reasons = {}
    for kind, path in bombs.items():
        with pytest.raises(ConfigError) as err:
            parse_yaml(path)
        reasons[kind] = err.value.problems[0]
    assert "aliases are expanded" in reasons["laughs"] and "PERFFLOW_YAML_MAX_NODES" in \
        reasons["laughs"]
    assert "nested more than 40 levels" in reasons["deep"]
    assert "PERFFLOW_YAML_MAX_BYTES" in reasons["oversized"]
    # the limits are settings: raised, the same files are read
    monkeypatch.setenv("PERFFLOW_YAML_MAX_BYTES", "5000000")
    assert parse_yaml(bombs["oversized"]) == {"version": 1}
    monkeypatch.setenv("PERFFLOW_YAML_MAX_NODES", str(10**10))
    assert len(parse_yaml(bombs["laughs"])["i"]) == 10
    monkeypatch.setenv("PERFFLOW_YAML_MAX_DEPTH", "nine")
    with pytest.raises(ConfigError, match="PERFFLOW_YAML_MAX_DEPTH: expected a whole number"):
        parse_yaml(bombs["deep"])


def test_ordinary_anchors_and_the_bundled_files_stay_within_the_limits(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("base: &base {a: 1, b: [1, 2]}\none: *base\ntwo: {<<: *base, c: 3}\n")
    assert parse_yaml(path)["two"] == {"a": 1, "b": [1, 2], "c": 3}
    assert validate_config_dir(bundled_config_dir())[0] == []


def test_validate_and_the_instance_config_say_one_line(tmp_path, capsys):
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "goals.yaml").write_text(LAUGHS)
    assert main(["validate", "--config", str(folder)]) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert f"{folder / 'goals.yaml'}: refused: " in text and "Traceback" not in text
    instance = tmp_path / "dagster.yaml"
    instance.write_text(DEEP)
    with pytest.raises(SettingError, match=f"instance config {instance}: refused: nested"):
        read_instance_config(instance)


# --- workbooks -------------------------------------------------------------------------


def _workbook(sheets: int = 1, rows: int = 3, cols: int = 3) -> bytes:
    book = openpyxl.Workbook()
    for s in range(sheets):
        ws = book.active if s == 0 else book.create_sheet()
        ws.title = f"S{s + 1}"
        for r in range(rows):
            ws.append([f"v{r}-{c}" for c in range(cols)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _with_part(content: bytes, name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr(name, data)
    return out.getvalue()


def _zip_bomb() -> bytes:
    """A valid workbook whose one sheet part unpacks 1,000 times its packed size."""
    content = _workbook()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<sheetData>", b"<sheetData>" + b" " * 30_000_000)
            dst.writestr(item.filename, data)
    return out.getvalue()


LIMITS = WorkbookLimits(max_sheets=6, max_rows=50, max_cells=1000)  # the demo files fit
HOSTILE = {
    "bomb.xlsx": (_zip_bomb, "zip bomb: xl/worksheets/sheet1.xml unpacks"),
    "sheets.xlsx": (lambda: _workbook(sheets=7), "7 sheets, more than max_sheets (6)"),
    "rows.xlsx": (lambda: _workbook(rows=60, cols=1), "more than max_rows (50) rows"),
    "cells.xlsx": (lambda: _workbook(sheets=3, rows=40, cols=10),
                   "more than max_cells (1,000) cells"),
    "links.xlsx": (lambda: _with_part(_workbook(), "xl/externalLinks/externalLink1.xml",
                                      b"<externalLink/>"), "links to 1 external workbook"),
}


def test_hostile_workbooks_are_refused_quarantined_and_the_others_still_land(
        sqlite_url, tmp_path, invariant):
    config = load_workbook_config().model_copy(update={"limits": LIMITS})
    plain = tmp_path / "plain"
    demo_folder(plain, load_scenario())
    before = {r.path.rsplit("/", 1)[-1]: (r.status, r.rows_landed) for r in consolidate(
        make_engine(sqlite_url), workbook_files(plain), config, "run-plain")}

    drop = tmp_path / "drop"
    demo_folder(drop, load_scenario())
    for name, (build, _) in HOSTILE.items():
        (drop / name).write_bytes(build())
    engine = make_engine(f"sqlite:///{tmp_path / f'w-{uuid.uuid4().hex[:6]}.db'}")
    started = time.perf_counter()
    results = {r.path.rsplit("/", 1)[-1]: r
               for r in consolidate(engine, workbook_files(drop), config, "run-drop")}
    seconds = time.perf_counter() - started
    for name, (_, reason) in HOSTILE.items():
        invariant(f"workbook {name}", "refused with the limit in the reason",
                  results[name].status == "refused" and reason in (results[name].reason or ""),
                  status=results[name].status, reason=results[name].reason)
    others = {n: (r.status, r.rows_landed) for n, r in results.items() if n not in HOSTILE}
    invariant("workbooks beside hostile files", "consolidated as without them",
              others == before and all(s != "refused" for s, _ in before.values()),
              files=len(others))
    with engine.connect() as conn:
        held = dict(conn.execute(sa.select(quarantine.c.source_record_id, quarantine.c.reason)
                                 .where(quarantine.c.failed_expectation == "refused")).all())
        statuses = dict(conn.execute(sa.select(file_intake.c.path, file_intake.c.status)).all())
    invariant("hostile workbooks", "each quarantined with its reason",
              len(held) == len(HOSTILE) and all("refused: " in r for r in held.values()),
              quarantined=len(held))
    assert sum(s == "refused" for s in statuses.values()) == len(HOSTILE)
    assert seconds < 60


def test_a_file_too_large_is_refused_without_being_read(tmp_path, sqlite_url):
    config = load_workbook_config().model_copy(
        update={"limits": WorkbookLimits(max_file_bytes=1000)})
    (tmp_path / "big.xlsx").write_bytes(_workbook(rows=100))
    [result] = consolidate(make_engine(sqlite_url), [tmp_path / "big.xlsx"], config, "run-big")
    assert result.status == "refused"
    assert "more than max_file_bytes" in result.reason


def test_the_limits_are_settings_of_workbooks_yaml(tmp_path):
    text = bundled_file("workbooks.yaml").read_text(encoding="utf-8")
    path = tmp_path / "workbooks.yaml"
    path.write_text(text + "\nlimits:\n  max_sheets: 3\n  max_rows: -1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_workbook_config(path)
    assert err.value.problems == [f"{path}: limits.max_rows: Input should be greater than or "
                                  "equal to 1"]
    path.write_text(text + "\nlimits:\n  max_sheets: 3\n", encoding="utf-8")
    assert load_workbook_config(path).limits.max_sheets == 3
