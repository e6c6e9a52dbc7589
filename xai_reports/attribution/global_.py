"""Global views of a model: feature importance and a readable surrogate tree.

* :func:`global_importance`: permutation importance (Breiman 2001; Fisher,
  Rudin & Dominici 2019, https://arxiv.org/abs/1801.01489) against a score
  when labels are given, or against the model's own output when not; or the
  mean absolute Shapley value over the rows (Lundberg et al. 2020).
* :func:`surrogate`: a shallow decision tree distilled from the model's
  decisions, its fidelity measured on held-out rows, its rules printed with
  the domain pack's feature labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ExplanationError
from ._tabular import TabularCodec, model_columns, select_output


def _labels(pack, names) -> dict:
    """Feature name -> label from a domain pack (name itself when the pack has none)."""
    if pack is None:
        return {n: n for n in names}
    if isinstance(pack, str):
        from ..packs import load_pack

        pack = load_pack(pack)
    feats = getattr(pack, "features", {}) or {}
    return {n: (feats[n].label if n in feats else n) for n in names}


def _category_label(pack, feature, value) -> str:
    feats = getattr(pack, "features", {}) if pack is not None and not isinstance(pack, str) else {}
    spec = feats.get(feature) if feats else None
    if spec is not None and spec.category_labels:
        return spec.category_labels.get(str(value), str(value))
    return str(value)


@dataclass
class GlobalImportance:
    """Global feature importance.

    Attributes:
        frame: tidy DataFrame, one row per feature, sorted by decreasing importance,
            columns ``feature``, ``label``, ``importance``, ``std``, ``rank``.
        method: ``"permutation"`` or ``"mean_abs_shap"``.
        params: what was computed and how (scoring, repeats, seed, rows, ...).
        baseline_score: the model's score on unpermuted data (permutation with labels).
        raw: per-repeat importances ``(d, n_repeats)`` (permutation) or ``|phi|`` ``(n, d)``.
    """

    frame: pd.DataFrame
    method: str
    params: dict = field(default_factory=dict)
    baseline_score: float | None = None
    raw: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame)

    def top(self, k: int = 10) -> pd.DataFrame:
        """The ``k`` most important features."""
        return self.frame.head(k)

    def to_dict(self) -> dict:
        """JSON-ready summary (for records and audit reports)."""
        return {"method": self.method, "params": self.params, "baseline_score": self.baseline_score,
                "features": self.frame[["feature", "label", "importance", "std", "rank"]].to_dict("records")}

    def plot(self, top: int | None = 20, ax=None, title: str | None = None):
        """A horizontal bar chart (most important on top) with ±1 std error bars.

        Returns:
            The matplotlib ``Figure`` (Agg backend; save PNGs with ``metadata={'Software': None}``).
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        df = self.frame if top is None else self.frame.head(top)
        df = df.iloc[::-1]
        if ax is None:
            fig, ax = plt.subplots(figsize=(6.4, 0.35 * len(df) + 1.2))
        else:
            fig = ax.figure
        ax.barh(df["label"], df["importance"], xerr=df["std"], color="#3b6ea8", ecolor="#333333", capsize=2)
        ax.axvline(0, color="#888888", lw=0.8)
        xlabel = {"permutation": "drop in " + str(self.params.get("scoring", "score")) if self.baseline_score
                  is not None else "mean |change in model output|",
                  "mean_abs_shap": f"mean |Shapley value| ({self.params.get('output', 'model output')})"}
        ax.set_xlabel(xlabel.get(self.method, "importance"))
        ax.set_title(title or f"Global feature importance ({self.method.replace('_', ' ')})")
        fig.tight_layout()
        return fig


def _default_scoring(adapter, y) -> str:
    y = np.asarray(y)
    if adapter.is_classifier:
        return "roc_auc" if np.unique(y).size == 2 else "accuracy"
    return "r2"


