"""Schema `ops`: the flow's own bookkeeping, written from Python: quarantine and the
ingestion log, alert episodes and their history, actions, notifications, tasks,
silences, rule state, workbook intake, weight changes, feedback requests and reminders.

Auditors read this schema (perf_orchestration/deploy/roles.sql).
"""

from __future__ import annotations

import sqlalchemy as sa

from perf_orchestration.tables.base import table

quarantine = table("ops", "quarantine", """
    quarantine_id      int pk autoincrement
    entity             text not null
    partition_key      text not null
    source_record_id   text
    failed_expectation text not null
    reason             text not null
    payload            text not null
    run_id             text not null
    quarantined_at     datetime not null
""",
    sa.Index("ix_quarantine_entity_partition", "entity", "partition_key"),
    comment="Rows that failed their entity's quality suite, with the reason.")


ingestion_log = table("ops", "ingestion_log", """
    entity               text not null
    partition_key        text not null
    run_id               text not null
    fetched              int not null
    landed               int not null
    quarantined          int not null
    duplicates           int not null
    late                 int not null
    requests             int not null
    retries              int not null
    newest_source_update datetime
    logged_at            datetime not null
""",
    sa.Index("ix_ingestion_log_entity_partition", "entity", "partition_key"),
    comment='One row per entity, partition and run: fetched = landed + quarantined.')


interface_health = table("ops", "interface_health", """
    link            text pk          -- mes→warehouse, wms→tms, ...
    partition_key   text pk          -- the local hour judged
    hour_end        datetime not null
    kind            text not null    -- warehouse | system
    sender          text not null
    receiver        text not null
    last_sync_at    datetime         -- newest sync the receiver shows by the hour's end
    age_hours       float            -- hour_end - last_sync_at (erp→wms: oldest wait)
    threshold_hours float not null
    over_threshold  int not null     -- 1: the link counts as broken in this hour
    evidence        text not null    -- JSON: the record or log entry behind last_sync_at
    checked_at      datetime not null
""",
    comment=('Per link and local hour: when it last synced, how old that is at the hour end, '
             'and whether that is over the threshold of interfaces.yaml.'))


alert_episodes = table("ops", "alert_episodes", """
    episode_id      text pk
    rule_id         text not null
    rule_version    text not null
    subject         text not null
    state           text not null
    episode_start   datetime not null
    signal_at       datetime
    detected_at     datetime
    fired_at        datetime
    delivered_at    datetime
    acted_at        datetime
    acknowledged_at datetime
    acknowledged_by text
    escalated_at    datetime
    resolved_at     datetime
    value           float
    threshold       float
    triggered_by    text not null default system
    run_id          text
    -- wall, or replay: signal_at and episode_start on a scenario's clock, the rest now
    clock           text not null default wall
""",
    sa.Index("ix_alert_episodes_rule_subject", "rule_id", "subject"),
    comment=('One row per alert episode with the times response is measured by (UTC): signal, '
            'detected, fired, delivered, acted, resolved; clock says which clock they are on.'))


alert_transitions = table("ops", "alert_transitions", """
    transition_id int pk autoincrement
    episode_id    text
    rule_id       text not null
    subject       text not null
    from_state    text not null
    to_state      text not null
    window_start  datetime
    at            datetime not null
    value         float
    threshold     float
    recorded_at   datetime not null
    -- which evaluator recorded it: the rules asset (after the marts) or the source watch
    -- sensor (live); each launches the action runs of its own transitions
    recorded_by   text not null default rules_asset
""",
    sa.UniqueConstraint("rule_id", "subject", "to_state", "at", name="uq_alert_transition"),
    comment='Every state change of every rule and subject, with its time.')


action_log = table("ops", "action_log", """
    idempotency_key text pk
    episode_id      text not null
    rule_id         text not null
    action_id       text not null
    kind            text not null       -- fire or resolved
    channel         text not null
    recipient_id    text not null
    recipient_role  text not null
    status          text not null       -- planned, delivered, failed
    attempts        int not null default 0
    detail          text
    subject_line    text not null
    planned_at      datetime not null
    delivered_at    datetime
    run_id          text
""",
    sa.Index("ix_action_log_episode", "episode_id"),
    comment='Every planned action once (unique idempotency key) and its delivery.')


tasks = table("ops", "tasks", """
    task_id    text pk             -- the action's idempotency key
    episode_id text not null
    owner_id   text not null
    owner_role text not null
    title      text not null
    body       text not null
    status     text not null       -- open, done
    created_at datetime not null
    due_at     datetime not null
    done_at    datetime
""",
    comment='Tasks the flow gives people (checklists, reviews), with owner and due.')


silences = table("ops", "silences", """
    silence_id text pk
    matchers   text not null       -- JSON {label: value}
    starts_at  datetime not null
    ends_at    datetime not null
    created_by text not null
    comment    text not null
    created_at datetime not null
    expired_at datetime
""",
    comment=('Ad-hoc silences (perfflow silence): matching alerts are held, not lost, from '
            'start to end (UTC).'))


