"""Charts for documents, drawn from plain figure specs (dicts of numbers and labels).

* ``hbar``: horizontal bars as inline SVG, one ``<title>`` per bar so the exact
  value shows on hover in a browser; vector, so it prints sharply.
* ``calibration``, ``dependence``, ``roc``: matplotlib (Agg, no pyplot state)
  saved as PNG with ``metadata={'Software': None}`` so the bytes are the same
  on every run, embedded as ``data:`` URIs.

Every chart carries alt text (``spec["alt"]``). Colours are the Okabe-Ito
palette (distinguishable with common colour-vision deficiencies); lines also
differ by marker.
"""

from __future__ import annotations

import base64
import html
import io
import math

from markupsafe import Markup

PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]

__all__ = ["render_figure", "hbar_svg", "PALETTE", "HBAR_MAX_ROWS"]

# Bars per SVG: a longer bar chart is drawn as several parts, each of which fits a page's
# content box (20 px per bar; 30 bars + axis is about 170 mm, less than any page body).
HBAR_MAX_ROWS = 30
# The SVG's width in CSS px (690 px = 182.6 mm): inside the audit page's 183.9 mm content box;
# the templates also cap it at 100% of the box.


def _e(s) -> str:
    return html.escape(str(s), quote=True)


def hbar_svg(spec: dict) -> Markup:
    """Inline SVG of horizontal bars: ``spec = {"items": [{"label", "value", "err"?, "text"?}], "xlabel", "alt"}``.

    Returns markup whose every data string is escaped.
    """
    items = spec["items"]
    label_w, bar_w, row_h, top, bottom = 290, 330, 20, 8, 34
    width = label_w + bar_w + 70
    height = top + row_h * max(len(items), 1) + bottom
    vals = [abs(it["value"]) + abs(it.get("err") or 0.0) for it in items if not _nan(it["value"])]
    vmin = min([0.0] + [it["value"] - (it.get("err") or 0.0) for it in items if not _nan(it["value"])])
    vmax = max(vals) if vals else 1.0
    if spec.get("_range") is not None:       # a part of a longer chart: the whole chart's scale
        vmin, vmax = spec["_range"]
    vmax = vmax if vmax > 0 else 1.0
    span = vmax - vmin if vmax > vmin else 1.0
    x0 = label_w + bar_w * (-vmin / span)

    def sx(v):
        return label_w + bar_w * ((v - vmin) / span)

    alt = _e(spec.get("alt", ""))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{alt}" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
           f"<title>{alt}</title>"]
    color = spec.get("color", PALETTE[0])
    for i, it in enumerate(items):
        y = top + i * row_h
        v = it["value"]
        text = it.get("text") or ("n/a" if _nan(v) else f"{v:.4g}")
        tip = _e(it.get("title") or f"{it['label']}: {text}")
        out.append(f'<g><title>{tip}</title>')
        out.append(f'<text x="{label_w - 6}" y="{y + row_h * 0.68:.1f}" text-anchor="end">{_e(_short(it["label"], 40))}</text>')
        if not _nan(v):
            a, b = sorted((x0, sx(v)))
            c = it.get("color") or color
            out.append(f'<rect x="{a:.1f}" y="{y + 3}" width="{max(b - a, 0.8):.1f}" height="{row_h - 6}" fill="{_e(c)}"/>')
            err = it.get("err")
            if err:
                e0, e1 = sx(v - err), sx(v + err)
                yc = y + row_h / 2
                out.append(f'<path d="M{e0:.1f},{yc:.1f}H{e1:.1f}M{e0:.1f},{yc - 4:.1f}v8M{e1:.1f},{yc - 4:.1f}v8" stroke="#222" stroke-width="1" fill="none"/>')
            out.append(f'<text x="{max(a, b) + 4 + (sx(v + err) - sx(v) if err else 0):.1f}" y="{y + row_h * 0.68:.1f}" fill="#222">{_e(text)}</text>')
        else:
            out.append(f'<text x="{x0 + 4:.1f}" y="{y + row_h * 0.68:.1f}" fill="#555">{_e(text)}</text>')
        out.append("</g>")
    axis_y = top + row_h * len(items) + 2
    out.append(f'<path d="M{label_w},{axis_y}H{label_w + bar_w}M{x0:.1f},{top}V{axis_y}" stroke="#444" stroke-width="1"/>')
    for t in _ticks(vmin, vmax):
        out.append(f'<path d="M{sx(t):.1f},{axis_y}v4" stroke="#444"/>'
                   f'<text x="{sx(t):.1f}" y="{axis_y + 15}" text-anchor="middle" font-size="9.5">{_e(_tick_text(t))}</text>')
    if spec.get("threshold") is not None:
        tx = sx(spec["threshold"])
        out.append(f'<path d="M{tx:.1f},{top}V{axis_y}" stroke="#D55E00" stroke-dasharray="4,3" stroke-width="1.2"/>')
    out.append(f'<text x="{label_w + bar_w / 2}" y="{height - 3}" text-anchor="middle" font-size="10">{_e(spec.get("xlabel", ""))}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _short(s: str, n: int) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 1] + "…"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    out, t = [], start
    while t <= hi + 1e-12:
        out.append(round(t, 12))
        t += step
    return out


def _tick_text(t: float) -> str:
    return f"{t:.3g}" if t != 0 else "0"


# -- matplotlib ------------------------------------------------------------------
def _figure(w=6.4, h=3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=200)
    FigureCanvasAgg(fig)
    return fig


def _png_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=200, metadata={"Software": None}, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style(ax):
    ax.tick_params(labelsize=8)
    ax.grid(True, color="#ddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)


def calibration_png(spec: dict) -> str:
    """Reliability diagram: observed rate against mean predicted probability, one line per series."""
    import matplotlib

    with matplotlib.rc_context({"font.size": 8, "font.family": "DejaVu Sans"}):
        fig = _figure(3.6, 3.3)
        ax = fig.add_subplot(1, 1, 1)
        ax.plot([0, 1], [0, 1], color="#888", linestyle="--", linewidth=0.9, label="perfect calibration")
        for i, s in enumerate(spec["series"]):
            xs = [b["mean_predicted"] for b in s["bins"]]
            ys = [b["observed_rate"] for b in s["bins"]]
            ax.plot(xs, ys, color=PALETTE[i % len(PALETTE)], marker=MARKERS[i % len(MARKERS)], markersize=3.5,
                    linewidth=1.3, label=s["label"])
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel(spec.get("xlabel", "mean predicted probability"), fontsize=8.5)
        ax.set_ylabel(spec.get("ylabel", "observed rate"), fontsize=8.5)
        _style(ax)
        ax.legend(fontsize=6.3, frameon=False, loc="upper left", handlelength=1.6)
        return _png_uri(fig)


def roc_png(spec: dict) -> str:
    """ROC curves, one per series (``{"label", "fpr": [...], "tpr": [...]}``)."""
    import matplotlib

    with matplotlib.rc_context({"font.size": 8, "font.family": "DejaVu Sans"}):
        fig = _figure(3.6, 3.3)
        ax = fig.add_subplot(1, 1, 1)
        ax.plot([0, 1], [0, 1], color="#888", linestyle="--", linewidth=0.9, label="chance")
        for i, s in enumerate(spec["series"]):
            ax.plot(s["fpr"], s["tpr"], color=PALETTE[i % len(PALETTE)], linewidth=1.3,
                    linestyle=["-", "--", "-.", ":"][i % 4], label=s["label"])
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("false positive rate", fontsize=8.5)
        ax.set_ylabel("true positive rate", fontsize=8.5)
        _style(ax)
        ax.legend(fontsize=6.3, frameon=False, loc="lower right", handlelength=1.6)
        return _png_uri(fig)


def dependence_png(spec: dict) -> str:
    """Attribution of one feature against its value (``{"x", "y", "categories"?, "xlabel", "ylabel"}``)."""
    import matplotlib
    import numpy as np

    with matplotlib.rc_context({"font.size": 8, "font.family": "DejaVu Sans"}):
        fig = _figure(3.3, 2.6)
        ax = fig.add_subplot(1, 1, 1)
        x = np.asarray(spec["x"], dtype=float)
        y = np.asarray(spec["y"], dtype=float)
        cats = spec.get("categories")
        if cats:
            rng = np.random.default_rng(0)
            xj = x + rng.uniform(-0.18, 0.18, size=len(x))
            ax.scatter(xj, y, s=3, alpha=0.35, color=PALETTE[0], linewidths=0, rasterized=True)
            ax.set_xticks(range(len(cats)))
            ax.set_xticklabels([_short(c, 12) for c in cats], fontsize=7, rotation=0 if len(cats) <= 4 else 30)
        else:
            ax.scatter(x, y, s=3, alpha=0.35, color=PALETTE[0], linewidths=0, rasterized=True)
        ax.axhline(0, color="#666", linewidth=0.7)
        ax.set_xlabel(_short(spec.get("xlabel", ""), 40), fontsize=8)
        ax.set_ylabel(spec.get("ylabel", "attribution"), fontsize=8)
        _style(ax)
        return _png_uri(fig)


_RENDERERS = {"calibration": calibration_png, "roc": roc_png, "dependence": dependence_png}


def render_figure(spec: dict) -> dict:
    """Turn a figure spec into what a template embeds.

    Returns:
        ``{"kind": "svg", "svg": Markup, "alt"}`` for ``hbar`` specs, else
        ``{"kind": "img", "src": "data:image/png;base64,...", "alt"}``.
    """
    kind = spec["type"]
    if kind == "hbar":
        items = spec["items"]
        if len(items) <= HBAR_MAX_ROWS:
            return {"kind": "svg", "svg": hbar_svg(spec), "alt": spec.get("alt", ""), "parts": 1}
        # one shared scale, split into parts that each fit a page
        vals = [it["value"] for it in items if not _nan(it["value"])]
        errs = [abs(it.get("err") or 0.0) for it in items if not _nan(it["value"])]
        parts = []
        for k in range(0, len(items), HBAR_MAX_ROWS):
            part = dict(spec, items=items[k:k + HBAR_MAX_ROWS],
                        alt=f"{spec.get('alt', '')} (part {k // HBAR_MAX_ROWS + 1})",
                        _range=(min([0.0] + [v - e for v, e in zip(vals, errs)]),
                                max([abs(v) + e for v, e in zip(vals, errs)] or [1.0])))
            parts.append(Markup('<div class="chart-part">') + hbar_svg(part) + Markup("</div>"))
        return {"kind": "svg", "svg": Markup("").join(parts), "alt": spec.get("alt", ""), "parts": len(parts)}
    try:
        fn = _RENDERERS[kind]
    except KeyError:
        raise ValueError(f"unknown figure type {kind!r}") from None
    return {"kind": "img", "src": fn(spec), "alt": spec.get("alt", "")}
