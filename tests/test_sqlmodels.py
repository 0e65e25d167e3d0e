"""The SQL-model runner on real SQLite and PostgreSQL: loading, translation, runs and tests."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.sqlmodels import (
    ModelError,
    TranslationError,
    load_project,
    run_model,
    run_project,
    run_tests,
    to_sqlite,
)
from perf_orchestration.warehouse import ensure_schemas, make_engine

PLANT = Path(__file__).parent / "sqlmodels_fixtures" / "plant"
DAY = datetime(2024, 5, 6)


def at(hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute, second=second, microsecond=micro)


def hour_window(hour: int) -> tuple[datetime, datetime]:
    return at(hour), at(hour) + timedelta(hours=1)


metadata = sa.MetaData()
production = sa.Table(
    "mes_production", metadata,
    sa.Column("record_id", sa.Text), sa.Column("team_id", sa.Text),
    sa.Column("produced_at", sa.DateTime), sa.Column("units", sa.Integer),
    sa.Column("good_units", sa.Integer), sa.Column("status", sa.Text),
    sa.Column("updated_at", sa.DateTime), schema="raw")
teams = sa.Table(
    "hr_teams", metadata,
    sa.Column("team_id", sa.Text), sa.Column("team_name", sa.Text),
    sa.Column("headcount", sa.Integer), schema="raw")
probe = sa.Table(
    "probe", metadata,
    sa.Column("id", sa.Integer), sa.Column("ts", sa.DateTime), sa.Column("ts2", sa.DateTime),
    sa.Column("a", sa.Integer), sa.Column("b", sa.Integer), sa.Column("x", sa.Float),
    sa.Column("s", sa.Text), schema="raw")

TEAMS = [("T1", "Assembly", 10), ("T2", "Welding", 4)]
# Records on both sides of the 10:00-11:00 window's edges, to the microsecond.
PRODUCTION = [
    ("p1", "T1", at(9, 10), 100, 95, "ok"),
    ("p2", "T1", at(9, 40), 50, 40, "reworked"),
    ("p3", "T2", at(9, 59, 59), 20, 20, "OK"),
    ("p4", "T1", at(10), 80, 80, "ok"),
    ("p5", "T2", at(10, 30), 0, None, "ok"),
    ("p6", "T1", at(10, 59, 59, 999_999), 20, 19, "scrapped"),
    ("p7", "T2", at(11), 30, 29, "ok"),
]
# team, hour, records, units, good, first-pass yield, rework rate, output per head, health
EXPECTED_HOURLY = [
    ("T1", "2024-05-06 09:00:00", 2, 150, 135, 0.9, 0.333333, 15.0, "red"),
    ("T1", "2024-05-06 10:00:00", 2, 100, 99, 0.99, 0.0, 10.0, "green"),
    ("T2", "2024-05-06 09:00:00", 1, 20, 20, 1.0, 0.0, 5.0, "green"),
    ("T2", "2024-05-06 10:00:00", 1, 0, 0, None, None, 0.0, "idle"),
    ("T2", "2024-05-06 11:00:00", 1, 30, 29, 0.966667, 0.0, 7.5, "green"),
]


def norm(value: object) -> object:
    """One comparable form for values that the two databases return in different types."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | Decimal):
        return round(float(value), 6)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == " ":
        return value[:19]  # SQLite datetime text, fraction dropped as above
    return value


def rows(engine: sa.Engine, sql: str, **params: object) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(norm(v) for v in row) for row in conn.execute(sa.text(sql), params)]


def seed(engine: sa.Engine, extra: list[tuple] = ()) -> None:
    ensure_schemas(engine, metadata)
    with engine.begin() as conn:
        conn.execute(teams.insert(), [dict(zip(("team_id", "team_name", "headcount"), t,
                                               strict=True)) for t in TEAMS])
        keys = ("record_id", "team_id", "produced_at", "units", "good_units", "status")
        conn.execute(production.insert(), [{**dict(zip(keys, r, strict=True)),
                                            "updated_at": r[2]} for r in [*PRODUCTION, *extra]])


