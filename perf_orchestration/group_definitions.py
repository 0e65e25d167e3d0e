"""The group's code location: the roll-up of the plants' goal scores (docs/deploy.md,
"Several plants"). Each plant runs `perf_orchestration.definitions` in its own
deployment; the group runs this one, on an instance of its own."""

from assets import group

defs = group.defs