def _score(scoring, y, pred, adapter) -> float:
    """Higher is better. ``pred`` is the model output in ``probability``/``margin``/``value`` space."""
    from sklearn import metrics

    if callable(scoring):
        return float(scoring(y, pred))
    if scoring == "roc_auc":
        return float(metrics.roc_auc_score(y, pred))
    if scoring == "accuracy":
        if pred.ndim == 2:
            cls = np.argmax(pred, axis=1)
            classes = getattr(adapter.model, "classes_", None)
            cls = np.asarray(classes)[cls] if classes is not None else cls
        else:
            thr = 0.5 if adapter.output_space == "probability" else 0.0
            cls = (pred >= thr).astype(int)
            classes = getattr(adapter.model, "classes_", None)
            if classes is not None and len(classes) == 2:
                cls = np.asarray(classes)[cls]
        return float(metrics.accuracy_score(y, cls))
    if scoring == "r2":
        return float(metrics.r2_score(y, pred))
    if scoring == "neg_log_loss":
        p = pred if adapter.output_space == "probability" else 1 / (1 + np.exp(-pred))
        return -float(metrics.log_loss(y, p))
    if scoring == "neg_mean_squared_error":
        return -float(metrics.mean_squared_error(y, pred))
    raise ExplanationError(f"unknown scoring {scoring!r}; use roc_auc, accuracy, r2, neg_log_loss, "
                           "neg_mean_squared_error or a callable(y_true, y_pred)")


