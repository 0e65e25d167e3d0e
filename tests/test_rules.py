"""The rule engine: rules.yaml validation, the alert-episode state machine, event rules,
the backtest, and property tests of the machine against an independent reference."""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from perf_orchestration.alerting.rules import (
    BUNDLED_RULES,
    ERROR,
    FIRING,
    INACTIVE,
    PENDING,
    RESOLVED,
    TEMPLATE_NAMES,
    Event,
    Observation,
    Rule,
    RuleSet,
    SubjectState,
    backtest,
    evaluate,
    evaluate_events,
    evaluate_subjects,
    fires_when,
    load_rules,
    observations_from,
)
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.ingestion.entities import ROLES
from perf_orchestration.metrics.library import METRICS_BY_NAME

T0 = datetime(2026, 11, 2, 1, 0)  # UTC naive, 09:00 plant time
H = timedelta(hours=1)
BAD, GOOD = 0.80, 0.97  # against the bundled 0.925 threshold
# database=None: no example store to share between engineers' runs; a failure prints its
# falsifying example, which is enough to turn it into a hand case.
PROPERTY = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def bundled_data() -> dict:
    return yaml.safe_load(BUNDLED_RULES.read_text(encoding="utf-8"))


def metric_rule(**changes) -> Rule:
    """The bundled FAI rule with some fields changed."""
    data = bundled_data()["rules"][0]
    data.update(changes)
    return Rule.model_validate(data)


def event_rule(**changes) -> Rule:
    data = bundled_data()["rules"][1]
    data.update(changes)
    return Rule.model_validate(data)


