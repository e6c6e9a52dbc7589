"""Regulation B principal reasons from attributions.

The method follows Reg B comment 9(b)(2)-5: for each factor, compare the
applicant's contribution with the average contribution of a reference
population (all applicants, or applicants at or just above the approval
cutoff), and name the factors where the applicant fell furthest behind.
Features that map to the same reason statement are summed first. Only
features the model uses count; protected attributes never do. When no factor
pushes toward denial, or the attributions fail their additivity check, no
reason is invented and the decision is flagged for human review.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...attribution import Attribution, explain
from ...errors import InputError


@dataclass
class Reference:
    """The reference population's mean attribution per feature.

    Attributes:
        kind: ``"all_applicants"`` or ``"near_cutoff"`` (comment 9(b)(2)-5 (b) or (a)).
        values: mean attribution per feature, shape ``(d,)``.
        n_rows: rows in the population.
        description: what the population is, for the record.
    """

    kind: str
    values: np.ndarray
    feature_names: list[str]
    n_rows: int
    description: str
    score_band: tuple[float, float] | None = None
    feature_means: dict | None = None   # mean value of features worded by direction (reason_by_direction)

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "n_rows": self.n_rows, "description": self.description,
               "score_band": None if self.score_band is None else list(self.score_band),
               "mean_attribution": dict(zip(self.feature_names, map(float, self.values)))}
        if self.feature_means:
            out["mean_value"] = {k: float(v) for k, v in sorted(self.feature_means.items())}
        return out


def _letter(pack):
    """The pack's ``letter`` section (the decision, reasons settings, reference population)."""
    return getattr(pack, "spec", pack).section("letter")


def deny_probability(adapter, X, pack) -> np.ndarray:
    """P(deny) for each row, whatever the model's positive class is."""
    p = adapter.predict(X, output="probability")
    return p if _letter(pack).decision.positive_class == "deny" else 1.0 - p


def build_reference(adapter, X_ref: pd.DataFrame | None, pack, *, method: str | None = None,
                    options: dict | None = None) -> Reference:
    """Compute the reference population of ``pack`` from reference rows ``X_ref``.

    With ``X_ref=None`` the reference is the model's own baseline (the expected
    output over its training data, as TreeSHAP measures it): zero mean attribution.
    """
    fin = _letter(pack)
    names = list(adapter.feature_names)
    kind = fin.reference_population.kind
    by_direction = [f for f in names if f in pack.features and pack.features[f].reason_by_direction is not None
                    and pack.features[f].lawful_input()]
    if X_ref is None:
        if kind == "near_cutoff":
            raise InputError("the pack's reference population is 'near_cutoff': give reference data (--reference)")
        if by_direction:
            raise InputError(f"feature '{by_direction[0]}' is worded by its direction relative to the reference "
                             "population (reason_by_direction): give reference data (--reference)")
        return Reference(kind, np.zeros(len(names)), names, 0,
                         "all applicants in the model's training data (TreeSHAP baseline)")
    p = deny_probability(adapter, X_ref, pack)
    band = None
    if kind == "near_cutoff":
        thr = fin.decision.threshold
        band = (max(0.0, thr - fin.reference_population.band), thr)
        mask = (p >= band[0]) & (p < band[1])
        rows = X_ref[mask]
        desc = (fin.reference_population.description or
                f"approved applicants at or just above the cutoff (P(deny) in [{band[0]:.3f}, {band[1]:.3f}))")
    else:
        rows = X_ref
        desc = fin.reference_population.description or "all applicants in the reference data"
    if len(rows) < fin.reference_population.min_rows:
        raise InputError(
            f"reference population '{kind}' has {len(rows)} rows, fewer than min_rows="
            f"{fin.reference_population.min_rows}; widen 'band' or give more reference data")
    from ...attribution.auto import background_options

    method = method or pack.explanation.method
    means = {f: float(np.nanmean(pd.to_numeric(rows[f], errors="coerce").to_numpy(dtype=float)))
             for f in by_direction} or None
    # methods that explain against a population get the whole reference data as background
    opts = {**background_options(method, adapter, X_ref), **(options or {})}
    if kind != "near_cutoff" and "background" in opts:
        # the population's mean attribution against itself (exactly zero for interventional Shapley
        # values, by antisymmetry), computed on the background rows the method was given
        rows = opts["background"]
    attr = explain(adapter, rows, method=method, **opts)
    return Reference(kind, attr.values.mean(axis=0), names, int(len(rows)), desc, band, means)


