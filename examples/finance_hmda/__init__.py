"""The finance example: an XGBoost model of mortgage denial on the real Boston HMDA data.

:mod:`.data` loads the applications, :mod:`.train` trains the seeded model and
:mod:`.demo` writes the model, the data files, adverse-action letters and the audit report.
"""
