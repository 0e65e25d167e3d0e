"""The delivery chain: ERP order lines, the WMS (order receipts, picks, hourly stock
snapshots) and the TMS (the stock it received, the dispatches it planned on it).

Two links carry data between the systems, and an `interface_down` incident cuts one:

- erp→wms: order lines (released 2-5 hours before their promise) reach the WMS minutes
  after release; while the link is down they wait, and a line the WMS gets less than an
  hour (the picking) before its promise ships late.
- wms→tms: every hourly stock snapshot reaches the TMS minutes after it is taken; while
  the link is down the TMS keeps the last stock it got, and a dispatch planned on stock
  older than a couple of hours is more and more often short at loading (the stock was
  not there), replanned and shipped late. (A short load on fresh stock, the baseline's
  noise, is topped up in time.)

A dip of a team's availability or performance (or its first-pass yield) 2 hours before a
promise (when the item is made) makes its line's item late too: production did not make it.
Everything else is noise at the baseline rates.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from perf_orchestration.scenarios.config import InterfaceDown, MetricDip, Scenario
from perf_orchestration.simulator.common import (
    HOUR,
    Diffuser,
    hour_starts,
    production_teams,
    products_of,
    range_end,
    rng_for,
    stamp,
    utc,
)

Row = dict[str, Any]
PLANNING_LEAD = timedelta(hours=2)  # the TMS plans a dispatch this long before the promise
FRESH_STOCK = timedelta(hours=2)  # stock older than this starts to mislead the TMS
STALE_SHORT_SHARE = 0.8  # share of dispatches short once the stock is a day old
PRODUCTION_DIP_METRICS = ("availability", "performance", "first_pass_yield")
DIP_LATE_SHARE = 0.7
PICKING = timedelta(hours=1)
PRODUCTION_LEAD = timedelta(hours=2)  # an item is made about 2 hours before its promise
SNAPSHOT_MINUTE = 5


def _outages(scenario: Scenario, link: str) -> list[tuple[datetime, datetime]]:
    return [(utc(i.start), utc(i.start) + timedelta(hours=i.hours)) for i in scenario.incidents
            if isinstance(i, InterfaceDown) and i.link == link]


def _down_at(outages: list[tuple[datetime, datetime]], at: datetime) -> datetime | None:
    """The end of the outage `at` falls in, or None when the link is up."""
    return next((end for start, end in outages if start <= at < end), None)


def _last_snapshot_before(at: datetime, outages: list[tuple[datetime, datetime]]) -> datetime:
    """When the stock the TMS holds at `at` was taken: the latest hourly snapshot that
    reached it (one taken while the link was down never did)."""
    taken = at.replace(minute=SNAPSHOT_MINUTE, second=0, microsecond=0)
    if taken > at:
        taken -= HOUR
    while (cut := next((s for s, e in outages if s <= taken < e), None)) is not None:
        taken = cut.replace(minute=SNAPSHOT_MINUTE, second=0, microsecond=0)
        if taken >= cut:
            taken -= HOUR
    return taken


def _dipped_lines(scenario: Scenario) -> dict[str, list[tuple[datetime, datetime]]]:
    """Per production line: the windows in which one of its teams made less."""
    line_of = {t.id: t.line_id for t in production_teams(scenario)}
    out: dict[str, list[tuple[datetime, datetime]]] = {}
    for inc in scenario.incidents:
        if isinstance(inc, MetricDip) and inc.metric in PRODUCTION_DIP_METRICS \
                and inc.team in line_of:
            start = utc(inc.start)
            out.setdefault(line_of[inc.team], []).append(
                (start, start + timedelta(hours=inc.hours)))
    return out


def _promise_times(scenario: Scenario, n: int, rng: random.Random) -> list[datetime]:
    """n promised ship times spread over the range's hours from 08:00 to 20:00 local."""
    hours = [h for h in hour_starts(scenario) if 8 <= h.astimezone(scenario.tz).hour < 20]
    hours = hours or hour_starts(scenario)
    return sorted(hours[min(len(hours) - 1, int(j * len(hours) / max(n, 1)))]
                  + timedelta(seconds=rng.randint(0, 3599)) for j in range(n))


