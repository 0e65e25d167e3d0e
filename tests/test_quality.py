"""The per-entity Great Expectations suite and its row-level verdicts.

Each rule is shown on small hand-made records with exact positions, then the
"nothing lost" invariant is checked on randomly corrupted batches with fixed seeds.
"""

from __future__ import annotations

import copy
import random
import subprocess
import sys
from typing import Any

import pandas as pd
import pytest

from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE, Entity
from perf_orchestration.ingestion.quality import (
    CHECK_ORDER,
    DUPLICATE_ROW,
    EXPECTATION_ORDER,
    QualitySuiteError,
    ValidationOutcome,
    build_suite,
    quarantine_share,
    runtime,
    validate_records,
)

PRODUCTION = ENTITIES_BY_TABLE["mes_production"]
FAI = ENTITIES_BY_TABLE["mes_first_article_inspections"]
EMPLOYEES = ENTITIES_BY_TABLE["hr_employees"]

SCHEMA = "expect_table_columns_to_match_set"
NOT_NULL = "expect_column_values_to_not_be_null"
TYPE = "expect_column_values_to_match_regex"
IN_SET = "expect_column_values_to_be_in_set"
BETWEEN = "expect_column_values_to_be_between"
PAIR = "expect_column_pair_values_a_to_be_greater_than_b"
COMPOUND_UNIQUE = "expect_compound_columns_to_be_unique"
UNIQUE = "expect_column_values_to_be_unique"


def production(i: int, **changes: Any) -> dict:
    """A good production record; i picks a distinct (station, hour) key."""
    record = {
        "production_id": f"P{i:05d}",
        "station_id": f"S{i % 20:02d}",
        "team_id": f"T{i % 7}",
        "hour_start": f"2026-11-{1 + (i // 20) // 24:02d}T{(i // 20) % 24:02d}:00:00+08:00",
        "planned_minutes": 60,
        "run_minutes": 52.5,
        "total_count": 120,
        "good_count": 114,
        "rework_count": 4,
        "scrap_count": 2,
        "ideal_cycle_seconds": 25.0,
        "updated_at": "2026-11-02T10:00:00+00:00",
    }
    record.update(changes)
    return record


def inspection(i: int, **changes: Any) -> dict:
    """A good first-article inspection record (a fail with its defect code)."""
    record = {
        "inspection_id": f"FAI{i:05d}",
        "station_id": f"S{i % 20:02d}",
        "team_id": f"T{i % 7}",
        "inspected_at": "2026-11-02T08:15:00+08:00",
        "product": "bracket-7",
        "result": "fail" if i % 5 == 0 else "pass",
        "defect_code": "D02-CRACK" if i % 5 == 0 else None,
        "inspector_id": f"E{i % 40:04d}",
        "updated_at": "2026-11-02T08:20:00Z",
    }
    record.update(changes)
    return record


def employee(i: int, **changes: Any) -> dict:
    """A good HR roster record."""
    record = {
        "employee_id": f"E{i:05d}",
        "name": f"Person {i}",
        "team_id": f"T{i % 7}",
        "role": "operator",
        "shift": "day",
        "email": f"person{i}@example.com",
        "hired_at": "2019-03-01T00:00:00+01:00",
        "updated_at": "2026-01-05T09:00:00Z",
    }
    record.update(changes)
    return record


def verdicts(outcome: ValidationOutcome) -> dict[int, str]:
    """Position -> failed expectation of every quarantined row."""
    return {row.position: row.failed_expectation for row in outcome.quarantined}


def reason_at(outcome: ValidationOutcome, position: int) -> str:
    """The reason recorded for one quarantined position."""
    return next(row.reason for row in outcome.quarantined if row.position == position)


def assert_nothing_lost(outcome: ValidationOutcome, total: int) -> None:
    """Every input position is landed or quarantined, exactly once."""
    landed = outcome.landed["_position"].tolist()
    quarantined = [row.position for row in outcome.quarantined]
    assert len(landed) + len(quarantined) == total
    assert sorted(landed + quarantined) == list(range(total))


