"""Exact Shapley values of any model relative to a background set.

The value of a coalition ``S`` is the interventional expectation
``v(S) = mean_k f(x_S, z_k)`` over the background rows ``z_k`` (the same
definition as ``shap.explainers.Exact`` with an independent masker, and as
interventional TreeSHAP). Shapley values are linear in the game, so
``phi(x) = mean_k phi(x; z_k)`` where ``phi(x; z_k)`` is the Shapley value of
the single-reference game ``S -> f(x_S, z_k)``. In that game every feature
on which ``x`` and ``z_k`` agree is a null player: it gets zero and the
others' values are those of the game restricted to the ``q`` features where
they differ. So each (row, reference) pair costs ``2**q - 2`` model
evaluations instead of ``2**d`` (``f(z_k)`` and ``f(x)`` are shared), which on
data with categorical or discrete columns is usually orders of magnitude
fewer. The values are then ``phi = C_q^T v`` with ``C_q`` the fixed
``(2**q, q)`` Shapley coefficient matrix, all pairs with the same ``q`` in
one batched product.

Reference: Shapley (1953); Lundberg & Lee (2017), https://arxiv.org/abs/1705.07874.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..errors import ExplanationError
from ._tabular import TabularCodec, model_columns, select_output
from .base import Attribution, Explainer, additivity_check


@lru_cache(maxsize=32)
def shapley_weights(q: int) -> np.ndarray:
    """``w[k] = k! (q-k-1)! / q!``, the Shapley weight of a coalition of size ``k`` among ``q`` players."""
    return np.array([math.factorial(k) * math.factorial(q - k - 1) / math.factorial(q) for k in range(q)])


@lru_cache(maxsize=32)
def coefficient_matrix(q: int) -> np.ndarray:
    """``C`` of shape ``(2**q, q)`` with ``phi = v @ C`` for a game given on all ``2**q`` coalitions.

    Coalition ``s`` (bit ``t`` set = player ``t`` in) has ``C[s, t] = w(|s| - 1)``
    when ``t`` is in ``s`` and ``-w(|s|)`` otherwise.
    """
    if q == 0:
        return np.zeros((1, 0))
    s = np.arange(1 << q)
    bits = (s[:, None] >> np.arange(q)) & 1
    size = bits.sum(axis=1)
    w = shapley_weights(q)
    pos = w[np.clip(size - 1, 0, q - 1)][:, None]
    neg = w[np.clip(size, 0, q - 1)][:, None]
    C = np.where(bits == 1, pos, -neg)
    C[-1, :] = w[q - 1]      # full coalition: every player is in it
    C[0, :] = -w[0]          # empty coalition
    return C


class ModelFunction:
    """The model as a function of encoded rows: ``f(M) -> (rows,)`` in the chosen output space.

    Args:
        adapter: a :class:`~xai_reports.adapters.base.ModelAdapter`.
        codec: the :class:`TabularCodec` that decodes matrices into model inputs.
        target: the output index for multi-output models.
        output: the output space (default: the adapter's own).
        batch_size: rows per model call.
    """

    def __init__(self, adapter, codec, *, target=None, output=None, batch_size=65_536):
        self.adapter = adapter
        self.codec = codec
        self.target = target
        self.output = output or adapter.output_space
        self.batch_size = int(batch_size)
        self.calls = 0
        self.rows = 0

    def __call__(self, M: np.ndarray) -> np.ndarray:
        out = np.empty(M.shape[0], dtype=np.float64)
        for i in range(0, M.shape[0], self.batch_size):
            part = M[i:i + self.batch_size]
            pred = self.adapter.predict(self.codec.decode(part), output=self.output)
            out[i:i + self.batch_size] = select_output(pred, self.target)
            self.calls += 1
            self.rows += part.shape[0]
        return out


def agree(Xm: np.ndarray, Bm: np.ndarray) -> np.ndarray:
    """``(n, m, d)``: where row ``i`` and reference ``k`` have the same value (NaN equals NaN)."""
    a = Xm[:, None, :]
    b = Bm[None, :, :]
    return (a == b) | (np.isnan(a) & np.isnan(b))


def hybrids(Xm, Bm, rows, refs, idx, masks) -> np.ndarray:
    """Hybrid rows for pairs: ``(P * len(masks), d)``.

    Args:
        Xm, Bm: encoded rows and references.
        rows, refs: ``(P,)`` the pair's row and reference.
        idx: ``(P, q)`` the features on which the pair differs.
        masks: ``(S,)`` coalitions over the ``q`` local features (bit ``t`` = ``idx[:, t]`` from the row).
    """
    P, q = idx.shape
    S = masks.shape[0]
    H = np.repeat(Bm[refs][:, None, :], S, axis=1)              # (P, S, d)
    pi = np.arange(P)[:, None]
    for t in range(q):
        on = np.flatnonzero((masks >> t) & 1)
        if on.size == 0:
            continue
        cols = idx[:, t]
        H[pi, on[None, :], cols[:, None]] = Xm[rows, cols][:, None]
    return H.reshape(P * S, -1)


def pair_shapley(f, Xm, Bm, fX, fB, rows, refs, idx, batch_size: int = 65_536):
    """Exact Shapley values of single-reference games, ``(P, q)``, for pairs differing on ``q`` features."""
    P, q = idx.shape
    if q == 0:
        return np.zeros((P, 0))
    n_coal = 1 << q
    interior = np.arange(1, n_coal - 1, dtype=np.int64)
    C = coefficient_matrix(q)
    out = np.empty((P, q))
    step = max(1, batch_size // max(1, interior.size))
    for p0 in range(0, P, step):
        sl = slice(p0, p0 + step)
        r, k, ix = rows[sl], refs[sl], idx[sl]
        v = np.empty((r.size, n_coal))
        v[:, 0] = fB[k]
        v[:, -1] = fX[r]
        if interior.size:
            v[:, 1:-1] = f(hybrids(Xm, Bm, r, k, ix, interior)).reshape(r.size, interior.size)
        out[sl] = v @ C
    return out


def pairs_by_size(eq: np.ndarray):
    """Group the (row, reference) pairs of an agreement tensor by the number of differing features.

    Yields ``(q, rows, refs, idx)`` with ``idx`` ``(P, q)`` the differing features of each pair.
    """
    n, m, d = eq.shape
    diff = ~eq
    q = diff.sum(axis=2)
    for qv in np.unique(q):
        ri, ki = np.nonzero(q == qv)
        if qv == 0:
            yield 0, ri, ki, np.zeros((ri.size, 0), dtype=np.int64)
            continue
        sub = diff[ri, ki]                         # (P, d)
        idx = np.nonzero(sub)[1].reshape(ri.size, int(qv))
        yield int(qv), ri, ki, idx


def prepare(adapter, X, background, *, target=None, output=None, batch_size=65_536):
    """Encode ``X`` and ``background`` with one codec and wrap the model as a function of encoded rows."""
    if background is None:
        raise ExplanationError("this method needs background= (the reference rows, e.g. 50-100 training rows)")
    cols = model_columns(adapter, X)
    codec = TabularCodec(X, columns=cols)
    Xm = codec.encode(X)
    if cols is not None and not hasattr(background, "columns"):
        Bm = np.asarray(background, dtype=np.float64)
    else:
        Bm = codec.encode(background)
    if Bm.ndim == 1:
        Bm = Bm[None, :]
    if Bm.shape[0] == 0:
        raise ExplanationError("background= has no rows")
    if Bm.shape[1] != Xm.shape[1]:
        raise ExplanationError(f"background has {Bm.shape[1]} features; X has {Xm.shape[1]}")
    f = ModelFunction(adapter, codec, target=target, output=output, batch_size=batch_size)
    return codec, Xm, Bm, f


class ExactShapley(Explainer):
    """Exact interventional Shapley values for any model, up to about 16 features.

    Examples::

        >>> attr = ExactShapley(model).attribute(X_test[:20], background=X_train.sample(50, random_state=0))
        >>> np.allclose(attr.values.sum(1) + attr.base_values, attr.predictions)
        True
    """

    name = "shapley"
    additive = True
    claims = "additivity"

    def __init__(self, model, *, target: int | None = None, output: str | None = None,
                 batch_size: int = 65_536, max_features: int = 16, tolerance: float = 1e-6,
                 progress: bool = False, device: str = "auto"):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.target = target
        self.output = output
        self.batch_size = batch_size
        self.max_features = max_features
        self.tolerance = tolerance
        self.progress = progress
        self.device = device

    def _expected_value(self):
        """The mean model output over ``background_`` (``None`` without one)."""
        return self._mean_background_output()

    def _explain(self, X, *, background=None, target: int | None = None, output: str | None = None,
                  batch_size: int = 65_536, max_features: int = 16, tolerance: float = 1e-6,
                  progress: bool = False, device: str = "auto") -> Attribution:
        """Attribute each row of ``X`` exactly.

        Args:
            X: DataFrame (categorical columns allowed) or array, ``(n, d)``.
            background: reference rows ``(m, d)``; ``base_values`` is the mean
                model output over them.
            target: output index for multi-output models.
            output: output space to explain (default: the adapter's ``output_space``).
            batch_size: hybrid rows per model call (bounds memory).
            max_features: refuse pairs differing on more features than this
                (``2**q`` evaluations each); use ``kernel_shap`` beyond.
            tolerance: additivity self-check tolerance.
            progress: show a progress bar.
            device: accepted for API symmetry; the model's adapter decides where it runs.

        Returns:
            :class:`Attribution` ``(n, d)``; ``extras["model_evaluations"]`` counts
            the hybrid rows evaluated and ``extras["naive_evaluations"]`` what
            ``n * m * 2**d`` would have been.
        """
        codec, Xm, Bm, f = prepare(self.model_, X, background, target=target, output=output,
                                   batch_size=batch_size)
        n, d = Xm.shape
        m = Bm.shape[0]
        fX = f(Xm)
        fB = f(Bm)
        values = np.zeros((n, d))
        chunk = max(1, (1 << 22) // max(1, m * d))
        bar = _progress(progress, n, "exact Shapley")
        for r0 in range(0, n, chunk):
            eq = agree(Xm[r0:r0 + chunk], Bm)
            for q, ri, ki, idx in pairs_by_size(eq):
                if q == 0:
                    continue
                if q > max_features:
                    raise ExplanationError(
                        f"row {r0 + int(ri[0])} differs from a background row on {q} features "
                        f"(> max_features={max_features}): exact Shapley needs 2**{q} evaluations; "
                        "use method='kernel_shap'")
                phi = pair_shapley(f, Xm, Bm, fX, fB, ri + r0, ki, idx, batch_size)
                np.add.at(values, (ri[:, None] + r0, idx), phi)
            if bar:
                bar.advance(min(chunk, n - r0))
        if bar:
            bar.stop()
        values /= m
        base = np.full(n, fB.mean())
        return Attribution(
            values=values, base_values=base, feature_names=self._feature_names(X), method=self.name,
            output=f.output, predictions=fX, target=target,
            params={"background_rows": m, "batch_size": batch_size},
            self_check=additivity_check(values, base, fX, tolerance),
            extras={"model_evaluations": int(f.rows), "naive_evaluations": int(n * m * (2 ** d))})


def _progress(enabled: bool, total: int, label: str):
    """A started rich progress bar with ``advance(k)`` and ``stop()``, or ``None``."""
    if not enabled:
        return None
    from rich.progress import Progress

    prog = Progress(transient=True)
    task = prog.add_task(label, total=total)
    prog.start()

    class _Bar:
        def advance(self, k):
            prog.advance(task, k)

        def stop(self):
            prog.stop()

    return _Bar()


__all__ = ["ExactShapley", "ModelFunction", "coefficient_matrix", "shapley_weights", "pair_shapley",
           "pairs_by_size", "agree", "hybrids", "prepare"]
