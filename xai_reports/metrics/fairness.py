"""Fair-lending metrics: adverse impact ratio, standardized mean difference, marginal effects.

These are the screening statistics of REGULATORY.md §2.2. Their legal weight
depends on jurisdiction (the four-fifths rule comes from employment law, UGESP
29 CFR 1607.4(D); no lending regulator has codified it), so they are
measurements for a reviewer, never a finding of compliance or discrimination.

* :func:`adverse_impact_ratio`: favourable-outcome rate of each group divided by
  the reference group's rate (by default the group with the highest rate), with
  the 0.80 flag, the difference in percentage points and a two-proportion
  z-test (and Fisher's exact test) against the reference group.
* :func:`standardized_mean_difference`: ``(mean_g - mean_ref) / pooled SD`` of a
  continuous outcome (e.g. the model's approval probability).
* :func:`logit_marginal_effect`: the average marginal effect of a group
  indicator in a logit that controls for other factors, with a delta-method
  standard error (fitted by Newton-Raphson; no extra dependency).
* :func:`proxy_screen`: how strongly each model input is associated with a
  protected attribute.

Groups smaller than ``min_group_size`` are reported with their size and no
ratio or test (never a division by a near-empty count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["two_proportion_ztest", "adverse_impact_ratio", "standardized_mean_difference",
           "logit_marginal_effect", "proxy_screen", "MISSING_GROUP", "band_groups", "DEFAULT_AGE_BANDS"]

MISSING_GROUP = "(missing)"

# Regulation B 12 CFR 1002.2(o): an "elderly" applicant is 62 or older.
DEFAULT_AGE_BANDS = (62.0,)


def _fmt_cut(x: float) -> str:
    return f"{x:g}"


def band_labels(edges) -> list[str]:
    """Labels of the bands cut at ``edges``: ``[62]`` -> ``["under 62", "62 or over"]``."""
    edges = [float(e) for e in edges]
    out = [f"under {_fmt_cut(edges[0])}"]
    out += [f"{_fmt_cut(a)} to under {_fmt_cut(b)}" for a, b in zip(edges, edges[1:])]
    out.append(f"{_fmt_cut(edges[-1])} or over")
    return out


def band_groups(values, edges) -> pd.Series:
    """Numeric values (an applicant's age, say) as band labels for the fairness tables.

    A value ``x`` falls in the band ``[edge_k, edge_k+1)``; missing values are
    :data:`MISSING_GROUP`. One group per band, so a numeric attribute never
    becomes one group per distinct value.

    Examples::

        >>> band_groups([30, 61.5, 62, 80, None], [62]).tolist()
        ['under 62', 'under 62', '62 or over', '62 or over', '(missing)']
    """
    x = pd.to_numeric(pd.Series(values).reset_index(drop=True), errors="coerce").to_numpy(dtype=float)
    labels = band_labels(edges)
    idx = np.searchsorted(np.asarray(edges, dtype=float), x, side="right")
    out = np.array([labels[i] for i in np.clip(idx, 0, len(labels) - 1)], dtype=object)
    out[np.isnan(x)] = MISSING_GROUP
    return pd.Series(out, dtype=object)


def default_bands(name: str, label: str, values) -> tuple[list[float], str]:
    """Band edges for a numeric protected attribute the pack gives no ``bands`` for, and where they come from.

    Age (by column name or label): under 62 / 62 or over (Reg B 12 CFR 1002.2(o)).
    Anything else: split at the median.
    """
    words = f"{name} {label}".lower().replace("_", " ").split()
    if "age" in words or any(w.startswith("age") and w[3:].isdigit() for w in words):
        return list(DEFAULT_AGE_BANDS), "default for age: under 62 / 62 or over (12 CFR 1002.2(o))"
    x = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    med = float(np.median(x)) if len(x) else 0.0
    return [med], "default: split at the median (declare 'bands' in the pack)"


def _group_labels(groups) -> pd.Series:
    s = pd.Series(groups).reset_index(drop=True).astype(object)
    return s.where(s.notna(), MISSING_GROUP).astype(str)


def two_proportion_ztest(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of ``x1/n1`` against ``x2/n2``.

    Args:
        x1, n1: favourable count and size of group 1.
        x2, n2: favourable count and size of group 2.

    Returns:
        ``(z, p_value)`` (two-sided). ``(nan, nan)`` when a group is empty or
        the pooled rate is 0 or 1 (no variance to test against).

    Examples::

        >>> z, p = two_proportion_ztest(40, 100, 60, 100)
        >>> round(z, 3), round(p, 4)
        (-2.828, 0.0047)
    """
    if n1 <= 0 or n2 <= 0:
        return math.nan, math.nan
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return math.nan, math.nan
    z = (p1 - p2) / math.sqrt(var)
    return float(z), float(2 * stats.norm.sf(abs(z)))


def adverse_impact_ratio(favorable, groups, *, reference=None, threshold: float = 0.8,
                         min_group_size: int = 30) -> pd.DataFrame:
    """Adverse impact ratio (AIR) of each group against a reference group.

    Args:
        favorable: shape ``(n,)`` booleans, True where the outcome is favourable
            (e.g. the application is approved).
        groups: shape ``(n,)`` group label of each row (missing values form the
            group ``"(missing)"``).
        reference: the reference group's label; ``None`` takes the group with
            the highest favourable rate among groups of at least ``min_group_size``
            rows (the UGESP four-fifths comparison).
        threshold: AIR below this is flagged (0.80, the four-fifths rule).
        min_group_size: groups with fewer rows get no ratio and no test.

    Returns:
        A DataFrame, one row per group (sorted by label) with columns ``group``,
        ``n``, ``favorable``, ``rate``, ``is_reference``, ``air``,
        ``difference_pp`` (rate minus the reference rate, in percentage points),
        ``z``, ``p_value`` (two-proportion z-test), ``fisher_p``, ``flag``
        (AIR < threshold), ``assessed`` and ``note``.

    Raises:
        ValueError: ``favorable`` and ``groups`` differ in length, or the
            reference group is unknown.

    Examples::

        >>> t = adverse_impact_ratio([1, 1, 0, 1, 0, 0], ["a", "a", "a", "b", "b", "b"], min_group_size=1)
        >>> t.set_index("group").loc["b", "air"]
        0.5
    """
    fav = np.asarray(favorable).astype(bool)
    g = _group_labels(groups)
    if len(fav) != len(g):
        raise ValueError(f"favorable has {len(fav)} rows, groups {len(g)}")
    rows = []
    for label in sorted(g.unique()):
        m = (g == label).to_numpy()
        n = int(m.sum())
        x = int(fav[m].sum())
        rows.append({"group": label, "n": n, "favorable": x, "rate": x / n if n else math.nan})
    t = pd.DataFrame(rows, columns=["group", "n", "favorable", "rate"])
    big = t[t["n"] >= min_group_size]
    if reference is None:
        if big.empty:
            ref_label = None
        else:
            ref_label = big.sort_values(["rate", "n", "group"], ascending=[False, False, True]).iloc[0]["group"]
    else:
        ref_label = str(reference)
        if ref_label not in set(t["group"]):
            raise ValueError(f"reference group {ref_label!r} is not among the groups {sorted(t['group'])}")
    t["is_reference"] = t["group"] == ref_label
    air, diff, zs, ps, fps, flags, assessed, notes = [], [], [], [], [], [], [], []
    ref = t[t["is_reference"]].iloc[0] if ref_label is not None else None
    for _, r in t.iterrows():
        ok = r["n"] >= min_group_size and ref is not None and ref["n"] >= min_group_size
        note = ""
        if r["n"] < min_group_size:
            note = f"{r['n']} rows, fewer than the minimum group size {min_group_size}: not assessed"
        elif ref is None:
            note = "no group reaches the minimum size: no reference group"
        elif ref["n"] < min_group_size:
            note = f"reference group has {ref['n']} rows, fewer than {min_group_size}: not assessed"
        if not ok:
            air.append(math.nan); diff.append(math.nan); zs.append(math.nan); ps.append(math.nan)
            fps.append(math.nan); flags.append(False); assessed.append(False); notes.append(note)
            continue
        ratio = r["rate"] / ref["rate"] if ref["rate"] > 0 else math.nan
        if r["is_reference"]:
            z = p = fp = math.nan
        else:
            z, p = two_proportion_ztest(int(r["favorable"]), int(r["n"]), int(ref["favorable"]), int(ref["n"]))
            table = [[int(r["favorable"]), int(r["n"] - r["favorable"])],
                     [int(ref["favorable"]), int(ref["n"] - ref["favorable"])]]
            fp = float(stats.fisher_exact(table).pvalue)
        if ref["rate"] == 0:
            note = "the reference group has no favourable outcomes: the ratio is undefined"
        air.append(ratio)
        diff.append(100.0 * (r["rate"] - ref["rate"]))
        zs.append(z); ps.append(p); fps.append(fp)
        flags.append(bool(not math.isnan(ratio) and ratio < threshold))
        assessed.append(True)
        notes.append(note)
    t["air"] = air
    t["difference_pp"] = diff
    t["z"] = zs
    t["p_value"] = ps
    t["fisher_p"] = fps
    t["flag"] = flags
    t["assessed"] = assessed
    t["note"] = notes
    return t


def standardized_mean_difference(values, groups, *, reference, min_group_size: int = 30) -> pd.DataFrame:
    """Standardized mean difference of a continuous outcome, each group against ``reference``.

    ``SMD = (mean_g - mean_ref) / s_pooled`` with
    ``s_pooled = sqrt(((n_g - 1) s_g^2 + (n_ref - 1) s_ref^2) / (n_g + n_ref - 2))``.
    Read its sign by whether higher values are better for the applicant.

    Args:
        values: shape ``(n,)`` outcome (e.g. the model's approval probability).
        groups: shape ``(n,)`` group labels.
        reference: the reference group's label.
        min_group_size: smaller groups get no SMD.

    Returns:
        A DataFrame, one row per group with ``group``, ``n``, ``mean``, ``sd``,
        ``smd`` (NaN for the reference group, small groups, or a pooled SD of 0)
        and ``note``.

    Examples::

        >>> t = standardized_mean_difference([1., 2., 3., 2., 3., 4.], list("aaabbb"), reference="a", min_group_size=2)
        >>> float(t.set_index("group").loc["b", "smd"])
        1.0
    """
    v = np.asarray(values, dtype=np.float64)
    g = _group_labels(groups)
    ref_label = str(reference)
    rm = (g == ref_label).to_numpy()
    rv = v[rm]
    rows = []
    for label in sorted(g.unique()):
        x = v[(g == label).to_numpy()]
        n = len(x)
        row = {"group": label, "n": n, "mean": float(x.mean()) if n else math.nan,
               "sd": float(x.std(ddof=1)) if n > 1 else math.nan, "smd": math.nan, "note": ""}
        if n < min_group_size:
            row["note"] = f"{n} rows, fewer than the minimum group size {min_group_size}: not assessed"
        elif len(rv) < min_group_size:
            row["note"] = f"reference group has {len(rv)} rows: not assessed"
        elif label != ref_label:
            pooled = math.sqrt(((n - 1) * x.var(ddof=1) + (len(rv) - 1) * rv.var(ddof=1)) / (n + len(rv) - 2))
            if pooled > 0:
                row["smd"] = float((x.mean() - rv.mean()) / pooled)
            else:
                row["note"] = "no variation in either group: SMD undefined"
        rows.append(row)
    return pd.DataFrame(rows, columns=["group", "n", "mean", "sd", "smd", "note"])


@dataclass
class MarginalEffect:
    """Average marginal effect of a group indicator in a logit.

    Attributes:
        ame: average over the group's rows of ``P(y | x, g=1) - P(y | x, g=0)``
            (probability units; multiply by 100 for percentage points).
        se: delta-method standard error.
        z, p_value: Wald test of ``ame == 0`` (two-sided).
        ci: 95% confidence interval.
        coef: the indicator's logit coefficient.
        n: rows used; converged: whether Newton-Raphson converged.
        note: why the effect could not be estimated, when it could not.
    """

    ame: float
    se: float
    z: float
    p_value: float
    ci: tuple[float, float]
    coef: float
    n: int
    converged: bool
    note: str = ""

    def to_dict(self) -> dict:
        return {"ame": self.ame, "se": self.se, "z": self.z, "p_value": self.p_value,
                "ci": list(self.ci), "coef": self.coef, "n": self.n, "converged": self.converged,
                "note": self.note}


def _fit_logit(X: np.ndarray, y: np.ndarray, max_iter: int = 100, tol: float = 1e-10):
    """Maximum-likelihood logit by Newton-Raphson. Returns ``(beta, cov, converged)``."""
    beta = np.zeros(X.shape[1])
    converged = False
    for _ in range(max_iter):
        eta = np.clip(X @ beta, -35, 35)
        p = 1.0 / (1.0 + np.exp(-eta))
        w = p * (1 - p)
        grad = X.T @ (y - p)
        H = X.T @ (X * w[:, None])
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            return beta, None, False
        beta = beta + step
        if np.max(np.abs(step)) < tol * (1 + np.max(np.abs(beta))):
            converged = True
            break
    eta = np.clip(X @ beta, -35, 35)
    p = 1.0 / (1.0 + np.exp(-eta))
    H = X.T @ (X * (p * (1 - p))[:, None])
    try:
        cov = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return beta, None, False
    if np.max(np.abs(beta)) > 30:  # (quasi-)separation: the MLE does not exist
        converged = False
    return beta, cov, converged


def _design(controls) -> tuple[np.ndarray, list[str]]:
    """Numeric design matrix from controls (categoricals one-hot, first level dropped)."""
    if controls is None:
        return np.empty((0, 0)), []
    df = controls if isinstance(controls, pd.DataFrame) else pd.DataFrame(np.asarray(controls, dtype=float))
    parts, names = [], []
    for c in df.columns:
        col = df[c]
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object:
            d = pd.get_dummies(col.astype("category"), prefix=str(c), drop_first=True, dtype=float)
            d = d.loc[:, d.std() > 0]
            parts.append(d.to_numpy()); names += list(d.columns)
        else:
            x = col.to_numpy(dtype=float)
            if np.nanstd(x) > 0:
                parts.append(x[:, None]); names.append(str(c))
    if not parts:
        return np.empty((len(df), 0)), []
    return np.hstack(parts), names


def logit_marginal_effect(y, indicator, controls=None, *, alpha: float = 0.05,
                          over: str = "all") -> MarginalEffect:
    """Average marginal effect of a binary group indicator on a binary outcome.

    Fits ``logit P(y=1) = b0 + b_g * g + controls @ b`` by maximum likelihood and
    reports the discrete-change effect of the indicator averaged over rows,
    ``AME = mean_i [F(b0 + b_g + x_i b) - F(b0 + x_i b)]``, with a delta-method
    standard error (what ``statsmodels`` ``get_margeff(at="overall", dummy=True)``
    reports for a dummy).

    Args:
        y: shape ``(n,)`` 0/1 outcome (e.g. 1 = approved).
        indicator: shape ``(n,)`` 0/1 group membership.
        controls: shape ``(n, k)`` DataFrame or array of legitimate factors
            (categorical columns are one-hot encoded), or ``None`` for none.
        alpha: level of the confidence interval.
        over: ``"all"`` rows (the usual AME) or ``"group"`` (the rows with
            ``indicator == 1``: the effect on the applicants concerned).

    Returns:
        :class:`MarginalEffect`; when the logit cannot be estimated (perfect
        separation, a singular design) ``note`` says why and the numbers are NaN.

    Examples::

        >>> me = logit_marginal_effect(y, group == "b", controls=X[["income"]])
        >>> me.ame, me.p_value
    """
    y = np.asarray(y, dtype=float)
    g = np.asarray(indicator, dtype=float)
    n = len(y)
    Z, _ = _design(controls)
    if Z.shape[0] != n:
        Z = np.empty((n, 0))
    X = np.column_stack([np.ones(n), g, Z])
    nan = MarginalEffect(math.nan, math.nan, math.nan, math.nan, (math.nan, math.nan), math.nan, n, False)
    if g.sum() == 0 or g.sum() == n:
        nan.note = "every row is in the same group"
        return nan
    if y.sum() == 0 or y.sum() == n:
        nan.note = "the outcome takes one value only"
        return nan
    beta, cov, converged = _fit_logit(X, y)
    if cov is None or not converged:
        nan.note = ("the logit did not converge (the controls separate the outcomes, or the design is "
                    "singular): the adjusted marginal effect is not estimable")
        return nan
    if over not in ("all", "group"):
        raise ValueError(f"over must be 'all' or 'group', got {over!r}")
    rows = X if over == "all" else X[g == 1]
    X1, X0 = rows.copy(), rows.copy()
    X1[:, 1], X0[:, 1] = 1.0, 0.0
    p1 = 1 / (1 + np.exp(-(X1 @ beta)))
    p0 = 1 / (1 + np.exp(-(X0 @ beta)))
    ame = float(np.mean(p1 - p0))
    grad = ((p1 * (1 - p1))[:, None] * X1 - (p0 * (1 - p0))[:, None] * X0).mean(axis=0)
    se = float(math.sqrt(max(grad @ cov @ grad, 0.0)))
    z = ame / se if se > 0 else math.nan
    p = float(2 * stats.norm.sf(abs(z))) if se > 0 else math.nan
    q = stats.norm.ppf(1 - alpha / 2)
    return MarginalEffect(ame, se, float(z), p, (float(ame - q * se), float(ame + q * se)), float(beta[1]), n, True)


def proxy_screen(X: pd.DataFrame, groups, *, reference=None, min_group_size: int = 30) -> pd.DataFrame:
    """Association of each input with group membership (a screen for proxies).

    For each column and each group of at least ``min_group_size`` rows (other
    than ``reference``), the correlation between the column (numeric; categories
    as their codes) and the group's 0/1 indicator; the strongest absolute value
    per column is kept.

    Args:
        X: shape ``(n, d)`` model inputs.
        groups: shape ``(n,)`` group labels.
        reference: the reference group's label (not screened against itself).
        min_group_size: smaller groups are skipped.

    Returns:
        A DataFrame with ``feature``, ``group`` (the group with the strongest
        association), ``correlation`` (signed) and ``abs_correlation``, sorted by
        strength.

    Examples::

        >>> proxy_screen(X, race).head(3)
    """
    g = _group_labels(groups)
    counts = g.value_counts()
    labels = sorted(lbl for lbl, c in counts.items()
                    if c >= min_group_size and c < len(g) and (reference is None or lbl != str(reference)))
    rows = []
    for c in X.columns:
        col = X[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            x = col.cat.codes.to_numpy(dtype=float)
            x[x < 0] = np.nan
        else:
            x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        best = (None, math.nan)
        for lbl in labels:
            ind = (g == lbl).to_numpy(dtype=float)
            ok = ~np.isnan(x)
            if ok.sum() < 3 or np.std(x[ok]) == 0:
                continue
            r = float(np.corrcoef(x[ok], ind[ok])[0, 1])
            if best[0] is None or abs(r) > abs(best[1]):
                best = (lbl, r)
        rows.append({"feature": str(c), "group": best[0], "correlation": best[1],
                     "abs_correlation": abs(best[1]) if best[0] is not None else math.nan})
    t = pd.DataFrame(rows, columns=["feature", "group", "correlation", "abs_correlation"])
    return t.sort_values(["abs_correlation", "feature"], ascending=[False, True], na_position="last").reset_index(drop=True)
