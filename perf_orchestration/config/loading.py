"""Loading YAML config into pydantic models, with errors that name the file and field.

Every config file of the project (scenarios, plant, later rules and goals) goes
through `load_model`, so a user always gets one line per problem and never a
traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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
        loc = _without_tags(loc, data)
        msg = e["msg"].removeprefix("Value error, ")
        ident = _entry_id(data, loc)
        where = _loc(loc) + (f" (id {ident})" if ident else "")
        lines.append(f"{source}: {where}: {msg}")
    return lines


def _without_tags(loc: tuple, data: object) -> tuple:
    """The path without the tags pydantic adds for a discriminated union: a part equal to the
    `kind` or `type` of the mapping it sits in (systems.mes.http.auth -> systems.mes.auth)."""
    out: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and part in (node.get("kind"),
                                                                    node.get("type")):
            continue
        out.append(part)
        try:
            node = node[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(out)


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


@dataclass(frozen=True)
class YamlLimits:
    """What a YAML file may hold before it is refused unread or unbuilt.

    A few lines of anchors and aliases can stand for billions of values ("billion
    laughs"), and deep nesting exhausts the parser's stack; both are refused before a
    value is built. Each limit is a setting (environment variable) with a sane default.
    """

    max_bytes: int = 2_000_000
    max_depth: int = 40
    max_nodes: int = 500_000

    @classmethod
    def from_env(cls) -> YamlLimits:
        values = {}
        for name, field in (("max_bytes", "PERFFLOW_YAML_MAX_BYTES"),
                            ("max_depth", "PERFFLOW_YAML_MAX_DEPTH"),
                            ("max_nodes", "PERFFLOW_YAML_MAX_NODES")):
            raw = os.environ.get(field)
            if raw is None:
                continue
            if not raw.strip().isdigit() or int(raw) < 1:
                raise ConfigError([f"{field}: expected a whole number above 0, got {raw!r}"])
            values[name] = int(raw)
        return cls(**values)


class _Refused(Exception):
    pass


class _LimitedLoader(yaml.SafeLoader):
    """The safe loader, composing at most `max_depth` levels of nesting."""

    max_depth = YamlLimits.max_depth

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                raise _Refused(f"nested more than {self.max_depth} levels deep "
                               "(PERFFLOW_YAML_MAX_DEPTH)")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values the node stands for once every alias is expanded (an alias counts in full)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # an alias to an enclosing node counts once, not forever
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = total
    return total


def _compose(text: str, limits: YamlLimits) -> object:
    loader = type("Loader", (_LimitedLoader,), {"max_depth": limits.max_depth})(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > limits.max_nodes:
            raise _Refused(f"stands for {size:,} values once its aliases are expanded, more "
                           f"than {limits.max_nodes:,} (PERFFLOW_YAML_MAX_NODES)")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def parse_yaml(path: Path) -> object:
    """Safe-load a YAML file within YamlLimits; problems become a ConfigError naming the file
    (and line and column for syntax errors)."""
    limits = YamlLimits.from_env()
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ConfigError([f"{path}: refused: {size:,} bytes, more than "
                               f"{limits.max_bytes:,} (PERFFLOW_YAML_MAX_BYTES)"])
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: byte {exc.start + 1}: not UTF-8 text (save the file as "
                           "UTF-8)"]) from None
    try:
        return _compose(text, limits)
    except _Refused as exc:
        raise ConfigError([f"{path}: refused: {exc}"]) from None
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
