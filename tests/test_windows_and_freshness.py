"""Model windows widen to whole periods; freshness and volume catch a silent source."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from perf_orchestration.ingestion.freshness import hourly_volume, source_freshness
from perf_orchestration.ingestion.landing import hourly_windows
from perf_orchestration.plant_calendar import calendar_row
from perf_orchestration.sqlmodels.windows import model_window
from perf_orchestration.tables import RAW_TABLES, metadata
from perf_orchestration.warehouse import ensure_schemas, make_engine

TZ = ZoneInfo("Asia/Shanghai")


def _local(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


def test_hourly_model_keeps_the_run_window_in_utc():
    assert model_window(None, _local(2026, 11, 2, 9), _local(2026, 11, 2, 10)) == (
        datetime(2026, 11, 2, 1), datetime(2026, 11, 2, 2))


def test_daily_model_recomputes_every_local_day_touched():
    start, end = model_window("day_start", _local(2026, 11, 2, 23), _local(2026, 11, 3, 1))
    assert (start, end) == (datetime(2026, 11, 1, 16), datetime(2026, 11, 3, 16))


def test_night_shift_crossing_midnight_is_one_shift():
    row = calendar_row(_local(2026, 11, 3, 2))
    assert (row["shift"], row["shift_date"]) == ("night", "2026-11-02")
    start, end = model_window("shift_start", _local(2026, 11, 3, 2), _local(2026, 11, 3, 3))
    assert (start, end) == (datetime(2026, 11, 2, 12), datetime(2026, 11, 3, 0))


def _land(engine, hours: dict[str, int]) -> None:
    table = RAW_TABLES["mes_changeovers"]
    rows = []
    for key, n in hours.items():
        hour = datetime.strptime(key, "%Y-%m-%d-%H:%M") - timedelta(hours=8)
        rows += [{"changeover_id": f"{key}-{i}", "station_id": "T1-S01", "team_id": "T1",
                  "started_at": hour, "from_product": "A", "to_product": "B",
                  "standard_minutes": 30.0, "actual_minutes": 31.0,
                  "updated_at": hour + timedelta(minutes=50), "source_system": "mes",
                  "source_record_id": f"{key}-{i}", "ingestion_run_id": "r",
                  "ingested_at": hour, "partition_key": key} for i in range(n)]
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)


def test_volume_flags_an_hour_where_the_source_went_silent(warehouse_url):
    engine = make_engine(warehouse_url)
    ensure_schemas(engine, metadata)
    start, end = _local(2026, 11, 2, 0), _local(2026, 11, 2, 6)
    assert hourly_volume(engine, "mes_changeovers", start, end).ok  # no history yet
    # a week of history with the same daily rhythm: 20 rows an hour, none at 04:00
    history = {w.partition_key: 0 if w.start.hour == 4 else 20
               for w in hourly_windows(start - timedelta(days=7), start)}
    counts = {w.partition_key: 0 if w.start.hour in (3, 4) else 20
              for w in hourly_windows(start, end)}
    _land(engine, {k: n for k, n in {**history, **counts}.items() if n})
    volume = hourly_volume(engine, "mes_changeovers", start, end)
    assert not volume.ok and volume.outliers == {"2026-11-02-03:00": 0}  # 04:00 is normal
    assert volume.baseline_median == 20
    fresh = source_freshness(engine, "mes_changeovers", "updated_at", 2, start, end)
    assert fresh.fresh and fresh.age_hours == 0.167  # last row 05:50, end 06:00 (rounded)
    stale = source_freshness(engine, "mes_changeovers", "updated_at", 2, start,
                             _local(2026, 11, 2, 12))
    assert not stale.fresh
    with engine.connect() as conn:
        total = conn.execute(sa.text("select count(*) from raw.mes_changeovers")).scalar()
    assert total == 20 * (7 * 23 + 4)
    engine.dispose()
