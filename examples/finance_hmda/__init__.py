"""The finance example: an XGBoost model of mortgage denial on the real Boston HMDA data.

:mod:`.data` loads the applications, :mod:`.train` trains the seeded model and
:mod:`.demo` writes the model, the data files, adverse-action letters and the audit report.
"""

from .data import FEATURES, PROTECTED, SEED, load_hmda
from .train import train_model

__all__ = ["FEATURES", "PROTECTED", "SEED", "load_hmda", "train_model"]
