"""Healthcare pack: clinician case-review sheets with diagnostic evidence maps.

Two shipped demonstration models: an XGBoost classifier on the real WDBC
measurements and a small CNN on SYNTHETIC lesion images (see :mod:`.lesions`).

Public entry points::

    generate_case_reviews(model, data, pack, out_dir, profile=, images=) -> CaseReviewSummary
    train_wdbc_model(out_dir) / train_lesion_model(out_dir)              -> model + model card
    make_lesion_set(n, seed=)                                             -> synthetic images, masks, labels
    run_healthcare_demo(out_dir)                                          -> both models, sheets in both profiles
"""

from .lesions import make_lesion_set
from .models import ARCHITECTURES, build_architecture


def __getattr__(name):
    if name in ("generate_case_reviews", "render_case_review", "CaseReviewSummary"):
        from . import review

        return getattr(review, name)
    if name in ("train_wdbc_model", "train_lesion_model"):
        from . import training

        return getattr(training, name)
    if name == "run_healthcare_demo":
        from .demo import run_healthcare_demo

        return run_healthcare_demo
    raise AttributeError(name)


__all__ = ["generate_case_reviews", "render_case_review", "CaseReviewSummary", "train_wdbc_model",
           "train_lesion_model", "make_lesion_set", "run_healthcare_demo", "ARCHITECTURES", "build_architecture"]
