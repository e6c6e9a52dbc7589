"""Independent truths for Shapley-value tests: brute-force enumeration over coalitions.

Nothing here uses xai_reports: hybrid rows are built with pandas/numpy
directly and the Shapley formula is applied coalition by coalition.
"""

from __future__ import annotations

import itertools
from math import factorial

import numpy as np
import pandas as pd


def hybrid_rows(x_row, background, coalitions):
    """All hybrid rows, coalition-major: block ``c`` takes the columns in ``coalitions[c]`` from
    ``x_row`` and the others from each background row (pandas dtypes, categorical included, kept)."""
    m = len(background)
    C = len(coalitions)
    if isinstance(background, pd.DataFrame):
        xr = x_row if isinstance(x_row, pd.Series) else pd.Series(x_row, index=background.columns)
        data = {}
        for c in background.columns:
            take_x = np.repeat([c in S for S in coalitions], m)
            bvals = np.tile(background[c].to_numpy(dtype=object), C)
            col = np.where(take_x, np.full(C * m, xr[c], dtype=object), bvals)
            data[c] = pd.Series(col).astype(background[c].dtype)
        return pd.DataFrame(data)
    B = np.asarray(background, dtype=float)
    x = np.asarray(x_row, dtype=float)
    out = np.tile(B, (C, 1))
    for ci, S in enumerate(coalitions):
        cols = sorted(S)
        out[ci * m:(ci + 1) * m, cols] = x[cols]
    return out


def brute_force_interventional(predict, x_row, background):
    """Exact interventional Shapley values by enumerating all 2**d coalitions.

    ``v(S) = mean_k predict(x_S, z_k)``; ``phi_i = sum_S |S|!(d-|S|-1)!/d! (v(S+i) - v(S))``.
    Returns ``(phi, v(empty), v(all))``.
    """
    names = list(background.columns) if isinstance(background, pd.DataFrame) else list(range(np.shape(background)[1]))
    d = len(names)
    coalitions = [frozenset(c) for r in range(d + 1) for c in itertools.combinations(names, r)]
    m = len(background)
    out = np.asarray(predict(hybrid_rows(x_row, background, coalitions)), dtype=float)
    out = out.reshape(len(coalitions), m).mean(axis=1)
    v = dict(zip(coalitions, out))
    phi = np.zeros(d)
    for i, name in enumerate(names):
        for S in coalitions:
            if name in S:
                continue
            w = factorial(len(S)) * factorial(d - len(S) - 1) / factorial(d)
            phi[i] += w * (v[S | {name}] - v[S])
    return phi, v[frozenset()], v[frozenset(names)]


def path_dependent_brute_force(trees, values, x):
    """Path-dependent Shapley values of a sum of sklearn trees by enumeration.

    ``trees``: fitted sklearn trees; ``values``: per tree, a function node -> leaf value (scaled).
    """
    d = len(x)

    def expect(tree, val, S, node=0):
        t = tree.tree_
        if t.children_left[node] < 0:
            return val(node)
        f = t.feature[node]
        lc, rc = t.children_left[node], t.children_right[node]
        if f in S:
            return expect(tree, val, S, lc if np.float32(x[f]) <= t.threshold[node] else rc)
        wl, wr = t.weighted_n_node_samples[lc], t.weighted_n_node_samples[rc]
        return (wl * expect(tree, val, S, lc) + wr * expect(tree, val, S, rc)) / (wl + wr)

    def v(S):
        return sum(expect(t, val, S) for t, val in zip(trees, values))

    phi = np.zeros(d)
    for i in range(d):
        others = [j for j in range(d) if j != i]
        for r in range(d):
            for S in itertools.combinations(others, r):
                w = factorial(r) * factorial(d - r - 1) / factorial(d)
                phi[i] += w * (v(set(S) | {i}) - v(set(S)))
    return phi, v(set())