# --- import cost and the GX context -------------------------------------------------------


def test_importing_quality_does_not_import_great_expectations():
    code = ("import sys, perf_orchestration.ingestion.quality\n"
            "print('great_expectations' in sys.modules)")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"


def test_one_quiet_context_is_reused_across_calls():
    validate_records(EMPLOYEES, [employee(1)])
    context = runtime.get_context()
    validate_records(EMPLOYEES, [employee(2)])
    assert runtime.get_context() is context
    assert context.progress_bars.globally is False
    assert context.progress_bars.metric_calculations is False
    datasource = context.data_sources.get(runtime.DATASOURCE_NAME)
    assert [a.name for a in datasource.assets].count(EMPLOYEES.table) == 1
    asset = datasource.get_asset(EMPLOYEES.table)
    assert [b.name for b in asset.batch_definitions] == [runtime.BATCH_DEFINITION_NAME]


def test_suite_is_named_per_entity_and_follows_the_documented_order():
    suite = build_suite(PRODUCTION)
    assert suite.name == "mes_production_suite"
    types = [e.expectation_type for e in suite.expectations]
    ranks = [EXPECTATION_ORDER.index(t) for t in types]
    assert ranks == sorted(ranks)
    assert types[0] == SCHEMA
    assert types[-1] == COMPOUND_UNIQUE
    checks = [e.meta["check"] for e in suite.expectations]
    assert [CHECK_ORDER.index(c) for c in checks] == sorted(CHECK_ORDER.index(c) for c in checks)
    pairs = [e.meta["columns"] for e in suite.expectations if e.meta["check"] == "pair"]
    assert pairs == [["planned_minutes", "run_minutes"], ["total_count", "good_count"]]
    assert build_suite(FAI).expectations[-1].expectation_type == UNIQUE


# --- rule 1: schema drift ------------------------------------------------------------------


def test_required_column_missing_from_every_record_quarantines_the_batch():
    records = [production(i) for i in range(4)]
    for record in records:
        del record["good_count"]
    outcome = validate_records(PRODUCTION, records)
    assert outcome.missing_columns == ["good_count"]
    assert len(outcome.landed) == 0
    assert verdicts(outcome) == dict.fromkeys(range(4), SCHEMA)
    assert all("good_count" in row.reason for row in outcome.quarantined)
    assert outcome.quarantined[2].payload is records[2]
    assert outcome.quarantined[2].source_record_id == "P00002"
    assert outcome.expectations == [
        {"expectation": SCHEMA, "column": None, "success": False, "unexpected": 1}
    ]
    assert quarantine_share(outcome) == 1.0


def test_renamed_column_is_missing_and_unexpected():
    records = [production(i) for i in range(3)]
    for record in records:
        record["good_cnt"] = record.pop("good_count")
        record["hour"] = record.pop("hour_start")
    outcome = validate_records(PRODUCTION, records)
    assert outcome.missing_columns == ["hour_start", "good_count"]
    assert outcome.unexpected_columns == ["good_cnt", "hour"]
    assert verdicts(outcome) == dict.fromkeys(range(3), SCHEMA)
    reason = outcome.quarantined[0].reason
    assert "hour_start" in reason and "good_count" in reason and "good_cnt" in reason


def test_unexpected_columns_are_reported_but_not_landed():
    records = [employee(1, badge_no="B-17"), employee(2)]
    outcome = validate_records(EMPLOYEES, records)
    assert outcome.unexpected_columns == ["badge_no"]
    assert outcome.quarantined == []
    assert list(outcome.landed.columns) == [*EMPLOYEES.column_names, "_position"]


def test_optional_column_absent_everywhere_is_not_drift():
    records = [inspection(i) for i in range(1, 4)]
    for record in records:
        del record["defect_code"]
    outcome = validate_records(FAI, records)
    assert outcome.missing_columns == []
    assert outcome.quarantined == []
    assert outcome.landed["defect_code"].isna().all()