@pytest.fixture
def engine(warehouse_url):
    engine = make_engine(warehouse_url)
    yield engine
    engine.dispose()


@pytest.fixture
def plant():
    return load_project(PLANT)


def copy_plant(tmp_path: Path) -> Path:
    return Path(shutil.copytree(PLANT, tmp_path / "models"))


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    return caught.value.problems


# --- loading ---------------------------------------------------------------------------------

def test_load_reads_models_sources_and_dependency_order(plant, tmp_path):
    assert plant.order() == ["stg_hr__teams", "stg_mes__production", "team_hourly_quality",
                             "team_quality_summary"]
    mart = plant.model("team_hourly_quality")
    assert (mart.schema, mart.relation, mart.materialized) == (
        "marts", "marts.team_hourly_quality", "incremental")
    assert mart.refs == ("stg_mes__production", "stg_hr__teams")
    assert mart.config.partition_by == "hour_start"
    assert mart.config.unique_key == ("team_id", "hour_start")
    assert mart.params == {"window_start", "window_end"}
    assert "from staging.stg_mes__production" in mart.rendered
    assert "{{" not in mart.rendered
    staging = plant.model("stg_mes__production")
    assert staging.sources == (("mes", "production"),)
    assert "from raw.mes_production" in staging.rendered
    assert [c.name for c in staging.columns] == ["record_id", "team_id", "status"]
    source = plant.sources[("mes", "production")]
    assert (source.relation, source.loaded_at_field, source.freshness_hours) == (
        "raw.mes_production", "updated_at", 2)
    assert plant.model("team_quality_summary").rendered.endswith("group by team_id")
    assert plant.downstream("stg_hr__teams") == ["team_hourly_quality", "team_quality_summary"]

    root = copy_plant(tmp_path)
    same = load_project(root)
    assert same.sql_hash("team_hourly_quality") == plant.sql_hash("team_hourly_quality")
    yml = root / "marts" / "team_hourly_quality.yml"
    yml.write_text(yml.read_text() + "\n# reviewed\n")
    changed = load_project(root)
    assert changed.sql_hash("team_hourly_quality") != plant.sql_hash("team_hourly_quality")
    assert changed.sql_hash("stg_hr__teams") == plant.sql_hash("stg_hr__teams")


def test_cycle_is_reported_with_the_files_in_it(tmp_path):
    root = tmp_path / "models"
    for name, ref in [("a", "c"), ("b", "a"), ("c", "b")]:
        write(root, f"staging/{name}.sql", f"select * from {{{{ ref('{ref}') }}}}\n")
        write(root, f"staging/{name}.yml", "description: part of a cycle\n")
    write(root, "marts/d.sql", "select * from {{ ref('d') }}")
    write(root, "marts/d.yml", "config: {materialized: view}\n")
    found = problems_of(root)
    assert len(found) == 2
    cycle = next(p for p in found if "a.sql" in p)
    assert cycle.startswith("cycle between models: ")
    for name in "abc":
        assert str(root / "staging" / f"{name}.sql") in cycle
    assert f"{root / 'marts' / 'd.sql'} -> {root / 'marts' / 'd.sql'}" in next(
        p for p in found if "d.sql" in p)


def test_unknown_ref_and_source_name_the_file_and_line(tmp_path):
    root = copy_plant(tmp_path)
    bad = write(root, "marts/bad.sql", "select *\nfrom {{ ref('no_such_model') }}\n"
                "join {{ source('mes', 'nothing') }} using (team_id)\n"
                "join {{ source('erp', 'orders') }} using (team_id)\n")
    write(root, "marts/bad.yml", "description: broken on purpose\n")
    found = problems_of(root)
    assert f"{bad}: line 2: ref('no_such_model') names no model" in found
    assert f"{bad}: line 3: source('mes', 'nothing') is not in sources.yml" in found
    assert f"{bad}: line 4: source('erp', 'orders') is not in sources.yml" in found
    assert len(found) == 3