@dataclass
class ReasonResult:
    """Reasons chosen for one decision, and why.

    Attributes:
        reasons: ranked dicts ``{key, code, text, score, features}``.
        flagged: True when the decision needs human review instead of reasons.
        flag_reason: why it was flagged.
        factor_scores: every reason group's push toward denial (margin units).
    """

    reasons: list[dict] = field(default_factory=list)
    flagged: bool = False
    flag_reason: str | None = None
    factor_scores: dict = field(default_factory=dict)


def select_reasons(attr: Attribution, i: int, reference: Reference, pack, values: dict | None = None) -> ReasonResult:
    """Principal reasons for row ``i`` of ``attr``.

    The push of feature ``j`` toward denial is ``sign * (phi_j - ref_j)``, where
    ``sign`` is +1 when the model's positive class is denial. Features sharing
    a reason are summed; reasons are ranked by that sum; at most
    ``letter.max_reasons`` with a push above ``letter.min_contribution`` are kept.
    ``values`` (feature -> the applicant's value) selects value-dependent reasons
    (``reason_by_value`` in the pack), so the statement describes the actual factor.
    """
    fin = _letter(pack)
    sign = 1.0 if fin.decision.positive_class == "deny" else -1.0
    phi = attr.values[i]
    push = sign * (phi - reference.values)
    groups: dict[str, list[tuple[str, float]]] = {}
    unworded: dict[str, float] = {}
    means = reference.feature_means or {}
    for j, name in enumerate(attr.feature_names):
        key = pack.reason_for(name, None if values is None else values.get(name), reference=means.get(name))
        if key is None:
            unworded[name] = float(push[j])
            continue
        groups.setdefault(key, []).append((name, float(push[j])))
    scores = {k: sum(v for _, v in feats) for k, feats in groups.items()}
    result = ReasonResult(factor_scores={k: float(v) for k, v in sorted(scores.items())})

    check = attr.self_check
    per_row = check.get("per_row")
    err = float(per_row[i]) if per_row is not None else float(check.get("max_abs_error", 0.0))
    if check and err > check.get("tolerance", np.inf):
        result.flagged = True
        result.flag_reason = (f"attributions fail the additivity check (error {err:.2e} > "
                              f"tolerance {check['tolerance']:.0e}); reasons withheld")
        return result
    ranked = sorted((k for k in scores if scores[k] > fin.min_contribution),
                    key=lambda k: (-scores[k], k))
    # a factor the pack gives no statement for must never be left out silently when it is a principal
    # reason (comment 9(b)(2)-4): route the decision to review instead of stating the others
    stated = [scores[k] for k in ranked[:fin.max_reasons]]
    hidden = sorted((n for n, v in unworded.items() if v > fin.min_contribution
                     and (len(stated) < fin.max_reasons or v > min(stated))), key=lambda n: (-unworded[n], n))
    if hidden:
        result.flagged = True
        result.flag_reason = (f"feature '{hidden[0]}' is among the principal reasons (push {unworded[hidden[0]]:.4g}) "
                              "but the pack gives it no reason statement for this value; reasons withheld")
        return result
    if not ranked:
        result.flagged = True
        result.flag_reason = "no factor pushed this application toward denial relative to the reference population"
        return result
    for k in ranked[:fin.max_reasons]:
        spec = pack.reasons[k]
        result.reasons.append({
            "key": k, "code": spec.code, "text": spec.text, "score": float(scores[k]),
            "features": [{"name": n, "push": v} for n, v in sorted(groups[k], key=lambda t: -t[1])],
        })
    return result