def test_required_key_missing_from_some_records_is_a_null():
    records = [production(0), production(1), production(2)]
    del records[1]["team_id"]
    outcome = validate_records(PRODUCTION, records)
    assert outcome.missing_columns == []
    assert verdicts(outcome) == {1: NOT_NULL}
    assert reason_at(outcome, 1) == "team_id: missing from the record"


# --- rule 2: exact duplicates --------------------------------------------------------------


def test_exact_duplicates_keep_the_first_copy():
    first = production(0)
    reordered = dict(reversed(list(first.items())))  # same payload, other key order
    records = [first, production(1), copy.deepcopy(first), reordered, production(2)]
    outcome = validate_records(PRODUCTION, records)
    assert outcome.duplicates == 2
    assert verdicts(outcome) == {2: DUPLICATE_ROW, 3: DUPLICATE_ROW}
    assert "position 0" in reason_at(outcome, 3)
    assert outcome.landed["_position"].tolist() == [0, 1, 4]


# --- rule 3: the GX checks, one by one -----------------------------------------------------


def test_required_null_is_quarantined_and_optional_null_is_not():
    records = [
        production(0, station_id=None),
        production(1),
        production(2, ideal_cycle_seconds=float("nan")),
    ]
    outcome = validate_records(PRODUCTION, records)
    assert verdicts(outcome) == {0: NOT_NULL, 2: NOT_NULL}
    assert reason_at(outcome, 0) == "station_id: null"
    assert reason_at(outcome, 2) == "ideal_cycle_seconds: null"
    fai = validate_records(FAI, [inspection(1, defect_code=None), inspection(2)])
    assert fai.quarantined == []


def test_values_of_the_wrong_type_fail_the_type_check():
    records = [
        production(0, good_count="n/a"),  # 0 text in an int field
        production(1, good_count="12"),  # 1 numeric text is still text
        production(2, good_count=12.0, total_count=12),  # 2 integral float is an integer
        production(3, rework_count=2.5),  # 3 not integral
        production(4, scrap_count=True),  # 4 JSON booleans are not numbers
        production(5, run_minutes="n/a"),  # 5 text in a float field
        production(6, run_minutes=50),  # 6 an int is a fine float
        production(7, team_id=7),  # 7 a number in a string field
        production(8, hour_start="yesterday"),  # 8 not a date-time
        production(9, updated_at="2026-11-02T09:00:00"),  # 9 no UTC offset
        production(10, updated_at="2026-02-30T09:00:00+08:00"),  # 10 no such day
        production(11, team_id=["T1"]),  # 11 a list
        production(12, total_count=2**70),  # 12 does not fit a 64-bit integer
    ]
    outcome = validate_records(PRODUCTION, records)
    bad = {0, 1, 3, 4, 5, 7, 8, 9, 10, 11, 12}
    assert verdicts(outcome) == dict.fromkeys(bad, TYPE)
    assert reason_at(outcome, 0) == "good_count: 'n/a' is not an integer"
    assert reason_at(outcome, 1) == "good_count: '12' is not an integer"
    assert reason_at(outcome, 5) == "run_minutes: 'n/a' is not a number"
    assert reason_at(outcome, 7) == "team_id: 7 is not a string"
    assert reason_at(outcome, 8).startswith("hour_start: 'yesterday' is not an ISO 8601")
    assert "updated_at" in reason_at(outcome, 9) and "updated_at" in reason_at(outcome, 10)
    assert outcome.landed["_position"].tolist() == [2, 6]
    assert outcome.landed["good_count"].tolist() == [12, 114]


