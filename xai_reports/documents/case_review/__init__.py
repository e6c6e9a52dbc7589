"""The clinician case-review sheet: one document kind, its whole pipeline.

* :mod:`.job`: :func:`generate_case_reviews` (the batch on the batch engine), :func:`render_case_review`,
  :func:`rerender_case_review` (for ``xai-reports verify``);
* :mod:`.sections`, :mod:`.tabular`, :mod:`.image`: the record and sheet sections, per model kind;
* :mod:`.content`: the content tree the template prints;
* :mod:`.uncertainty` (calibration, conformal sets, intervals), :mod:`.evidence` (image evidence maps),
  :mod:`.privacy` (print profiles, de-identification check), :mod:`.quality` (image reading and quality),
  :mod:`.card` (the model card), :mod:`.charts` (probability and contribution charts).

Image model architectures are registered in :mod:`xai_reports.adapters.architectures`.
"""

from .content import REVIEW_OPTIONS, case_review_content
from .job import (FORMATS, CaseReviewJob, CaseReviewRenderer, CaseReviewSummary, generate_case_reviews,
                  render_case_review, rerender_case_review)
from .sections import RECORD_SCHEMA, performance_metrics

__all__ = ["generate_case_reviews", "render_case_review", "rerender_case_review", "CaseReviewSummary",
           "CaseReviewJob", "CaseReviewRenderer", "performance_metrics", "case_review_content", "REVIEW_OPTIONS",
           "FORMATS", "RECORD_SCHEMA"]
