"""Dagster resources: the warehouse and one source-API client per source system."""