def test_values_outside_the_allowed_set():
    records = [
        inspection(0, result="maybe"),
        inspection(1, defect_code=None),
        inspection(2, result="fail", defect_code="D99-UNKNOWN"),
        inspection(3),
    ]
    outcome = validate_records(FAI, records)
    assert verdicts(outcome) == {0: IN_SET, 2: IN_SET}
    assert reason_at(outcome, 0) == "result: 'maybe' is not one of pass, fail"
    assert reason_at(outcome, 2).startswith("defect_code: 'D99-UNKNOWN' is not one of D01-")
    roster = validate_records(EMPLOYEES, [employee(0, role="ceo"), employee(1, shift="late")])
    assert verdicts(roster) == {0: IN_SET, 1: IN_SET}
    assert "role" in reason_at(roster, 0) and "shift" in reason_at(roster, 1)


def test_values_outside_min_and_max():
    records = [
        production(0, planned_minutes=75),
        production(1, scrap_count=-1),
        production(2, ideal_cycle_seconds=0.05),
        production(3, planned_minutes=60.0, run_minutes=60),
    ]
    outcome = validate_records(PRODUCTION, records)
    assert verdicts(outcome) == {0: BETWEEN, 1: BETWEEN, 2: BETWEEN}
    assert reason_at(outcome, 0) == "planned_minutes: 75 is above the maximum 60"
    assert reason_at(outcome, 1) == "scrap_count: -1 is below the minimum 0"
    assert reason_at(outcome, 2) == "ideal_cycle_seconds: 0.05 is below the minimum 0.1"


def test_ordered_pairs_a_must_not_be_below_b():
    records = [
        production(0, total_count=10, good_count=12),
        production(1, planned_minutes=30, run_minutes=45),
        production(2, total_count=12, good_count=12),
        production(3, total_count="n/a", good_count=12),  # a type failure, not a pair one
    ]
    outcome = validate_records(PRODUCTION, records)
    assert verdicts(outcome) == {0: PAIR, 1: PAIR, 3: TYPE}
    assert reason_at(outcome, 0) == (
        "total_count (10) is less than good_count (12); total_count must be >= good_count"
    )
    assert "planned_minutes" in reason_at(outcome, 1) and "run_minutes" in reason_at(outcome, 1)


def test_same_natural_key_with_different_payloads_quarantines_every_copy():
    records = [
        production(0),
        production(1),
        # the same station and hour as row 0, written in UTC, with other counts
        production(0, production_id="P99999", hour_start="2026-10-31T16:00:00Z", good_count=100),
        production(2),
    ]
    outcome = validate_records(PRODUCTION, records)
    assert verdicts(outcome) == {0: COMPOUND_UNIQUE, 2: COMPOUND_UNIQUE}
    assert "station_id" in reason_at(outcome, 0) and "hour_start" in reason_at(outcome, 0)
    assert "position(s): 2" in reason_at(outcome, 0)
    fai = validate_records(FAI, [inspection(1), inspection(1, product="bracket-8"), inspection(2)])
    assert verdicts(fai) == {0: UNIQUE, 1: UNIQUE}
    assert "inspection_id='FAI00001'" in reason_at(fai, 1)


def test_a_row_failing_several_checks_is_quarantined_once_under_the_first():
    records = [
        production(0, station_id=None, good_count="n/a", planned_minutes=75),
        production(1, total_count=-5),  # range comes before the pair it also breaks
    ]
    outcome = validate_records(PRODUCTION, records)
    assert verdicts(outcome) == {0: NOT_NULL, 1: BETWEEN}
    reason = reason_at(outcome, 0)
    assert reason.startswith("station_id: null")
    assert "good_count: 'n/a'" in reason and "planned_minutes: 75" in reason
    assert "good_count (114)" in reason_at(outcome, 1)


# --- landed rows ---------------------------------------------------------------------------


