"""Inline SVG line charts: axes with ticks, a title, a legend, one polyline per series and
optional vertical markers (e.g. ProGAN's phase changes). No plotting library: the page
must be one self-contained file, and a chart is a few hundred bytes of text.

Geometry: the plot area is the rectangle [left, left + plot_width] x [top, top +
plot_height] inside a width x height canvas. A data point (x, y) is drawn at
    px = left + (x - x0) / (x1 - x0) * plot_width
    py = top + plot_height - (y - y0) / (y1 - y0) * plot_height
where [x0, x1] and [y0, y1] are the axis domains: the data's range widened to round tick
values (`nice_ticks`), or given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

# Colour-blind-safe (Okabe-Ito), cycled over the series.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
MAX_POINTS = 800  # a longer series is thinned (every k-th point, the last one kept)


@dataclass(frozen=True)
class Series:
    """One line: y against x (equal lengths; NaN and inf points are skipped)."""

    name: str
    x: tuple[float, ...]
    y: tuple[float, ...]


@dataclass(frozen=True)
class Chart:
    """What to draw: the series, their labels, and vertical markers (x, label)."""

    title: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    markers: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class Frame:
    """The canvas and its plot area, in pixels."""

    width: int = 400
    height: int = 250
    left: int = 56
    right: int = 12
    top: int = 28
    bottom: int = 40
    legend: int = 18  # a row under the x label

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom - self.legend


@dataclass(frozen=True)
class Scale:
    """A linear map of the domain [lo, hi] onto pixels [start, stop] (stop < start for a
    y axis, whose pixels grow downwards)."""

    lo: float
    hi: float
    start: float
    stop: float
    ticks: tuple[float, ...] = field(default=())

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        share = (value - self.lo) / span if span else 0.5
        return self.start + share * (self.stop - self.start)


def nice_ticks(lo: float, hi: float, count: int = 5) -> tuple[float, ...]:
    """Round tick values (steps of 1, 2 or 5 x 10^k) covering [lo, hi], about `count` of
    them; the first is <= lo and the last >= hi."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return (0.0, 1.0)
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:  # a flat series: one unit (or a tenth of its size) either side
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))

    def span(step: float) -> tuple[float, float, int]:
        first = math.floor(lo / step + 1e-9) * step
        last = math.ceil(hi / step - 1e-9) * step
        return first, last, round((last - first) / step)

    # the 1-2-5 step whose tick count is nearest `count` (on a tie, the fewer ticks)
    step = min(
        (m * magnitude for m in (1, 2, 5, 10)),
        key=lambda s: (abs(span(s)[2] + 1 - count), -s),
    )
    first, _, n = span(step)
    # rounded to the step's decimals, so 0.1 + 0.2 shows as 0.3
    digits = max(0, -math.floor(math.log10(step)) + 1)
    return tuple(round(first + i * step, digits) for i in range(n + 1))


def _finite(series: Sequence[Series]) -> list[tuple[Series, list[tuple[float, float]]]]:
    kept = []
    for s in series:
        points = [
            (float(x), float(y))
            for x, y in zip(s.x, s.y, strict=True)
            if math.isfinite(x) and math.isfinite(y)
        ]
        kept.append((s, _thin(points)))
    return kept


def _thin(points: list[tuple[float, float]], limit: int = MAX_POINTS) -> list:
    if len(points) <= limit:
        return points
    stride = math.ceil(len(points) / limit)
    thinned = points[::stride]
    return thinned if thinned[-1] == points[-1] else [*thinned, points[-1]]


def scales(
    chart: Chart,
    frame: Frame = Frame(),
    x_domain: tuple[float, float] | None = None,
    y_domain: tuple[float, float] | None = None,
) -> tuple[Scale, Scale]:
    """The x and y scales of `chart` in `frame`: the given domains, or the data's range
    (markers included on x) widened to nice ticks."""
    points = [p for _, ps in _finite(chart.series) for p in ps]
    xs = [p[0] for p in points] + [m[0] for m in chart.markers if math.isfinite(m[0])]
    ys = [p[1] for p in points]

    def axis(values, domain):
        if domain is not None:
            return float(domain[0]), float(domain[1]), nice_ticks(*domain)
        ticks = nice_ticks(min(values), max(values)) if values else (0.0, 1.0)
        return ticks[0], ticks[-1], ticks

    x0, x1, xt = axis(xs, x_domain)
    y0, y1, yt = axis(ys, y_domain)
    x_ticks = tuple(t for t in xt if x0 <= t <= x1)
    y_ticks = tuple(t for t in yt if y0 <= t <= y1)
    bottom = frame.top + frame.plot_height
    return (
        Scale(x0, x1, frame.left, frame.left + frame.plot_width, x_ticks),
        Scale(y0, y1, bottom, frame.top, y_ticks),
    )


