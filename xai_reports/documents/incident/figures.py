"""Figures for the incident report: deterministic PNG bytes (matplotlib Agg, no Software tag).

Every figure function returns PNG bytes (a figure of several rows of panels: one PNG a row, so the page may
break between rows); the report embeds them as ``data:`` URIs
with alt text.
"""

from __future__ import annotations

import io

import numpy as np

from .scenes import ACTIONS

ACTION_COLOURS = {"continue": "#2b8a3e", "slow": "#e8a317", "brake": "#c92a2a"}
SIGNAL_COLOURS = {"speed_mps": "#1c7ed6", "distance_to_lead_m": "#5f3dc4", "ttc_s": "#d9480f",
                  "rel_velocity_mps": "#087f5b"}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 8, "svg.hashsalt": "xai-reports", "font.family": "DejaVu Sans"})
    return plt


def _png(fig) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, metadata={"Software": None}, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    return buf.getvalue()


def _png_rows(fig, rows) -> list[bytes]:
    """The figure cut into one PNG per row of panels (``rows``: the axes of each row, colour bars included).

    Every row spans the figure's whole width, so rows printed at the same width line up as in the whole
    figure and keep its scale (a row with one panel of two stays half as wide); the page may then break
    between two rows.
    """
    from matplotlib.transforms import Bbox

    plt = _plt()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [Bbox.union([a.get_tightbbox(renderer) for a in axes]) for axes in rows]
    pad = 0.05 * fig.dpi
    x0, x1 = 0.0, fig.bbox.width
    out = []
    for b in boxes:
        buf = io.BytesIO()
        inches = Bbox.from_extents(x0, b.y0 - pad, x1, b.y1 + pad).transformed(fig.dpi_scale_trans.inverted())
        fig.savefig(buf, format="png", dpi=120, metadata={"Software": None}, bbox_inches=inches)
        out.append(buf.getvalue())
    plt.close(fig)
    return out


def image_png(img: np.ndarray, scale: int = 3) -> bytes:
    """A frame as PNG, enlarged ``scale`` times with nearest-neighbour (pixels stay honest)."""
    from PIL import Image

    im = Image.fromarray(np.asarray(img, dtype=np.uint8))
    if scale != 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def timeline_rows(times, probs, *, recorded=None, events=(), signals=None) -> list[bytes]:
    """Decision probabilities over time (top) and speed / gap / TTC (bottom), events marked; one PNG a chart
    (as :func:`_png_rows`)."""
    plt = _plt()
    rows = 2 if signals is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(7.0, 2.2 * rows), sharex=True, squeeze=False)
    ax = axes[0, 0]
    for j, a in enumerate(ACTIONS):
        ax.plot(times, probs[:, j], color=ACTION_COLOURS[a], lw=1.6, label=f"P({a})")
    if recorded is not None:
        step = times[1] - times[0] if len(times) > 1 else 0.1
        start = 0
        for k in range(1, len(times) + 1):   # one bar per run of equal requests
            if k == len(times) or recorded[k] != recorded[start]:
                ax.broken_barh([(times[start], times[k - 1] - times[start] + step)], (-0.09, 0.04),
                               color=ACTION_COLOURS.get(recorded[start], "#888"))
                start = k
        ax.text(times[-1], -0.12, "bar: recorded ADS request", fontsize=6.5, va="top", ha="right")
    for e in events:
        ax.axvline(e["t_s"], color="#333", lw=0.7, ls=":")
    ax.set_ylim(-0.2, 1.02)
    ax.set_ylabel("decision probability")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7, ncol=3, frameon=False)
    ax.grid(alpha=0.25)
    if signals is not None:
        ax2 = axes[1, 0]
        ax2.plot(times, signals["speed_mps"], color=SIGNAL_COLOURS["speed_mps"], label="speed (m/s)")
        gap = np.where(signals["distance_to_lead_m"] >= 100, np.nan, signals["distance_to_lead_m"])
        ax2.plot(times, gap, color=SIGNAL_COLOURS["distance_to_lead_m"], label="gap to lead (m)")
        ttc = np.where(signals["ttc_s"] >= 10, np.nan, signals["ttc_s"])
        ax2.plot(times, ttc, color=SIGNAL_COLOURS["ttc_s"], label="time to collision (s)", ls="--")
        for e in events:
            ax2.axvline(e["t_s"], color="#333", lw=0.7, ls=":")
        ax2.set_ylabel("signal")
        ax2.legend(loc="upper right", fontsize=7, frameon=False)
        ax2.grid(alpha=0.25)
        ax2.set_xlabel("time t (s)")
    else:
        ax.set_xlabel("time t (s)")
    fig.tight_layout()
    return _png_rows(fig, [[a] for a in axes[:, 0]])