def global_importance(model, X, y=None, method: str = "permutation", *, scoring=None, n_repeats: int = 5,
                      random_state: int | None = 0, background=None, pack=None, output: str | None = None,
                      target: int | None = None, attribution=None, max_rows: int | None = None,
                      shap_method: str | None = None, **explain_options) -> GlobalImportance:
    """How much the model relies on each feature, over a set of rows.

    Args:
        model: a raw model or adapter.
        X: DataFrame (categorical columns allowed) or array, ``(n, d)``.
        y: labels, ``(n,)``. With labels, permutation importance is the drop in
            ``scoring`` when a feature's column is shuffled; without, it is the
            mean absolute change of the model output.
        method: ``"permutation"`` or ``"mean_abs_shap"``.
        scoring: ``"roc_auc"`` (default for binary classifiers), ``"accuracy"``
            (multi-class), ``"r2"`` (regressors), ``"neg_log_loss"``,
            ``"neg_mean_squared_error"`` or a ``callable(y_true, y_pred)``
            (higher is better).
        n_repeats: shuffles per feature (permutation).
        random_state: seed for shuffles, row sampling and background sampling.
        background: reference rows for ``mean_abs_shap`` (default: up to 100
            rows of ``X`` drawn with ``random_state``).
        pack: a domain pack (or its name) whose feature labels name the features.
        output: output space (default: the adapter's).
        target: output index for multi-output models.
        attribution: a precomputed :class:`Attribution` for ``mean_abs_shap``.
        max_rows: use at most this many rows of ``X`` (sampled with ``random_state``).
        shap_method: attribution method for ``mean_abs_shap`` (default:
            ``"tree_shap"`` for tree ensembles, ``"shapley"`` up to 12
            features, ``"kernel_shap"`` beyond).
        **explain_options: passed to :func:`explain` (e.g. ``n_samples=``).

    Returns:
        :class:`GlobalImportance` with a tidy ``frame`` and ``plot()``.

    Examples::

        >>> gi = global_importance(model, X_test, y_test, n_repeats=10)
        >>> gi.frame.head(3)[["feature", "importance", "std"]]
        >>> gi.plot().savefig("importance.png", metadata={"Software": None})
    """
    from ..adapters import wrap_model

    adapter = wrap_model(model)
    rng = np.random.default_rng(random_state)
    if max_rows is not None and len(X) > max_rows:
        keep = np.sort(rng.choice(len(X), size=max_rows, replace=False))
        X = X.iloc[keep] if isinstance(X, pd.DataFrame) else np.asarray(X)[keep]
        y = None if y is None else np.asarray(y)[keep]
    cols = model_columns(adapter, X)
    codec = TabularCodec(X, columns=cols)
    Xm = codec.encode(X)
    n, d = Xm.shape
    names = cols if cols is not None else (list(adapter.feature_names) if adapter.feature_names
                                           else [f"x{j}" for j in range(d)])
    labels = _labels(pack, names)
    params = {"rows": int(n), "random_state": random_state}

    if method == "permutation":
        if n_repeats < 1:
            raise ExplanationError("n_repeats must be at least 1")
        out_space = output or adapter.output_space

        def predict(M):
            return np.asarray(adapter.predict(codec.decode(M), output=out_space), dtype=np.float64)

        base_pred = predict(Xm)
        baseline = None
        if y is not None:
            y = np.asarray(y)
            scoring = scoring or _default_scoring(adapter, y)
            pred_b = base_pred if base_pred.ndim == 1 or scoring == "accuracy" else select_output(base_pred, target)
            baseline = _score(scoring, y, pred_b, adapter)
            params["scoring"] = scoring if isinstance(scoring, str) else getattr(scoring, "__name__", "callable")
        else:
            base_pred = select_output(base_pred, target)
            params["scoring"] = f"mean |change in {out_space}|"
        raw = np.zeros((d, n_repeats))
        per_call = max(1, (1 << 19) // max(n, 1))        # repeats per model call (bounded memory)
        for j in range(d):
            perms = np.stack([rng.permutation(n) for _ in range(n_repeats)])       # (r, n)
            parts = []
            for r0 in range(0, n_repeats, per_call):
                pr_ = perms[r0:r0 + per_call]
                M = np.repeat(Xm[None], pr_.shape[0], axis=0)                     # (r, n, d)
                M[:, :, j] = Xm[pr_, j]
                out = predict(M.reshape(-1, d))
                parts.append(out.reshape((pr_.shape[0], n) + out.shape[1:]))
            P = np.concatenate(parts)
            for r in range(n_repeats):
                if y is not None:
                    pr = P[r] if P[r].ndim == 1 or scoring == "accuracy" else select_output(P[r], target)
                    raw[j, r] = baseline - _score(scoring, y, pr, adapter)
                else:
                    raw[j, r] = np.mean(np.abs(select_output(P[r], target) - base_pred))
        imp, std = raw.mean(axis=1), raw.std(axis=1)
        params.update({"n_repeats": n_repeats, "output": out_space})
    elif method == "mean_abs_shap":
        attr = attribution
        if attr is None:
            from . import explain

            if background is None:
                take = rng.choice(n, size=min(n, 100), replace=False)
                background = X.iloc[np.sort(take)] if isinstance(X, pd.DataFrame) else np.asarray(X)[np.sort(take)]
            if shap_method is None:
                shap_method = ("tree_shap" if adapter.is_tree_ensemble else "shapley" if d <= 12 else "kernel_shap")
            opts = dict(explain_options)
            if shap_method == "kernel_shap":
                opts.setdefault("random_state", random_state)
            if shap_method != "tree_shap" and output is not None:
                opts["output"] = output
            attr = explain(adapter, X, method=shap_method, background=background, target=target, **opts)
        raw = np.abs(np.asarray(attr.values, dtype=np.float64))
        imp, std = raw.mean(axis=0), raw.std(axis=0)
        baseline = None
        params.update({"attribution_method": attr.method, "output": attr.output,
                       "std": "standard deviation of |phi| over rows"})
    else:
        raise ExplanationError(f"unknown global importance method {method!r}; use 'permutation' or 'mean_abs_shap'")

    frame = pd.DataFrame({"feature": names, "label": [labels[c] for c in names],
                          "importance": imp, "std": std})
    frame = frame.sort_values("importance", ascending=False, kind="mergesort").reset_index(drop=True)
    frame["rank"] = np.arange(1, d + 1)
    return GlobalImportance(frame=frame, method=method, params=params, baseline_score=baseline, raw=raw)


# -- surrogate tree ---------------------------------------------------------------------------
@dataclass
class SurrogateTree:
    """A decision tree distilled from a model.

    Attributes:
        tree: the fitted scikit-learn ``DecisionTreeClassifier`` / ``DecisionTreeRegressor``.
        task: ``"classification"`` (imitates the model's decisions) or ``"regression"``
            (imitates its output).
        fidelity: agreement (classification) or R² (regression) with the model on held-out rows.
        fidelity_train: the same on the rows the tree was fitted on.
        fidelity_metric: ``"agreement"`` or ``"r2"``.
        rules: one dict per leaf: ``conditions`` (readable strings), ``prediction``,
            ``samples``, ``share`` of training rows, and ``purity`` (classification).
        text: the rules as readable text.
        features: the tree's input columns (numeric columns, one-hot indicators for categories).
    """

    tree: object
    task: str
    fidelity: float
    fidelity_train: float
    fidelity_metric: str
    rules: list
    text: str
    features: list
    n_train: int
    n_test: int
    params: dict = field(default_factory=dict)
    _design: object = None

    def predict(self, X) -> np.ndarray:
        """The surrogate's prediction for ``X`` (same columns as the model's input)."""
        return self.tree.predict(self._design(X))

    def to_dict(self) -> dict:
        return {"task": self.task, "fidelity": self.fidelity, "fidelity_train": self.fidelity_train,
                "fidelity_metric": self.fidelity_metric, "n_train": self.n_train, "n_test": self.n_test,
                "rules": self.rules, "params": self.params}

    def __str__(self) -> str:
        return self.text

    def plot(self, ax=None):
        """The tree drawn by ``sklearn.tree.plot_tree``; returns the matplotlib Figure."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        from sklearn.tree import plot_tree

        if ax is None:
            fig, ax = plt.subplots(figsize=(11, 6))
        else:
            fig = ax.figure
        names = self.params.get("class_names")
        plot_tree(self.tree, feature_names=self.features, class_names=names if self.task == "classification" else None,
                  filled=True, impurity=False, ax=ax, fontsize=7)
        return fig


class _Design:
    """Model inputs -> the surrogate's numeric design matrix (categories one-hot encoded)."""

    def __init__(self, X, cols, pack, labels):
        self.codec = TabularCodec(X, columns=cols)
        self.cols = cols
        d = self.codec.n_features
        self.names = cols if cols is not None else [f"x{j}" for j in range(d)]
        self.columns = []     # (source index, category code or None)
        self.category_texts = {}  # feature name -> readable category labels, in code order
        self.readable = []    # (kind, label, category text)
        for j, name in enumerate(self.names):
            if j in self.codec.categories:
                cats = list(self.codec.categories[j])
                self.category_texts[name] = [_category_label(pack, name, c) for c in cats]
                for k, c in enumerate(cats):
                    self.columns.append((j, k))
                    self.readable.append(("cat", labels[name], _category_label(pack, name, c), name, c))
            else:
                self.columns.append((j, None))
                self.readable.append(("num", labels[name], None, name, None))

    @property
    def feature_names(self) -> list:
        return [f"{r[3]}={r[4]}" if r[0] == "cat" else r[3] for r in self.readable]

    def __call__(self, X) -> np.ndarray:
        M = self.codec.encode(X)
        out = np.empty((M.shape[0], len(self.columns)))
        for c, (j, k) in enumerate(self.columns):
            out[:, c] = (M[:, j] == k).astype(float) if k is not None else M[:, j]
        return out


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def surrogate(model, X, max_depth: int = 3, *, task: str = "auto", output: str | None = None,
              target: int | None = None, pack=None, test_size: float = 0.25, random_state: int | None = 0,
              min_samples_leaf: int | float = 0.01, class_names=None) -> SurrogateTree:
    """Distil a shallow decision tree from the model, with its fidelity on held-out rows.

    Args:
        model: a raw model or adapter.
        X: DataFrame (categorical columns allowed) or array, ``(n, d)``: the
            population whose decisions are imitated (no labels needed).
        max_depth: depth of the surrogate tree (3 gives at most 8 readable rules).
        task: ``"classification"`` (imitate the model's class decisions: the
            positive class when the probability is at least 0.5 / the margin
            positive, or the arg-max), ``"regression"`` (imitate the output in
            ``output`` space), or ``"auto"`` (classification for classifiers).
        output: output space for the regression task (default: the adapter's).
        target: output index for multi-output models (regression task).
        pack: a domain pack (or name) whose labels and category labels appear in the rules.
        test_size: share of rows held out to measure fidelity.
        random_state: seed of the split and the tree.
        min_samples_leaf: passed to the tree (a share of the training rows when < 1).
        class_names: names of the classes for the rules (default ``classes_`` or 0/1).

    Returns:
        :class:`SurrogateTree` with ``fidelity`` (agreement or R² on held-out
        rows), ``rules`` and ``text``.

    Examples::

        >>> s = surrogate(model, X_test, max_depth=3, pack="finance")
        >>> round(s.fidelity, 3), s.fidelity_metric
        (0.947, 'agreement')
        >>> print(s.text)
    """
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    from ..adapters import wrap_model

    adapter = wrap_model(model)
    if isinstance(pack, str):
        from ..packs import load_pack

        pack = load_pack(pack)
    cols = model_columns(adapter, X)
    if task == "auto":
        task = "classification" if adapter.is_classifier else "regression"
    if task not in ("classification", "regression"):
        raise ExplanationError(f"task must be 'classification', 'regression' or 'auto', not {task!r}")
    n = len(X)
    if n < 10:
        raise ExplanationError(f"surrogate needs at least 10 rows of X; got {n}")
    names = cols if cols is not None else [f"x{j}" for j in range(np.asarray(X).shape[1])]
    labels = _labels(pack, names)
    design = _Design(X, cols, pack, labels)
    D = design(X)

    if task == "classification":
        raw = np.asarray(adapter.predict(X), dtype=np.float64)
        if raw.ndim == 2 and raw.shape[1] > 1:
            yhat = np.argmax(raw, axis=1)
        else:
            raw = raw.reshape(-1)
            yhat = (raw >= (0.5 if adapter.output_space == "probability" else 0.0)).astype(int)
        if class_names is None:
            classes = getattr(adapter.model, "classes_", None)
            class_names = [str(c) for c in classes] if classes is not None else None
        if class_names is None:
            class_names = [str(k) for k in range(int(yhat.max()) + 1)] if yhat.size else ["0"]
        y_all = yhat
    else:
        y_all = select_output(adapter.predict(X, output=output or adapter.output_space), target)

    idx = np.arange(n)
    strat = y_all if task == "classification" and np.unique(y_all).size > 1 and \
        np.bincount(y_all).min() >= 2 else None
    tr, te = train_test_split(idx, test_size=test_size, random_state=random_state, stratify=strat)
    Tree = DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor
    tree = Tree(max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=random_state)
    tree.fit(D[tr], y_all[tr])

    def fid(rows):
        p = tree.predict(D[rows])
        if task == "classification":
            return float(np.mean(p == y_all[rows]))
        from sklearn.metrics import r2_score

        return float(r2_score(y_all[rows], p))

    rules = _rules(tree, design, task, class_names if task == "classification" else None)
    metric = "agreement" if task == "classification" else "r2"
    fidelity, fidelity_train = fid(te), fid(tr)
    header = (f"Surrogate decision tree (depth {max_depth}) imitating the model's "
              f"{'decisions' if task == 'classification' else output or adapter.output_space}; "
              f"fidelity on {len(te)} held-out rows: "
              + (f"{fidelity:.1%} agreement" if task == "classification" else f"R² = {fidelity:.3f}"))
    lines = [header]
    for k, r in enumerate(rules, 1):
        cond = " AND ".join(r["conditions"]) or "(all rows)"
        if task == "classification":
            tail = f"{r['prediction']} ({r['purity']:.0%} of {r['samples']} training rows agree)"
        else:
            tail = f"{_fmt(r['prediction'])} ({r['samples']} training rows)"
        lines.append(f"Rule {k}: IF {cond} THEN {tail}")
    return SurrogateTree(tree=tree, task=task, fidelity=fidelity, fidelity_train=fidelity_train,
                         fidelity_metric=metric, rules=rules, text="\n".join(lines),
                         features=design.feature_names, n_train=len(tr), n_test=len(te),
                         params={"max_depth": max_depth, "test_size": test_size, "random_state": random_state,
                                 "min_samples_leaf": min_samples_leaf,
                                 "class_names": ([class_names[int(c)] if int(c) < len(class_names) else str(c)
                                                  for c in tree.classes_] if task == "classification" else None)},
                         _design=design)


def _simplify(conds: list, design) -> list:
    """Readable conditions: the tightest bounds per numeric feature, ``is X`` over ``is not Y``."""
    lower, upper, is_, is_not, order = {}, {}, {}, {}, []
    for col, thr, left in conds:
        kind, label, cat, name, _v = design.readable[col]
        if name not in order:
            order.append(name)
        if kind == "cat":
            if left:
                is_not.setdefault(name, (label, []))[1].append(cat)
            else:
                is_[name] = (label, cat)
        elif left:
            upper[name] = (label, min(thr, upper.get(name, (label, np.inf))[1]))
        else:
            lower[name] = (label, max(thr, lower.get(name, (label, -np.inf))[1]))
    out = []
    for name in order:
        if name in is_:
            out.append(f"{is_[name][0]} is {is_[name][1]}")
        elif name in is_not:
            label, cats = is_not[name]
            rest = [c for c in design.category_texts.get(name, []) if c not in cats]
            if len(rest) == 1:
                out.append(f"{label} is {rest[0]}")
            else:
                out.append(f"{label} is not {' or '.join(cats)}")
        if name in lower and name in upper:
            out.append(f"{_fmt(lower[name][1])} < {lower[name][0]} <= {_fmt(upper[name][1])}")
        elif name in lower:
            out.append(f"{lower[name][0]} > {_fmt(lower[name][1])}")
        elif name in upper:
            out.append(f"{upper[name][0]} <= {_fmt(upper[name][1])}")
    return out


def _rules(tree, design, task, class_names) -> list:
    t = tree.tree_
    total = t.n_node_samples[0]
    out = []

    def walk(node, conds):
        if t.children_left[node] < 0:
            samples = int(t.n_node_samples[node])
            rule = {"conditions": _simplify(conds, design), "samples": samples, "share": samples / total}
            if task == "classification":
                v = t.value[node, 0]
                k = int(np.argmax(v))
                label = tree.classes_[k]
                rule["prediction"] = class_names[int(label)] if class_names and int(label) < len(class_names) \
                    else str(label)
                rule["purity"] = float(v[k] / v.sum())
            else:
                rule["prediction"] = float(t.value[node, 0, 0])
            out.append(rule)
            return
        col, thr = int(t.feature[node]), float(t.threshold[node])
        walk(t.children_left[node], conds + [(col, thr, True)])
        walk(t.children_right[node], conds + [(col, thr, False)])

    walk(0, [])
    return out


__all__ = ["global_importance", "GlobalImportance", "surrogate", "SurrogateTree"]