alert_notifications = table("ops", "alert_notifications", """
    action_key      text pk             -- ops.action_log.idempotency_key
    episode_id      text not null
    rule_id         text not null
    kind            text not null
    channel         text not null
    recipient_id    text not null
    recipient_name  text not null
    address         text not null
    route_id        text not null
    group_key       text not null
    labels          text not null       -- JSON
    title           text not null
    body            text not null
    data            text not null       -- JSON
    status          text not null       -- queued sent inhibited silenced dropped
    reason          text
    queued_at       datetime not null
    hold_until      datetime
    notification_id text
    updated_at      datetime not null
""",
    sa.Index("ix_alert_notifications_status_group", "status", "group_key"),
    comment=('Every alert notification an action asked for, with what became of it: queued in '
            'its group, sent in a grouped notification, inhibited, silenced or dropped, and '
            'why.'))


notification_log = table("ops", "notification_log", """
    notification_id text pk             -- the Idempotency-Key sent
    group_key       text not null
    sequence        int not null
    route_id        text not null
    channel         text not null
    recipient_id    text not null
    reason          text not null       -- first, group_interval, repeat, held
    members         text not null       -- JSON list of action keys
    alerts          int not null
    status          text not null       -- sending delivered failed
    attempts        int not null        -- channel attempts, retries included
    -- dispatch rounds that tried it: a failed notification is tried again in later rounds
    dispatches      int not null default 0
    detail          text
    created_at      datetime not null
    sent_at         datetime
    -- when a later round may send it again (after a failed round, or while a round is
    -- sending it); NULL once delivered or when no round is left
    retry_at        datetime
""",
    sa.UniqueConstraint("group_key", "sequence", name="uq_notification_group_sequence"),
    comment='Every grouped notification sent: its group, members and why it went out then.')


alert_state = table("ops", "alert_state", """
    rule_id         text pk
    subject         text pk
    state           text not null       -- JSON of the episode engine's SubjectState
    last_window_end datetime not null
    updated_at      datetime not null
""",
    comment='Where each rule and subject stands, so evaluation resumes exactly.')


file_intake = table("ops", "file_intake", """
    file_hash        text pk             -- sha256 of the content
    path             text not null
    kind             text
    status           text not null
    reason           text
    sheets_read      int not null
    sheets_skipped   int not null
    rows_landed      int not null
    rows_quarantined int not null
    rows_excluded    int not null
    total_check      text not null       -- ok, mismatch, absent, not_run
    total_detail     text
    run_id           text not null
    intake_at        datetime not null
""",
    sa.Index("ix_file_intake_path", "path"),
    comment=('One row per workbook file content (sha256) dropped for intake: what was read, '
            "landed and quarantined, the workbook's own total check, status and reason."))


weight_changes = table("ops", "weight_changes", """
    rule_id             text pk
    goal_id             text pk
    parent_id           text not null
    old_weight          float not null
    new_weight          float not null
    effective_from      datetime not null
    weight_version      text not null
    trigger             text not null
    trigger_record_id   text not null
    calibration_version text not null
    run_id              text not null
    recorded_at         datetime not null
""",
    comment='Every weight a calibration rule changed, from when, and why.')


feedback_requests = table("ops", "feedback_requests", """
    request_id      text pk
    trigger_id      text not null
    subject         text not null
    period          text not null
    form_id         text not null
    form_version    text not null
    title           text not null
    questions       text not null
    recipient_id    text not null
    recipient_email text not null
    channel         text not null
    signal_at       datetime not null
    due_at          datetime not null
    evidence        text not null
    status          text not null
    detail          text
    created_at      datetime not null
    delivered_at    datetime
""",
    comment='One row per feedback request; the id is derived, so never twice.')


person_reminders = table("ops", "person_reminders", """
    reminder_id   text pk
    employee_id   text not null
    metric        text not null
    episode_start text not null
    days_below    text not null
    baseline      float not null
    suggestions   text not null
    evidence      text not null
    status        text not null
    detail        text
    created_at    datetime not null
""",
    comment='One reminder per person, metric and episode below baseline.')


action_effects = table("ops", "action_effects", """
    idempotency_key text pk             -- ops.action_log.idempotency_key (a fire action)
    episode_id      text not null
    rule_id         text not null
    action_id       text not null
    action_status   text not null       -- the action's status in ops.action_log when checked
    subject_kind    text not null       -- team, line or device: where the effect is read
    subject         text not null
    metric          text not null
    target_op       text not null
    target_value    float not null
    horizon_hours   float not null
    window_start    datetime not null   -- delivery (else planning) of the action
    window_end      datetime not null   -- window_start + horizon
    -- effective, not_effective, no_data; pending until the horizon has passed
    status          text not null
    values_seen     text not null       -- JSON {window start (UTC): value or null}
    effect_seen_at  datetime            -- end of the first window meeting the target
    signal_at       datetime            -- the episode's signal
    clock           text not null       -- the episode's clock (wall or replay)
    data_until      datetime            -- how far the warehouse's data reached when checked
    checked_at      datetime not null
    rules_version   text not null
""",
    sa.Index("ix_action_effects_episode", "episode_id"),
    comment=('One row per action with an expected effect: the metric of its subject over the '
            'windows after it, against the target, and whether the effect was seen in time.'))