def write(tmp_path: Path, data: dict, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --- validation -------------------------------------------------------------------------


def test_bundled_rules_load():
    rules = load_rules()
    assert rules.version == "V1.0.0-plant"
    text = BUNDLED_RULES.read_text(encoding="utf-8")
    assert rules.content_hash == hashlib.sha256(text.encode()).hexdigest()[:12]
    assert rules.stamp == f"V1.0.0-plant@{rules.content_hash}"
    fai = rules.rule("fai-below-92-5")
    assert (fai.metric, fai.subject, fai.for_, fai.keep_firing_for) == (
        "first_article_pass_rate", "team", 2, 1)
    assert fai.condition.op == "<" and fai.threshold_for("PNT") == 0.925
    assert [a.role for a in fai.actions] == ["team_leader", "qa_engineer", "production_planner"]
    dev = rules.rule("device-failures-3-per-day")
    assert (dev.event, dev.condition.count_at_least, dev.condition.per) == (
        "equipment_failure", 3, "day")
    assert [r.id for r in rules.metric_rules] == ["fai-below-92-5", "delivery-delay-up-5-points"]
    assert [r.id for r in rules.event_rules] == ["device-failures-3-per-day", "interface-gap"]
    delay = rules.rule("delivery-delay-up-5-points")
    assert (delay.subject, delay.condition.against_days, delay.condition.threshold) == (
        "line", 7, 0.05)
    assert rules.rule("interface-gap").subject == "link"
    with pytest.raises(KeyError, match="fai-below-92-5"):
        rules.rule("nope")


def test_content_hash_follows_the_text(tmp_path):
    a = tmp_path / "a" / "rules.yaml"
    b = tmp_path / "b" / "rules.yaml"
    for p in (a, b):
        p.parent.mkdir()
    text = BUNDLED_RULES.read_text(encoding="utf-8")
    a.write_text(text, encoding="utf-8")
    b.write_text(text + "# a comment\n", encoding="utf-8")
    assert load_rules(a).content_hash == load_rules().content_hash
    assert load_rules(b).content_hash != load_rules(a).content_hash
    assert load_rules(b).version == load_rules(a).version


def test_templates_known_here_are_the_ones_rendered():
    templates = pytest.importorskip("perf_orchestration.alerting.templates")
    assert set(TEMPLATE_NAMES) == set(templates.TEMPLATES)


def _set(path: tuple, value):
    def change(data):
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return change


def _drop(path: tuple):
    def change(data):
        node = data
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
    return change


def _duplicate_rule(data):
    data["rules"][1]["id"] = "fai-below-92-5"


def _duplicate_action(data):
    data["rules"][0]["actions"][2]["id"] = "team-leader-alert"


def _no_metric_no_event(data):
    del data["rules"][0]["metric"]


def _metric_and_event(data):
    data["rules"][1]["metric"] = "device_failures"


FAI = ("rules", 0)
DEV = ("rules", 1)

REFUSALS = {
    "unknown metric": (_set((*FAI, "metric"), "first_article_pass"), "fai-below-92-5",
                       "rules[0].metric", "unknown metric 'first_article_pass'"),
    "unknown role": (_set((*FAI, "actions", 1, "role"), "qa_lead"), "fai-below-92-5",
                     "rules[0].actions[1].role", "unknown role 'qa_lead'"),
    "unknown channel": (_set((*FAI, "actions", 0, "channel"), "sms"), "fai-below-92-5",
                        "rules[0].actions[0].channel", "unknown channel 'sms'"),
    "unknown template": (_set((*DEV, "actions", 0, "template"), "skills"),
                         "device-failures-3-per-day", "rules[1].actions[0].template",
                         "unknown template 'skills'"),
    "duplicate rule id": (_duplicate_rule, "fai-below-92-5", "rules",
                          "rule ids listed twice: fai-below-92-5"),
    "duplicate action id": (_duplicate_action, "fai-below-92-5", "rules[0].actions",
                            "action ids listed twice: team-leader-alert"),
    "neither metric nor event": (_no_metric_no_event, "fai-below-92-5", "rules[0]",
                                 "exactly one of metric and event (has neither)"),
    "both metric and event": (_metric_and_event, "device-failures-3-per-day", "rules[1]",
                              "exactly one of metric and event (has both)"),
    "bad op": (_set((*FAI, "condition", "op"), "=="), "fai-below-92-5",
               "rules[0].condition.op", "'<', '<=', '>' or '>='"),
    "unknown line": (_set((*FAI, "thresholds_by_line"), {"PNT": 0.92, "PAINT": 0.9}),
                     "fai-below-92-5", "rules[0].thresholds_by_line", "unknown line 'PAINT'"),
    "unknown event": (_set((*DEV, "event"), "equipment_fault"), "device-failures-3-per-day",
                      "rules[1].event", "unknown event 'equipment_fault'"),
    "for below 1": (_set((*FAI, "for"), 0), "fai-below-92-5", "rules[0].for",
                    "greater than or equal to 1"),
    "keep_firing_for below 1": (_set((*FAI, "keep_firing_for"), 0), "fai-below-92-5",
                                "rules[0].keep_firing_for", "greater than or equal to 1"),
    "threshold not a number": (_set((*FAI, "condition", "threshold"), "92.5%"),
                               "fai-below-92-5", "rules[0].condition.threshold",
                               "valid number"),
    "ratio threshold given in percent": (_set((*FAI, "condition", "threshold"), 92.5),
                                         "fai-below-92-5", "rules[0]", "must lie in [0, 1]"),
    "line threshold not a number": (_set((*FAI, "thresholds_by_line"), {"PNT": "low"}),
                                    "fai-below-92-5", "rules[0].thresholds_by_line.PNT",
                                    "valid number"),
    "metric of another grain": (_set((*FAI, "metric"), "mttr_minutes"), "fai-below-92-5",
                                "rules[0]", "subject must be device, not team"),
    "metric no subject is kept by": (_set((*FAI, "metric"), "open_work_orders"),
                                     "fai-below-92-5", "rules[0]", "no rule can watch it"),
    "event rule with a threshold": (_set((*DEV, "condition"), {"op": "<", "threshold": 3}),
                                    "device-failures-3-per-day", "rules[1]",
                                    "needs count_at_least and per"),
    "event rule with for": (_set((*DEV, "for"), 2), "device-failures-3-per-day", "rules[1]",
                            "for: only metric rules use these"),
    "metric rule without a threshold": (_drop((*FAI, "condition", "threshold")),
                                        "fai-below-92-5", "rules[0]",
                                        "needs op and threshold"),
    "event of the wrong subject": (_set((*DEV, "subject"), "person"),
                                   "device-failures-3-per-day", "rules[1]",
                                   "equipment_failure events are attributed to device"),
    "misspelt field": (_set((*FAI, "keep_firing"), 2), "fai-below-92-5",
                       "rules[0].keep_firing", "Extra inputs are not permitted"),
    "bad rule id": (_set((*FAI, "id"), "FAI below|92"), "FAI below|92", "rules[0].id",
                    "should match pattern"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_refusal_is_one_line_naming_file_rule_and_field(tmp_path, case):
    change, rule_id, field, message = REFUSALS[case]
    data = bundled_data()
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert len(err.value.problems) == 1, err.value.problems
    line = err.value.problems[0]
    assert line.startswith(f"{path}: {field}"), line
    assert rule_id in line and message in line, line
    assert "\n" not in line


def test_action_errors_name_the_rule_and_the_action(tmp_path):
    data = bundled_data()
    del data["rules"][0]["actions"][2]["channel"]
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert err.value.problems == [
        f"{path}: rules[0].actions[2].channel (id fai-below-92-5/planner-parameter-review): "
        "Field required"]


def test_several_problems_are_reported_together(tmp_path):
    data = bundled_data()
    data["rules"][0]["metric"] = "nope"
    data["rules"][1]["actions"][0]["role"] = "nobody"
    with pytest.raises(ConfigError) as err:
        load_rules(write(tmp_path, data))
    assert len(err.value.problems) == 2


def test_line_ids_come_from_the_plant_beside_the_rules(tmp_path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "default.yaml").write_text(
        (Path(__file__).parent / "scenarios" / "one_welding_team.yaml").read_text())
    data = bundled_data()
    data["rules"][0]["thresholds_by_line"] = {"WELD-1": 0.9}
    assert load_rules(write(tmp_path, data)).rules[0].threshold_for("WELD-1") == 0.9
    data["rules"][0]["thresholds_by_line"] = {"PNT": 0.9}
    with pytest.raises(ConfigError, match=r"unknown line 'PNT' \(known: WELD-1;"):
        load_rules(write(tmp_path, data))
    # a line the line config names on its own is known too
    (tmp_path / "line_metrics.yaml").write_text(
        "lines:\n  - {id: PNT, line_type: painting, metrics: [{metric: oee, yellow: 0.8, "
        "red: 0.7}]}\n", encoding="utf-8")
    assert load_rules(write(tmp_path, data)).rules[0].threshold_for("PNT") == 0.9


def test_unusable_files_are_config_errors(tmp_path):
    for text, message in (("rules: [", "line"), ("- a list\n", "expected a mapping"),
                          ("rules: []\n", "version"), ("", "expected a mapping")):
        path = tmp_path / "rules.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_rules(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


def test_threshold_per_line():
    rule = metric_rule(thresholds_by_line={"PNT": 0.92})
    assert rule.threshold_for("PNT") == 0.92
    assert rule.threshold_for("WLD") == rule.threshold_for(None) == 0.925
    assert not rule.breached(0.921, "PNT") and rule.breached(0.921, "WLD")
    assert rule.thresholds == {"*": 0.925, "PNT": 0.92}


# --- episodes: hand cases ------------------------------------------------------------------


def run(rule: Rule, values, state: SubjectState | None = None, start: datetime = T0,
        line_id: str | None = None):
    return evaluate(rule, "T3", state, observations_from(values, start, H, line_id))


def states(transitions) -> list[tuple[int, str, str]]:
    """(window index, from, to) for each transition."""
    return [((t.window_start - T0) // H, t.from_state, t.to_state) for t in transitions]


def test_a_dip_shorter_than_for_fires_nothing():
    rule = metric_rule()
    # 1 bad window of 2
    assert fires_when(rule, [GOOD, BAD, GOOD, GOOD]) == []
    # A dip of 1h55m from 09:05 to 11:00: the 09:00 hour still passes overall (most of its
    # inspections came before the dip), only the 10:00 hour is below: 1 full window of 2.
    _, moved = run(rule, [GOOD, 0.94, BAD, GOOD])
    assert states(moved) == [(2, INACTIVE, PENDING), (3, PENDING, INACTIVE)]


def test_exactly_for_windows_fire_exactly_once_at_the_end_of_the_second():
    rule = metric_rule()
    obs = observations_from([GOOD, BAD, 0.85, GOOD], T0, H)
    obs[2] = Observation(obs[2].window_start, obs[2].window_end, 0.85,
                         signal_at=T0 + 2 * H + timedelta(minutes=7))
    state, moved = evaluate(rule, "T3", None, obs)
    assert states(moved) == [(1, INACTIVE, PENDING), (2, PENDING, FIRING), (3, FIRING, RESOLVED)]
    fired = moved[1]
    episode = f"fai-below-92-5|T3|{(T0 + H).isoformat()}"
    assert {t.episode_id for t in moved} == {episode}
    assert (fired.at, fired.signal_at, fired.value, fired.threshold) == (
        T0 + 3 * H, T0 + 2 * H + timedelta(minutes=7), 0.85, 0.925)
    assert moved[2].at == T0 + 4 * H
    assert state == SubjectState(last_window_end=T0 + 4 * H)


def test_longer_dips_fire_once_and_recovery_resolves():
    rule = metric_rule()
    assert fires_when(rule, [BAD, BAD, BAD]) == [1]
    assert fires_when(rule, [BAD] * 10) == [1]
    _, moved = run(rule, [BAD, BAD, BAD, GOOD, BAD, BAD])
    assert states(moved) == [(0, INACTIVE, PENDING), (1, PENDING, FIRING),
                             (3, FIRING, RESOLVED), (4, INACTIVE, PENDING),
                             (5, PENDING, FIRING)]
    assert len({t.episode_id for t in moved}) == 2


def test_for_one_goes_through_pending_in_the_same_window():
    _, moved = run(metric_rule(**{"for": 1}), [BAD, GOOD])
    assert states(moved) == [(0, INACTIVE, PENDING), (0, PENDING, FIRING), (1, FIRING, RESOLVED)]


def test_flapping_inside_keep_firing_for_does_not_refire():
    rule = metric_rule(keep_firing_for=2)
    state, moved = run(rule, [BAD, BAD, GOOD, BAD, GOOD, BAD, GOOD, GOOD, GOOD])
    assert states(moved) == [(0, INACTIVE, PENDING), (1, PENDING, FIRING),
                             (7, FIRING, RESOLVED)]
    assert state.state == INACTIVE


def test_value_at_the_threshold_is_not_a_breach():
    assert fires_when(metric_rule(), [0.925, 0.925]) == []
    assert fires_when(metric_rule(condition={"op": "<=", "threshold": 0.925}),
                      [0.925, 0.925]) == [1]


def test_no_data_keep_ok_alerting():
    keep, ok, alerting = (metric_rule(no_data=p) for p in ("keep", "ok", "alerting"))
    # keep: a NULL hour neither breaks nor extends the streak
    assert fires_when(keep, [BAD, None, BAD]) == [2]
    assert fires_when(keep, [None, None, None]) == []
    # ok: a NULL hour is a good hour
    assert fires_when(ok, [BAD, None, BAD]) == []
    # alerting: a NULL hour is a bad hour
    assert fires_when(alerting, [BAD, None]) == [1]
    assert fires_when(alerting, [None, None]) == [1]
    # while firing: keep holds the episode open, ok resolves it
    _, moved = run(keep, [BAD, BAD, None, None, GOOD])
    assert states(moved)[-1] == (4, FIRING, RESOLVED)
    _, moved = run(ok, [BAD, BAD, None])
    assert states(moved)[-1] == (2, FIRING, RESOLVED)
    assert moved[-1].value is None
    # NaN reads as no data, never as "not breached"
    assert fires_when(keep, [BAD, float("nan"), BAD]) == [2]


def test_errors_keep_or_mark():
    obs = observations_from([BAD, BAD, None, GOOD], T0, H)
    obs[2] = Observation(obs[2].window_start, obs[2].window_end, None, error=True)
    state, moved = evaluate(metric_rule(on_error="keep", no_data="ok"), "T3", None, obs)
    assert states(moved) == [(0, INACTIVE, PENDING), (1, PENDING, FIRING),
                             (3, FIRING, RESOLVED)]
    _, marked = evaluate(metric_rule(on_error="error", no_data="ok"), "T3", None, obs)
    assert states(marked) == [(0, INACTIVE, PENDING), (1, PENDING, FIRING),
                              (2, FIRING, ERROR), (3, FIRING, RESOLVED)]
    assert marked[2].episode_id == marked[1].episode_id


def _with_gap(values_by_hour: dict[int, float | None]) -> list[Observation]:
    return [Observation(T0 + i * H, T0 + (i + 1) * H, v, T0 + (i + 1) * H)
            for i, v in sorted(values_by_hour.items())]


def test_a_missing_window_counts_as_no_data():
    obs = _with_gap({0: GOOD, 1: BAD, 3: BAD})  # hour 2 never arrived
    _, keep = evaluate(metric_rule(no_data="keep"), "T3", None, obs)
    assert states(keep) == [(1, INACTIVE, PENDING), (3, PENDING, FIRING)]
    _, ok = evaluate(metric_rule(no_data="ok"), "T3", None, obs)
    assert states(ok) == [(1, INACTIVE, PENDING), (2, PENDING, INACTIVE), (3, INACTIVE, PENDING)]
    _, alerting = evaluate(metric_rule(no_data="alerting"), "T3", None, obs)
    assert states(alerting) == [(1, INACTIVE, PENDING), (2, PENDING, FIRING)]
    assert (alerting[1].at, alerting[1].value, alerting[1].signal_at) == (T0 + 3 * H, None, None)


def test_a_gap_between_two_calls_is_seen_too():
    rule = metric_rule(no_data="ok")
    state, _ = run(rule, [BAD])
    _, moved = evaluate(rule, "T3", state, _with_gap({5: BAD}))
    assert states(moved) == [(1, PENDING, INACTIVE), (5, INACTIVE, PENDING)]


def test_a_long_silence_is_cheap():
    rule = metric_rule(no_data="alerting")
    state, _ = run(rule, [BAD])
    far = T0 + 24 * 365 * 5 * H
    state, moved = evaluate(rule, "T3", state, [Observation(far, far + H, GOOD)])
    assert [t.to_state for t in moved] == [FIRING, RESOLVED]
    assert state.last_window_end == far + H


def test_windows_seen_before_are_skipped_and_overlaps_refused():
    rule = metric_rule()
    obs = observations_from([BAD, BAD, GOOD, BAD], T0, H)
    state, moved = evaluate(rule, "T3", None, obs)
    assert len(moved) == 4
    assert evaluate(rule, "T3", state, obs) == (state, [])
    assert evaluate(rule, "T3", None, obs + obs)[1] == moved  # duplicates in one batch
    with pytest.raises(ValueError, match="overlaps"):
        evaluate(rule, "T3", state, [Observation(T0 + 3 * H + timedelta(minutes=30),
                                                 T0 + 4 * H + timedelta(minutes=30), BAD)])
    with pytest.raises(ValueError, match="not after it starts"):
        evaluate(rule, "T3", None, [Observation(T0, T0, BAD)])
    with pytest.raises(ValueError, match="event rule"):
        evaluate(event_rule(), "D1", None, obs)


def test_line_threshold_applies_per_observation():
    rule = metric_rule(thresholds_by_line={"PNT": 0.90})
    assert fires_when(rule, [0.91, 0.91]) == [1]
    _, moved = run(rule, [0.91, 0.91], line_id="PNT")
    assert moved == []
    _, moved = run(rule, [0.85, 0.85], line_id="PNT")
    assert moved[-1].threshold == 0.90


def test_subject_state_round_trips_through_json():
    rule = metric_rule(keep_firing_for=3)
    for values in ([], [BAD], [BAD, BAD], [BAD, BAD, GOOD], [GOOD]):
        state, _ = run(rule, values)
        text = json.dumps(state.to_dict())
        assert SubjectState.from_dict(json.loads(text)) == state
    assert SubjectState.from_dict({}) == SubjectState()
    for bad in ({"state": "resolved"}, {"pending_count": -1}, {"ok_count": True},
                {"state": "firing"}, {"last_window_end": "yesterday"}, [1]):
        with pytest.raises(ValueError):
            SubjectState.from_dict(bad)  # type: ignore[arg-type]


def test_two_batches_give_the_same_transitions_as_one():
    rule = metric_rule(keep_firing_for=2, no_data="ok")
    obs = _with_gap({0: BAD, 1: BAD, 2: GOOD, 3: None, 4: BAD, 6: BAD, 7: BAD, 8: GOOD,
                     9: GOOD, 10: BAD})
    whole_state, whole = evaluate(rule, "T3", None, obs)
    for cut in range(len(obs) + 1):
        first_state, first = evaluate(rule, "T3", None, obs[:cut])
        cursor = json.loads(json.dumps(first_state.to_dict()))
        state, second = evaluate(rule, "T3", SubjectState.from_dict(cursor), obs[cut:])
        assert first + second == whole and state == whole_state, cut


def test_evaluate_subjects_keeps_every_subject():
    rule = metric_rule()
    states_, moved = evaluate_subjects(rule, {"T9": SubjectState()}, {
        "T1": observations_from([BAD, BAD], T0, H), "T2": observations_from([GOOD], T0, H)})
    assert set(states_) == {"T1", "T2", "T9"}
    assert [(t.subject, t.to_state) for t in moved] == [("T1", PENDING), ("T1", FIRING)]


# --- event rules -------------------------------------------------------------------------

PLANT = ZoneInfo("Asia/Shanghai")


def failure(device: str, local: datetime, n: int) -> Event:
    at = local.replace(tzinfo=PLANT)
    return Event(device, at.astimezone(UTC), at.strftime("%Y-%m-%d"), f"ev-{device}-{n}")


def test_device_failures_fire_once_at_the_third():
    rule = event_rule()
    day = datetime(2026, 11, 2, 9, 0)
    events = [failure("D1", day + timedelta(hours=i), i) for i in range(4)]
    assert evaluate_events(rule, events[:2]) == []
    [fired] = evaluate_events(rule, events[:3])
    assert fired.episode_id == "device-failures-3-per-day|D1|2026-11-02"
    assert fired.signal_at == events[2].at and fired.local_date == "2026-11-02"
    assert fired.record_ids == ("ev-D1-0", "ev-D1-1", "ev-D1-2")
    # a 4th the same day, or the same events again, fire nothing new
    assert evaluate_events(rule, events, {fired.episode_id}) == []
    assert evaluate_events(rule, events[:3], {fired.episode_id}) == []
    # the same record twice (a duplicated source row) counts once
    assert evaluate_events(rule, [events[0], events[0], events[1]]) == []
    # order of arrival does not matter; the 3rd by time is the signal
    assert evaluate_events(rule, list(reversed(events)))[0].signal_at == events[2].at


def test_failures_across_the_plant_day_boundary_do_not_add_up():
    rule = event_rule()
    evening = [failure("D2", datetime(2026, 11, 2, 22, 30) + timedelta(minutes=20 * i), i)
               for i in range(2)]
    night = [failure("D2", datetime(2026, 11, 3, 0, 10) + timedelta(minutes=20 * i), 10 + i)
             for i in range(2)]
    assert evaluate_events(rule, evening + night) == []
    third = failure("D2", datetime(2026, 11, 3, 1, 0), 12)
    [fired] = evaluate_events(rule, evening + night + [third])
    assert fired.episode_id.endswith("|2026-11-03") and fired.signal_at == third.at
    # other devices count on their own
    assert evaluate_events(rule, evening + [failure("D3", datetime(2026, 11, 2, 23), 1)]) == []


def test_event_rules_per_event_and_naive_times():
    rule = event_rule(event="crm_renewal", subject="person",
                      condition={"count_at_least": 1, "per": "event"}, effect=None)
    a = failure("E7", datetime(2026, 11, 2, 10), 1)
    b = failure("E7", datetime(2026, 11, 2, 11), 2)
    fired = evaluate_events(rule, [a, b])
    assert [f.episode_id for f in fired] == [f"{rule.id}|E7|ev-E7-1", f"{rule.id}|E7|ev-E7-2"]
    with pytest.raises(ValueError, match="naive"):
        evaluate_events(rule, [Event("E7", datetime(2026, 11, 2), "2026-11-02", "x")])
    with pytest.raises(ValueError, match="metric rule"):
        evaluate_events(metric_rule(), [a])


# --- backtest ----------------------------------------------------------------------------


def test_backtest_summarises_episodes_without_side_effects():
    rule = metric_rule(thresholds_by_line={"PNT": 0.9})
    data = {
        "T1": observations_from([GOOD, BAD, 0.7, 0.9, GOOD, GOOD], T0, H, "WLD"),
        "T3": observations_from([0.91, 0.91, 0.85, GOOD], T0, H, "PNT"),
        "T4": observations_from([GOOD, BAD, GOOD, BAD, BAD], T0, H, "ASM"),
    }
    before = copy.deepcopy(data)
    report = backtest(rule, data)
    assert data == before
    assert (report.rule_id, report.fired_count, report.subjects, report.windows) == (
        rule.id, 2, 3, 15)
    t1, t4 = report.episodes
    assert (t1.subject, t1.episode_start, t1.fired_at, t1.resolved_at, t1.peak_value,
            t1.windows_breached) == ("T1", T0 + H, T0 + 3 * H, T0 + 5 * H, 0.7, 3)
    assert (t4.subject, t4.fired_at, t4.resolved_at, t4.peak_value) == (
        "T4", T0 + 5 * H, None, BAD)
    assert report.pending_aborted == 2  # T3 at 0.85 once, T4 once
    assert json.loads(json.dumps(report.to_dict(), default=str))["fired_count"] == 2
    assert backtest(metric_rule(condition={"op": ">", "threshold": 0.5}),
                    data).episodes[0].peak_value == GOOD


# --- properties --------------------------------------------------------------------------

# T/F: condition true/false; N: NULL value; G: window missing; E: failed read
WINDOW = st.sampled_from("TFNGE")


def reference(seq: str, n: int, k: int, no_data: str) -> tuple[list[int], list[int]]:
    """Firing and resolving window indices, found by searching text rather than by
    stepping states: reduce the windows to what they count as (T/F, skipping those that
    count as nothing), fire at the end of the first run of n T's, resolve at the end of
    the next run of k F's, search again from there."""
    first = len(seq) - len(seq.lstrip("G"))
    last = len(seq.rstrip("G"))  # windows before the first/after the last observation
    as_ = {"T": "T", "F": "F", "E": "", "N": {"keep": "", "ok": "F", "alerting": "T"}[no_data]}
    as_["G"] = as_["N"]
    text, where = "", []
    for i in range(first, last):
        c = as_[seq[i]]
        text += c
        where += [i] * len(c)
    fires, resolves, pos = [], [], 0
    while (j := text.find("T" * n, pos)) >= 0:
        fires.append(where[j + n - 1])
        r = text.find("F" * k, j + n)
        if r < 0:
            break
        resolves.append(where[r + k - 1])
        pos = r + k
    return fires, resolves


def observations_for(seq: str) -> list[Observation]:
    out = []
    for i, c in enumerate(seq):
        if c == "G":
            continue
        value = {"T": BAD, "F": GOOD}.get(c)
        out.append(Observation(T0 + i * H, T0 + (i + 1) * H, value, T0 + (i + 1) * H,
                               error=c == "E"))
    return out


@PROPERTY
@given(seq=st.text(WINDOW, max_size=40), n=st.integers(1, 4), k=st.integers(1, 3),
       no_data=st.sampled_from(["keep", "ok", "alerting"]),
       on_error=st.sampled_from(["keep", "error"]), cut=st.integers(0, 40))
def test_episodes_match_the_reference(seq, n, k, no_data, on_error, cut):
    rule = metric_rule(**{"for": n, "keep_firing_for": k, "no_data": no_data,
                          "on_error": on_error})
    obs = observations_for(seq)
    state, moved = evaluate(rule, "T3", None, obs)
    index = [(t.window_start - T0) // H for t in moved]
    fires = [i for i, t in zip(index, moved, strict=True) if t.to_state == FIRING]
    resolves = [i for i, t in zip(index, moved, strict=True) if t.to_state == RESOLVED]
    assert (fires, resolves) == reference(seq, n, k, no_data)

    # firing and resolution alternate; each firing comes straight from pending, same episode
    lifecycle = [t for t in moved if t.to_state != ERROR]
    open_episode = None
    for before, t in zip([None, *lifecycle], lifecycle, strict=False):
        if t.to_state == FIRING:
            assert open_episode is None
            assert before is not None and before.to_state == PENDING
            assert before.episode_id == t.episode_id
            open_episode = t.episode_id
        elif t.to_state == RESOLVED:
            assert t.episode_id == open_episode
            open_episode = None
    assert (state.state == FIRING) == (open_episode is not None)
    assert on_error == "error" or all(t.to_state != ERROR for t in moved)

    # a sensor calling twice with a JSON cursor in between sees the same transitions
    cut = min(cut, len(obs))
    first_state, first = evaluate(rule, "T3", None, obs[:cut])
    cursor = SubjectState.from_dict(json.loads(json.dumps(first_state.to_dict())))
    second_state, second = evaluate(rule, "T3", cursor, obs[cut:])
    assert first + second == moved and second_state == state


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["<", ">=", "team", "device", "keep", "alerting",
                                     "first_article_pass_rate", "mttr_minutes",
                                     "equipment_failure", "PNT", "task", "breach_alert",
                                     "qa_engineer", "day", "event", "x|y"]))
YAMLISH = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=10), st.integers(), st.sampled_from(
        ["id", "metric", "event", "subject", "condition", "for", "actions", "role", "op",
         "threshold", "count_at_least", "per", "thresholds_by_line", "no_data"])),
        inner, max_size=5)), max_leaves=12)
