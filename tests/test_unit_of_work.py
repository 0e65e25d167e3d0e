"""The flow's unit of work: plant-day partitions, runs narrowed to hours by window tags,
one fetch per plant day shared out to the hours the tables keep."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from perf_orchestration.ingestion.landing import _hour_of, fetch_spans, hourly_windows
from perf_orchestration.plant_calendar import (
    WINDOW_END_TAG,
    WINDOW_START_TAG,
    WindowTagError,
    run_window,
    window_tags,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
DAY = (datetime(2026, 11, 2, tzinfo=SHANGHAI), datetime(2026, 11, 3, tzinfo=SHANGHAI))


def test_a_run_covers_its_days_narrowed_by_its_window_tags():
    assert run_window(*DAY, {}) == DAY
    start = datetime(2026, 11, 2, 8, tzinfo=SHANGHAI)
    end = datetime(2026, 11, 2, 9, tzinfo=SHANGHAI)
    assert run_window(*DAY, window_tags(start, end)) == (start, end)
    assert run_window(*DAY, window_tags(end=end)) == (DAY[0], end)
    # the same moment written in UTC is the same hour
    assert run_window(*DAY, {WINDOW_START_TAG: "2026-11-02T00:00:00+00:00"})[0] == start
    # a plant half an hour off UTC: its whole local hours are whole hours
    kolkata = ZoneInfo("Asia/Kolkata")
    day = (datetime(2026, 11, 2, tzinfo=kolkata), datetime(2026, 11, 3, tzinfo=kolkata))
    assert run_window(*day, {WINDOW_START_TAG: "2026-11-02T03:30:00+00:00"})[0].hour == 9


@pytest.mark.parametrize("tags, words", [
    ({WINDOW_START_TAG: "yesterday"}, ["perfflow/window_start", "'yesterday'", "ISO 8601"]),
    ({WINDOW_END_TAG: "2026-11-02T09:00"}, ["perfflow/window_end", "no UTC offset"]),
    ({WINDOW_END_TAG: "2026-11-04T09:00:00+08:00"}, ["not a whole hour within the run's days"]),
    ({WINDOW_START_TAG: "2026-11-02T09:30:00+08:00"}, ["not a whole hour"]),
    ({WINDOW_START_TAG: "2026-11-02T10:00:00+08:00", WINDOW_END_TAG: "2026-11-02T10:00:00+08:00"},
     ["leave no hour"]),
])
def test_a_bad_window_tag_is_one_line_naming_it(tags, words):
    with pytest.raises(WindowTagError) as err:
        run_window(*DAY, tags)
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_an_asset_run_with_a_bad_window_tag_fails_naming_the_tag(sqlite_url):
    from assets.sql_models import plant_calendar_asset
    from resources.warehouse import WarehouseResource

    result = dg.materialize([plant_calendar_asset], partition_key="2026-11-02",
                            tags={WINDOW_END_TAG: "2026-11-02T09:30:00+08:00"},
                            resources={"warehouse": WarehouseResource(url=sqlite_url)},
                            raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "perfflow/window_end" in message and "Traceback" not in message


def test_hours_are_fetched_a_plant_day_at_a_time():
    start = datetime(2026, 11, 1, 20, tzinfo=SHANGHAI)
    hours = hourly_windows(start, start + timedelta(hours=30), "Asia/Shanghai")
    spans = fetch_spans(hours)
    assert [len(s) for s in spans] == [4, 24, 2]
    assert [s[0].partition_key for s in spans] == ["2026-11-01-20:00", "2026-11-02-00:00",
                                                   "2026-11-03-00:00"]
    # a gap (hours not asked for) starts a new fetch
    assert [len(s) for s in fetch_spans(hours[:3] + hours[5:8])] == [3, 3]


def test_records_go_to_the_hour_of_their_event_time_across_a_clock_change():
    # Berlin, 25 October 2026: 02:00-03:00 happens twice
    day = datetime(2026, 10, 25, tzinfo=BERLIN)
    hours = hourly_windows(day, datetime(2026, 10, 26, tzinfo=BERLIN), "Europe/Berlin")
    assert len(hours) == 25
    hour_of = _hour_of("occurred_at", fetch_spans(hours)[0])
    first_pass = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)   # 02:30 summer time
    second_pass = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 winter time
    assert hour_of({"occurred_at": first_pass.isoformat()}) == "2026-10-25-02:00"
    assert hour_of({"occurred_at": second_pass.isoformat()}) == "2026-10-25-02:00+0100"
    assert hour_of({"occurred_at": "2026-10-25T23:59:59+01:00"}) == "2026-10-25-23:00"
    # unreadable, without offset, missing or outside the day: the first hour fetched
    for value in ("soon", "2026-10-25T05:00:00", None, "2026-10-27T05:00:00+01:00", 17):
        assert hour_of({"occurred_at": value}) == "2026-10-25-00:00", value


def test_the_night_the_clocks_go_back_has_every_real_hour():
    """An end in the repeated hour (02:00 CET after 02:00 CEST) is compared as a moment, not
    as a wall time: three real hours from midnight are three windows and calendar rows."""
    from perf_orchestration.plant_calendar import calendar_rows

    start = datetime(2026, 10, 25, tzinfo=BERLIN)
    end = (start.astimezone(UTC) + timedelta(hours=3)).astimezone(BERLIN)
    assert end.fold == 1 and end.hour == 2
    windows = hourly_windows(start, end, "Europe/Berlin")
    assert [w.start.astimezone(UTC).hour for w in windows] == [22, 23, 0]
    assert len({w.partition_key for w in windows}) == 3
    assert len(calendar_rows(start, end, "Europe/Berlin")) == 3


def test_a_backfill_yields_the_processor_to_live_runs():
    """A backfill's run (Dagster's tag, or perfflow backfill's) lowers its CPU priority once,
    for good; a live run's tags leave it alone."""
    import subprocess
    import sys

    from perf_orchestration.deploy.priority import BACKFILL_NICENESS, is_backfill

    assert is_backfill({"dagster/backfill": "abc"}) and is_backfill({"perfflow/kind": "backfill"})
    assert not is_backfill({"perfflow/window_start": "2026-11-02T08:00:00+08:00"})
    code = ("import os\nfrom perf_orchestration.deploy.priority import yield_to_live_work\n"
            "before = os.nice(0)\nfirst = yield_to_live_work()\nsecond = yield_to_live_work()\n"
            "print(before, first, second)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    before, first, second = map(int, out)
    assert first == second == max(before, BACKFILL_NICENESS)
