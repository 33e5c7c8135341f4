"""Charts of the ORB indicators, written as SVG on the server (issue #17).

Why SVG written here rather than a chart library in the browser: the pages' policy forbids inline
scripts, a chart must read without JavaScript (an embed in a partner's page, a phone, a screen
reader), and the figures are few. Each function returns one ``<svg>`` element as text, ready to be
put in a page (``|safe``) or served alone:

- every text that comes from data (titles, labels, units) is escaped (``xml.sax.saxutils``);
- numbers are written the French way: a narrow no-break space between thousands, a decimal comma;
- ``role="img"`` with a ``<title>`` and a ``<desc>`` that says what the chart shows in words (the
  page also carries the table of values);
- a ``viewBox`` and no fixed size: the chart takes the width of its box, on a phone as on a screen;
- colours from the Okabe–Ito palette (series) and viridis (maps), both readable by colour-blind
  readers; the secret cells (a breakdown hiding a few observations of a sensitive taxon) are drawn
  hatched, with the legend « secret (espèce sensible) », never as a zero;
- no data: a short French message in place of the chart.

Pure module: no CKAN, no database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

__all__ = [
    "PALETTE",
    "SEQUENTIAL",
    "SECRET_LABEL",
    "EMPTY_MESSAGE",
    "Point",
    "Cell",
    "fr_number",
    "line_svg",
    "bar_svg",
    "maille_map_svg",
    "sparkline_svg",
    "parse_maille",
]

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")  # Okabe–Ito
SEQUENTIAL = ("#FDE725", "#5EC962", "#21918C", "#3B528B", "#440154")  # viridis, light (low) to dark (high)
SECRET_LABEL = "secret (espèce sensible)"
EMPTY_MESSAGE = "Aucune donnée à afficher pour cette sélection."
NNBSP = "\u202f"  # espace fine insécable: thousands separator
_FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\""
_MAILLE_RE = re.compile(r"(?:10kmL93)?E([0-9]{3})N([0-9]{3})\Z")


@dataclasses.dataclass(frozen=True)
class Point:
    """One value of a series: its category on the x axis (a year, a département…), its value
    (None: no value), and whether it is secret (value withheld)."""

    x: str
    value: float | None
    secret: bool = False


@dataclasses.dataclass(frozen=True)
class Cell:
    """One 10 km cell of a map: its INPN code (``10kmL93E074N695``), value, secret or not."""

    code: str
    value: float | None
    secret: bool = False


def fr_number(value: float | int | None, decimals: int | None = None) -> str:
    """12 345 or 12,5 (French): integers without decimals, others with ``decimals`` digits (1 by
    default, trailing zeros dropped); None → « — »."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if decimals is None:
        if float(value).is_integer():
            decimals = 0
        else:
            decimals = 1 if abs(value) >= 1 else 2
    text = f"{value:,.{decimals}f}"
    if decimals and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(",", NNBSP).replace(".", ",")


