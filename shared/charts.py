"""The leaderboard chart as SVG: each row's mean composite with its 95% interval.

One drawing for every place that shows it: the admin page inlines it, the reporter stores
it with the leaderboard in MLflow. Plain SVG text, no plotting library and no external
reference, so a page or a file that holds it stays self-contained.
"""

from __future__ import annotations

import math
from html import escape

from shared.contracts import Leaderboard

WIDTH, LEFT, RIGHT, ROW, TOP = 720, 260, 24, 28, 14
SVG_NAMESPACE = ' xmlns="http://www.w3.org/2000/svg"'


def _ticks(low: float, high: float) -> list[float]:
    """About 8 round tick values from low to high."""
    span = max(high - low, 1e-9)
    step = 10 ** math.floor(math.log10(span / 8))
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= 10:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [round(first + i * step, 6) for i in range(int((high - first) / step + 1e-9) + 1)]


def leaderboard_svg(board: Leaderboard, *, standalone: bool = True) -> str:
    """The board's scored rows, best first: a dot at the mean, whiskers at the interval.

    `standalone` for an .svg file; inside an HTML page the namespace is implied, and left
    out the page holds no URL at all.
    """
    rows = [r for r in board.rows if r.mean_composite is not None]
    low, high = board.composite_min, board.composite_max
    scale = (WIDTH - LEFT - RIGHT) / max(high - low, 1e-9)
    height = TOP + ROW * max(len(rows), 1) + 30

    def x(value: float) -> str:
        return f"{LEFT + (value - low) * scale:.1f}"

    parts = [
        f'<svg{SVG_NAMESPACE if standalone else ""} class="chart" viewBox="0 0 {WIDTH} {height}"'
        ' role="img" aria-label="Mean composite by model and prompt with 95% intervals">',
        "<style>.grid{stroke:#ddd}.tick,.label{font:12px sans-serif;fill:#333}"
        ".whisker{stroke:#1f5f8b;stroke-width:2}.point{fill:#1f5f8b}"
        ".unranked{fill:#999}</style>",
    ]
    bottom = TOP + ROW * max(len(rows), 1)
    for tick in _ticks(low, high):
        parts.append(
            f'<line class="grid" x1="{x(tick)}" x2="{x(tick)}" y1="{TOP - 6}" y2="{bottom}"/>'
        )
        parts.append(
            f'<text class="tick" x="{x(tick)}" y="{bottom + 16}"'
            f' text-anchor="middle">{tick:g}</text>'
        )
    for index, row in enumerate(rows):
        y = TOP + ROW * index + ROW // 2
        label = escape(f"{row.model} | {row.prompt_version}")
        rank = f"#{row.rank} " if row.rank is not None else ""
        parts.append(
            f'<text class="label" x="{LEFT - 8}" y="{y + 4}" text-anchor="end">{rank}{label}</text>'
        )
        if row.ci_low is not None and row.ci_high is not None:
            left, right = x(row.ci_low), x(row.ci_high)
            parts += [
                f'<line class="whisker" x1="{left}" x2="{right}" y1="{y}" y2="{y}"/>',
                f'<line class="whisker" x1="{left}" x2="{left}" y1="{y - 6}" y2="{y + 6}"/>',
                f'<line class="whisker" x1="{right}" x2="{right}" y1="{y - 6}" y2="{y + 6}"/>',
            ]
        kind = "point" if row.rank is not None else "point unranked"
        shown = f"{row.mean_composite:.2f}"
        parts.append(
            f'<circle class="{kind}" cx="{x(row.mean_composite or low)}" cy="{y}" r="5">'
            f"<title>{label}: {shown}</title></circle>"
        )
    parts.append(
        f'<text class="label" x="{LEFT}" y="{height - 2}">composite ({board.rubric_id},'
        f" {low:g}..{high:g}), 95% intervals</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)
