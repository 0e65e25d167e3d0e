"""What each action says: a subject line and a body per template name.

Texts are short and concrete: what happened, since when, the number against its
threshold, and what the recipient is asked to do, so a person can act on the message
alone. The root-cause checklist is built from the sources (perf_orchestration.alerting.checklist).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from perf_orchestration.plant_calendar import plant_tz


@dataclass(frozen=True)
class AlertContext:
    rule_id: str
    description: str
    subject_kind: str
    subject: str
    metric: str | None
    value: float | None
    threshold: float | None
    episode_start: datetime  # UTC naive
    fired_at: datetime  # UTC naive
    recipient_name: str
    extra: dict = field(default_factory=dict)

    def local(self, value: datetime) -> str:
        return value.replace(tzinfo=UTC).astimezone(plant_tz()).strftime(
            "%Y-%m-%d %H:%M")


def _number(metric: str | None, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric and ("rate" in metric or "ratio" in metric or metric in ("oee", "availability",
                                                                          "performance")):
        return f"{value:.1%}"
    return f"{value:g}"


def breach_alert(ctx: AlertContext) -> tuple[str, str]:
    title = f"[{ctx.subject}] {ctx.description}"
    if ctx.metric is None:  # an event rule: what happened, when, how often
        return title, (f"{ctx.recipient_name}, {ctx.description.lower()}: "
                       f"{_number(None, ctx.value)} event(s) by "
                       f"{ctx.local(ctx.episode_start)} (plant time).")
    body = (f"{ctx.recipient_name}, {ctx.description.lower()} since "
            f"{ctx.local(ctx.episode_start)} (plant time).\n"
            f"{ctx.metric}: {_number(ctx.metric, ctx.value)} against a threshold of "
            f"{_number(ctx.metric, ctx.threshold)}.\n"
            "The QA engineer has a root-cause checklist and the planner a parameter review.")
    return title, body


def root_cause_checklist(ctx: AlertContext) -> tuple[str, str]:
    title = f"Root-cause checklist: {ctx.subject}, {ctx.description.lower()}"
    return title, ctx.extra.get("checklist_text", "Checklist not available.")


def parameter_review(ctx: AlertContext) -> tuple[str, str]:
    title = f"Parameter review for {ctx.subject}: {ctx.metric} at {_number(ctx.metric, ctx.value)}"
    body = (f"{ctx.recipient_name},\n\n{ctx.description} since {ctx.local(ctx.episode_start)} "
            "(plant time). Please review the process parameters and the production plan of "
            f"{ctx.subject} for the affected hours and record any change on the task.\n"
            + (f"\nTop defect codes: {ctx.extra['top_codes']}\n" if ctx.extra.get("top_codes")
               else ""))
    return title, body


def shift_schedule_review(ctx: AlertContext) -> tuple[str, str]:
    title = (f"Shift-schedule review for line {ctx.subject}: {ctx.metric} up "
             f"{_number(ctx.metric, ctx.value)}")
    body = (f"{ctx.recipient_name},\n\n{ctx.description} on the plant day that began "
            f"{ctx.local(ctx.episode_start)} (plant time): {ctx.metric} "
            f"{_number(ctx.metric, ctx.value)} above the line's last days. Please review the "
            f"shift schedule of line {ctx.subject} against its promised shipments for the next "
            "three days, adjust it where output or dispatch falls short, and record the change "
            "on the task. The effect is checked: on-time delivery is expected back within 72 "
            "hours.")
    return title, body


def skill_gap_questionnaire(ctx: AlertContext) -> tuple[str, str]:
    title = f"Skill-gap questionnaire: {ctx.subject} failed {ctx.extra.get('count', 3)} times"
    body = (f"{ctx.recipient_name},\n\n{ctx.subject} failed {ctx.extra.get('count', 3)} times on "
            f"{ctx.extra.get('local_date', '')}. Three questions, two minutes:\n"
            "1. Which failure mode did the crew see, and was the diagnosis right first time?\n"
            "2. Which repair step took longest, and what knowledge would have shortened it?\n"
            "3. Who on the crew could teach this repair to the others?")
    return title, body


def success_story(ctx: AlertContext) -> tuple[str, str]:
    title = f"A 3-minute success story: {ctx.subject}"
    body = (f"{ctx.recipient_name}, congratulations on the renewal. In three sentences: what "
            "the customer valued, what you did that made the difference, and what a colleague "
            "could reuse.")
    return title, body


def resolved_notice(ctx: AlertContext) -> tuple[str, str]:
    title = f"Resolved [{ctx.subject}] {ctx.description}"
    body = (f"{ctx.recipient_name}, the alert that started {ctx.local(ctx.episode_start)} is "
            f"resolved as of {ctx.local(ctx.fired_at)} (plant time).")
    return title, body


def escalation_notice(ctx: AlertContext) -> tuple[str, str]:
    title = f"Escalated, not acknowledged: [{ctx.subject}] {ctx.description}"
    body = (f"{ctx.recipient_name}, nobody has acknowledged this alert since it fired at "
            f"{ctx.local(ctx.fired_at)} (plant time): {ctx.description.lower()}, "
            f"{ctx.metric or 'events'}: {_number(ctx.metric, ctx.value)}.\n"
            "Acknowledge it with `perfflow ack` or the link in the first notification.")
    return title, body


TEMPLATES = {f.__name__: f for f in (breach_alert, root_cause_checklist, parameter_review,
                                      shift_schedule_review, skill_gap_questionnaire,
                                      success_story, resolved_notice, escalation_notice)}


def render(template: str, ctx: AlertContext) -> tuple[str, str]:
    return TEMPLATES[template](ctx)
