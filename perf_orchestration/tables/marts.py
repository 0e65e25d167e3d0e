"""Schema `marts`: the marts written from Python (the SQL models create the others):
response times, goal scores, alignment and health, and the people loop's answers,
badges, capability graph and onboarding progress. Evidence columns hold source record
ids as JSON. HR reads this schema (perf_orchestration/deploy/roles.sql).
"""

from __future__ import annotations

from perf_orchestration.tables.base import table

response_times = table("marts", "response_times", """
    rule_id                      text pk
    team_id                      text pk
    episodes                     int not null
    delivered_episodes           int not null
    signal_to_delivered_p50_s    float
    signal_to_delivered_p95_s    float
    signal_to_delivered_max_s    float
    detected_to_delivered_p50_s  float
    detected_to_delivered_p95_s  float
    detected_to_delivered_max_s  float
    acknowledged_episodes        int
    signal_to_acknowledged_p50_s float
    escalated_episodes           int
    -- episodes a person marked done (a task closed)
    acted_episodes               int
    signal_to_acted_p50_s        float
    signal_to_acted_p95_s        float
    actions_delivered            int not null
    actions_auto                 int not null
    auto_triggered_ratio         float
    -- actions whose expected effect was judged (ops.action_effects), and seen in time
    effects_checked              int
    effects_seen                 int
    signal_to_effect_seen_p50_s  float
    signal_to_effect_seen_p95_s  float
    refreshed_at                 datetime not null
""",
    comment=('Per rule and team: signal -> delivered and detected -> delivered percentiles '
            '(seconds), the share of delivered actions the flow triggered on its own, and '
            'signal -> effect seen for the actions whose expected effect was checked.'))


response_speed_buckets = table("marts", "response_speed_buckets", """
    bucket        text pk          -- e.g. 1-4 h
    position      int not null
    low_hours     float not null
    high_hours    float            -- null: the slowest bucket, open above
    tickets       int not null
    accounts      int not null
    renewed       int not null
    renewal_share float
    renewal_odds  float
    refreshed_at  datetime not null
""",
    comment=('Service tickets by time to first answer: how many, of how many accounts, and the '
            'share whose contract was renewed at its next decision (response_speed.yaml).'))

response_speed_evidence = table("marts", "response_speed_evidence", """
    fast_hours      float pk
    status          text not null  -- effect, reverse, no_effect, insufficient
    statement       text not null
    tickets         int not null
    accounts        int not null
    contracts       int not null
    fast_tickets    int not null
    odds_ratio      float          -- renewal odds, answered within fast_hours vs slower
    ci_low          float
    ci_high         float
    p_value         float
    size_odds_ratio float          -- per standard deviation of ln(annual value)
    confidence      float not null
    excluded        text not null  -- JSON: reason -> tickets left out
    config_version  text not null
    refreshed_at    datetime not null
""",
    comment=('The renewal odds ratio of service tickets answered within fast_hours against '
            'slower ones: logistic regression controlling for account size, standard errors '
            'clustered by account.'))

breakpoints = table("marts", "breakpoints", """
    chain         int pk             -- rank: chains ending at an interface first
    level         int pk             -- 0: the problem; 1..3: the causes walked
    problem_kind  text not null      -- target, episode, red_cell
    problem_id    text not null
    problem       text not null
    scope         text not null      -- plant, line:<id>, team:<id>, device:<id>
    node          text not null      -- a metric, a node of causes.yaml or interface:<link>
    label         text not null
    sign          text
    lag_hours     int
    value_before  float              -- the node before (else beside) the problem's hours
    value_during  float              -- and in them
    correlation   float              -- with the level above over the window's hours
    points        int
    is_interface  int not null
    is_break      int not null       -- 1: the deepest supported cause of the chain
    impact        int not null       -- late order lines in the problem's hours and scope
    problem_hours text not null      -- JSON list of the local hours
    records       text not null      -- JSON: table:id of the source records behind it
    tested        text not null      -- JSON: every cause tested at this level and why not
    note          text not null
    window_start  datetime not null
    window_end    datetime not null
    config_version text not null
    refreshed_at  datetime not null
""",
    comment=('3x3 breakpoint chains: the problems that hurt delivery most and, for each, up to '
             'three levels of causes the data supports, with the evidence (causes.yaml).'))

