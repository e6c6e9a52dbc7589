"""A tree ensemble exported for the explorer's what-if panel, which evaluates it in the page.

The ensemble is the project's common structure (:func:`~xai_reports.attribution._trees.parse_ensemble`):
internal nodes (feature, threshold, missing-value direction, categorical right-sets) and, per
leaf, the signed nodes of its path (``node + 1`` taken left, ``-(node + 1)`` taken right). The
page reaches a leaf when every step of its path agrees, adds the leaf values to the offset and
applies the link. Before a model is exported, this module evaluates the exported form in
Python on every row of the data and compares it with the model's own probabilities; a model
whose export does not reproduce them to 1e-6 is not exported (the panel then offers the
precomputed counterfactuals only, and says why).
"""

from __future__ import annotations

import numpy as np

__all__ = ["export_ensemble", "evaluate_export"]

TOLERANCE = 1e-6   # XGBoost sums leaves in float32 (about 1e-7 from a float64 sum)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def evaluate_export(model: dict, Xenc: np.ndarray) -> np.ndarray:
    """P(deny) of encoded rows under the exported model, evaluated as the page does (a reference)."""
    feat = np.asarray(model["feature"], dtype=np.int64)
    thr = np.asarray(model["threshold"], dtype=np.float64)
    dl = np.asarray(model["default_left"], dtype=bool)
    xv = Xenc[:, feat]
    nan = np.isnan(xv)
    with np.errstate(invalid="ignore"):
        left = xv < thr if model["strict"] else xv <= thr
    for node, right_set in model["cat_right"].items():
        node = int(node)
        codes = xv[:, node]
        ok = ~np.isnan(codes)
        right = np.array([ok[r] and float(codes[r]).is_integer() and int(codes[r]) in right_set
                          for r in range(len(codes))], dtype=bool)
        if not model["cat_oob_left"]:
            right |= ok & ((codes < 0) | (codes >= model["cat_width"]) | (np.mod(codes, 1) != 0))
        left[:, node] = ~right
    left = np.where(nan, dl, left)
    margin = np.full(len(Xenc), float(model["offset"]))
    starts = model["leaf_start"]
    steps = np.asarray(model["path"], dtype=np.int64)
    for leaf, v in enumerate(model["value"]):
        s = steps[starts[leaf]:starts[leaf + 1]]
        reached = np.ones(len(Xenc), dtype=bool)
        for st in s:
            reached &= left[:, abs(st) - 1] if st > 0 else ~left[:, abs(st) - 1]
        margin = margin + np.where(reached, v, 0.0)
    p = _sigmoid(margin) if model["link"] == "logistic" else margin
    return p if model["positive_deny"] else 1.0 - p


def export_ensemble(adapter, X, features, p_deny, *, positive_deny: bool = True):
    """``(model dict, None)`` for a tree ensemble the page can evaluate, else ``(None, why)``."""
    from ...attribution._trees import parse_ensemble
    from ...errors import ExplanationError

    fam = getattr(adapter, "family", None)
    if not getattr(adapter, "is_tree_ensemble", False):
        return None, (f"this model ({fam or type(adapter).__name__}) cannot run in the page: "
                      "the what-if panel shows the precomputed counterfactuals only")
    try:
        ens = parse_ensemble(adapter)
    except (ExplanationError, ValueError, TypeError, NotImplementedError, AttributeError) as exc:
        return None, f"the model's trees could not be exported ({exc}): the panel shows precomputed points only"
    if ens.preprocess is not None or ens.recode is not None or ens.column is not None \
            or ens.output not in ("margin", "probability"):
        return None, ("this ensemble needs preprocessing the page does not implement: "
                      "the panel shows the precomputed counterfactuals only")
    Xenc = ens.encode(X, columns=features)
    offset = ens.offset
    if offset is None:   # XGBoost's base score: the model's margin less the sum of the leaves, the same on every row
        if not len(Xenc):
            return None, "no rows to derive the model's offset from: the panel shows precomputed points only"
        gap = np.asarray(adapter.predict(X, output=ens.output), dtype=float) - (ens.predict(Xenc) - 0.0)
        offset = float(np.median(gap))
    N = len(ens.feature)
    path, starts = [], [0]
    for leaf in range(ens.n_leaves):
        for s in range(ens.path_node.shape[1]):
            node = int(ens.path_node[leaf, s])
            if node >= N:
                continue
            path.append(node + 1 if bool(ens.path_left[leaf, s]) else -(node + 1))
        starts.append(len(path))
    cat_right = {}
    for node in np.flatnonzero(ens.cat_index >= 0):
        row = ens.cat_right[int(ens.cat_index[node])]
        cat_right[str(int(node))] = [int(k) for k in np.flatnonzero(row)]
    model = {
        "feature": [int(f) for f in ens.feature], "threshold": [float(t) for t in ens.threshold],
        "default_left": [bool(d) for d in ens.default_left], "cat_right": cat_right,
        "cat_oob_left": bool(ens.cat_oob_left),
        "cat_width": int(ens.cat_right.shape[1]) if ens.cat_right.ndim == 2 else 0, "strict": bool(ens.strict), "float32": bool(ens.float32),
        "value": [float(v) for v in ens.value], "path": path, "leaf_start": starts,
        "offset": float(offset), "link": "logistic" if ens.output == "margin" else "identity",
        "positive_deny": bool(positive_deny),
        "categories": {str(j): [c if isinstance(c, str) else (c.item() if hasattr(c, "item") else c)
                                for c in cats] for j, cats in ens.categories.items()},
    }
    # the export must reproduce the model on the data before the page may claim its numbers
    mine = evaluate_export(model, Xenc)
    err = float(np.max(np.abs(mine - np.asarray(p_deny, dtype=float)))) if len(Xenc) else 0.0
    if not err <= TOLERANCE:
        return None, (f"the exported trees differ from the model by {err:.1e} on the data: "
                      "the panel shows the precomputed counterfactuals only")
    model["checked_max_error"] = err
    return model, None
