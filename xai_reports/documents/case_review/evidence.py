"""Evidence maps for image models: attribution maps and their overlays.

The maps come from :func:`xai_reports.explain` (Grad-CAM, integrated
gradients, saliency, ... are implemented in :mod:`xai_reports.attribution`);
this module only turns them into ``(n, H, W)`` arrays and into the PNG
overlays printed on a sheet. It computes no attribution of its own.
"""

from __future__ import annotations

import numpy as np

METHOD_TITLES = {
    "grad_cam": "Grad-CAM",
    "grad_cam_pp": "Grad-CAM++",
    "integrated_gradients": "Integrated gradients",
    "saliency": "Saliency (gradient magnitude)",
    "smoothgrad": "SmoothGrad",
    "occlusion": "Occlusion",
    "gradient_x_input": "Gradient x input",
}
SIGNED = {"integrated_gradients", "gradient_x_input", "occlusion", "smoothgrad"}


def attribution_maps(adapter, images, method: str, *, target, layer=None, **options):
    """Attribution maps ``(n, H, W)`` of ``images`` for class ``target``.

    Args:
        adapter: a torch model or adapter.
        images: ``(n, C, H, W)`` floats.
        method: a method of :func:`xai_reports.explain` (``"grad_cam"``, ``"integrated_gradients"``, ...).
        target: class index (int) or one per image.
        layer: Grad-CAM layer (ignored by pixel methods).
        **options: method options (``n_steps=``, ``baselines=``, ...).

    Returns:
        ``(maps, attribution)``'s maps only: float64 ``(n, H, W)``, channels summed
        (signed for integrated gradients, non-negative for Grad-CAM and saliency).

    Examples::

        >>> attribution_maps(adapter, images, "grad_cam", target=1, layer="features.relu4").shape
        (n, 64, 64)
    """
    return explain_maps(adapter, images, method, target=target, layer=layer, **options)[0]


def explain_maps(adapter, images, method: str, *, target, layer=None, **options):
    """As :func:`attribution_maps`, also returning the :class:`~xai_reports.attribution.Attribution`."""
    from ...attribution import explain

    opts = dict(options)
    if method in ("grad_cam", "grad_cam_pp") and layer is not None:
        opts["layer"] = layer
    if np.ndim(target) == 0:
        target = int(target)
    else:
        target = np.asarray(target, dtype=np.int64)
    attr = explain(adapter, images, method=method, target=target, **opts)
    v = np.asarray(attr.values, dtype=np.float64)
    if v.ndim == 4:
        v = v.sum(axis=1)
    return v, attr


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _figure(w=2.35, h=2.7):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "xai-reports"
    return plt.figure(figsize=(w, h))


def _show(ax, image):
    """Draw an image ``(H, W)``, ``(1, H, W)`` (grey levels) or ``(3, H, W)`` (RGB), values in ``[0, 1]``."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3:
        return ax.imshow(np.clip(a.transpose(1, 2, 0), 0, 1), interpolation="nearest")
    return ax.imshow(a, cmap="gray", vmin=0, vmax=1, interpolation="nearest")


def image_png(image, *, title: str = "") -> bytes:
    """The original image (grey ``(H, W)``/``(1, H, W)`` or RGB ``(3, H, W)``, in ``[0, 1]``) as a PNG with a legend."""
    fig = _figure()
    ax = fig.add_axes([0.05, 0.2, 0.9, 0.72])
    if np.ndim(image) == 3 and np.shape(image)[0] == 3:
        _show(ax, image)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        return _png(fig)
    im = _show(ax, image)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    cax = fig.add_axes([0.1, 0.1, 0.8, 0.04])
    cb = fig.colorbar(im, cax=cax, orientation="horizontal")
    cb.set_ticks([0, 1])
    cb.set_ticklabels(["dark", "bright"])
    cb.ax.tick_params(labelsize=6)
    return _png(fig)


def overlay_png(image, amap, *, method: str, title: str = "") -> bytes:
    """``amap`` over ``image`` with a colour legend.

    Non-negative maps (Grad-CAM, saliency) use a sequential colour scale from
    "low" to "high" influence, scaled to the map's maximum; signed maps
    (integrated gradients) use a diverging scale, red = towards the explained
    class, blue = against it, symmetric around 0 and saturating at the 99.5th
    percentile of ``|value|``.
    """
    fig = _figure()
    ax = fig.add_axes([0.05, 0.2, 0.9, 0.72])
    _show(ax, image)
    a = np.asarray(amap, dtype=np.float64)
    signed = method in SIGNED
    if signed:
        # scaled to the 99.5th percentile of |value| so that pixel-level maps stay visible
        m = float(np.quantile(np.abs(a), 0.995)) or float(np.abs(a).max()) or 1.0
        im = ax.imshow(a, cmap="RdBu_r", vmin=-m, vmax=m, alpha=0.6, interpolation="bilinear")
        ticks, labels = [-m, 0, m], ["against", "0", "towards"]
    else:
        m = float(a.max()) if a.max() > 0 else 1.0
        rgba = _seq_rgba(a / m)
        im = ax.imshow(a, cmap="inferno", vmin=0, vmax=m, alpha=0.0)
        ax.imshow(rgba, interpolation="bilinear")
        ticks, labels = [0, m], ["low", "high"]
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    cax = fig.add_axes([0.1, 0.1, 0.8, 0.04])
    cb = fig.colorbar(im, cax=cax, orientation="horizontal")
    if not signed:
        cb.solids.set_alpha(1.0)
    cb.set_ticks(ticks)
    cb.set_ticklabels(labels)
    cb.ax.tick_params(labelsize=6)
    return _png(fig)


def _seq_rgba(u):
    """Sequential colours whose opacity grows with the value, so low influence leaves the image visible."""
    import matplotlib

    u = np.clip(u, 0, 1)
    rgba = matplotlib.colormaps["inferno"](u)
    rgba[..., 3] = 0.15 + 0.6 * u
    return rgba


def thumbnail_png(image) -> bytes:
    """A small grey-level image without axes (similar reference cases)."""
    fig = _figure(0.9, 0.9)
    ax = fig.add_axes([0, 0, 1, 1])
    _show(ax, image)
    ax.set_axis_off()
    return _png(fig)


__all__ = ["attribution_maps", "explain_maps", "image_png", "overlay_png", "thumbnail_png", "METHOD_TITLES"]
