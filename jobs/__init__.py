"""Dagster jobs: the main flow and, in later work, action and maintenance jobs."""
