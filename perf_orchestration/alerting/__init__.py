"""Alerting: rules judged over the warehouse and live, their episodes and actions.

rules/ (rules.yaml and the episode state machine), evaluate (rules over the warehouse),
source_watch (rules over new source records), store (episodes in ops), actions and
recipients (who gets what, exactly once), templates and checklist (what they say),
notifications/ (routing.yaml: grouping, silences, escalation, acknowledgements),
task_board, response (signal to action times) and ops_notices (failed runs).
"""