def test_bad_yml_names_the_file_and_field(tmp_path):
    root = copy_plant(tmp_path)
    yml = write(root, "marts/team_quality_summary.yml",
                "config:\n  materialized: tabel\n  partition_by: Hour\n"
                "columns:\n  - name: team_id\n    tests: [not_nul]\n"
                "  - name: units\n    tests: [{accepted_values: {}}]\n"
                "  - name: hours\n    tests: [{relationships: {to: \"model('x')\", field: id}}]\n")
    broken_yaml = write(root, "staging/stg_hr__teams.yml", "config: {materialized: view\n")
    write(root, "sources.yml", "sources:\n  - name: mes\n    schema: landing\n    tables: []\n")
    found = "\n".join(problems_of(root))
    assert f"{yml}: config.materialized: Input should be 'table', 'view' or 'incremental'" in found
    assert f"{yml}: config.partition_by: 'Hour' is not a lowercase SQL name" in found
    assert f"{yml}: columns[0].tests[0]: unknown test 'not_nul'" in found
    assert f"{yml}: columns[1].tests[0]: accepted_values needs values" in found
    assert f"{broken_yaml}: line 2, column 1:" in found
    assert "sources.yml: sources[0].schema: schema 'landing' is not a warehouse schema" in found
    assert "sources.yml: sources[0].tables: Tuple should have at least 1 item" in found
    assert "is not in sources.yml" not in found  # no echo of the broken sources.yml

    root2 = copy_plant(tmp_path / "second")
    yml2 = write(root2, "marts/team_quality_summary.yml",
                 "config: {materialized: view}\ncolumns:\n  - name: team_id\n"
                 "    tests: [{relationships: {to: \"model('x')\", field: id}}]\n")
    write(root2, "marts/team_hourly_quality.yml", "config: {materialized: incremental}\n")
    found2 = "\n".join(problems_of(root2))
    assert (f"{yml2}: columns[0].tests[0].relationships.to: \"model('x')\" is not "
            "ref('model')") in found2
    assert "config: an incremental model needs partition_by" in found2


def test_template_constructs_other_than_ref_and_source_are_errors(tmp_path):
    root = copy_plant(tmp_path)
    sql = write(root, "marts/team_quality_summary.sql",
                "select *\nfrom {{ ref('team_hourly_quality') }}\n"
                "{% if is_incremental() %}\nwhere 1 = 1\n{% endif %}\n"
                "and team_id = '{{ var(\"team\") }}'\n{{ unclosed\n")
    found = problems_of(root)
    assert any(p.startswith(f"{sql}: line 3: unsupported template construct '{{% if")
               for p in found)
    assert any(p.startswith(f"{sql}: line 5: unsupported template construct") for p in found)
    assert any(p.startswith(f"{sql}: line 6: unsupported template construct '{{{{ var(")
               for p in found)
    assert f"{sql}: line 7: unclosed template tag '{{{{'" in found


def test_parameters_other_than_the_window_are_errors(tmp_path):
    root = copy_plant(tmp_path)
    sql = write(root, "marts/team_quality_summary.sql",
                "select * from {{ ref('team_hourly_quality') }}\n"
                "where team_id = :team\n  and hour_start >= :window_start::timestamp\n")
    found = problems_of(root)
    assert f"{sql}: line 2: unknown parameter :team (models take :window_start and :window_end)" \
        in found
    assert any(p.startswith(f"{sql}: line 3: write cast(:window_start as timestamp)")
               for p in found)
    assert any(p.startswith(f"{sql}: :window_start/:window_end are only for incremental")
               for p in found)


# --- translation -----------------------------------------------------------------------------

