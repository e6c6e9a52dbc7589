"""Small deterministic PNG charts for case-review sheets (matplotlib, Agg)."""

from __future__ import annotations

import numpy as np

from .evidence import _figure, _png


def probability_png(p: float, interval, threshold: float, *, positive: str = "malignant") -> bytes:
    """A 0-1 scale with the calibrated probability, its interval and the operating threshold.

    Examples::

        >>> png = probability_png(0.82, (0.74, 0.88), 0.3)
        >>> png[:4]
        b'\\x89PNG'
    """
    fig = _figure(5.2, 0.95)
    ax = fig.add_axes([0.04, 0.45, 0.92, 0.3])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axvspan(0, threshold, color="#dfe8f1")
    ax.axvspan(threshold, 1, color="#f6dede")
    lo, hi = interval
    ax.plot([lo, hi], [0.5, 0.5], color="#111", lw=2.2, solid_capstyle="butt")
    ax.plot([lo, lo], [0.3, 0.7], color="#111", lw=1.2)
    ax.plot([hi, hi], [0.3, 0.7], color="#111", lw=1.2)
    ax.plot([p], [0.5], marker="D", color="#111", ms=6)
    ax.axvline(threshold, color="#8a1c1c", lw=1.5, ls="--")
    ax.set_yticks([])
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xticklabels(["0", "0.25", "0.5", "0.75", "1"], fontsize=7)
    ax.text(threshold, 1.08, f"threshold {threshold:g}", fontsize=7, ha="center", va="bottom", color="#8a1c1c",
            transform=ax.transData)
    ax.set_xlabel(f"calibrated probability of {positive} (diamond) and uncertainty interval (bar)", fontsize=7)
    return _png(fig)


def contributions_png(items: list[dict], *, positive: str = "malignant", axis: str | None = None) -> bytes:
    """Horizontal bars of the top contributions, red towards ``positive``, blue away; ``axis`` labels the
    x axis (default: contributions to the log-odds, TreeSHAP)."""
    import textwrap

    n = max(len(items), 1)
    h = 0.6 + 0.42 * n
    fig = _figure(5.6, h)
    ax = fig.add_axes([0.45, 0.5 / h, 0.52, 1 - 0.6 / h])
    labels = [textwrap.fill(it["label"], 34) for it in items][::-1]
    vals = np.array([it["contribution"] for it in items][::-1], dtype=float)
    colours = ["#b2182b" if v > 0 else "#2166ac" for v in vals]
    ax.barh(np.arange(len(vals)), vals, color=colours, height=0.6)
    ax.axvline(0, color="#333", lw=0.8)
    ax.set_yticks(np.arange(len(vals)))
    ax.set_yticklabels(labels, fontsize=6.5, linespacing=0.95)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel(axis or f"contribution to the log-odds of {positive} (TreeSHAP)", fontsize=7)
    m = float(np.abs(vals).max()) if len(vals) else 1.0
    ax.set_xlim(-1.15 * m, 1.15 * m)
    return _png(fig)


def class_probabilities_png(rows: list[dict], threshold: float | None = None) -> bytes:
    """Horizontal bars of each class's calibrated probability with its interval (whiskers); the predicted
    class(es) dark, the others light; a dashed line at ``threshold`` (multi-label models)."""
    import textwrap

    n = max(len(rows), 1)
    h = 0.55 + 0.3 * n
    fig = _figure(5.2, h)
    ax = fig.add_axes([0.3, 0.45 / h, 0.66, 1 - 0.55 / h])
    ys = np.arange(n)[::-1]
    for y, r in zip(ys, rows):
        ax.barh(y, r["probability"], color="#333" if r.get("predicted") else "#bbb", height=0.55)
        lo, hi = r["interval"]
        ax.plot([lo, hi], [y, y], color="#8a1c1c", lw=1.4)
    if threshold is not None:
        ax.axvline(threshold, color="#8a1c1c", lw=1.2, ls="--")
    ax.set_xlim(0, 1)
    ax.set_yticks(ys)
    ax.set_yticklabels([textwrap.shorten(r["class"], 28) for r in rows], fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("calibrated probability (bar) and interval (line)"
                  + (f"; threshold {threshold:g} (dashed)" if threshold is not None else ""), fontsize=7)
    return _png(fig)


__all__ = ["probability_png", "contributions_png", "class_probabilities_png"]
