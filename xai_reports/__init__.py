"""xai-reports: audit-ready explanation documents for regulated decisions.

Public API (pinned by ``tests/test_public_api.py``)::

    wrap_model(obj, feature_names=None)      -> ModelAdapter
    explain(model, X, method=..., **options) -> Attribution
    global_importance(model, X, y=None, method=...) -> GlobalImportance
    surrogate(model, X, max_depth=3)         -> SurrogateTree
    load_pack(name_or_path)                  -> LoadedPack
    generate_letters(model, data, pack, out) -> BatchSummary
    counterfactuals(model, X, pack=..., k=3) -> CounterfactualResult
    verify(path, key=None)                   -> VerifyReport (tampering checks)
    audit(model, data, pack, target=...)     -> AuditReport
    generate_incident_report(model, clip, incident, out) -> {"files", "record"}
"""

from ._version import __version__
from .adapters import ModelAdapter, load_model, wrap_model
from .attribution import Attribution, explain
from .counterfactuals import CounterfactualResult, counterfactuals
from . import metrics
from .attribution.global_ import GlobalImportance, SurrogateTree, global_importance, surrogate
from .errors import (BatchStateError, ConstraintViolation, ExplanationError, InputError, IntegrityError,
                     KeyedError, ModelCallError, ModelLoadError, PackError, PrivacyError, RenderError, SchedulerError,
                     TemplateError, UnsafeModelError, XaiReportsError)
from .integrity import RunManifest, verify
from .documents.audit import AuditReport, audit
from .documents.letter import generate_letters
from .documents.regenerate import regenerate
from .documents.incident import generate_incident_report
from .packs import load_pack

__all__ = [
    "__version__",
    "wrap_model", "load_model", "ModelAdapter",
    "explain", "Attribution", "metrics",
    "global_importance", "GlobalImportance", "surrogate", "SurrogateTree",
    "load_pack",
    "generate_letters", "regenerate",
    "counterfactuals", "CounterfactualResult",
    "verify", "RunManifest",
    "audit", "AuditReport",
    "generate_incident_report",
    "XaiReportsError", "InputError", "PackError", "KeyedError", "ModelLoadError", "UnsafeModelError",
    "ExplanationError", "ModelCallError", "RenderError", "TemplateError", "ConstraintViolation",
    "PrivacyError", "IntegrityError", "SchedulerError", "BatchStateError",
]