def test_translation_keeps_bound_parameters_and_is_cached(plant):
    out = to_sqlite("select count(*) from raw.t\nwhere ts >= :window_start and ts < :window_end\n"
                    "  and cast(:window_start as timestamp) <= ts\n"
                    "  and ts between :window_start and :window_end - interval '1 second'")
    assert out.count(":window_start") == 3 and out.count(":window_end") == 2
    assert "DATETIME(:window_end, '-1 seconds')" in out
    sqlite_sql = plant.compiled_sql("team_hourly_quality", "sqlite")
    assert "produced_at >= :window_start AND produced_at < :window_end" in sqlite_sql
    assert "STRFTIME('%Y-%m-%d %H:00:00', produced_at)" in sqlite_sql
    assert plant.compiled_sql("team_hourly_quality") == plant.model("team_hourly_quality").rendered
    assert plant.compiled_sql("team_hourly_quality", "sqlite") is sqlite_sql  # cached
    assert plant.portability_problems() == []


def test_untranslatable_sql_names_the_model_file_and_line(tmp_path):
    root = copy_plant(tmp_path)
    sql = write(root, "marts/team_quality_summary.sql",
                "select team_id,\n  to_char(hour_start, 'YYYY-MM') as month\n"
                "from {{ ref('team_hourly_quality') }}\n")
    project = load_project(root)
    with pytest.raises(TranslationError) as caught:
        project.compiled_sql("team_quality_summary", "sqlite")
    assert str(caught.value).startswith(f"{sql}:2: \"TO_CHAR(hour_start, 'YYYY-MM')\"")
    assert caught.value.path == sql
    assert project.portability_problems() == [str(caught.value)]
    for bad, line in [("select\n  percentile_cont(0.5) within group (order by x) from t", 2),
                      ("select a ~ 'x' from t", 1), ("select interval '1 hour' from t", 1),
                      ("select date_trunc('quarter', ts) from t", 1),
                      ("select cast(a as boolean) from t", 1), ("select 1; select 2", None),
                      ("select cast(s as varchar(3)) from t", 1),
                      ("select\n\n x::numeric(10, 2) from t", 3)]:
        with pytest.raises(TranslationError) as caught:
            to_sqlite(bad, "m.sql")
        assert caught.value.line == line, bad


