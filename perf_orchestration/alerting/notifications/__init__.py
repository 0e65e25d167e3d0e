"""Alert notifications at Alertmanager's level: routing, grouping, inhibition, silences.

config.py reads routing.yaml; matching.py gives an episode its labels and routes;
notify.py queues, groups and sends; silences.py holds ad-hoc silences.
"""
