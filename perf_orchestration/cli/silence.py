"""`perfflow silence add|list|expire`: hold matching alert notifications for a while."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta

from perf_orchestration.alerting.actions import utcnow
from perf_orchestration.alerting.notifications.silences import (
    SilenceError,
    add_silence,
    expire_silence,
    list_silences,
)
from perf_orchestration.cli.query import default_warehouse_url
from perf_orchestration.plant_calendar import plant_tz
from perf_orchestration.warehouse import make_engine

DURATION = re.compile(r"^(\d+)([mhd])$")


def _plant_time(value: str, field: str) -> datetime:
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise SilenceError(f"{field}: {value!r} is not a time like 2026-11-02T08:00") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=plant_tz())
    return t.astimezone(UTC).replace(tzinfo=None)


def _matchers(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise SilenceError(f"--match: {pair!r} is not label=value")
        out[name.strip()] = value.strip()
    return out


def run_silence(args) -> int:
    engine = make_engine(args.warehouse or default_warehouse_url())
    tz = plant_tz()
    try:
        if args.action == "add":
            start = _plant_time(args.start, "--start") if args.start else utcnow()
            if args.until:
                end = _plant_time(args.until, "--until")
            else:
                m = DURATION.match(args.duration or "")
                if not m:
                    raise SilenceError("--for: give a duration like 90m, 2h or 1d (or --until)")
                n, unit = int(m.group(1)), m.group(2)
                unit_name = {"m": "minutes", "h": "hours", "d": "days"}[unit]
                end = start + timedelta(**{unit_name: n})
            sid = add_silence(engine, _matchers(args.match), start, end, args.by or "",
                              args.comment or "")
            print(f"silence {sid} until {end.replace(tzinfo=UTC).astimezone(tz):%Y-%m-%d %H:%M}"
                  f" plant time")
        elif args.action == "list":
            rows = list_silences(engine)
            for r in rows:
                matchers = ",".join(f"{k}={v}" for k, v in r["matchers"].items())
                print(f"{r['silence_id']}  {r['state']:<7}  {matchers}  until "
                      f"{r['ends_at'].replace(tzinfo=UTC).astimezone(tz):%Y-%m-%d %H:%M}  "
                      f"by {r['created_by']}: {r['comment']}")
            print(f"{len(rows)} silence(s)")
        else:
            if not args.silence_id:
                raise SilenceError("expire: give the silence id (see `perfflow silence list`)")
            expire_silence(engine, args.silence_id)
            print(f"silence {args.silence_id} expired; what it held goes out at the next "
                  "dispatch if it still matters")
        return 0
    except SilenceError as err:
        print(f"perfflow silence {args.action}: {err}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