# Expressions whose translation is claimed in dialect.py; each must give PostgreSQL's value.
PROBE_ROWS = [
    (1, datetime(2024, 5, 8, 13, 45, 30, 250_000), datetime(2024, 5, 8, 15, 15, 30, 750_000),
     7, 2, 2.5, "Alpha"),
    (2, datetime(2024, 5, 12, 23, 59, 59), datetime(2024, 5, 13, 0, 0, 1), 0, 0, -1.25, None),
    (3, datetime(2024, 12, 31), datetime(2025, 1, 1, 6), None, 3, None, "beta"),
]
PROBE_EXPRESSIONS = [
    "case when a > 1 then 'big' when a = 0 then 'zero' else 'other' end",
    "coalesce(a, -1)", "nullif(a, 0)", "cast(a as numeric) / nullif(b, 0)",
    "a / nullif(b, 0)", "cast(a as double precision) / 4", "a::float / 4",
    "round(cast(x as numeric), 1)", "abs(x)", "floor(x)", "ceil(x)", "a % nullif(b, 0)",
    "cast(a as text)", "cast(ts as date)", "ts::timestamp",
    "date_trunc('minute', ts)", "date_trunc('hour', ts)", "date_trunc('day', ts)",
    "date_trunc('week', ts)", "date_trunc('month', ts)", "date_trunc('year', ts)",
    "extract(hour from ts)", "extract(minute from ts)", "extract(second from ts)",
    "extract(dow from ts)", "extract(isodow from ts)", "extract(doy from ts)",
    "extract(month from ts)", "extract(quarter from ts)", "extract(year from ts)",
    "date_part('day', ts)", "extract(epoch from (ts2 - ts))", "extract(epoch from ts)",
    "ts + interval '90 minutes'", "ts - interval '1 day 2 hours'", "ts + interval '1 month'",
    "interval '2 weeks' + ts", "concat(s, '-', a)", "lower(s) || '!'", "upper(s)",
    "greatest(a, b)", "least(a, b)", "length(s)", "substring(s from 2 for 3)",
    "position('l' in s)", "replace(s, 'a', 'o')", "trim('  ' || s || ' ')", "s ilike 'a%'",
    "sum(a) over (order by id)", "row_number() over (partition by b > 1 order by id desc)",
    "lag(a) over (order by id)", "lead(s, 1, 'none') over (order by id)",
    "rank() over (order by x desc)", "first_value(s) over (order by ts)",
    "avg(b) over (order by id rows between 1 preceding and current row)",
    "dense_rank() over (order by b > 1)", "ntile(2) over (order by id)",
    "percent_rank() over (order by id)", "cume_dist() over (order by id)",
    "last_value(a) over (order by id rows between unbounded preceding "
    "and unbounded following)", "nth_value(s, 2) over (order by id)",
    "sqrt(abs(x))", "ln(abs(x) + 1)", "power(a, 2)", "mod(a, 3)", "strpos(s, 'a')",
    "now() is not null", "current_timestamp > ts", "date_trunc('second', ts)",
    "cast(a as bigint) + cast(b as smallint)", "cast(s as varchar)",
]
PROBE_QUERIES = [
    "select distinct on (b > 1) b > 1, id from raw.probe order by b > 1, id desc",
    "select id from raw.probe where a > 0 union select id + 10 from raw.probe order by 1",
    "select string_agg(s, ', ') from raw.probe where id = 1",
    "select b > 1, count(*), sum(a) from raw.probe group by b > 1 having count(*) > 0 "
    "order by 1",
]
PROBE_AGGREGATES = ("select count(*), count(a), sum(a), avg(a), min(x), max(x), "
                    "sum(case when a > 0 then 1 else 0 end), count(*) filter (where b > 1), "
                    "bool_or(a > 5), bool_and(b > 0), cast(sum(b) as numeric) / count(*) "
                    "from raw.probe")


def test_translated_constructs_give_the_same_values_as_postgres(sqlite_url, pg_url):
    engines = {"sqlite": make_engine(sqlite_url), "postgresql": make_engine(pg_url)}
    keys = ("id", "ts", "ts2", "a", "b", "x", "s")
    try:
        for engine in engines.values():
            ensure_schemas(engine, metadata)
            with engine.begin() as conn:
                conn.execute(probe.insert(), [dict(zip(keys, r, strict=True)) for r in PROBE_ROWS])
        mismatches = []
        queries = [f"select id, {e} from raw.probe order by id" for e in PROBE_EXPRESSIONS]
        for query in [*queries, PROBE_AGGREGATES, *PROBE_QUERIES]:
            pg = rows(engines["postgresql"], query)
            lite = rows(engines["sqlite"], to_sqlite(query))
            if pg != lite:
                mismatches.append(f"{query}\n  postgres {pg}\n  sqlite   {lite}")
        assert not mismatches, "\n".join(mismatches)
    finally:
        for engine in engines.values():
            engine.dispose()


# --- materialization -------------------------------------------------------------------------

def kinds(engine: sa.Engine, schema: str) -> dict[str, str]:
    inspector = sa.inspect(engine)
    found = {name: "table" for name in inspector.get_table_names(schema=schema)}
    found.update({name: "view" for name in inspector.get_view_names(schema=schema)})
    return found