goal_scores = table("marts", "goal_scores", """
    goal_id        text pk
    period         text pk             -- local date or ISO week
    template       text not null
    parent_id      text
    level          text not null
    period_kind    text not null
    period_start   datetime not null
    period_end     datetime not null
    subject        text not null
    metric         text not null
    mart           text not null
    numerator      float
    denominator    float
    actual         float
    target         float not null
    direction      text not null
    attainment     float
    rollup_score   float
    score          float
    weight         float
    weight_version text not null
    null_reason    text
    data_until     datetime
    config_version text not null
    mart_run_id    text
    run_id         text not null
    computed_at    datetime not null
""",
    comment=('Attainment of every goal per period from its metric, and the weighted rollup of '
            'its children, with the config and weight versions that produced it.'))


goal_alignment = table("marts", "goal_alignment", """
    goal_id         text pk
    period          text pk
    children        int not null
    own_attainment  float
    children_rollup float
    divergence      float
    children_spread float
    aligned         int
    config_version  text not null
    run_id          text not null
""",
    comment=("Per parent goal and period: its own outcome against its children's weighted "
            'attainment (divergence = rollup - own).'))


goal_health = table("marts", "goal_health", """
    goal_id           text pk
    period            text not null
    template          text not null
    subject           text not null
    metric            text not null
    elapsed_share     float not null
    expected_progress float not null
    actual_progress   float
    progress_ratio    float
    status            text                -- green, yellow, red; NULL without data
    yellow_below      float not null
    red_below         float not null
    config_version    text not null
    run_id            text not null
""",
    comment=('Red/yellow/green per team or person goal for the current period, from actual '
            'against expected progress.'))


feedback = table("marts", "feedback", """
    response_id   text pk
    request_id    text not null
    trigger_id    text not null
    form_id       text not null
    form_version  text not null
    respondent_id text not null
    subject       text not null
    answered_at   datetime not null
    answers       text not null
""",
    comment='Answers matched to their request and form version.')


badges = table("marts", "badges", """
    employee_id  text pk
    badge_id     text pk
    title        text not null
    awarded_at   datetime not null
    revoked_at   datetime
    evidence     text not null
    rule_version text not null
""",
    comment='Skill badges: awarded once, revoked by rule, with evidence.')


capability_graph = table("marts", "capability_graph", """
    employee_id   text pk
    skill         text pk
    evidence_kind text pk
    evidence_id   text pk
    evidence_at   datetime not null
    source        text not null
    detail        text not null
""",
    comment='Per person: skills with each piece of evidence, date and source.')


onboarding_progress = table("marts", "onboarding_progress", """
    as_of_date         text pk
    employee_id        text pk
    role               text not null
    team_id            text
    track_id           text not null
    hired_at           datetime not null
    days_since_hire    int not null
    mentor_id          text
    trainings_required int not null
    trainings_done     int not null
    training_share     float not null
    training_ids       text not null
    feedback_weeks     int not null
    feedback_entries   int not null
    feedback_per_week  float
    feedback_by_week   text not null
    feedback_ids       text not null
    first_job_kind     text not null
    first_job_id       text
    first_job_at       datetime
    days_to_first_job  int
    target_days        int not null
    status             text not null
    reasons            text not null
    config_version     text not null
""",
    comment=('Per new hire and plant day: training share, mentor feedback per week and days to'
            ' the first independent job, with the record ids behind each.'))


role_snapshots = table("marts", "role_snapshots", """
    role              text pk
    behaviour         text pk      -- kind:id, e.g. email_template:TPL-VALUE-RECAP; * = status
    label             text not null
    source            text not null  -- the log, e.g. crm/activities
    measure           text not null  -- e.g. uses per 100 e-mails
    status         text not null  -- distinguishing, not_distinguishing, not_tested, no_snapshot
    direction         text           -- more | less (top against the rest)
    top_mean          float
    rest_mean         float
    lift              float          -- top_mean / rest_mean
    p_value           float          -- Mann-Whitney U, two-sided, person level
    p_adjusted        float          -- corrected for the role's behaviours tried
    top_people        int
    rest_people       int
    records           int            -- log records behind the behaviour
    in_catalogue      int not null
    metric            text not null
    top_metric        float          -- the metric's median in the top group
    rest_metric       float          -- and in the rest
    window_start      datetime
    window_end        datetime
    reason            text           -- why a role has no snapshot, or a behaviour no test
    correction        text not null
    alpha             float not null
    config_version    text not null
""",
    comment=('Per role: the behaviours of its operation logs that distinguish the top performers'
             ' by the role\'s metric from the rest, with the evidence; behaviours, never people.'))