# values that are valid for some field, so mutations often pass the type checks and reach
# the cross-field ones
PLAUSIBLE = st.one_of(
    st.sampled_from(sorted(METRICS_BY_NAME)), st.sampled_from(sorted(ROLES)),
    st.sampled_from(["equipment_failure", "crm_renewal", "team", "line", "device", "person",
                     "<", "<=", ">", ">=", "webhook", "email", "task", "breach_alert",
                     "success_story", "keep", "ok", "alerting", "error", "day", "event"]),
    st.integers(0, 4), st.floats(-2, 100, allow_nan=False), st.booleans(),
    st.sampled_from([{"PNT": 0.9}, {"XX": 0.9}, {"WLD": 2.0}, {"op": ">", "threshold": 5},
                     {"count_at_least": 2, "per": "day"}, {"count_at_least": 1, "per": "event"},
                     {"op": "<", "threshold": 0.9, "per": "day"}, [], {}]))
RULE_KEYS = ["id", "description", "metric", "event", "subject", "condition", "for",
             "keep_firing_for", "no_data", "on_error", "labels", "notify_resolved",
             "actions", "thresholds_by_line", "whatever"]


@st.composite
def mutated_rules(draw) -> dict:
    """The bundled rules with a few fields replaced, removed or added: close enough to
    valid that the cross-field checks run."""
    data = bundled_data()
    for _ in range(draw(st.integers(1, 3))):
        rule = data["rules"][draw(st.integers(0, 1))]
        target = rule
        actions = rule.get("actions")
        inner = [rule.get("condition"), actions[0] if isinstance(actions, list) and actions
                 else None]
        inner = [d for d in inner if isinstance(d, dict)]
        if inner and draw(st.booleans()):
            target = draw(st.sampled_from(inner))
            key = draw(st.sampled_from(["op", "threshold", "count_at_least", "per", "role",
                                        "channel", "template", "due_hours", "id"]))
        else:
            key = draw(st.sampled_from(RULE_KEYS))
        if draw(st.integers(0, 4)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(st.one_of(PLAUSIBLE, YAMLISH))
    return data


@PROPERTY
@given(data=st.one_of(YAMLISH, mutated_rules(),
                      st.fixed_dictionaries({"version": SCALARS,
                                             "rules": st.lists(YAMLISH, max_size=3)})))
def test_arbitrary_input_is_refused_cleanly(data):
    try:
        RuleSet.model_validate(data)
    except ValidationError:
        pass


@settings(max_examples=60, deadline=None, database=None)
@given(data=st.one_of(YAMLISH, mutated_rules()))
def test_arbitrary_files_give_config_errors(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        try:
            load_rules(path)
        except ConfigError as err:
            assert err.problems and all(line.startswith(str(path)) for line in err.problems)