def test_table_view_and_full_refresh_materialization(engine, plant, tmp_path):
    seed(engine)
    results = {r.name: r for r in run_project(engine, plant)}
    sqlite = engine.dialect.name == "sqlite"
    assert results["stg_mes__production"].rows == 7
    assert results["stg_hr__teams"].rows == 2
    assert results["team_hourly_quality"].rows == 5
    assert results["team_hourly_quality"].note.startswith("full refresh")
    assert results["team_quality_summary"].rows == 2
    # A staging view reads raw: SQLite cannot keep it a view across schema files.
    assert kinds(engine, "staging") == {"stg_mes__production": "table",
                                        "stg_hr__teams": "table" if sqlite else "view"}
    assert (results["stg_hr__teams"].materialized, bool(results["stg_hr__teams"].note)) == (
        ("table", True) if sqlite else ("view", False))
    assert kinds(engine, "marts") == {"team_hourly_quality": "table",
                                      "team_quality_summary": "view"}
    summary = "select team_id, hours, units, first_pass_yield, red_hours " \
              "from marts.team_quality_summary order by team_id"
    expected = [("T1", 2, 250, 0.936, 1), ("T2", 3, 50, 0.98, 0)]
    assert rows(engine, summary) == expected

    # Rebuilding every model again, tables under views included, keeps the views working.
    again = run_project(engine, plant)
    assert [r.rows for r in again] == [r.rows for r in results.values()]
    assert rows(engine, summary) == expected
    assert any(results["stg_mes__production"].sql in statement
               for statement in results["stg_mes__production"].statements)

    # Switching a model between view and table replaces the other kind.
    root = copy_plant(tmp_path)
    yml = root / "marts" / "team_quality_summary.yml"
    yml.write_text(yml.read_text().replace("materialized: view", "materialized: table"))
    assert run_model(engine, load_project(root), "team_quality_summary").materialized == "table"
    assert kinds(engine, "marts")["team_quality_summary"] == "table"
    assert run_model(engine, plant, "team_quality_summary").materialized == "view"
    assert kinds(engine, "marts")["team_quality_summary"] == "view"
    assert rows(engine, summary) == expected


def test_view_whose_columns_change_is_replaced_with_the_views_over_it(engine, tmp_path):
    root = tmp_path / "models"
    write(root, "sources.yml", "sources:\n  - name: hr\n    tables: [{name: teams, "
          "identifier: hr_teams}]\n")
    teams_sql = write(root, "staging/stg_teams.sql",
                      "select team_id, team_name, headcount from {{ source('hr', 'teams') }}\n")
    write(root, "staging/stg_teams.yml", "config: {materialized: view}\n")
    write(root, "staging/team_names.sql", "select team_id, team_name from {{ ref('stg_teams') }}")
    write(root, "staging/team_names.yml", "config: {materialized: view}\n")
    seed(engine)
    project = load_project(root)
    run_project(engine, project)
    assert rows(engine, "select * from staging.team_names order by team_id") == [
        ("T1", "Assembly"), ("T2", "Welding")]
    # PostgreSQL cannot `create or replace` a view that loses a column, and cannot drop it
    # while team_names depends on it: the runner drops both and creates both again.
    teams_sql.write_text("select team_id, upper(team_name) as team_name "
                         "from {{ source('hr', 'teams') }}\n")
    result = run_model(engine, load_project(root), "stg_teams")
    assert result.rows == 2
    assert rows(engine, "select * from staging.team_names order by team_id") == [
        ("T1", "ASSEMBLY"), ("T2", "WELDING")]
    expected = {"stg_teams": "view", "team_names": "view"}
    if engine.dialect.name == "sqlite":
        expected["stg_teams"] = "table"  # it reads raw, another schema file
    assert kinds(engine, "staging") == expected


HOURLY = ("select team_id, hour_start, records, units, good_units, first_pass_yield, rework_rate, "
          "output_per_head, health from marts.team_hourly_quality order by team_id, hour_start")


