"""The model validation / compliance audit report, as a plain content tree.

:func:`audit` runs every check on a labelled data set and returns an
:class:`AuditReport`: a list of sections made of simple blocks (paragraphs,
lists, key-value tables, tables, figures, collapsible details; see
:mod:`xai_reports.documents.blocks`), the machine-readable ``results`` behind
them, and the findings ranked by severity. Nothing here produces HTML:
:meth:`AuditReport.to_html` / :meth:`~AuditReport.to_pdf` hand the tree to
:mod:`xai_reports.render.audit`. Every number in the report is computed by the run.

Sections follow REGULATORY.md §2.3 (SR 26-2, which supersedes SR 11-7, keeps the
SR 11-7 structure): identification, executive summary and findings, scope,
model, data, performance by subgroup, global importance, dependence, surrogate
tree, explanation quality, reason-code audit, counterfactual recourse,
fairness metrics (configurable; jurisdiction-dependent), limitations,
monitoring plan, sign-off, reproducibility appendix.

Modules: :mod:`.pipeline` (the entry point, inputs), :mod:`.context` (what the
sections share), one module per group of sections (:mod:`.data`,
:mod:`.performance`, :mod:`.importance`, :mod:`.reasons`, :mod:`.quality`,
:mod:`.recourse`, :mod:`.fairness`), :mod:`.wording` (the sector's words),
:mod:`.assemble` (the content tree around them) and :mod:`.report` (the report
object, saving and re-rendering).
"""

from __future__ import annotations

from .data import describe_trees
from .pipeline import audit
from .report import RECORD_SCHEMA, SEVERITY_ORDER, AuditReport, rerender_audit

__all__ = ["audit", "AuditReport", "rerender_audit", "describe_trees", "RECORD_SCHEMA", "SEVERITY_ORDER"]
