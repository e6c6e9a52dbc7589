"""Worked examples of xai-reports, outside the library: data preparation, training and demo runs.

Each sub-package is one example (``finance_hmda``, ``healthcare``, ``driving_synthetic``, ...);
:mod:`examples.demo` runs them all (``xai-reports demo`` from a source checkout). The
library (``xai_reports``) never imports this package.
"""