def parse_maille(code: str) -> tuple[int, int] | None:
    """(E, N) in 10 km units of an INPN 10 km Lambert-93 cell code (with or without ``10kmL93``)."""
    match = _MAILLE_RE.match((code or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


# --- building blocks ----------------------------------------------------------------------------


def _uid(kind: str, *parts) -> str:
    """An id prefix for the chart's <title>, <desc> and hatching pattern: several charts on one
    page need distinct ids; derived from the content so that the output is reproducible."""
    return f"sinp-{kind}-" + hashlib.sha1(repr(parts).encode("utf-8")).hexdigest()[:10]


def _open(uid: str, width: int, height: int, title: str, desc: str, css_class: str = "sinp-chart") -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class={quoteattr(css_class)} '
        f'role="img" aria-labelledby="{uid}-t {uid}-d" {_FONT} font-size="12">',
        f'<title id="{uid}-t">{escape(title)}</title>',
        f'<desc id="{uid}-d">{escape(desc)}</desc>',
    ]


def _hatch_defs(uid: str) -> str:
    return (
        f'<defs><pattern id="{uid}-h" patternUnits="userSpaceOnUse" width="6" height="6" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#555555" stroke-width="2"/></pattern></defs>'
    )


def _text(x: float, y: float, label: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(label)}</text>'


def _empty(kind: str, title: str, width: int = 640, height: int = 120) -> str:
    uid = _uid(kind, title, "empty", width)
    out = _open(uid, width, height, title, EMPTY_MESSAGE)
    out.append(f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="#f7f7f7" stroke="#cccccc"/>')
    out.append(_text(width / 2, height / 2 + 4, EMPTY_MESSAGE, "middle", ' fill="#333333" font-size="14"'))
    out.append("</svg>")
    return "".join(out)


def _nice_max(high: float, integers: bool = False) -> tuple[float, float]:
    """Top of the y axis and the step of its ticks (1, 2, 2.5 or 5 × 10^k, about 4 ticks); whole
    steps when the values are counts (no « 1,5 taxon »)."""
    if high <= 0:
        return 1.0, 1.0 if integers or high < 0 else 0.25
    raw = high / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if integers:
        step = max(1.0, float(math.ceil(step)))
    return step * math.ceil(high / step - 1e-9), step


def _series_of(series) -> dict[str, list[Point]]:
    """Accepts {name: [Point or (x, value[, secret])]} or a bare list (one series without a name)."""
    if not isinstance(series, Mapping):
        series = {"": series}
    out: dict[str, list[Point]] = {}
    for name, points in series.items():
        out[str(name)] = [p if isinstance(p, Point) else Point(str(p[0]), *p[1:]) for p in points]
    return out


def _categories(series: Mapping[str, Sequence[Point]]) -> list[str]:
    seen: dict[str, None] = {}
    for points in series.values():
        for p in points:
            seen.setdefault(p.x, None)
    return list(seen)


def _summary(series: Mapping[str, Sequence[Point]], unit: str) -> str:
    """The chart in words (its <desc>): range, last and highest value of each series."""
    parts = []
    for name, points in series.items():
        known = [p for p in points if p.value is not None and not p.secret]
        secret = sum(1 for p in points if p.secret)
        head = f"{name} : " if name else ""
        if not known:
            parts.append(f"{head}aucune valeur publiée" + (f" ({secret} secrète(s))" if secret else ""))
            continue
        top = max(known, key=lambda p: p.value)
        text = (
            f"{head}de {points[0].x} à {points[-1].x}, dernière valeur {fr_number(known[-1].value)} {unit} "
            f"({known[-1].x}), maximum {fr_number(top.value)} {unit} ({top.x})"
        )
        if secret:
            text += f", {secret} valeur(s) secrète(s) (espèce sensible)"
        parts.append(text)
    return " ; ".join(parts) + "."


def _legend(uid: str, names: Sequence[str], colours: Sequence[str], secret: bool, x: float, y: float, width: float):
    """Legend items in rows that wrap within ``width``; returns (svg parts, height used)."""
    items = [(n, f'fill="{c}"') for n, c in zip(names, colours, strict=False) if n]
    if secret:
        items.append((SECRET_LABEL, f'fill="url(#{uid}-h)" stroke="#555555"'))
    out, cx, cy = [], x, y
    for label, fill in items:
        w = 22 + 6.6 * len(label)
        if cx > x and cx + w > x + width:
            cx, cy = x, cy + 18
        out.append(f'<rect x="{cx:.1f}" y="{cy - 10:.1f}" width="12" height="12" {fill}/>')
        out.append(_text(cx + 16, cy, label))
        cx += w + 12
    return out, (cy - y + 18) if items else 0


def _axes(categories, top, step, unit, left, right, plot_top, plot_bottom) -> list[str]:
    out = []
    value = 0.0
    while value <= top + 1e-9:
        y = plot_bottom - (plot_bottom - plot_top) * value / top
        out.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        out.append(_text(left - 6, y + 4, fr_number(value), "end", ' fill="#333333"'))
        value += step
    out.append(_text(4, plot_top - 14, unit, extra=' fill="#333333" font-style="italic"') if unit else "")
    out.append(f'<line x1="{left}" x2="{right}" y1="{plot_bottom}" y2="{plot_bottom}" stroke="#666666"/>')
    n = len(categories)
    slot = (right - left) / max(n, 1)
    every = max(1, math.ceil(n / max(1, int((right - left) // 40))))  # about 40 px per label
    for i, cat in enumerate(categories):
        if i % every == 0 or i == n - 1 and n > 1 and (n - 1) % every > every / 2:
            label = cat if len(cat) <= 14 else cat[:13] + "…"
            out.append(_text(left + slot * (i + 0.5), plot_bottom + 16, label, "middle", ' fill="#333333"'))
    return out


# --- charts -------------------------------------------------------------------------------------


def line_svg(
    series: Mapping[str, Sequence[Point]] | Sequence[Point],
    *,
    title: str,
    unit: str = "",
    description: str = "",
    width: int = 640,
    height: int = 320,
) -> str:
    """A time series (one line per series; x = categories in order, e.g. years). A secret value
    breaks the line and is drawn as a hatched band at its year."""
    data = _series_of(series)
    categories = _categories(data)
    values = [p.value for ps in data.values() for p in ps if p.value is not None and not p.secret]
    if not categories or (not values and not any(p.secret for ps in data.values() for p in ps)):
        return _empty("line", title, width)
    uid = _uid("line", width, title, unit, sorted((k, tuple(v)) for k, v in data.items()))
    secret = any(p.secret for ps in data.values() for p in ps)
    names = list(data)
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
    legend, legend_h = _legend(uid, names, colours, secret, 12, 0, width - 24)
    left, right, plot_top = 64, width - 16, 28
    plot_bottom = height - 28 - legend_h
    top, step = _nice_max(max(values, default=0), _whole(values))
    out = _open(uid, width, height, title, description or _summary(data, unit))
    out.append(_hatch_defs(uid))
    out += _axes(categories, top, step, unit, left, right, plot_top, plot_bottom)
    slot = (right - left) / len(categories)
    position = {c: left + slot * (i + 0.5) for i, c in enumerate(categories)}

    def y_of(v: float) -> float:
        return plot_bottom - (plot_bottom - plot_top) * v / top

    for colour, (name, points) in zip(colours, data.items(), strict=True):
        for p in points:
            if p.secret:
                out.append(
                    f'<rect x="{position[p.x] - slot * 0.3:.1f}" y="{plot_top}" width="{slot * 0.6:.1f}" '
                    f'height="{plot_bottom - plot_top}" fill="url(#{uid}-h)" opacity="0.6">'
                    f"<title>{escape(f'{name} {p.x}'.strip())} : {SECRET_LABEL}</title></rect>"
                )
        runs: list[list[Point]] = [[]]
        for p in points:
            if p.value is None or p.secret:
                runs.append([])
            else:
                runs[-1].append(p)
        for run in runs:
            if len(run) > 1:
                coords = " ".join(f"{position[p.x]:.1f},{y_of(p.value):.1f}" for p in run)
                out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for p in points:
            if p.value is not None and not p.secret:
                label = f"{name} {p.x}".strip() + f" : {fr_number(p.value)} {unit}".rstrip()
                out.append(
                    f'<circle cx="{position[p.x]:.1f}" cy="{y_of(p.value):.1f}" r="3.5" fill="{colour}">'
                    f"<title>{escape(label)}</title></circle>"
                )
    out += _shift(legend, height - legend_h + 4)
    out.append("</svg>")
    return "".join(out)


def _shift(parts: list[str], dy: float) -> list[str]:
    """Legend parts drawn at y=0 moved down to ``dy`` (a <g> translate keeps the numbers simple)."""
    return [f'<g transform="translate(0 {dy:.1f})">', *parts, "</g>"] if parts else []


def bar_svg(
    series: Mapping[str, Sequence[Point]] | Sequence[Point],
    *,
    title: str,
    unit: str = "",
    stacked: bool = False,
    total: float | None = None,
    description: str = "",
    width: int = 640,
    height: int = 320,
) -> str:
    """Bars by category: one bar per category and series side by side (grouped), or piled
    (``stacked``, e.g. observations per validation level). A secret value is a hatched bar with no
    figure: grouped, a quarter of the plot high; stacked, on top of the known values of its pile,
    sharing what they leave of ``total`` (100 for shares that add up to 100 %), else a small
    fixed height — never drawn under a known value."""
    data = _series_of(series)
    categories = _categories(data)
    values = [p.value for ps in data.values() for p in ps if p.value is not None and not p.secret]
    secret = any(p.secret for ps in data.values() for p in ps)
    if not categories or (not values and not secret):
        return _empty("bar", title, width)
    uid = _uid("bar", width, title, unit, stacked, total, sorted((k, tuple(v)) for k, v in data.items()))
    names = list(data)
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
    legend, legend_h = _legend(uid, names, colours, secret, 12, 0, width - 24)
    left, right, plot_top = 64, width - 16, 28
    plot_bottom = height - 28 - legend_h
    if stacked:
        totals: dict[str, float] = {}
        for ps in data.values():
            for p in ps:
                if p.value is not None and not p.secret:
                    totals[p.x] = totals.get(p.x, 0.0) + p.value
        high = max([*totals.values(), total or 0], default=0)
    else:
        high = max(values, default=0)
    top, step = _nice_max(high, _whole(values))
    out = _open(uid, width, height, title, description or _summary(data, unit))
    out.append(_hatch_defs(uid))
    out += _axes(categories, top, step, unit, left, right, plot_top, plot_bottom)
    slot = (right - left) / len(categories)
    span = plot_bottom - plot_top
    index = {c: i for i, c in enumerate(categories)}
    base = {c: 0.0 for c in categories}  # stacked: the top of each pile, in values
    groups = 1 if stacked else len(names)
    bar_w = slot * 0.75 / groups
    secrets: list[tuple[float, str, str]] = []  # stacked: drawn once the known values are piled
    for s, (colour, (name, points)) in enumerate(zip(colours, data.items(), strict=True)):
        for p in points:
            x0 = left + slot * index[p.x] + slot * 0.125 + (0 if stacked else s * bar_w)
            who = f"{name} {p.x}".strip()
            if p.secret:
                if stacked:
                    secrets.append((x0, p.x, who))
                    continue
                h = span / 4
                out.append(_secret_bar(uid, x0, plot_bottom - h, bar_w, h, who))
                continue
            if p.value is None:
                continue
            h = span * p.value / top
            y = plot_bottom - (span * base[p.x] / top if stacked else 0) - h
            if stacked:
                base[p.x] += p.value
            label = f"{who} : {fr_number(p.value)} {unit}".rstrip()
            out.append(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(h, 0):.1f}" fill="{colour}">'
                f"<title>{escape(label)}</title></rect>"
            )
    known = dict(base)  # the piles of known values, before the secrets go on top
    for x0, category, who in secrets:
        n = sum(1 for _, c, _ in secrets if c == category)
        if total is not None and total > known[category]:
            h = span * (total - known[category]) / top / n
        else:
            h = min(span / 12, max(span * (1 - known[category] / top), 0) / n)
        pile_top = plot_bottom - span * base[category] / top
        out.append(_secret_bar(uid, x0, pile_top - h, bar_w, h, who))
        base[category] += h * top / span
    out += _shift(legend, height - legend_h + 4)
    out.append("</svg>")
    return "".join(out)


def _secret_bar(uid: str, x: float, y: float, w: float, h: float, who: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
        f'fill="url(#{uid}-h)" stroke="#555555"><title>{escape(who)} : {SECRET_LABEL}</title></rect>'
    )


def _whole(values: Iterable[float]) -> bool:
    return all(float(v).is_integer() for v in values)


def _classes(values: Sequence[float], n: int) -> list[float]:
    """Upper bounds of ``n`` classes of equal width between the smallest and largest value; whole
    bounds (fewer classes if need be) when the values are counts."""
    low, high = min(values), max(values)
    if high == low:
        return [high]
    bounds = [low + (high - low) * (i + 1) / n for i in range(n)]
    if _whole(values):
        bounds = sorted({float(math.floor(b + 1e-9)) for b in bounds} - {low - 1} | {float(high)})
        bounds = [b for b in bounds if b >= low]
    return bounds


def maille_map_svg(
    cells: Iterable[Cell] | Mapping[str, float | None],
    *,
    title: str,
    unit: str = "",
    grid: Iterable[str] = (),
    description: str = "",
    width: int = 640,
) -> str:
    """A map of 10 km cells (INPN Lambert-93 grid codes) placed by their code, coloured on a
    sequential scale (5 classes of equal width, legend below). ``grid``: every cell of the
    territory, drawn light grey when it has no value (so that the gaps show). Codes that are not
    cell codes are left out (and counted in the description)."""
    if isinstance(cells, Mapping):
        cells = [Cell(code, value) for code, value in cells.items()]
    placed = []
    skipped = 0
    for cell in cells:
        where = parse_maille(cell.code)
        if where is None:
            skipped += 1
        else:
            placed.append((where, cell))
    background = {w for w in (parse_maille(c) for c in grid) if w}
    known = [c.value for _, c in placed if c.value is not None and not c.secret]
    secret = any(c.secret for _, c in placed)
    if not placed or (not known and not secret):
        return _empty("map", title, width)
    uid = _uid("map", width, title, unit, sorted((c.code, c.value, c.secret) for _, c in placed))
    spots = background | {w for w, _ in placed}
    e0, e1 = min(e for e, _ in spots), max(e for e, _ in spots)
    n0, n1 = min(n for _, n in spots), max(n for _, n in spots)
    cols, rows = e1 - e0 + 1, n1 - n0 + 1
    margin = 12
    size = min((width - 2 * margin) / cols, 520 / rows)
    map_h = size * rows
    bounds = _classes(known, len(SEQUENTIAL)) if known else []
    labels = []
    low = min(known) if known else 0
    whole = _whole(known)
    for i, b in enumerate(bounds):
        start = low if i == 0 else bounds[i - 1] + (1 if whole else 0)
        labels.append(fr_number(b) if len(bounds) == 1 or start == b else f"{fr_number(start)} – {fr_number(b)}")
    last = len(SEQUENTIAL) - 1
    if len(bounds) > 1:  # spread over the whole scale, light to dark
        colours = tuple(SEQUENTIAL[round(i * last / (len(bounds) - 1))] for i in range(len(bounds)))
    else:
        colours = SEQUENTIAL[2:3]
    legend, legend_h = _legend(uid, labels, colours, secret, margin, 0, width - 2 * margin)
    height = int(margin + map_h + 14 + (18 if unit else 0) + legend_h + margin)
    desc = description or (
        f"Carte de {len(placed)} mailles de 10 km"
        + (f" : de {fr_number(min(known))} à {fr_number(max(known))} {unit}".rstrip() if known else "")
        + (f", {sum(1 for _, c in placed if c.secret)} maille(s) secrète(s) (espèce sensible)" if secret else "")
        + (f" ; {skipped} code(s) de maille non reconnu(s)" if skipped else "")
        + "."
    )
    out = _open(uid, width, height, title, desc, "sinp-chart sinp-chart-map")
    out.append(_hatch_defs(uid))
    x_off = (width - size * cols) / 2

    def square(e: int, n: int) -> tuple[float, float]:
        return x_off + (e - e0) * size, margin + (n1 - n) * size

    for e, n in sorted(background - {w for w, _ in placed}):
        x, y = square(e, n)
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{size:.1f}" height="{size:.1f}" fill="#eeeeee" stroke="#ffffff"/>'
        )
    for (e, n), cell in sorted(placed, key=lambda t: t[0]):
        x, y = square(e, n)
        code = f"10kmL93E{e:03d}N{n:03d}"
        if cell.secret:
            fill, label = f"url(#{uid}-h)", f"{code} : {SECRET_LABEL}"
        elif cell.value is None:
            fill, label = "#eeeeee", f"{code} : sans valeur"
        else:
            k = next((i for i, b in enumerate(bounds) if cell.value <= b + 1e-9), len(bounds) - 1)
            fill, label = colours[min(k, len(colours) - 1)], f"{code} : {fr_number(cell.value)} {unit}".rstrip()
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{size:.1f}" height="{size:.1f}" fill="{fill}" '
            f'stroke="#ffffff" stroke-width="0.5"><title>{escape(label)}</title></rect>'
        )
    y = margin + map_h + 14
    if unit:
        out.append(_text(margin, y, unit, extra=' fill="#333333" font-style="italic"'))
        y += 18
    out += _shift(legend, y)
    out.append("</svg>")
    return "".join(out)


def sparkline_svg(
    values: Sequence[float | None], *, title: str, width: int = 120, height: int = 32, colour: str = PALETTE[0]
) -> str:
    """A small line without axes (the list of indicators): the trend, the last point marked."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not known:
        return _empty("spark", title, width, height).replace('font-size="14"', 'font-size="6"')
    uid = _uid("spark", width, title, tuple(values))
    low, high = min(v for _, v in known), max(v for _, v in known)
    span = (high - low) or 1
    n = max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return 2 + (width - 4) * i / n, height - 3 - (height - 6) * (v - low) / span

    desc = f"Tendance : de {fr_number(known[0][1])} à {fr_number(known[-1][1])}."
    out = _open(uid, width, height, title, desc, "sinp-sparkline")
    coords = " ".join("{:.1f},{:.1f}".format(*xy(i, v)) for i, v in known)
    out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
    x, y = xy(*known[-1])
    out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
    out.append("</svg>")
    return "".join(out)
