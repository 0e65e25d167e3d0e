"""Response speed and renewals: are customers whose service tickets were answered fast more
likely to renew, on the plant's own data?

Each service ticket of the CRM's service history (raw.crm_ticket_responses) is matched to
the renewal decision of the contract it was raised under (raw.crm_contracts) when that
decision came within `lookback_days` after the ticket was opened. The renewal odds are
estimated per response-time bucket, and a logistic regression

    logit P(renewed) = b0 + b1 * [answered within fast_hours] + b2 * z(ln annual value)

gives the odds ratio exp(b1) with its confidence interval. Tickets of one account share
their outcome, so the standard errors are clustered by account. Tickets that cannot
speak to the question are counted per reason, never silently dropped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from perf_orchestration.customers.config import ResponseSpeedConfig
from perf_orchestration.tables import RAW_TABLES
from perf_orchestration.tables.marts import response_speed_buckets, response_speed_evidence

EXCLUSIONS = {  # reason -> what it means, in the order tickets are tested
    "no_contract": "the ticket names no contract of the contract book",
    "no_renewal_window": "its contract has no renewal decision within the lookback after "
                         "the ticket (still open, decided before the ticket, or too late)",
    "unanswered": "the ticket has no first answer yet",
    "answered_before_opened": "the first answer is stamped before the ticket was opened",
    "no_account_size": "the contract has no annual value to control for",
}


@dataclass
class Evidence:
    """What the analysis found, as written to the marts and shown to people."""

    status: str
    statement: str
    tickets: int = 0
    accounts: int = 0
    contracts: int = 0
    fast_tickets: int = 0
    odds_ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    size_odds_ratio: float | None = None
    excluded: dict[str, int] = field(default_factory=dict)
    buckets: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "buckets"}


def decided_tickets(engine: sa.Engine, config: ResponseSpeedConfig) \
        -> tuple[pd.DataFrame, dict[str, int]]:
    """The tickets that speak to the question, one row each (hours to first answer, fast,
    renewed, account, contract, annual value), and the others counted per reason."""
    tickets, contracts = RAW_TABLES["crm_ticket_responses"], RAW_TABLES["crm_contracts"]
    query = (sa.select(tickets.c.ticket_id, tickets.c.account_id, tickets.c.contract_id,
                       tickets.c.opened_at, tickets.c.first_response_at,
                       contracts.c.contract_id.label("booked"), contracts.c.annual_value,
                       contracts.c.outcome, contracts.c.decided_at)
             .select_from(tickets.outerjoin(contracts,
                                            contracts.c.contract_id == tickets.c.contract_id))
             .order_by(tickets.c.ticket_id))
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).mappings().all(),
                             columns=[c.name for c in query.selected_columns])
    for column in ("opened_at", "first_response_at", "decided_at"):
        frame[column] = pd.to_datetime(frame[column])
    lag = frame["decided_at"] - frame["opened_at"]
    tests = {
        "no_contract": frame["booked"].isna(),
        "no_renewal_window": (~frame["outcome"].isin(["renewed", "churned"])
                              | frame["decided_at"].isna() | (lag < pd.Timedelta(0))
                              | (lag > pd.Timedelta(days=config.lookback_days))),
        "unanswered": frame["first_response_at"].isna(),
        "answered_before_opened": frame["first_response_at"] < frame["opened_at"],
        "no_account_size": ~(pd.to_numeric(frame["annual_value"], errors="coerce") > 0),
    }
    left = pd.Series(True, index=frame.index)
    excluded: dict[str, int] = {}
    for reason, hit in tests.items():
        hit = hit.fillna(False).astype(bool) & left
        if hit.any():
            excluded[reason] = int(hit.sum())
        left &= ~hit
    kept = frame[left].copy()
    kept["hours"] = (kept["first_response_at"] - kept["opened_at"]).dt.total_seconds() / 3600
    kept["fast"] = (kept["hours"] <= config.fast_hours).astype(int)
    kept["renewed"] = (kept["outcome"] == "renewed").astype(int)
    kept["annual_value"] = kept["annual_value"].astype(float)
    return kept.reset_index(drop=True), excluded


def bucket_rows(kept: pd.DataFrame, config: ResponseSpeedConfig) -> list[dict]:
    """Tickets, accounts and renewal share and odds per response-time bucket."""
    edges = [0.0, *config.buckets_hours]
    rows = []
    for position, low in enumerate(edges):
        high = edges[position + 1] if position + 1 < len(edges) else None
        inside = kept["hours"] > low if position else kept["hours"] >= 0
        if high is not None:
            inside &= kept["hours"] <= high
        part = kept[inside]
        renewed, n = int(part["renewed"].sum()), len(part)
        label = (f"<= {high:g} h" if position == 0 else
                 f"> {low:g} h" if high is None else f"{low:g}-{high:g} h")
        rows.append({"bucket": label, "position": position, "low_hours": low,
                     "high_hours": high, "tickets": n,
                     "accounts": int(part["account_id"].nunique()), "renewed": renewed,
                     "renewal_share": renewed / n if n else None,
                     "renewal_odds": renewed / (n - renewed) if 0 < renewed < n else None})
    return rows


def bucket_table(buckets: list[dict]) -> str:
    """The buckets as a Markdown table (asset metadata, reports)."""
    lines = ["| answered | tickets | accounts | renewed | share |", "|---|---|---|---|---|"]
    lines += [f"| {b['bucket']} | {b['tickets']:,} | {b['accounts']:,} | {b['renewed']:,} | "
              + ("-" if b["renewal_share"] is None else f"{b['renewal_share']:.1%}") + " |"
              for b in buckets]
    return "\n".join(lines)


def _shortfall(kept: pd.DataFrame, config: ResponseSpeedConfig) -> str | None:
    """Why the data cannot carry an estimate, or None."""
    n, fast, renewed = len(kept), int(kept["fast"].sum()), int(kept["renewed"].sum())
    if n < config.min_tickets:
        return (f"{n} decided ticket(s); an estimate needs at least {config.min_tickets} "
                "(response_speed.yaml min_tickets)")
    smallest = min(fast, n - fast, renewed, n - renewed)
    if smallest < config.min_per_group:
        return (f"too little contrast: {fast} fast and {n - fast} slow ticket(s), {renewed} "
                f"renewed and {n - renewed} churned; each needs at least "
                f"{config.min_per_group} (min_per_group)")
    return None


def estimate(kept: pd.DataFrame, config: ResponseSpeedConfig) -> dict:
    """Odds ratio of a fast answer and of account size (per SD of ln annual value), with the
    confidence interval and p-value of the fast term; standard errors clustered by account."""
    import statsmodels.api as sm

    size = np.log(kept["annual_value"].to_numpy())
    spread = size.std()
    z_size = (size - size.mean()) / spread if spread > 0 else np.zeros_like(size)
    design = sm.add_constant(np.column_stack([kept["fast"].to_numpy(float), z_size]),
                             has_constant="add")
    groups = pd.factorize(kept["account_id"])[0]
    fit = sm.Logit(kept["renewed"].to_numpy(float), design).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": groups})
    low, high = fit.conf_int(alpha=1 - config.confidence)[1]
    return {"odds_ratio": math.exp(fit.params[1]), "ci_low": math.exp(low),
            "ci_high": math.exp(high), "p_value": float(fit.pvalues[1]),
            "size_odds_ratio": math.exp(fit.params[2])}


def analyse(engine: sa.Engine, config: ResponseSpeedConfig) -> Evidence:
    """The evidence on the warehouse's tickets and contracts, whatever it shows."""
    kept, excluded = decided_tickets(engine, config)
    counts = {"tickets": len(kept), "accounts": int(kept["account_id"].nunique()),
              "contracts": int(kept["contract_id"].nunique()),
              "fast_tickets": int(kept["fast"].sum()), "excluded": excluded,
              "buckets": bucket_rows(kept, config)}
    why = _shortfall(kept, config)
    if why:
        return Evidence("insufficient", f"No estimate: {why}.", **counts)
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    try:
        fit = estimate(kept, config)
    except (PerfectSeparationError, np.linalg.LinAlgError) as exc:
        return Evidence("insufficient", f"No estimate: the regression does not converge "
                        f"({exc}).", **counts)
    level, hours = f"{config.confidence:.0%}", f"{config.fast_hours:g} h"
    ratio = f"{fit['odds_ratio']:.2f}"
    interval = f"{level} CI {fit['ci_low']:.2f}-{fit['ci_high']:.2f}"
    if fit["ci_low"] > 1:
        status, statement = "effect", (
            f"Customers whose tickets were answered within {hours} had {ratio} times the "
            f"renewal odds of those answered more slowly ({interval})")
    elif fit["ci_high"] < 1:
        status, statement = "reverse", (
            f"Answers within {hours} went with lower renewal odds: odds ratio {ratio} "
            f"({interval})")
    else:
        status, statement = "no_effect", (
            f"No difference in renewal odds between answers within {hours} and slower ones "
            f"at {level} confidence: odds ratio {ratio} ({interval})")
    statement += (f", from {counts['tickets']:,} tickets of {counts['accounts']:,} accounts, "
                  "controlling for account size.")
    return Evidence(status, statement, **counts, **fit)


def write_evidence(engine: sa.Engine, evidence: Evidence, config: ResponseSpeedConfig,
                   now: datetime) -> None:
    """Replace both marts with this evidence, in one transaction."""
    stamp = now.replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(response_speed_buckets.delete())
        conn.execute(response_speed_evidence.delete())
        if evidence.buckets:
            conn.execute(response_speed_buckets.insert(),
                         [{**b, "refreshed_at": stamp} for b in evidence.buckets])
        conn.execute(response_speed_evidence.insert(), {
            **{k: v for k, v in evidence.as_dict().items() if k != "excluded"},
            "fast_hours": config.fast_hours, "confidence": config.confidence,
            "excluded": json.dumps(evidence.excluded, sort_keys=True),
            "config_version": config.version, "refreshed_at": stamp})


def read_evidence(engine: sa.Engine) -> tuple[dict | None, list[dict]]:
    """The evidence row and the bucket rows as written (None and [] before the first run)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(response_speed_evidence)).mappings().first()
        buckets = conn.execute(sa.select(response_speed_buckets)
                               .order_by(response_speed_buckets.c.position)).mappings().all()
    return (dict(row) if row else None), [dict(b) for b in buckets]
