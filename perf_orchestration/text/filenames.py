"""Plant names as parts of file names, for workshops and departments in any script."""

from __future__ import annotations

import re

NOT_WORD = re.compile(r"[^\w]+")


def file_part(name: str, default: str = "plant") -> str:
    """Body Shop -> Body-Shop, Rohbau Süd -> Rohbau-Süd, 焊装车间 unchanged: letters and digits
    of any script kept, every other run of characters one hyphen."""
    return NOT_WORD.sub("-", name).strip("-_") or default


def unique_file_parts(names: list[str], default: str = "plant") -> dict[str, str]:
    """`file_part` of each name, lowercased, with -2, -3.. where two names would share one."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = file_part(name, default).lower()
        part, n = base, 1
        while part in taken:
            n += 1
            part = f"{base}-{n}"
        taken.add(part)
        out[name] = part
    return out
