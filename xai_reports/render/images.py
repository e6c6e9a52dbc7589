"""Images for documents: deterministic, self-contained, archival.

Charts go into documents as inline ``data:`` URLs (the HTML stays one file,
the PDF needs no fetch), as opaque RGB PNGs without metadata chunks (the bytes
depend on the pixels only, and PDF/A-1 forbids transparency), and always with
alt text in the template (PDF/UA, WCAG 1.1.1)::

    <img src="{{ chart_uri }}" alt="Bar chart: debt-to-income ratio pushed most toward denial">

Examples::

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(); _ = ax.plot([0, 1], [1, 0])
    >>> png_data_uri(fig).startswith("data:image/png;base64,")
    True
"""

from __future__ import annotations

import base64
import io

__all__ = ["png_bytes", "png_data_uri"]


def png_bytes(image, *, background=(255, 255, 255), dpi: int | None = None) -> bytes:
    """An opaque, metadata-free RGB PNG from a matplotlib figure or PNG/JPEG bytes.

    Args:
        image: a ``matplotlib.figure.Figure`` or encoded image bytes.
        background: colour transparent pixels are flattened onto.
        dpi: figure resolution (figures only; default the figure's).

    Returns:
        PNG bytes that depend only on the pixels (no timestamps, no software tag).
    """
    from PIL import Image

    if hasattr(image, "savefig"):
        buf = io.BytesIO()
        kwargs = {"dpi": dpi} if dpi else {}
        image.savefig(buf, format="png", metadata={"Software": None}, facecolor="white", **kwargs)
        data = buf.getvalue()
    else:
        data = bytes(image)
    im = Image.open(io.BytesIO(data))
    im.load()
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, background)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        im = flat
    elif im.mode != "RGB":
        im = im.convert("RGB")
    out = io.BytesIO()
    im.save(out, format="PNG", optimize=False)
    return out.getvalue()


def png_data_uri(image, **kwargs) -> str:
    """``data:image/png;base64,...`` for :func:`png_bytes` of ``image`` (same arguments)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image, **kwargs)).decode("ascii")