def planner_rows(times, p_brake, values, features, labels) -> list[bytes]:
    """Planner P(brake) (top) and each signal's TreeSHAP contribution in log-odds (bottom); one PNG a chart
    (as :func:`_png_rows`)."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7.0, 3.8), sharex=True)
    a1.plot(times, p_brake, color=ACTION_COLOURS["brake"], lw=1.6)
    a1.axhline(0.5, color="#555", lw=0.7, ls="--")
    a1.set_ylim(-0.02, 1.02)
    a1.set_ylabel("planner P(brake)")
    a1.grid(alpha=0.25)
    for j, f in enumerate(features):
        a2.plot(times, values[:, j], color=SIGNAL_COLOURS.get(f), lw=1.4, label=labels.get(f, f))
    a2.axhline(0, color="#555", lw=0.7)
    a2.set_ylabel("contribution (log-odds)")
    a2.set_xlabel("time t (s)")
    a2.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7, frameon=False, ncol=4)  # above: never over a line
    a2.grid(alpha=0.25)
    fig.tight_layout()
    return _png_rows(fig, [[a1], [a2]])


def _boxes(ax, objects, highlight=None):
    """Ground-truth boxes with their ids; labels of nearby boxes are staggered (:func:`label_slots`)."""
    import matplotlib.patches as mpatches

    objects = list(objects)
    fontsize = 5.5
    slots = label_slots([o["box"] for o in objects], _label_sizes(ax, [o["id"] for o in objects], fontsize),
                        *_extent(ax))
    for o, (lx, ly) in zip(objects, slots):
        x0, y0, x1, y1 = o["box"]
        hl = o["id"] == highlight
        col = "#ff00ff" if hl else "#00e5ff"
        ax.add_patch(mpatches.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec=col, lw=1.4 if hl else 0.8))
        ax.text(lx, ly, o["id"], color=col, fontsize=fontsize, va="top", clip_on=True)


def _extent(ax) -> tuple[float, float]:
    x_lo, x_hi = sorted(ax.get_xlim())
    y_lo, y_hi = sorted(ax.get_ylim())
    return x_hi - x_lo, y_hi - y_lo


def _label_sizes(ax, labels, fontsize: float) -> list[tuple[float, float]]:
    """Approximate ``(w, h)`` in data pixels of each label at ``fontsize`` points in ``ax``."""
    w, h = _extent(ax)
    ext = ax.get_window_extent()
    # data pixels per typographic point (the image is fitted into the axes at equal aspect: the tighter side counts)
    px_per_pt = max(w / max(ext.width, 1.0), h / max(ext.height, 1.0)) * ax.figure.dpi / 72.0
    return [(len(t) * fontsize * 0.6 * px_per_pt + 1.0, fontsize * 1.25 * px_per_pt) for t in labels]


def label_slots(boxes, sizes, width: float, height: float) -> list[tuple[float, float]]:
    """Top-left corners for box labels that do not overlap one another and stay inside the image.

    Each label goes just below its box (``x0, y1``); when that place is taken by a label
    already placed, or leaves the image, it is tried one line lower, then above the box, line
    by line, then the same beside the labels already placed (nearest first); a label that
    finds no free place is clamped into the image.

    Args:
        boxes: ``[x0, y0, x1, y1]`` per label (pixels).
        sizes: ``(w, h)`` of each label, in pixels.
        width, height: the image's size in pixels.

    Examples::

        >>> label_slots([[0, 0, 10, 10]] * 2, [(8, 3)] * 2, 96, 64)
        [(-0.5, 10.5), (-0.5, 13.5)]
    """
    placed, out = [], []
    for (x0, y0, x1, y1), (w, h) in zip(boxes, sizes):
        x = min(max(x0 - 0.5, -0.5), max(-0.5, width - 0.5 - w))
        lines = int(height // max(h, 1e-9)) + 1
        tries = [y1 + 0.5 + k * h for k in range(lines)] + [y0 - 0.5 - h - k * h for k in range(lines)]
        xs = [x] + sorted({px + pw for px, _, pw, _ in placed} | {-0.5}, key=lambda v: abs(v - x))
        ok = [(xx, y) for xx in xs for y in tries if -0.5 <= y and y + h <= height - 0.5 and xx + w <= width - 0.5
              and not any(xx < px + pw and px < xx + w and y < py + ph and py < y + h for px, py, pw, ph in placed)]
        x, y = ok[0] if ok else (x, min(max(y1 + 0.5, -0.5), height - 0.5 - h))
        placed.append((x, y, w, h))
        out.append((float(x), float(y)))
    return out


def _detections(ax, detections, target=None):
    """The ADS's (or the team detector's) own detections: dashed boxes labelled with class and confidence;
    labels of overlapping boxes are staggered (:func:`label_slots`), never printed over one another."""
    import matplotlib.patches as mpatches

    dets = list(detections or [])
    labels = [f"{d.get('class', 'object')}".replace("_", " ") + ("" if d.get("score") is None else f" {d['score']:.2f}")
              for d in dets]
    slots = label_slots([d["box"] for d in dets], _label_sizes(ax, labels, 6.5), *_extent(ax))
    for d, label, (lx, ly) in zip(dets, labels, slots):
        x0, y0, x1, y1 = d["box"]
        hit = target is not None and list(d["box"]) == list(target["box"]) and d.get("label") == target.get("label")
        col = "#ffd43b" if hit else "#fcc2d7"
        ax.add_patch(mpatches.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec=col, lw=1.6 if hit else 1.0,
                                        ls="--"))
        ax.text(lx, ly, label, color="#111", fontsize=6.5, va="top", clip_on=True,
                bbox={"boxstyle": "square,pad=0.1", "fc": col, "ec": "none", "alpha": 0.9})


def _heat_panels(fig, axes, image, maps, draw) -> list:
    """Each map over the dimmed frame with its own colour bar (fraction of that map's maximum, max printed);
    returns the colour bars' axes."""
    bars = []
    for ax, (name, m) in zip(axes, maps.items()):
        ax.imshow((np.asarray(image, float) * 0.45).astype(np.uint8), interpolation="nearest")
        top = float(m.max())
        im = ax.imshow(m / top if top > 0 else m, cmap="inferno", alpha=0.65, vmin=0, vmax=1, interpolation="bilinear")
        draw(ax)
        ax.set_title(name, fontsize=8)
        cb = fig.colorbar(im, ax=ax, fraction=0.035, pad=0.02, ticks=[0, 0.25, 0.5, 0.75, 1.0])
        cb.ax.tick_params(labelsize=6.5)
        cb.set_label(f"share of max ({top:.2g})" if top > 0 else "no positive evidence (map is 0)", fontsize=6.5)
        bars.append(cb.ax)
    return bars


def _grid(n):
    plt = _plt()
    cols = 2                      # even a lone panel (a detector frame without maps) stays half the page wide
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.7 * rows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[n:]:
        ax.axis("off")
    return fig, axes


def _panel_rows(fig, axes, bars) -> list[bytes]:
    """PNG rows of a :func:`_grid` of panels (the first panel has no colour bar, each other one has one)."""
    cols = 2
    used = [[ax] for ax in axes[:1 + len(bars)]]
    for group, bar in zip(used[1:], bars):
        group.append(bar)
    return _png_rows(fig, [sum(used[i:i + cols], []) for i in range(0, len(used), cols)])


def key_frame_rows(image, maps: dict, objects, *, highlight=None, detections=None) -> list[bytes]:
    """The frame with ground-truth boxes (and the ADS's logged detections with confidence), then each
    method's map over a dimmed frame with a colour bar; two panels a row, so a frame is ~half the page wide.

    Returns one PNG per row of two panels (all of the same width), so that a page may break between rows.
    """
    fig, axes = _grid(1 + len(maps))
    axes[0].imshow(image, interpolation="nearest")
    _boxes(axes[0], objects, highlight)
    _detections(axes[0], detections)
    axes[0].set_title("frame + ground truth" + (" + ADS detections (dashed)" if detections else ""), fontsize=8)
    bars = _heat_panels(fig, axes[1:], image, maps, lambda ax: _boxes(ax, objects, highlight))
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return _panel_rows(fig, axes, bars)


def detection_rows(image, detections, maps: dict, target) -> list[bytes]:
    """The team detector's detections with confidence (the explained one in yellow), then each
    attribution of that detection with a colour bar; one PNG per row of two panels (as :func:`key_frame_rows`)."""
    fig, axes = _grid(1 + len(maps))
    axes[0].imshow(image, interpolation="nearest")
    _detections(axes[0], detections, target)
    axes[0].set_title("frame + the detector's detections", fontsize=8)
    bars = _heat_panels(fig, axes[1:], image, maps, lambda ax: _detections(ax, [target] if target else [], target))
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return _panel_rows(fig, axes, bars)


def occlusion_png(original, removed, moved, results: dict) -> bytes:
    """Original / object removed / object moved, each titled with the model's decision."""
    plt = _plt()
    panels = [("original", original, results["original"]), ("object removed", removed, results["removed"])]
    if moved is not None and results.get("moved"):
        panels.append(("object moved aside", moved, results["moved"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.0))
    for ax, (title, img, r) in zip(np.atleast_1d(axes), panels):
        ax.imshow(img, interpolation="nearest")
        p = r["probabilities"][r["decision"]]
        ax.set_title(f"{title}:\n{r['decision']} ({p:.2f})", fontsize=8,
                     color=ACTION_COLOURS.get(r["decision"], "#000"))
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return _png(fig)


__all__ = ["label_slots", "timeline_rows", "planner_rows", "key_frame_rows", "detection_rows", "occlusion_png", "image_png", "ACTION_COLOURS"]
