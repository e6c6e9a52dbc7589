"""Occlusion: how much the output drops when part of the input is replaced by a baseline.

Zeiler & Fergus 2014 (https://arxiv.org/abs/1311.2901).

* Images (torch models): a window slides over the image with a stride; each
  element's attribution is the mean of ``f(x) - f(x with the window occluded)``
  over the windows that cover it (captum's ``Occlusion``).
* Tabular (any model: XGBoost, scikit-learn, torch): feature ``j``'s attribution
  is ``f(x) - f(x with feature j replaced)``; the replacement is ``baselines``
  or, with ``background=``, the background mean (the most frequent value for
  categorical columns).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..errors import ExplanationError
from ._torch import TorchExplainer, auto_batch, model_fn, no_check, to_numpy
from .base import Attribution, Explainer


def _tuple(v, n, what):
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    v = tuple(int(a) for a in v)
    if len(v) != n:
        raise ExplanationError(f"{what} must have {n} entries, got {v}")
    return v


class Occlusion(Explainer):
    """Occlusion attributions for images (sliding window) and tabular rows (one feature at a time).

    Examples::

        >>> Occlusion(cnn).attribute(images, window=(8, 8), strides=4).values.shape
        (8, 3, 32, 32)
        >>> Occlusion(xgb_model).attribute(X, background=X_ref).values.shape
        (100, 11)
    """

    name = "occlusion"

    def __init__(self, model, *, window=None, strides=None, baselines=None, target=None,
                 output: str | None = None, internal_batch_size: int | None = None, device: str = "auto",
                 sliding_window_shapes=None, progress: bool = False):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.window = window
        self.strides = strides
        self.baselines = baselines
        self.target = target
        self.output = output
        self.internal_batch_size = internal_batch_size
        self.device = device
        self.sliding_window_shapes = sliding_window_shapes
        self.progress = progress

    def _explain(self, X, *, window=None, strides=None, baselines=None, background=None, target=None,
                  output: str | None = None, internal_batch_size: int | None = None,
                  device: str = "auto", sliding_window_shapes=None, progress: bool = False) -> Attribution:
        """Attribute each row of ``X`` by occluding parts of it.

        Args:
            X: images ``(n, C, H, W)`` for a torch model, or tabular ``(n, d)``
                (DataFrame or array) for any model.
            window: image window ``(h, w)`` (all channels) or ``(C, h, w)``;
                default ``(H // 8, W // 8)``. ``sliding_window_shapes`` is
                captum's name for it.
            strides: window step, an int or a tuple like ``window``; default
                half the window.
            baselines: replacement value: a scalar (default 0), per channel,
                or one example; tabular: a scalar, one value per feature.
            background: tabular only: reference rows whose mean (mode for
                categorical columns) replaces each feature.
            target: output index for multi-output models; default: predicted class.
            output: space explained (default: the adapter's).
            internal_batch_size: occluded inputs per forward pass.
            device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (torch models).
            progress: show a progress bar over window positions (images).

        Returns:
            :class:`Attribution` with ``values`` shaped like ``X``,
            ``predictions = f(X)``. Tabular ``self_check`` reports how far the
            occlusion effects are from adding up to ``f(x) - f(all replaced)``
            (zero for additive models; a measure of interactions otherwise).
        """
        window = window if window is not None else sliding_window_shapes
        is_image = not isinstance(X, pd.DataFrame) and np.ndim(X) >= 3
        if is_image:
            if not self.model_.tags.get("differentiable"):
                raise ExplanationError("image occlusion needs a torch model")
            return _ImageOcclusion(self.model_).fit().run(X, window=window, strides=strides, baselines=baselines,
                                                         target=target, output=output,
                                                         internal_batch_size=internal_batch_size, device=device,
                                                         progress=progress)
        return self._tabular(X, baselines=baselines, background=background, target=target, output=output,
                             internal_batch_size=internal_batch_size)

    # -- tabular -------------------------------------------------------------------
    def _tabular(self, X, *, baselines, background, target, output, internal_batch_size) -> Attribution:
        frame, names, X, cols = _tabular_rows(self, X, "occlusion")
        n, d = len(X), len(cols)
        repl = _replacement(X, cols, baselines, background, self.model_.feature_names)
        space = output or self.model_.output_space
        f = model_fn(self.model_, output=space)
        batch = internal_batch_size or max(1, 65536 // max(1, d))
        fx = f(X)
        tgt = _pick_target(fx, target, self.model_)
        sel = (lambda out, rows: out if out.ndim == 1 else out[np.arange(len(out)), tgt[rows]])
        fx_s = sel(fx, np.arange(n))
        values = np.zeros((n, d))
        rows_per = max(1, batch // d)
        for i in range(0, n, rows_per):
            idx = np.arange(i, min(n, i + rows_per))
            block = _occluded_rows(X, idx, cols, repl, frame)
            out = f(block)
            out = sel(out, np.repeat(idx, d)).reshape(len(idx), d)
            values[idx] = fx_s[idx, None] - out
        all_repl = _occluded_all(X, cols, repl, frame)
        f_all = sel(f(all_repl), np.arange(n))
        gap = np.abs(values.sum(axis=1) - (fx_s - f_all))
        check = {"kind": "interaction_gap", "max_abs_error": float(gap.max()), "tolerance": None,
                 "passed": None, "per_row": gap,
                 "note": "|sum of occlusion effects - (f(x) - f(all features replaced))|: "
                         "zero for additive models, larger with interactions"}
        t = None if tgt is None else (int(tgt[0]) if (tgt == tgt[0]).all() else None)
        return Attribution(
            values=values, base_values=f_all, feature_names=names, method=self.name, output=space,
            predictions=fx_s, target=t,
            params={"replacement": "background mean" if background is not None else _describe(baselines),
                    "input_kind": "tabular"},
            self_check=check,
            extras={"input_kind": "tabular", "replacement_values": [_jsonable(r) for r in repl],
                    **({} if t is not None or tgt is None else {"target_per_row": tgt.tolist()})})


def _jsonable(v):
    if isinstance(v, (np.generic,)):
        return v.item()
    return v


def _describe(v):
    if v is None:
        return 0.0
    if isinstance(v, (int, float)):
        return float(v)
    return f"array{tuple(np.shape(v))}"



def _tabular_rows(explainer, X, method: str):
    """``(is_frame, feature_names, rows, columns)`` of a tabular input, columns in model order."""
    frame = isinstance(X, pd.DataFrame)
    names = explainer._feature_names(X)
    if frame:
        cols = list(explainer.model_.feature_names or X.columns)
        X = X[cols].reset_index(drop=True)
    else:
        X = np.asarray(X, dtype=np.float64)
        X = X[None, :] if X.ndim == 1 else X
        cols = list(range(X.shape[1]))
    if len(X) == 0:
        raise ExplanationError(f"{method} needs at least one row")
    return frame, names, X, cols

def _replacement(X, cols, baselines, background, model_names):
    """One replacement value per column."""
    d = len(cols)
    if background is not None:
        bg = background
        if isinstance(X, pd.DataFrame):
            if not isinstance(bg, pd.DataFrame):
                bg = pd.DataFrame(np.asarray(bg), columns=cols)
            out = []
            for c in cols:
                s = bg[c]
                if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                    out.append(float(s.mean()))
                else:
                    out.append(s.mode(dropna=True).iloc[0])
            return out
        bg = bg.to_numpy(dtype=np.float64) if isinstance(bg, pd.DataFrame) else np.asarray(bg, dtype=np.float64)
        if bg.ndim != 2 or bg.shape[1] != d:
            raise ExplanationError(f"background must have {d} columns, got shape {bg.shape}")
        return list(bg.mean(axis=0))
    if baselines is None:
        return [0.0] * d
    b = np.asarray(baselines.to_numpy() if isinstance(baselines, pd.Series) else baselines, dtype=object)
    if b.ndim == 0:
        return [b.item()] * d
    b = b.reshape(-1)
    if len(b) != d:
        raise ExplanationError(f"baselines must be a scalar or {d} values, got {len(b)}")
    return list(b)


def _occluded_rows(X, idx, cols, repl, frame):
    """For rows ``idx``: ``len(idx) * d`` copies, copy ``(i, j)`` with feature ``j`` replaced."""
    d = len(cols)
    if frame:
        block = X.iloc[np.repeat(idx, d)].reset_index(drop=True)
        which = np.tile(np.arange(d), len(idx))
        for j, c in enumerate(cols):
            assign(block, which == j, c, repl[j])
        return block
    block = np.repeat(X[idx], d, axis=0)
    which = np.tile(np.arange(d), len(idx))
    block[np.arange(len(block)), which] = np.asarray(repl, dtype=np.float64)[which]
    return block


def assign(block: pd.DataFrame, rows, col, value) -> None:
    """``block.loc[rows, col] = value``, widening an integer/bool column to float first when the value
    (a background mean) is not a whole number, so pandas never casts it silently."""
    rows = np.asarray(rows)
    if not rows.any():
        return
    dt = block[col].dtype
    if (pd.api.types.is_integer_dtype(dt) or pd.api.types.is_bool_dtype(dt)) and isinstance(value, float) \
            and not float(value).is_integer():
        block[col] = block[col].astype(np.float64)
    block.loc[rows, col] = value


def _occluded_all(X, cols, repl, frame):
    if frame:
        out = X.copy()
        for j, c in enumerate(cols):
            assign(out, np.ones(len(out), dtype=bool), c, repl[j])
        return out
    out = X.copy()
    out[:, :] = np.asarray(repl, dtype=np.float64)[None, :]
    return out


def _pick_target(fx, target, adapter):
    if fx.ndim == 1:
        if target not in (None, 0):
            raise ExplanationError(f"the model has a single output; target={target!r} is not valid")
        return None
    n, k = fx.shape
    if target is None:
        if not adapter.is_classifier:
            raise ExplanationError(f"the model has {k} outputs; pass target= (an output index)")
        return fx.argmax(axis=1)
    t = np.asarray(target, dtype=int)
    t = np.full(n, int(t)) if t.ndim == 0 else t
    if t.shape != (n,) or (t < 0).any() or (t >= k).any():
        raise ExplanationError(f"target= must be an index below {k} (one int or one per row)")
    return t


class _ImageOcclusion(TorchExplainer):
    name = "occlusion"

    def run(self, X, *, window, strides, baselines, target, output, internal_batch_size, device, progress=False):
        from .shapley import _progress
        import torch

        space = self._output_space(output)
        with self._on_device(device) as dev:
            prep = self._prepare(X, dev)
            x = prep.x
            shape = prep.feature_shape
            nd = len(shape)
            if window is None:
                window = tuple(max(1, s // 8) for s in shape[1:])
            window = tuple(int(w) for w in (window if not isinstance(window, int) else (window,) * (nd - 1)))
            if len(window) == nd - 1:
                window = (shape[0],) + window
            window = _tuple(window, nd, "window")
            if strides is None:
                strides = tuple(max(1, w // 2) for w in window)
            elif isinstance(strides, (int, np.integer)):
                strides = (int(strides),) * nd
            strides = tuple(int(s) for s in strides)
            if len(strides) == nd - 1:
                strides = (1,) + strides
            strides = _tuple(strides, nd, "strides")
            for s, w, st in zip(shape, window, strides):
                if w < 1 or w > s or st < 1:
                    raise ExplanationError(f"window {window} / strides {strides} do not fit inputs of shape {shape}")
            base = self._like(baselines if baselines is not None else 0.0, prep)
            # window positions per axis (captum's convention): start 0, step stride, one more step
            # when the stride does not land on the edge (that window is cut at the edge), so every
            # element is covered
            starts = [range(0, -(-(s - w) // st) * st + 1, st) for s, w, st in zip(shape, window, strides)]
            positions = list(itertools.product(*starts))
            P = len(positions)
            count = torch.zeros(shape, dtype=x.dtype, device=x.device)
            for st in positions:
                count[tuple(slice(a, a + w) for a, w in zip(st, window))] += 1
            batch = auto_batch(prep.numel, internal_batch_size)
            tgt = self._resolve_target(prep, target, space, batch)
            fx = self._predict(prep, tgt, space, batch)
            values = torch.zeros_like(x)
            pos_per = min(P, batch)
            rows_per = max(1, batch // pos_per)
            bar = _progress(progress, P, "occlusion")
            try:
                self._slide(x, base, tgt, fx, space, positions, window, shape, pos_per, rows_per, values, bar)
            finally:
                if bar is not None:
                    bar.stop()
            values = torch.where(count > 0, values / count.clamp(min=1), torch.zeros_like(values))
            vals = to_numpy(values)
            fx_np = to_numpy(fx)
        t, tex = self._target_record(tgt)
        return Attribution(
            values=vals, base_values=np.zeros(prep.n), feature_names=None, method="occlusion", output=space,
            predictions=fx_np, target=t,
            params={"device": prep.device, "window": list(window), "strides": list(strides),
                    "baselines": _describe(baselines), "positions": P},
            self_check=no_check("occlusion has no axiom it can check about itself"),
            extras={"input_kind": "image", **tex})

    def _slide(self, x, base, tgt, fx, space, positions, window, shape, pos_per, rows_per, values, bar):
        """Accumulate ``f(x) - f(occluded)`` over every window position (in place into ``values``)."""
        import torch

        with torch.no_grad():
            for j in range(0, len(positions), pos_per):
                chunk = positions[j:j + pos_per]
                m = torch.zeros((len(chunk), *shape), dtype=torch.bool, device=x.device)
                for p, st in enumerate(chunk):
                    m[(p,) + tuple(slice(a, a + w) for a, w in zip(st, window))] = True
                mf = m.to(x.dtype)
                for i in range(0, x.shape[0], rows_per):
                    xb, bb = x[i:i + rows_per], base[i:i + rows_per]
                    r = xb.shape[0]
                    occ = torch.where(m.unsqueeze(0), bb.unsqueeze(1), xb.unsqueeze(1))
                    occ = occ.reshape(r * len(chunk), *shape)
                    tt = None if tgt is None else tgt[i:i + r].repeat_interleave(len(chunk))
                    out = self._scalar(occ, tt, space).view(r, len(chunk))
                    diff = fx[i:i + r].view(-1, 1) - out
                    values[i:i + r] += torch.tensordot(diff, mf, dims=1)
                if bar is not None:
                    bar.advance(len(chunk))


__all__ = ["Occlusion"]
