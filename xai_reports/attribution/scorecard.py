"""Reason strengths of a points-table scorecard: points below the maximum, or below the reference.

Regulation B comment 9(b)(2)-5 describes scoring-system reasons as the
factors for which the applicant's score fell furthest below a reference:
the average points of applicants at or just above the cutoff (method (a)),
or of all applicants (method (b)); the maximum-points method (each
characteristic's highest attainable points) is the common alternative the
comment allows as "substantially similar". A scorecard is additive, so each
is an exact, additive attribution:

* no ``background=``: ``phi_j = points_j(x) - max_j`` (``params["reference"] == "max_points"``);
  ``base_values`` is the score of an applicant earning every maximum;
* ``background=`` rows: ``phi_j = points_j(x) - mean_B points_j`` (the exact
  interventional Shapley value of an additive model against ``B``).

Values are in the adapter's output space: the margin (log-odds of good,
points divided by the scaling factor) or the score itself, and
``values.sum(1) + base_values`` equals that output exactly. With the pack's
reference population (``all_applicants`` or ``near_cutoff``) the reasons
pipeline subtracts that population's mean again, which gives points below
the population's average: methods (b) and (a).
"""

from __future__ import annotations

import numpy as np

from ..errors import ExplanationError
from .base import Attribution, Explainer, additivity_check


class ScorecardPoints(Explainer):
    """Points below the maximum (or the background's average), per characteristic.

    Examples::

        >>> attr = ScorecardPoints(load_model("scorecard.yaml")).attribute(X)
        >>> attr.params["reference"]
        'max_points'
    """

    name = "scorecard"
    additive = True
    claims = "additivity"

    def _check_model(self, adapter) -> None:
        if getattr(adapter, "family", None) != "scorecard":
            raise ExplanationError(f"method 'scorecard' needs a points-table scorecard; {adapter!r} is not one")

    def __init__(self, model, *, tolerance: float = 1e-9, device: str = "auto"):
        """Store the model and the options (as :meth:`_explain` documents them); no work is done here."""
        self.model = model
        self.tolerance = tolerance
        self.device = device

    def _expected_value(self):
        """The score of an applicant earning every maximum, or the background's mean (in output units)."""
        ad = self.model_
        card = ad.card
        if self.background_ is None:
            ref = card.max_points()[[card.features.index(f) for f in ad.feature_names]]
        else:
            ref = ad.points(self.background_).mean(axis=0)
        value = float(ref.sum() + card.intercept)
        return (value - card.offset) / card.factor if ad.is_classifier else value

    def _explain(self, X, *, background=None, tolerance: float = 1e-9, device: str = "auto",
                  **_ignored) -> Attribution:
        """Attribute each row of ``X`` (see the module docstring)."""
        ad = self.model_
        card = ad.card
        unit = card.factor if ad.is_classifier else 1.0
        pts = ad.points(X)
        if background is None:
            ref = card.max_points()[[card.features.index(f) for f in ad.feature_names]]
            kind = "max_points"
        else:
            bp = ad.points(background)
            if len(bp) == 0:
                raise ExplanationError("background= has no rows")
            ref = bp.mean(axis=0)
            kind = "reference_mean"
        values = (pts - ref[None, :]) / unit
        preds = ad.predict(X)
        base_value = float(ref.sum() + card.intercept)
        if ad.is_classifier:
            base_value = (base_value - card.offset) / card.factor
        base = np.full(len(values), base_value)
        return Attribution(
            values=values, base_values=base, feature_names=list(ad.feature_names), method=self.name,
            output=ad.output_space, predictions=preds,
            params={"reference": kind, "points_per_unit": float(unit),
                    **({"background_rows": int(len(background))} if background is not None else {})},
            self_check=additivity_check(values, base, preds, tolerance),
            extras={"points": pts, "reference_points": ref})


__all__ = ["ScorecardPoints"]
