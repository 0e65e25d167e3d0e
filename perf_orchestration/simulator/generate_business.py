"""ERP and CRM records: work orders, opportunity stages, renewals and service tickets.

Counts per day are exact (error diffusion over the scenario's length) and the
times are spread over the range in equal slots, so a short scenario still gets
its share and a long one gets no bursts.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from perf_orchestration.scenarios.config import CrmRenewal, Scenario
from perf_orchestration.simulator.common import (
    Diffuser,
    hour_starts,
    production_teams,
    products_of,
    range_end,
    rng_for,
    stamp,
    utc,
)
from perf_orchestration.simulator.names import Roster, uncast_profiles

Row = dict[str, Any]
STAGES = ("lead", "qualified", "proposal", "negotiation")
CHANNELS = ("direct", "distributor", "online")
ACCOUNTS = 200
TICKET_SUBJECTS = {  # customers write in Chinese or in English
    "quality_complaint": (
        "coating peeling on delivered parts", "weld seam cracked on bracket",
        "paint colour mismatch in batch", "burrs on machined housing",
        "missing fastener in assembly", "scratches on painted panel",
        "torque out of spec on delivered unit", "porosity found in weld at incoming inspection",
        "交付零件涂层脱落", "支架焊缝开裂", "批次油漆色差", "机加工壳体有毛刺",
        "总成缺少紧固件", "喷漆面板划伤", "交付产品扭矩超差", "来料检验发现焊缝气孔",
    ),
    "delivery": ("late delivery of order", "wrong quantity delivered",
                 "damaged packaging on arrival", "订单交付延迟", "交付数量错误", "到货包装破损"),
    "billing": ("invoice amount disputed", "duplicate invoice received", "发票金额有争议",
                "收到重复发票"),
    "technical_support": ("request for material certificate", "drawing revision query",
                          "installation guidance request", "申请材料证书", "图纸版本咨询",
                          "安装指导请求"),
}
TICKET_CATEGORY_WEIGHTS = (0.35, 0.3, 0.1, 0.25)
SALES_ROLES = ("account_manager", "sales_rep")


def skipped_features(scenario: Scenario, roster: Roster) -> list[dict[str, str]]:
    """What the simulator leaves out because the plant lacks the people it needs, as
    {feature, reason} entries the demo reports (never an owner invented from another role)."""
    out = []
    if not roster.with_role(*SALES_ROLES):
        out.append({"feature": "crm opportunities",
                    "reason": "the plant has no account manager or sales rep to own them"})
    if not roster.with_role("account_manager"):
        out.append({"feature": "crm proposals",
                    "reason": "the plant has no account manager to send them"})
        out += [{"feature": f"crm renewal {i.id}",
                 "reason": "no owner given and the plant has no account manager"}
                for i in scenario.incidents if isinstance(i, CrmRenewal) and not i.owner]
    out += [{"feature": f"new hire story {profile!r}",
             "reason": "the plant has too few production teams or sales people to cast it"}
            for profile in uncast_profiles(roster)]
    return out


def _slot_times(scenario: Scenario, n: int, rng: random.Random,
                office_hours: tuple[int, int] | None = None) -> list[datetime]:
    """n times, one at a random moment inside each of n equal slots of the range.

    With `office_hours` (local, e.g. (7, 19)) only those hours are used, when the
    range has any, so work orders are released in the working day.
    """
    hours = hour_starts(scenario)
    if office_hours:
        lo, hi = office_hours
        hours = [h for h in hours if lo <= h.astimezone(scenario.tz).hour < hi] or hours
    times = []
    for j in range(n):
        position = rng.uniform(j * len(hours) / n, (j + 1) * len(hours) / n)
        k = min(len(hours) - 1, int(position))
        times.append(hours[k] + timedelta(seconds=int((position - k) * 3600)))
    return times


def _per_day(scenario: Scenario, rate: float, diffuser: Diffuser) -> int:
    return diffuser.take(rate * scenario.hours / 24)


def _account(rng: random.Random) -> str:
    return f"ACC-{1000 + rng.randrange(ACCOUNTS)}"


def work_orders(scenario: Scenario) -> list[Row]:
    """Work orders per production team; most close hours later, the rest stay in progress."""
    tz, end = scenario.tz, range_end(scenario)
    rows: list[Row] = []
    diffuser = Diffuser()
    for team in production_teams(scenario):
        rng = rng_for(scenario, "work-orders", team.id)
        products = products_of(team.line_type)
        per_day: dict[str, int] = {}
        n = _per_day(scenario, scenario.baseline.work_orders_per_team_day, diffuser)
        for released in _slot_times(scenario, n, rng, office_hours=(7, 19)):
            day = f"{released.astimezone(tz):%Y%m%d}"
            per_day[day] = per_day.get(day, 0) + 1
            closed = released + timedelta(minutes=rng.randint(60, 8 * 60))
            is_closed = closed < end and rng.random() < 0.85
            rows.append({
                "work_order_id": f"WO-{day}-{team.id}-{per_day[day]:02d}", "team_id": team.id,
                "product": rng.choice(products), "quantity": rng.randint(5, 40) * 10,
                "released_at": released, "closed_at": closed if is_closed else None,
                "status": "closed" if is_closed else "in_progress",
                "updated_at": stamp(released, rng, tz, 10, 300),
            })
    return rows


def opportunities(scenario: Scenario, roster: Roster) -> list[Row]:
    """One row per stage an opportunity reaches inside the range, up to won or lost."""
    tz, end = scenario.tz, range_end(scenario)
    rng = rng_for(scenario, "crm", "opportunities")
    owners = roster.with_role(*SALES_ROLES)
    if not owners:
        return []  # a plant without sales people has no pipeline (see skipped_features)
    n = _per_day(scenario, scenario.baseline.opportunities_per_day, Diffuser())
    rows: list[Row] = []
    per_day: dict[str, int] = {}
    for created in _slot_times(scenario, n, rng):
        day = f"{created.astimezone(tz):%Y%m%d}"
        per_day[day] = per_day.get(day, 0) + 1
        opp = f"OPP-{day}-{per_day[day]:03d}"
        account, owner, channel = _account(rng), rng.choice(owners), rng.choice(CHANNELS)
        amount = float(rng.randrange(20, 800) * 1000)
        depth = rng.choices(range(1, 7), (0.2, 0.2, 0.2, 0.15, 0.15, 0.1))[0]
        path = list(STAGES[: min(depth, 4)])
        if depth == 5:
            path.append("won")
        elif depth == 6:
            path = list(STAGES[: rng.randint(2, 4)]) + ["lost"]
        at = created
        for stage in path:
            if at >= end:
                break
            rows.append({
                "change_id": f"{opp}:{stage}", "opportunity_id": opp, "account_id": account,
                "owner_id": owner, "stage": stage, "amount": amount, "channel": channel,
                "changed_at": at, "updated_at": stamp(at, rng, tz, 5, 90),
            })
            at += timedelta(minutes=rng.randint(20, 150), seconds=rng.randint(0, 59))
    return rows


def renewals(scenario: Scenario, roster: Roster) -> list[Row]:
    """One won renewal per crm_renewal incident."""
    tz = scenario.tz
    managers = roster.with_role("account_manager")
    rows: list[Row] = []
    incidents = [i for i in scenario.incidents if isinstance(i, CrmRenewal)
                 and (i.owner or managers)]
    for n, inc in enumerate(sorted(incidents, key=lambda i: (i.at, i.id)), start=1):
        rng = rng_for(scenario, "crm", "renewal", inc.id)
        at = utc(inc.at)
        rows.append({
            "renewal_id": f"REN-{at.astimezone(tz):%Y%m%d}-{n:03d}", "account_id": inc.account,
            "contract_id": f"CON-{inc.account}-{at.astimezone(tz):%Y}",
            "owner_id": inc.owner or rng.choice(managers), "closed_at": at,
            "amount": float(inc.amount), "status": "won", "updated_at": stamp(at, rng, tz, 5, 60),
        })
    return rows


def service_tickets(scenario: Scenario) -> list[Row]:
    """Tickets with a category and a short subject; most are resolved hours later."""
    tz, end = scenario.tz, range_end(scenario)
    rng = rng_for(scenario, "crm", "tickets")
    n = _per_day(scenario, scenario.baseline.tickets_per_day, Diffuser())
    categories = list(TICKET_SUBJECTS)
    rows: list[Row] = []
    per_day: dict[str, int] = {}
    for opened in _slot_times(scenario, n, rng):
        day = f"{opened.astimezone(tz):%Y%m%d}"
        per_day[day] = per_day.get(day, 0) + 1
        category = rng.choices(categories, TICKET_CATEGORY_WEIGHTS)[0]
        resolved = opened + timedelta(minutes=rng.randint(30, 10 * 60))
        is_resolved = resolved < end and rng.random() < 0.8
        rows.append({
            "ticket_id": f"TCK-{day}-{per_day[day]:03d}", "account_id": _account(rng),
            "opened_at": opened, "resolved_at": resolved if is_resolved else None,
            "priority": rng.choices(("low", "medium", "high"), (0.4, 0.45, 0.15))[0],
            "category": category, "subject": rng.choice(TICKET_SUBJECTS[category]),
            "updated_at": stamp(opened, rng, tz, 10, 120),
        })
    return rows
