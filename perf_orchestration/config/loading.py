"""Loading YAML config into pydantic models, with errors that name the file and field.

Every config file of the project (scenarios, plant, later rules and goals) goes
through `load_model`, so a user always gets one line per problem and never a
traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A config or scenario file that cannot be used; `problems` has one line each."""

    def __init__(self, problems: list[str]):
        # one line each, whatever a value or key quoted in a message holds
        self.problems = [_one_line(p) for p in problems]
        super().__init__("\n".join(problems))


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, str) and not (part.isprintable() and part.strip()):
            part = repr(part)  # a key like "\n" or " " stays visible and on one line
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def validation_problems(source: str, err: ValidationError, data: object = None) -> list[str]:
    """Turn a pydantic error into `file: field: message` lines, with entry ids where known."""
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # discriminated unions add the tag name to the path; drop it for readability
        loc = tuple(p for p in loc if p not in {"metric_dip", "equipment_failure", "crm_renewal",
                                                   "source_fault"})
        msg = e["msg"].removeprefix("Value error, ")
        ident = _entry_id(data, loc)
        where = _loc(loc) + (f" (id {ident})" if ident else "")
        lines.append(f"{source}: {where}: {msg}")
    return lines


def _entry_id(data: object, loc: tuple) -> str | None:
    """The `id` of the innermost list entry on the error's path, if it has one."""
    found = None
    node = data
    for part in loc:
        try:
            node = node[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            found = node["id"]
    return found


def parse_yaml(path: Path) -> object:
    """Safe-load a YAML file; syntax errors become a ConfigError naming line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: byte {exc.start + 1}: not UTF-8 text (save the file as "
                           "UTF-8)"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError([f"{path}: {where}: {problem}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: (top level): lists or mappings nested too deeply"]) \
            from None


def load_model(path: Path | str, model: type[M]) -> M:
    """Read `path` as YAML and validate it as `model`, or raise ConfigError."""
    path = Path(path)
    data = parse_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: (top level): expected a mapping of fields"])
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(validation_problems(str(path), err, data)) from None