def polyline_points(points: Sequence[tuple[float, float]], x: Scale, y: Scale) -> str:
    """The `points` attribute of an SVG polyline: "px,py px,py ..." (2 decimals)."""
    return " ".join(f"{x(a):.2f},{y(b):.2f}" for a, b in points)


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.2g}"


def line_chart(
    chart: Chart,
    frame: Frame = Frame(),
    x_domain: tuple[float, float] | None = None,
    y_domain: tuple[float, float] | None = None,
) -> str:
    """`chart` as an <svg> element (a string). Empty series draw an empty frame that says
    so, so a model without a curve still gets its chart's place."""
    x, y = scales(chart, frame, x_domain, y_domain)
    lines = _finite(chart.series)
    w, h = frame.width, frame.height
    plot_bottom = frame.top + frame.plot_height
    title = escape(chart.title)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img" aria-label="{title}">',
        f"<title>{title}</title>",
        f'<text x="{w / 2:.1f}" y="16" text-anchor="middle" class="chart-title">{title}</text>',
        # axes
        f'<line x1="{frame.left}" y1="{plot_bottom}" x2="{frame.left + frame.plot_width}" '
        f'y2="{plot_bottom}" class="axis"/>',
        f'<line x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{plot_bottom}" '
        'class="axis"/>',
    ]
    for t in x.ticks:
        px = x(t)
        parts.append(
            f'<line x1="{px:.2f}" y1="{plot_bottom}" x2="{px:.2f}" y2="{plot_bottom + 4}" '
            f'class="tick"/><text x="{px:.2f}" y="{plot_bottom + 15}" text-anchor="middle" '
            f'class="tick-label">{_label(t)}</text>'
        )
    for t in y.ticks:
        py = y(t)
        parts.append(
            f'<line x1="{frame.left - 4}" y1="{py:.2f}" x2="{frame.left + frame.plot_width}" '
            f'y2="{py:.2f}" class="grid"/><text x="{frame.left - 6}" y="{py + 3:.2f}" '
            f'text-anchor="end" class="tick-label">{_label(t)}</text>'
        )
    parts.append(
        f'<text x="{frame.left + frame.plot_width / 2:.1f}" y="{plot_bottom + 30}" '
        f'text-anchor="middle" class="axis-label">{escape(chart.x_label)}</text>'
        f'<text transform="translate(12,{frame.top + frame.plot_height / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" class="axis-label">{escape(chart.y_label)}</text>'
    )
    shown = [(at, label) for at, label in chart.markers if math.isfinite(at) and x.lo <= at <= x.hi]
    for i, (at, label) in enumerate(shown):
        px = x(at)
        row = frame.top + 9 + 10 * (i % 2)  # alternate rows: close markers' labels both show
        parts.append(
            f'<line x1="{px:.2f}" y1="{frame.top}" x2="{px:.2f}" y2="{plot_bottom}" '
            f'class="marker"><title>{escape(label)}</title></line>'
            f'<text x="{px + 2:.2f}" y="{row}" class="marker-label">{escape(label)}</text>'
        )
    legend_x = frame.left
    legend_y = h - 6
    for i, (s, points) in enumerate(lines):
        colour = PALETTE[i % len(PALETTE)]
        if points:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                f'data-series="{escape(s.name)}" points="{polyline_points(points, x, y)}"/>'
            )
        parts.append(
            f'<rect x="{legend_x}" y="{legend_y - 8}" width="10" height="10" '
            f'fill="{colour}"/><text x="{legend_x + 14}" y="{legend_y + 1}" '
            f'class="legend">{escape(s.name)}</text>'
        )
        legend_x += 24 + 7 * len(s.name)
    if not any(points for _, points in lines):
        parts.append(
            f'<text x="{w / 2:.1f}" y="{frame.top + frame.plot_height / 2:.1f}" '
            'text-anchor="middle" class="empty">no data</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
