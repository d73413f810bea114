"""A small SVG chart of records and failures over a DAG's last runs, drawn on the server (no script, no fetch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 300
HEIGHT = 64
BAR_AREA = 50
"""Height of the bars; a strip for each run's state goes below them."""
STATE_COLOURS = {
    "success": "#2e9e44",
    "failed": "#d03535",
    "running": "#2f7fd1",
    "queued": "#8a8a8a",
}


@dataclass(frozen=True)
class Point:
    """One run: its id, state, records and failures (None when unknown: no ingestion XCom)."""

    run_id: str
    state: str | None
    records: int | None
    failures: int | None


def runs_chart(
    points: Sequence[Point], *, slots: int = 30, title: str = "records and failures of the last runs"
) -> str:
    """An inline SVG: one bar per run (oldest left, newest at the right edge), records in blue, failures in red
    in front, the run's state below.

    There is room for ``slots`` runs (more make the bars narrower); bars share one scale (the largest of
    records and failures); each has a tooltip naming the run.
    """
    slots = max(len(points), slots, 1)
    first = slots - len(points)
    slot = WIDTH / slots
    bar = max(slot * 0.7, 1.0)
    peak = max([point.records or 0 for point in points] + [point.failures or 0 for point in points] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="0" y1="{BAR_AREA + 0.5}" x2="{WIDTH}" y2="{BAR_AREA + 0.5}" class="axis"/>',
    ]
    if points:
        parts.append(f'<text x="2" y="9" class="peak">{peak:,}</text>')
    for index, point in enumerate(points):
        x = (first + index) * slot + (slot - bar) / 2
        tip = f"{point.run_id}: {point.state or 'unknown'}, " + (
            "no ingestion results"
            if point.records is None
            else f"{point.records:,} records, {point.failures or 0:,} failed"
        )
        parts.append(f"<g><title>{escape(tip)}</title>")
        if point.records:
            height = max(BAR_AREA * point.records / peak, 1.0)
            parts.append(
                f'<rect class="records" x="{x:.1f}" y="{BAR_AREA - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}"/>'
            )
        if point.failures:
            height = max(BAR_AREA * point.failures / peak, 1.5)
            parts.append(
                f'<rect class="failures" x="{x:.1f}" y="{BAR_AREA - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}"/>'
            )
        colour = STATE_COLOURS.get(point.state or "", "#b0b0b0")
        parts.append(
            f'<rect x="{x:.1f}" y="{BAR_AREA + 4}" width="{bar:.1f}" height="{HEIGHT - BAR_AREA - 6}" fill="{colour}"/>'
        )
        parts.append("</g>")
    if not points:
        parts.append(f'<text x="4" y="{BAR_AREA - 20}" class="empty">no runs yet</text>')
    parts.append("</svg>")
    return "".join(parts)
