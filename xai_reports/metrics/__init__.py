"""Quality metrics of explanations, as free functions (captum's style).

Faithfulness: :func:`deletion`, :func:`insertion` (each against a random-order
baseline), :func:`infidelity`. Robustness: :func:`max_sensitivity`.
Localisation (images): :func:`pointing_game`, :func:`relevance_mass`,
:func:`relevance_rank_accuracy`.

Every function takes the model (where it needs one) and an explanation, either
an :class:`~xai_reports.attribution.Attribution` or an array of values, or an
explanation function (``X -> values``; see :func:`explanation_func`).
"""

from ._faithfulness import CurveResult, deletion, infidelity, insertion
from ._localisation import pointing_game, region_masks, relevance_mass, relevance_rank_accuracy
from ._sensitivity import explanation_func, max_sensitivity

__all__ = ["deletion", "insertion", "infidelity", "CurveResult", "max_sensitivity", "explanation_func",
           "pointing_game", "relevance_mass", "relevance_rank_accuracy", "region_masks"]
