"""insert_rows and insert_frame: COPY on PostgreSQL, executemany on SQLite, the same rows
either way."""

from datetime import date, datetime

import sqlalchemy as sa

from perf_orchestration.warehouse import ensure_schemas, insert_rows, make_engine

ROWS = [
    {"id": 1, "text": "", "number": 0.1 + 0.2, "at": datetime(2026, 11, 2, 1, 2, 3, 456789),
     "day": date(2026, 11, 2)},
    {"id": 2, "text": None, "number": None, "at": None, "day": None},
    {"id": 3, "text": 'a "quoted", comma\nand a new line, 焊接 ∆', "number": -1e-05,
     "at": datetime(2026, 1, 1), "day": date(2025, 12, 31)},
    {"id": 2**62, "text": "NULL", "number": 12345678901234.5, "at": datetime(2026, 1, 1),
     "day": date(2026, 1, 1)},
]


def _probe(engine: sa.Engine, name: str, *columns: tuple[str, type]) -> sa.Table:
    """A fresh table raw.<name> with the given columns (by default, those of ROWS)."""
    columns = columns or (("id", sa.BigInteger), ("text", sa.Text), ("number", sa.Float),
                          ("at", sa.DateTime), ("day", sa.Date))
    md = sa.MetaData()
    table = sa.Table(name, md, *(sa.Column(c, t) for c, t in columns), schema="raw")
    ensure_schemas(engine, md)
    md.create_all(engine)
    return table


def test_rows_come_back_exactly_as_given(warehouse_url):
    engine = make_engine(warehouse_url)
    table = _probe(engine, "bulk_probe")
    with engine.begin() as conn:
        insert_rows(conn, table, ROWS)
        insert_rows(conn, table, [])
    with engine.connect() as conn:
        got = [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.id))]
    assert got == sorted(ROWS, key=lambda r: r["id"])
    # a failing statement after the COPY takes the copied rows back with it
    try:
        with engine.begin() as conn:
            insert_rows(conn, table, [{"id": 9, "text": "x", "number": 1.0, "at": None,
                                       "day": None}])
            conn.execute(sa.text("select * from raw.no_such_table"))
    except sa.exc.DBAPIError:
        pass
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 4
    engine.dispose()


def test_a_typed_frame_lands_exactly_as_its_rows(warehouse_url):
    """The landing's path: nullable pandas dtypes, NULLs, empty strings and the NULL mark."""
    import pandas as pd

    from perf_orchestration.warehouse import insert_frame

    engine = make_engine(warehouse_url)
    table = _probe(engine, "frame_probe")
    rows = sorted(ROWS, key=lambda r: r["id"])
    frame = pd.DataFrame({
        "id": pd.Series([r["id"] for r in rows], dtype="Int64"),
        "text": pd.Series([r["text"] for r in rows], dtype="string"),
        "number": pd.Series([r["number"] for r in rows], dtype="Float64"),
        "at": pd.Series([r["at"] for r in rows], dtype="datetime64[us]"),
        "day": pd.Series([r["day"] for r in rows], dtype="object")})
    marked = frame.iloc[:1].assign(id=pd.Series([7], dtype="Int64"),
                                   text=pd.Series(["\\N"], dtype="string"))
    with engine.begin() as conn:
        insert_frame(conn, table, frame)
        insert_frame(conn, table, marked)  # a string that COPY would read as NULL
        insert_frame(conn, table, frame.iloc[:0])
    with engine.connect() as conn:
        got = [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.id))]
    assert got == sorted([*rows, {**rows[0], "id": 7, "text": "\\N"}], key=lambda r: r["id"])
    engine.dispose()


def test_a_copy_that_fails_raises_as_a_statement_would(pg_url):
    """The landing's callers handle SQLAlchemy's errors; COPY must not bypass them."""
    import pytest

    engine = make_engine(pg_url)
    table = _probe(engine, "copy_probe", ("id", sa.BigInteger))
    with pytest.raises(sa.exc.DataError) as err, engine.begin() as conn:
        insert_rows(conn, table, [{"id": "not a number"}])
    assert "copy_probe" in str(err.value) and "not a number" in str(err.value)
    with engine.connect() as conn:  # the pool hands out a working connection afterwards
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    engine.dispose()
