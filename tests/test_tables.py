"""One declaration per table: the registry creates every table it declares on SQLite and
PostgreSQL, nothing else in the product declares a table, and the roles read it."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from perf_orchestration.deploy.checks import auditor_columns
from perf_orchestration.tables import (
    PROVENANCE_COLUMNS,
    RAW_TABLES,
    SCHEMA_TABLES,
    columns,
    create_tables,
    metadata,
)
from perf_orchestration.warehouse import make_engine

ROOT = Path(__file__).resolve().parents[1]
CODE = ("perf_orchestration", "assets", "sensors", "jobs", "resources")


def test_every_registry_table_is_created_with_its_columns(warehouse_url):
    engine = make_engine(warehouse_url)
    create_tables(engine)
    create_tables(engine)  # a second time changes nothing
    inspector = sa.inspect(engine)
    for table in metadata.tables.values():
        have = {c["name"]: c for c in inspector.get_columns(table.name, schema=table.schema)}
        assert list(have) == [c.name for c in table.columns], table.fullname
        for column in table.columns:
            assert have[column.name]["nullable"] == column.nullable, \
                (table.fullname, column.name)
        primary = inspector.get_pk_constraint(table.name, schema=table.schema)
        assert primary["constrained_columns"] == [c.name for c in table.primary_key.columns]
    engine.dispose()


def test_the_registry_holds_one_schema_per_module_and_every_entity():
    assert set(SCHEMA_TABLES) == {"raw", "staging", "ops", "marts"}
    assert set(SCHEMA_TABLES["raw"]) == set(RAW_TABLES)
    assert {"alert_episodes", "action_log", "quarantine", "weight_changes"} <= \
        set(SCHEMA_TABLES["ops"])
    assert {"goal_scores", "onboarding_progress", "response_times"} <= set(SCHEMA_TABLES["marts"])
    assert all(set(PROVENANCE_COLUMNS) <= {c.name for c in t.columns}
               for t in RAW_TABLES.values())


# not warehouse tables: a plant's own source database (reflected by the SQL reader, written
# by the test plant's MES database)
SOURCE_SIDE = ("perf_orchestration/ingestion/sources/sql.py:",
               "perf_orchestration/testing/plant_sources.py:")


def test_no_table_is_declared_outside_the_registry():
    declared = []
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            if path.is_relative_to(ROOT / "perf_orchestration" / "tables"):
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(r"\b(sa|sqlalchemy)\.Table\(|\bTable\(\s*\"", line):
                    declared.append(f"{path.relative_to(ROOT)}:{n}")
    assert [d for d in declared if not d.startswith(SOURCE_SIDE)] == []
    # the source side reads and writes the plant's database, never the warehouse
    for module in SOURCE_SIDE:
        text = (ROOT / module.rstrip(":")).read_text(encoding="utf-8")
        assert "perf_orchestration.tables" not in text and "RAW_TABLES" not in text


def test_the_roles_take_their_provenance_columns_from_the_registry():
    sql = (ROOT / "perf_orchestration" / "deploy" / "roles.sql").read_text()
    assert "current_setting('perfflow.provenance')" in sql
    assert not re.search(r"ARRAY\[\s*'source_system'", sql)
    assert set(PROVENANCE_COLUMNS) <= set(auditor_columns())


def test_a_column_spec_reads_like_ddl():
    pk, note, count, flag = columns("""
        id     text pk
        note   text               -- a comment
        count  int not null default 0
        -- a comment line
        flag   bigint not null
    """)
    assert (pk.primary_key, pk.nullable) == (True, False)
    assert note.nullable and isinstance(note.type, sa.Text)
    assert not count.nullable and count.server_default.arg == "0"
    assert isinstance(flag.type, sa.BigInteger) and not flag.nullable