def test_landed_rows_are_typed_and_datetimes_are_utc_naive():
    records = [
        production(0, updated_at="2026-11-02T09:00:00+08:00"),
        production(1, updated_at="2026-11-02T01:30:15.250000Z", run_minutes=50),
    ]
    outcome = validate_records(PRODUCTION, records)
    landed = outcome.landed
    assert list(landed.columns) == [*PRODUCTION.column_names, "_position"]
    assert landed["updated_at"].dtype == "datetime64[us]"
    assert landed["updated_at"].tolist() == [
        pd.Timestamp("2026-11-02 01:00:00"),
        pd.Timestamp("2026-11-02 01:30:15.250000"),
    ]
    assert landed["hour_start"].iloc[0] == pd.Timestamp("2026-10-31 16:00:00")
    for name in ("total_count", "good_count", "rework_count", "scrap_count"):
        assert landed[name].dtype == "Int64"
    for name in ("planned_minutes", "run_minutes", "ideal_cycle_seconds"):
        assert landed[name].dtype == "Float64"
    assert isinstance(landed["station_id"].dtype, pd.StringDtype)
    assert landed["run_minutes"].tolist() == [52.5, 50.0]
    assert landed["_position"].dtype == "int64"
    assert landed["_position"].tolist() == [0, 1]


def test_landed_optional_nulls_stay_null():
    outcome = validate_records(FAI, [inspection(0), inspection(1)])
    assert outcome.landed["defect_code"].tolist()[0] == "D02-CRACK"
    assert outcome.landed["defect_code"].isna().tolist() == [False, True]


def test_empty_batch():
    outcome = validate_records(PRODUCTION, [])
    assert len(outcome.landed) == 0
    assert list(outcome.landed.columns) == [*PRODUCTION.column_names, "_position"]
    assert outcome.landed["good_count"].dtype == "Int64"
    assert outcome.quarantined == []
    assert outcome.missing_columns == []
    assert outcome.duplicates == 0
    assert quarantine_share(outcome) == 0.0


def test_quarantine_share_and_expectation_summary():
    records = [employee(0), employee(1, email=None), employee(2), employee(3, role="ceo")]
    outcome = validate_records(EMPLOYEES, records)
    assert quarantine_share(outcome) == 0.5
    summary = {(e["expectation"], e["column"]): e for e in outcome.expectations}
    assert summary[(NOT_NULL, "email")] == {
        "expectation": NOT_NULL,
        "column": "email",
        "success": False,
        "unexpected": 1,
    }
    assert summary[(IN_SET, "role")]["unexpected"] == 1
    assert summary[(UNIQUE, "employee_id")]["success"] is True
    assert outcome.expectations[0]["expectation"] == SCHEMA


# --- GX must judge, never raise ------------------------------------------------------------


def test_malformed_values_never_make_an_expectation_raise():
    weird: list[Any] = [
        "n/a",
        "",
        "12",
        True,
        False,
        1e308,
        -1e308,
        2**70,
        float("inf"),
        [1, 2],
        {"a": 1},
        "yesterday",
        "2026-11-02T25:00:00+08:00",
        "\n",
        "ümlaut",
        0,
        -0.0,
    ]
    for entity, make in ((PRODUCTION, production), (FAI, inspection), (EMPLOYEES, employee)):
        records: list[Any] = []
        for i, value in enumerate(weird):
            for name in entity.column_names:
                records.append(make(i * 100 + len(records), **{name: value}))
        records += ["not a record", None, [1, 2, 3]]
        outcome = validate_records(entity, records)
        assert_nothing_lost(outcome, len(records))
        tail = outcome.quarantined[-3:]
        assert [row.failed_expectation for row in tail] == [NOT_NULL] * 3
        assert "not a JSON object" in tail[0].reason


def test_an_expectation_that_raises_is_reported_as_a_bug():
    gx = runtime.import_gx()
    expect = gx.expectations
    # GX cannot format an unexpected list that starts with an object: why raw values
    # reach GX as JSON text; and a column the frame lacks is a suite/frame mismatch.
    frame = pd.DataFrame({"x": pd.Series([{"a": 1}, [1], "p"], dtype=object)})
    for expectation in (
        expect.ExpectColumnValuesToBeInSet(column="x", value_set=["p"]),
        expect.ExpectColumnValuesToNotBeNull(column="no_such_column"),
    ):
        suite = gx.ExpectationSuite(name="raising_suite", expectations=[expectation])
        with pytest.raises(QualitySuiteError, match="raised while validating test_raising"):
            runtime.run_suite("test_raising", frame, suite)


