"""The CJK font every picture of the project draws with, so Chinese and Japanese names
never show as boxes.

The font (Noto Sans CJK, SIL Open Font License) comes with the install as a Python
package, so a fresh machine needs nothing from the system. matplotlib gets it as a
fallback after its own default font: Latin text looks as before, CJK text finds its
glyphs.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def cjk_font_path() -> Path:
    from noto_cjk_sans_otc import FONT_PATH

    return Path(str(FONT_PATH))


@cache
def use_cjk_font() -> str:
    """Register the CJK font with matplotlib as a fallback family; its family name."""
    from matplotlib import font_manager, rcParams

    font_manager.fontManager.addfont(str(cjk_font_path()))
    name = font_manager.FontProperties(fname=str(cjk_font_path())).get_name()
    first = rcParams["font.sans-serif"][0] if rcParams["font.sans-serif"] else "DejaVu Sans"
    rcParams["font.family"] = [first, name]  # per glyph: the default first, then CJK
    return name