def delivery_chain(scenario: Scenario) -> dict[str, list[Row]]:
    """Every record of the five delivery entities for the scenario's range."""
    tz, start, end = scenario.tz, utc(scenario.start), range_end(scenario)
    lines = sorted({(t.line_id, t.line_type) for t in production_teams(scenario)})
    stock_outages = _outages(scenario, "wms→tms")
    order_outages = _outages(scenario, "erp→wms")
    dips = _dipped_lines(scenario)
    base = scenario.baseline
    out: dict[str, list[Row]] = {k: [] for k in (
        "erp_order_lines", "wms_order_receipts", "wms_stock_movements", "wms_stock_snapshots",
        "tms_stock_receipts", "tms_dispatches")}
    products = [(line_id, p) for line_id, kind in lines for p in products_of(kind)]
    _stock(scenario, sorted({p for _, p in products}), stock_outages, out)
    rng = rng_for(scenario, "delivery", "order-lines")
    n = Diffuser().take(base.order_lines_per_day * scenario.hours / 24)
    per_day: dict[str, int] = {}
    for promised in _promise_times(scenario, n, rng):
        line_id, product = rng.choice(products)
        day = f"{promised.astimezone(tz):%Y%m%d}"
        per_day[day] = per_day.get(day, 0) + 1
        line = f"OL-{day}-{per_day[day]:04d}"
        quantity = rng.randint(1, 20) * 10
        released = promised - timedelta(hours=rng.uniform(2, 5))
        late_receipt = _down_at(order_outages, released)
        received = (late_receipt or released) + timedelta(minutes=rng.uniform(1, 10))
        if start <= received < end:  # a receipt before the range lies in an earlier day
            out["wms_order_receipts"].append({
                "receipt_id": f"WR-{line}", "line_id": line, "released_at": released,
                "received_at": received, "updated_at": received + timedelta(seconds=30)})
        planned = promised - PLANNING_LEAD
        taken = _last_snapshot_before(planned, stock_outages)
        stale = min(1.0, max(0.0, (planned - taken - FRESH_STOCK) / timedelta(hours=22)))
        # a short load on fresh stock is topped up in time; one on stale stock is replanned
        stale_short = rng.random() < STALE_SHORT_SHARE * stale
        short = stale_short or rng.random() < 1 - base.dispatch_accuracy
        loaded = quantity if not short else max(0, int(quantity * rng.uniform(0.2, 0.8)))
        dispatch = f"DSP-{line[3:]}"
        dispatched = start <= planned < end
        if dispatched:
            out["tms_dispatches"].append({
                "dispatch_id": dispatch, "line_id": line, "product": product,
                "planned_quantity": quantity, "loaded_quantity": loaded, "planned_at": planned,
                "stock_taken_at": taken,
                "status": "short" if short else "loaded",
                "updated_at": stamp(planned, rng, tz, 5, 60)})
        made_late = any(s <= promised - PRODUCTION_LEAD < e
                        for s, e in dips.get(line_id, ())) and rng.random() < DIP_LATE_SHARE
        ship = promised - timedelta(minutes=rng.uniform(10, 50))
        if stale_short or made_late:
            ship = promised + timedelta(hours=rng.uniform(3, 20))
        elif received + PICKING > promised:  # the WMS got the line too late to pick it
            ship = received + PICKING + timedelta(minutes=rng.uniform(10, 120))
        elif rng.random() >= base.on_time_shipping:
            ship = promised + timedelta(hours=rng.uniform(0.5, 4))
        shipped = ship if ship < end else None
        out["erp_order_lines"].append({
            "line_id": line, "order_id": f"SO-{day}-{math.ceil(per_day[day] / 3):04d}",
            "account_id": f"ACC-{1000 + rng.randrange(200)}", "product": product,
            "production_line_id": line_id, "quantity": quantity, "released_at": released,
            "promised_ship_at": promised, "shipped_at": shipped,
            "dispatch_id": dispatch if dispatched else None,
            "status": "shipped" if shipped else "open",
            "updated_at": stamp(shipped or promised, rng, tz, 5, 120)})
        if shipped and shipped - timedelta(minutes=30) >= start:
            moved = shipped - timedelta(minutes=30)
            out["wms_stock_movements"].append({
                "movement_id": f"MV-{line}", "product": product, "kind": "pick",
                "quantity": -(loaded or quantity), "line_id": line, "moved_at": moved,
                "updated_at": stamp(moved, rng, tz, 5, 60)})
    return out


def _stock(scenario: Scenario, products: list[str],
           outages: list[tuple[datetime, datetime]], out: dict[str, list[Row]]) -> None:
    """Hourly WMS snapshots per product, and the TMS's receipt of each unless the wms→tms
    link was down when it was taken."""
    for product in products:  # lines of one kind make the same products: one stock each
        rng = rng_for(scenario, "delivery", "stock", product)
        on_hand = rng.randint(200, 800)
        for hour in hour_starts(scenario):
            taken = hour + timedelta(minutes=SNAPSHOT_MINUTE)
            on_hand = max(0, on_hand + rng.randint(-40, 40))
            snapshot = f"SS-{product}-{taken:%Y%m%d%H}Z"  # UTC: one per hour across DST
            out["wms_stock_snapshots"].append({
                "snapshot_id": snapshot, "product": product, "on_hand": on_hand,
                "taken_at": taken, "updated_at": taken + timedelta(seconds=20)})
            if _down_at(outages, taken) is None:
                received = taken + timedelta(minutes=rng.uniform(1, 4))
                out["tms_stock_receipts"].append({
                    "receipt_id": f"TR-{snapshot[3:]}", "snapshot_id": snapshot,
                    "product": product, "on_hand": on_hand, "taken_at": taken,
                    "received_at": received, "updated_at": received + timedelta(seconds=10)})
