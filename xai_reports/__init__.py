"""xai-reports: audit-ready explanation documents for regulated decisions.

Public API (pinned by ``tests/test_public_api.py``)::

    wrap_model(obj, feature_names=None)      -> ModelAdapter
    explain(model, X, method=..., **options) -> Attribution
    load_pack(name_or_path)                  -> LoadedPack
    generate_letters(model, data, pack, out) -> BatchSummary
    generate_incident_report(model, clip, incident, out) -> {"files", "record"}
"""

from ._version import __version__
from .adapters import ModelAdapter, load_model, wrap_model
from .attribution import Attribution, explain
from . import metrics
from .errors import (ConstraintViolation, ExplanationError, InputError, ModelLoadError, PackError,
                     RenderError, TemplateError, UnsafeModelError, XaiReportsError)
from .letters import generate_letters, regenerate
from .driving.report import generate_incident_report
from .packs import load_pack

__all__ = [
    "__version__",
    "wrap_model", "load_model", "ModelAdapter",
    "explain", "Attribution", "metrics",
    "load_pack",
    "generate_letters", "regenerate",
    "generate_incident_report",
    "XaiReportsError", "InputError", "PackError", "ModelLoadError", "UnsafeModelError",
    "ExplanationError", "RenderError", "TemplateError", "ConstraintViolation",
]