def test_incremental_replaces_only_its_window_and_reruns_idempotently(engine, plant):
    seed(engine)
    run_project(engine, plant, select=["stg_hr__teams", "stg_mes__production"])
    first = run_model(engine, plant, "team_hourly_quality", hour_window(10))
    assert (first.rows, first.deleted, first.materialized) == (2, 0, "incremental")
    assert any(s.startswith('create table "marts"') for s in first.statements)
    # The window's edges: 10:00:00.000000 and 10:59:59.999999 are in, 09:59:59 and 11:00 out.
    assert rows(engine, HOURLY) == [EXPECTED_HOURLY[1], EXPECTED_HOURLY[3]]
    for hour in (9, 11):
        run_model(engine, plant, "team_hourly_quality", hour_window(hour))
    assert rows(engine, HOURLY) == EXPECTED_HOURLY

    again = run_model(engine, plant, "team_hourly_quality", hour_window(10))
    assert (again.rows, again.deleted) == (2, 2)
    assert rows(engine, HOURLY) == EXPECTED_HOURLY

    # New source data for 10:00 reaches only the 10:00 window that is run again.
    with engine.begin() as conn:
        conn.execute(production.update().where(production.c.team_id == "T1")
                     .values(units=production.c.units + 1))
    run_model(engine, plant, "stg_mes__production")
    utc = tuple(w.replace(tzinfo=UTC) for w in hour_window(10))
    assert run_model(engine, plant, "team_hourly_quality", utc).rows == 2
    changed = rows(engine, HOURLY)
    assert changed[1][:5] == ("T1", "2024-05-06 10:00:00", 2, 102, 99)
    assert changed[0] == EXPECTED_HOURLY[0]  # T1 at 09:00 kept its old numbers
    assert changed[2:] == EXPECTED_HOURLY[2:]
    with pytest.raises(ValueError, match="not before its end"):
        run_model(engine, plant, "team_hourly_quality", (at(11), at(10)))


def test_results_are_identical_on_sqlite_and_postgres(sqlite_url, pg_url, plant):
    outputs = []
    for url in (sqlite_url, pg_url):
        engine = make_engine(url)
        try:
            seed(engine)
            run_project(engine, plant, select=["stg_hr__teams", "stg_mes__production"])
            for hour in (9, 10, 11):
                run_model(engine, plant, "team_hourly_quality", hour_window(hour))
            run_model(engine, plant, "team_quality_summary")
            outputs.append((
                rows(engine, "select * from marts.team_hourly_quality "
                             "order by team_id, hour_start"),
                rows(engine, "select * from marts.team_quality_summary order by team_id")))
        finally:
            engine.dispose()
    assert outputs[0] == outputs[1]
    assert [r[:3] for r in outputs[0][0]] == [("T1", "Assembly", "2024-05-06 09:00:00"),
                                             ("T1", "Assembly", "2024-05-06 10:00:00"),
                                             ("T2", "Welding", "2024-05-06 09:00:00"),
                                             ("T2", "Welding", "2024-05-06 10:00:00"),
                                             ("T2", "Welding", "2024-05-06 11:00:00")]


# --- column tests and errors -----------------------------------------------------------------

def failing(results) -> dict[tuple[str, str], int]:
    return {(r.column, r.test): r.failing_rows for r in results if not r.passed}


def test_column_tests_pass_and_fail_as_expected(engine, plant):
    seed(engine, extra=[(None, "T1", at(9, 20), 5, 5, "ok"),
                        ("p1", "T1", at(9, 25), 5, 5, "ok"),
                        ("p8", "T1", at(10, 20), 5, 5, "Exploded"),
                        ("p9", "T9", at(9, 30), 5, 5, "ok")])
    run_project(engine, plant, select=["stg_hr__teams", "stg_mes__production"])
    results = run_tests(engine, plant, "stg_mes__production")
    assert len(results) == 5
    assert failing(results) == {("record_id", "not_null"): 1, ("record_id", "unique"): 2,
                                ("status", "accepted_values"): 1, ("team_id", "relationships"): 1}
    assert all(r.passed for r in run_tests(engine, plant, "stg_hr__teams"))
    unique = next(r for r in results if r.test == "unique")
    assert 'group by t."record_id"' in unique.sql

    # Incremental models are tested within the window: team T9 is only at 09:00.
    for hour in (9, 10):
        run_model(engine, plant, "team_hourly_quality", hour_window(hour))
    nine = run_tests(engine, plant, "team_hourly_quality", hour_window(9))
    assert failing(nine) == {("team_id", "relationships"): 1, ("team_name", "not_null"): 1}
    assert all(r.passed for r in run_tests(engine, plant, "team_hourly_quality", hour_window(10)))
    assert len(failing(run_tests(engine, plant, "team_hourly_quality"))) == 2


