"""A group of plants: each plant its own deployment (Dagster instance, warehouse, time
zone, config folder), and a group layer that rolls the plants' goal scores up as ratios
of sums.

`config` reads the group file, `rollup` turns the plants' `marts.goal_scores` into the
group tables (declared in `perf_orchestration.tables.group`), `roles` writes the
PostgreSQL roles that see one plant's rows, `settings` finds the group file and the
warehouses, `plant` is the id a plant's deployment carries in what leaves it.
"""
