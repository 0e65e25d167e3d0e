"""The goal-health heatmap as a PNG: subjects (teams, people) by metric, coloured by status.

matplotlib is imported here only, when a picture is drawn, so loading the Dagster
definitions stays fast.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

COLOURS = {"green": "#2e9e4f", "yellow": "#f2c12e", "red": "#d64541", None: "#d9d9d9"}


def _grid(rows: list[dict]) -> tuple[list[str], list[str], dict[tuple[str, str], dict]]:
    subjects = sorted({r["subject"] for r in rows}, key=lambda s: (s[0] == "E", s))
    metrics = list(dict.fromkeys(r["metric"] for r in sorted(
        rows, key=lambda r: (r["template"] != "manufacturing", r["metric"]))))
    cells = {(r["subject"], r["metric"]): r for r in rows}
    return subjects, metrics, cells


def render_png(rows: list[dict], title: str) -> bytes:
    """PNG bytes of the heatmap of `rows` (marts.goal_health rows)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import Rectangle

    from perf_orchestration.text.fonts import use_cjk_font

    use_cjk_font()  # team and workshop names in any script, no boxes
    subjects, metrics, cells = _grid(rows)
    fig, ax = plt.subplots(figsize=(2.0 + 1.6 * max(1, len(metrics)),
                                    1.4 + 0.38 * max(1, len(subjects))), dpi=100)
    for y, subject in enumerate(subjects):
        for x, metric in enumerate(metrics):
            cell = cells.get((subject, metric))
            colour = COLOURS[cell["status"]] if cell else "#ffffff"
            ax.add_patch(Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="white", lw=2))
            if cell and cell["progress_ratio"] is not None:
                ax.text(x + 0.5, y + 0.5, f"{cell['progress_ratio']:.3f}", ha="center",
                        va="center", fontsize=8)
    ax.set_xlim(0, len(metrics))
    ax.set_ylim(len(subjects), 0)
    ax.set_xticks([i + 0.5 for i in range(len(metrics))],
                  [m.replace("_", "\n") for m in metrics], fontsize=8)
    ax.set_yticks([i + 0.5 for i in range(len(subjects))], subjects, fontsize=8)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if rows:
        title += (f"\nprogress ratio (actual / expected by now): yellow below "
                  f"{rows[0]['yellow_below']:g}, red below {rows[0]['red_below']:g}, "
                  "grey without data")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def markdown_image(png: bytes, alt: str = "goal health") -> str:
    """The PNG embedded in Markdown (for Dagster asset metadata)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def write_png(png: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path
