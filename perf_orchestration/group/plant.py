"""Which plant this deployment serves, when it is one plant of a group.

A group runs one deployment per plant (docs/deploy.md, "Several plants"). Inside a plant
everything is that plant's own: its warehouse, its episodes, its action log. What leaves
the plant carries its id: the idempotency key a chat webhook or a mail server sees, so
two plants whose teams share ids (T1 in both) never drop each other's messages as
repeats. A deployment that is not part of a group sets no id and keys stay as they are.
"""

from __future__ import annotations

import os
import re

PLANT_ID_ENV = "PERFFLOW_PLANT_ID"
PLANT_ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9-]{0,15}$")


class PlantIdError(ValueError):
    """PERFFLOW_PLANT_ID is set but is not a plant id."""


def plant_id() -> str | None:
    """The plant id of this deployment, or None outside a group."""
    value = os.environ.get(PLANT_ID_ENV, "").strip()
    if not value:
        return None
    if not PLANT_ID_PATTERN.match(value):
        raise PlantIdError(f"{PLANT_ID_ENV}={value!r} is not a plant id (upper case letters, "
                           "digits and dashes, starting with a letter, at most 16)")
    return value


def plant_scoped(key: str) -> str:
    """`key` as it leaves the plant: prefixed with the plant id inside a group."""
    plant = plant_id()
    return f"{plant}:{key}" if plant else key
