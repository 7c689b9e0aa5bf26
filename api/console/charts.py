"""What the console draws and compares: inline SVG made here (no chart service, no script)."""

from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

WIDTH, HEIGHT, PAD = 640, 220, 32
SERIES = (("stored", "#2b6cb0"), ("skipped", "#b7791f"), ("rejected", "#c53030"))


def monthly_bars(months: list[dict[str, Any]]) -> Markup:
    """Grouped bars per month: stored, skipped and rejected messages."""
    if not months:
        return Markup('<p class="empty">No batch recorded yet.</p>')
    top = max(max(m[name] for name, _ in SERIES) for m in months) or 1
    slot = (WIDTH - 2 * PAD) / len(months)
    bar = max(slot / (len(SERIES) + 1), 2)
    parts = []
    for i, month in enumerate(months):
        x0 = PAD + i * slot
        for j, (name, colour) in enumerate(SERIES):
            h = (HEIGHT - 2 * PAD) * month[name] / top
            x, y = x0 + j * bar, HEIGHT - PAD - h
            label = escape(f"{month['month']}: {month[name]} {name}")
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{label}</title></rect>"
            )
        parts.append(f'<text x="{x0:.1f}" y="{HEIGHT - 10}" font-size="10">{escape(month["month"])}</text>')
    legend = "".join(
        f'<text x="{PAD + k * 90}" y="14" font-size="11" fill="{colour}">{name}</text>'
        for k, (name, colour) in enumerate(SERIES)
    )
    return _svg("Messages per month: stored, skipped and rejected", legend + "".join(parts))


def line(points: list[tuple[str, float]], what: str) -> Markup:
    """A line over labelled points (e.g. a score per month, 0 to 100)."""
    top = max((v for _, v in points), default=0) or 1
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)
    xy = [(PAD + i * step, HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top) for i, (_, v) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2b6cb0"><title>{escape(f"{label}: {v:.1f}")}</title></circle>'
        f'<text x="{x - 14:.1f}" y="{HEIGHT - 10}" font-size="9">{escape(label)}</text>'
        for (x, y), (label, v) in zip(xy, points, strict=True)
    )
    body = f'<polyline points="{path}" fill="none" stroke="#2b6cb0" stroke-width="2"/>' + dots
    return _svg(f"{what.capitalize()} over time", body)


def _svg(title: str, body: str) -> Markup:
    return Markup(
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )


def compare(then: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per kind, the rows seen then and now side by side: each marked as in both, only then
    (gone since) or only now (new since)."""
    out: dict[str, Any] = {}
    for kind in ("people", "companies", "emails"):
        before, after = then[kind], now[kind]
        out[kind] = {
            "then": [(row, "same" if key in after else "gone") for key, row in before.items()],
            "now": [(row, "same" if key in before else "new") for key, row in after.items()],
        }
    return out
