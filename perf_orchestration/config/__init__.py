"""Plant config: YAML loaded into pydantic models, and which file holds what."""
