"""Input checks for case-review sheets: image reading and quality, value ranges.

REGULATORY.md 3.2 row 4 asks for flags on missing, corrupted, unexpected or
out-of-range inputs, an image-quality check and an out-of-scope flag. The
checks here compare a case with what the model saw in training (ranges stored
in the model card) and say so in words a clinician reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import InputError

IMAGE_FORMATS = ("PNG", "TIFF", "BMP", "JPEG")
QUALITY_METRICS = {
    "mean_intensity": "mean grey level",
    "contrast": "contrast (grey-level standard deviation)",
    "sharpness": "sharpness (variance of the Laplacian)",
    "noise": "noise level (robust high-pass estimate)",
    "saturation": "share of saturated pixels (0 or 255)",
}


def read_image(path, *, height: int, width: int, channels: int = 1) -> tuple[np.ndarray, list[str], bytes]:
    """Read one image file as floats in ``[0, 1]``, shape ``(channels, height, width)``.

    The size must match the model's input exactly (images are never resized
    silently). A colour image given to a grey-level model is converted and
    flagged.

    Args:
        path: image file (PNG, TIFF, BMP or JPEG).
        height, width, channels: the model's input.

    Returns:
        ``(image, flags, file_bytes)``: the array, data-quality notes, the raw bytes (for the input hash).

    Raises:
        InputError: missing or unreadable file, wrong size.

    Examples::

        >>> img, flags, raw = read_image("case_0001.png", height=64, width=64)
        >>> img.shape
        (1, 64, 64)
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise InputError("image file not found", file=p)
    raw = p.read_bytes()
    if not raw:
        raise InputError("image file is empty", file=p)
    flags: list[str] = []
    try:
        import io

        with Image.open(io.BytesIO(raw), formats=IMAGE_FORMATS) as im:
            if im.size != (width, height):
                raise InputError(f"image is {im.size[0]} x {im.size[1]} px; the model takes {width} x {height} px "
                                 "(images are not resized automatically)", file=p)
            mode = im.mode
            if channels == 1:
                if mode in ("I;16", "I;16B", "I;16L", "I"):
                    arr = np.asarray(im, dtype=np.float64)
                    top = 65535.0 if arr.max() > 255 else 255.0
                    arr = arr / top
                    if top == 65535.0:
                        flags.append("16-bit image rescaled to the model's 8-bit range")
                else:
                    if mode not in ("L", "P", "1"):
                        rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
                        if np.abs(rgb[..., 0] - rgb[..., 1]).max() > 2 or np.abs(rgb[..., 1] - rgb[..., 2]).max() > 2:
                            flags.append(f"colour ({mode}) image converted to grey levels; the model was trained on grey-level images")
                    arr = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
                arr = arr[None]
            else:
                arr = np.asarray(im.convert("RGB"), dtype=np.float64).transpose(2, 0, 1) / 255.0
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not a readable image ({first})", file=p) from None
    return arr.astype(np.float32), flags, raw


def image_quality(images) -> dict[str, np.ndarray]:
    """Quality measurements of grey-level images ``(n, 1, H, W)`` or ``(n, H, W)`` in ``[0, 1]``.

    Returns:
        ``{metric: (n,) array}`` for the metrics in :data:`QUALITY_METRICS`.

    Examples::

        >>> q = image_quality(np.full((1, 8, 8), 0.5))
        >>> float(q["contrast"][0]), float(q["saturation"][0])
        (0.0, 0.0)
    """
    from scipy.ndimage import laplace, median_filter

    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 4:
        x = x.mean(axis=1)
    out = {k: np.empty(len(x)) for k in QUALITY_METRICS}
    for i, im in enumerate(x):
        out["mean_intensity"][i] = im.mean()
        out["contrast"][i] = im.std()
        out["sharpness"][i] = laplace(im).var()
        hp = im - median_filter(im, size=3, mode="reflect")
        out["noise"][i] = 1.4826 * np.median(np.abs(hp - np.median(hp)))
        q = np.rint(im * 255)
        out["saturation"][i] = float(((q <= 0) | (q >= 255)).mean())
    return out


def quality_ranges(images, q=(0.005, 0.995)) -> dict[str, list[float]]:
    """The central ``q`` range of each quality metric on the training images (stored in the model card)."""
    m = image_quality(images)
    return {k: [float(np.quantile(v, q[0])), float(np.quantile(v, q[1]))] for k, v in m.items()}


def quality_flags(metrics: dict[str, float], ranges: dict[str, list[float]]) -> list[str]:
    """Words for each quality metric outside its training range."""
    flags = []
    for k, (lo, hi) in ranges.items():
        v = metrics.get(k)
        if v is None:
            continue
        if v < lo:
            flags.append(f"{QUALITY_METRICS[k]} {v:.4g} is below the training range ({lo:.4g} to {hi:.4g})")
        elif v > hi:
            flags.append(f"{QUALITY_METRICS[k]} {v:.4g} is above the training range ({lo:.4g} to {hi:.4g})")
    return flags


def range_flags(values: dict, ranges: dict[str, list[float]], labels: dict[str, str]) -> tuple[list[dict], list[str]]:
    """Tabular values outside the training range, and missing values.

    Returns:
        ``(out_of_range, missing)``: ``[{"feature", "label", "value", "range"}]`` and the missing features' labels.
    """
    oor, missing = [], []
    for f, v in values.items():
        if v is None or (isinstance(v, float) and np.isnan(v)):
            missing.append(labels.get(f, f))
            continue
        lo, hi = ranges[f]
        if v < lo or v > hi:
            oor.append({"feature": f, "label": labels.get(f, f), "value": float(v), "range": [lo, hi],
                        "side": "below" if v < lo else "above"})
    return oor, missing


__all__ = ["read_image", "image_quality", "quality_ranges", "quality_flags", "range_flags", "QUALITY_METRICS"]
