"""The adverse-action letter kind: content (:mod:`.content`), rendering and re-rendering
(:mod:`.render`), and the batch that writes a letter for each denied row (:mod:`.job`).

data -> checked rows -> model -> attributions -> Reg B reasons -> letter content
-> HTML and PDF (with the JSON record embedded) + JSON record, per denied row.
"""

from .content import LABELS, letter_content, letter_labels
from .job import (RECORD_SCHEMA, BatchSummary, LetterJob, declared_model_features, generate_letters,
                  refuse_protected_inputs, software_versions)
from .render import FORMATS, LetterRenderer, letter_template, render_letter, rerender_letter

__all__ = ["generate_letters", "LetterJob", "BatchSummary", "LetterRenderer", "render_letter",
           "rerender_letter", "letter_template", "letter_content", "letter_labels", "LABELS",
           "declared_model_features", "refuse_protected_inputs", "software_versions", "FORMATS", "RECORD_SCHEMA"]