# --- the invariant on randomly corrupted batches -------------------------------------------

_ENTITY_MAKERS = ((PRODUCTION, production), (FAI, inspection), (EMPLOYEES, employee))


def _corrupt(entity: Entity, record: dict, rng: random.Random) -> tuple[str, str]:
    """Break one field of the record in a way that is always invalid; return (column, check)."""
    candidates = [c for c in entity.columns if c.name != "updated_at"]
    column = rng.choice(candidates)
    options: list[tuple[Any, str]] = []
    if column.required:
        options += [(None, NOT_NULL), ("<delete>", NOT_NULL)]
    bad_types = {
        "int": ["n/a", "12", 2.5, True],
        "float": ["n/a", False, [1.0]],
        "str": [5, ["x"], {"k": "v"}],
        "datetime": ["yesterday", "2026-11-02T09:00:00", "2026-02-30T01:00:00Z", 1700000000],
    }[column.type]
    options += [(value, TYPE) for value in bad_types]
    if column.allowed:
        options.append(("not-allowed", IN_SET))
    if column.min is not None:
        options.append((column.min - 1, BETWEEN))
    if column.max is not None:
        options.append((column.max + 1, BETWEEN))
    value, check = rng.choice(options)
    if value == "<delete>":
        del record[column.name]
    else:
        record[column.name] = value
    return column.name, check


def _break_pair(record: dict, rng: random.Random) -> None:
    """Make an ordered pair of a production record fail on valid values."""
    if rng.random() < 0.5:
        record["good_count"] = record["total_count"] + 1
    else:
        record["planned_minutes"], record["run_minutes"] = 30, 45


@pytest.mark.parametrize("seed", [7, 11, 2026])
@pytest.mark.parametrize("entity", [e for e, _ in _ENTITY_MAKERS], ids=lambda e: e.table)
def test_nothing_is_lost_on_randomly_corrupted_batches(entity: Entity, seed: int):
    rng = random.Random(seed)
    make = dict(_ENTITY_MAKERS)[entity]
    unique_check = UNIQUE if len(entity.key) == 1 else COMPOUND_UNIQUE
    n = 400
    records = [make(i) for i in range(n)]
    expected: dict[int, str] = {}
    for i, record in enumerate(records):
        roll = rng.random()
        if roll < 0.25:
            expected[i] = _corrupt(entity, record, rng)[1]
        elif roll < 0.30 and entity is PRODUCTION:
            _break_pair(record, rng)
            expected[i] = PAIR
    # exact copies of earlier rows, and conflicting copies (same key, other updated_at)
    for _ in range(30):
        source = rng.randrange(n)
        records.append(copy.deepcopy(records[source]))
        expected[len(records) - 1] = DUPLICATE_ROW
    for k in range(15):
        source = rng.randrange(n)
        conflicting = copy.deepcopy(records[source])
        conflicting["updated_at"] = f"2026-12-{1 + k:02d}T12:00:00+02:00"  # unique per copy
        records.append(conflicting)
        own = expected.get(source)
        expected[len(records) - 1] = own or unique_check
        expected[source] = own or unique_check
    outcome = validate_records(entity, records)

    assert_nothing_lost(outcome, len(records))
    assert verdicts(outcome) == expected
    assert set(outcome.landed["_position"]) == set(range(len(records))) - set(expected)
    assert outcome.duplicates == list(expected.values()).count(DUPLICATE_ROW)
    assert all(row.reason for row in outcome.quarantined)
    assert 0.0 < quarantine_share(outcome) < 1.0
