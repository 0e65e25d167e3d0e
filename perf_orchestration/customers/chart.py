"""The response-speed evidence as a picture: renewal share per response-time bucket, each
with its 95 % Wilson interval and ticket count, the estimate written above."""

from __future__ import annotations

import io
import math
import textwrap

FAST, SLOW = "#2f7d4f", "#b0b7bf"


def wilson(renewed: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a share (0, 0 for no tickets)."""
    if not n:
        return 0.0, 0.0
    p = renewed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def response_speed_png(evidence: dict, buckets: list[dict]) -> bytes | None:
    """PNG bytes of the chart (None when no bucket has a ticket)."""
    shown = [b for b in buckets if b["tickets"]]
    if not shown:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from perf_orchestration.text.fonts import use_cjk_font

    use_cjk_font()
    fast_hours = evidence["fast_hours"]
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=100)
    for x, b in enumerate(shown):
        share = b["renewed"] / b["tickets"]
        low, high = wilson(b["renewed"], b["tickets"])
        fast = b["high_hours"] is not None and b["high_hours"] <= fast_hours
        ax.bar(x, share, color=FAST if fast else SLOW, width=0.7)
        ax.errorbar(x, share, yerr=[[share - low], [high - share]], color="#333333",
                    capsize=4, lw=1)
        ax.text(x, high + 0.02, f"{share:.0%}\nn={b['tickets']:,}", ha="center",
                va="bottom", fontsize=7)
    ax.set_xticks(range(len(shown)), [b["bucket"] for b in shown], fontsize=8)
    ax.set_ylim(0, 1.25)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"], fontsize=8)
    ax.set_xlabel("time to first answer", fontsize=8)
    ax.set_ylabel("renewed at next decision", fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title("\n".join(textwrap.wrap(evidence["statement"], 90)), fontsize=7.5, loc="left")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
