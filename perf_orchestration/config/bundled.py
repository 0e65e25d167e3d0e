"""The files bundled with the product, read as package data.

Everything the product ships (plant config templates, scenarios, SQL models, the war-room
template, the roles script) is found through `importlib.resources`, so an installed wheel
works from any folder, not only a checkout of the source tree.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def package_path(package: str, *parts: str) -> Path:
    """A bundled file or folder of `package`, as a filesystem path."""
    return Path(str(resources.files(package).joinpath(*parts)))


def bundled_config_dir() -> Path:
    """The bundled plant config folder: the templates a plant starts from."""
    return package_path("perf_orchestration")


def bundled_file(name: str) -> Path:
    """One file of the bundled plant config folder (goals.yaml, rules.yaml, ...)."""
    return bundled_config_dir() / name
