"""Months of customer history before the range: the contract book with its renewal
decisions, and the first response to every service ticket raised under a contract.

Who performs well is cast here once (`high_performers`), so the work logs of role
snapshots and the contract book agree on it. The response-speed effect is planted as a
logistic model of the renewal decision:

    logit P(renewed) = BASE_LOGIT + ln(response_odds_ratio) * fast
                       + SIZE_COEF * z(ln annual_value) + OWNER_LIFT * high_performer_owner

where `fast` means every ticket of the contract's last 180 days was first answered within
4 hours (a contract's service level is one draw, so a ticket-level analysis sees the same
odds ratio). The owner lift applies only with `planted_behaviours`; it is independent of
`fast`, so it cannot confound the response-speed estimate.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from perf_orchestration.scenarios.config import History, Scenario
from perf_orchestration.simulator.common import Diffuser, rng_for, utc
from perf_orchestration.simulator.names import Roster

Row = dict[str, Any]
FAST_HOURS = 4.0
BASE_LOGIT = math.log(0.3 / 0.7)  # a slow answer, average account, ordinary owner: 30 %
SIZE_COEF = 0.5
OWNER_LIFT = 0.8
TICKET_LOOKBACK = timedelta(days=180)
OPEN_SHARE = 0.1  # contracts whose term ends after the range starts: no decision yet
LOG_VALUE_MEAN, LOG_VALUE_SD = math.log(150_000), 0.8


def history_start(scenario: Scenario) -> datetime:
    """The first instant of the history window (UTC): `months` of 30 days before the range."""
    assert scenario.history is not None
    return utc(scenario.start) - timedelta(days=30 * scenario.history.months)


def high_performers(scenario: Scenario, roster: Roster, role: str) -> frozenset[str]:
    """The holders of `role` cast as high performers: a fixed share, drawn per role, so the
    same people are strong in every source that shows it."""
    history = scenario.history
    people = roster.with_role(role)
    if history is None or not people:
        return frozenset()
    count = round(history.high_performer_share * len(people))
    return frozenset(rng_for(scenario, "history", "performers", role).sample(people, count))


def contracts_and_responses(scenario: Scenario, roster: Roster) -> tuple[list[Row], list[Row]]:
    """The contract book of the account managers and the first responses to the tickets
    raised under each contract in its last 180 days (none without a `history` section)."""
    history = scenario.history
    managers = roster.with_role("account_manager")
    if history is None or not managers:
        return [], []
    start, begin = utc(scenario.start), history_start(scenario)
    strong = high_performers(scenario, roster, "account_manager")
    window = (start - begin).total_seconds()
    diffuser = Diffuser()
    contracts: list[Row] = []
    responses: list[Row] = []
    for owner in managers:
        rng = rng_for(scenario, "history", "contracts", owner)
        n = diffuser.take(history.renewals_per_manager_month * history.months)
        for k in range(n):
            contract_id = f"CTR-{owner}-{k + 1:03d}"
            account = f"ACC-{owner}-{k + 1:03d}"
            value = round(math.exp(rng.gauss(LOG_VALUE_MEAN, LOG_VALUE_SD)), -2)
            is_open = rng.random() < OPEN_SHARE
            term_end = (start + timedelta(days=rng.uniform(1, 90)) if is_open
                        else begin + timedelta(seconds=rng.uniform(0, window)))
            fast = rng.random() < history.fast_response_share
            outcome, decided = "open", None
            if not is_open:
                logit = (BASE_LOGIT + math.log(history.response_odds_ratio) * fast
                         + SIZE_COEF * (math.log(value) - LOG_VALUE_MEAN) / LOG_VALUE_SD
                         + (OWNER_LIFT if history.planted_behaviours and owner in strong else 0))
                renewed = rng.random() < 1 / (1 + math.exp(-logit))
                outcome = "renewed" if renewed else "churned"
                decided = term_end - timedelta(days=rng.uniform(0, 20))
            contracts.append({
                "contract_id": contract_id, "account_id": account, "owner_id": owner,
                "annual_value": value, "term_end": term_end, "decided_at": decided,
                "outcome": outcome, "updated_at": min(decided or begin, start)})
            responses += _responses(rng, history, contract_id, account, owner, term_end,
                                    fast, start)
    return contracts, responses


def _responses(rng: random.Random, history: History, contract_id: str, account: str,
               owner: str, term_end: datetime, fast: bool, now: datetime) -> list[Row]:
    """The contract's tickets in its last 180 days (before the range starts), each with its
    first answer: within 4 h on a fast contract, 4.5 h to 3 days on a slow one."""
    count = _poisson(rng, history.tickets_per_contract)
    rows: list[Row] = []
    last = min(term_end, now)
    for j in range(count):
        opened = last - timedelta(seconds=rng.uniform(0, TICKET_LOOKBACK.total_seconds()))
        hours = (rng.uniform(0.2, FAST_HOURS) if fast
                 else math.exp(rng.uniform(math.log(4.5), math.log(72))))
        answered = opened + timedelta(hours=hours)
        answered = answered if answered < now else None
        rows.append({
            "ticket_id": f"TCK-H-{contract_id[4:]}-{j + 1:02d}", "account_id": account,
            "contract_id": contract_id, "opened_at": opened, "first_response_at": answered,
            "responder_id": owner, "updated_at": answered or opened})
    return rows


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth), enough for the small means used here."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