def test_missing_column_fails_with_the_model_file(engine, tmp_path):
    root = copy_plant(tmp_path)
    sql = write(root, "marts/broken.sql", "select team_id,\n    missing_units\n"
                "from {{ ref('stg_mes__production') }}\n")
    write(root, "marts/broken.yml", "description: reads a column that is not there\n")
    project = load_project(root)
    seed(engine)
    run_model(engine, project, "stg_mes__production")
    with pytest.raises(ModelError) as caught:
        run_model(engine, project, "broken")
    message = str(caught.value)
    assert message.startswith(str(sql)) and caught.value.path == sql
    assert "missing_units" in message
    assert caught.value.line == 2 or "(see line 2)" in message
    assert "Traceback" not in message and len(message.splitlines()) == 1
    assert "broken" not in kinds(engine, "marts")  # the failed run left nothing behind

    # A column test on a column the model does not have names the yml that declares it.
    yml = write(root, "marts/broken.yml", "columns:\n  - name: missing_units\n"
                "    tests: [not_null]\n")
    write(root, "marts/broken.sql", "select team_id from {{ ref('stg_mes__production') }}\n")
    project = load_project(root)
    run_model(engine, project, "broken")
    with pytest.raises(ModelError, match="missing_units") as caught:
        run_tests(engine, project, "broken")
    assert caught.value.path == yml


def test_unique_key_is_enforced_by_an_index(engine, tmp_path):
    root = copy_plant(tmp_path)
    sql = write(root, "marts/per_hour.sql",
                "select team_id, date_trunc('hour', produced_at) as hour_start\n"
                "from {{ ref('stg_mes__production') }}\n"
                "where produced_at >= :window_start and produced_at < :window_end\n")
    write(root, "marts/per_hour.yml", "config:\n  materialized: incremental\n"
          "  partition_by: hour_start\n  unique_key: [team_id, hour_start]\n")
    project = load_project(root)
    seed(engine)
    run_model(engine, project, "stg_mes__production")
    assert run_model(engine, project, "per_hour", hour_window(11)).rows == 1
    with pytest.raises(ModelError) as caught:  # T1 has two records at 10:00
        run_model(engine, project, "per_hour", hour_window(10))
    assert caught.value.path == sql
    assert "unique" in str(caught.value).lower()
    assert rows(engine, "select count(*) from marts.per_hour") == [(1,)]  # rolled back


def test_include_pastes_shared_sql_and_an_unknown_one_names_the_file(tmp_path):
    root = tmp_path / "models"
    write(root, "includes/shared_columns.sql", "    1 as one,\n    2 as two\n")
    write(root, "staging/a.sql", "select\n    {{ include('shared_columns') }}\n")
    write(root, "staging/a.yml", "description: uses an include\n")
    project = load_project(root)
    assert project.order() == ["a"]  # the include itself is not a model
    assert "1 as one" in project.model("a").rendered
    before = project.sql_hash("a")
    write(root, "includes/shared_columns.sql", "    1 as one,\n    3 as two\n")
    assert load_project(root).sql_hash("a") != before  # the code version follows the include
    write(root, "staging/b.sql", "select\n    {{ include('missing') }}\n")
    write(root, "staging/b.yml", "description: a broken include\n")
    found = problems_of(root)
    assert len(found) == 1 and str(root / "staging" / "b.sql") in found[0]
    assert "include 'missing'" in found[0]
