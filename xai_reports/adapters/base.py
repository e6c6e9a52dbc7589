"""The model adapter: one uniform view over XGBoost, scikit-learn and torch models.

An adapter states

* ``output_space``: the space of its raw output, the one attributions explain by
  default: ``"margin"`` (log-odds of a tree ensemble or a decision function),
  ``"logit"`` (a torch module's pre-softmax output), ``"probability"`` or ``"value"``
  (regression);
* its capabilities as tags: ``is_tree_ensemble``, ``is_differentiable``,
  ``is_classifier``, ``supports_gpu``;
* ``feature_names`` when the model knows them.

and offers ``predict(X, output=None)`` in any space it can reach.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

OUTPUT_SPACES = ("margin", "logit", "probability", "value")


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def additive_output_space(output_space: str | None, *, identity: bool, family: str) -> str:
    """The space a tree ensemble's leaves add up in: ``"value"`` for identity links, else ``"margin"``.

    Raises:
        ValueError: any other ``output_space`` asked for (probabilities are a ``predict`` output).
    """
    if output_space is None:
        return "value" if identity else "margin"
    if output_space not in ("margin", "value"):
        raise ValueError(f"output_space={output_space!r}: {family} trees add up in 'margin' or 'value' "
                         "(ask predict(X, output='probability') for probabilities)")
    return output_space


class ModelAdapter:
    """Base class of every adapter. Subclasses implement ``_raw_predict``."""

    family: str = "generic"
    output_space: str = "value"
    is_tree_ensemble: bool = False
    is_differentiable: bool = False
    is_classifier: bool = False
    supports_gpu: bool = False

    def __init__(self, model: Any, *, feature_names: Sequence[str] | None = None):
        self.model = model
        self.feature_names = list(feature_names) if feature_names is not None else None

    # -- capabilities ---------------------------------------------------------
    @property
    def tags(self) -> dict:
        """Capability tags, so callers choose methods without isinstance ladders."""
        return {
            "family": self.family,
            "output_space": self.output_space,
            "tree_ensemble": self.is_tree_ensemble,
            "differentiable": self.is_differentiable,
            "classifier": self.is_classifier,
            "supports_gpu": self.supports_gpu,
        }

    @property
    def n_features(self) -> int | None:
        return None if self.feature_names is None else len(self.feature_names)

    def model_columns(self, X):
        """DataFrame ``X`` with the model's columns in the model's order.

        Raises:
            ValueError: ``X`` lacks some of the model's features (named).
        """
        if self.feature_names is None:
            return X
        missing = [c for c in self.feature_names if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the model's feature(s) {missing}")
        return X[self.feature_names]

    # -- prediction -----------------------------------------------------------
    def _raw_predict(self, X) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, X, output: str | None = None) -> np.ndarray:
        """Model output for ``X`` in ``output`` space (default: ``self.output_space``).

        Binary classifiers give shape ``(n,)`` (the positive class), multi-output
        models ``(n, k)``.
        """
        raw = np.asarray(self._raw_predict(X), dtype=np.float64)
        return self.convert(raw, self.output_space, output or self.output_space)

    def __call__(self, X) -> np.ndarray:
        return self.predict(X)

    def predict_proba(self, X) -> np.ndarray:
        """Probability of the positive class (binary) or of each class."""
        if not self.is_classifier:
            raise TypeError(f"{type(self.model).__name__} is not a classifier")
        return self.predict(X, output="probability")

    @staticmethod
    def convert(raw: np.ndarray, space: str, to: str) -> np.ndarray:
        """Convert model outputs between spaces (``margin``/``logit`` -> ``probability`` and back)."""
        if to not in OUTPUT_SPACES:
            raise ValueError(f"unknown output space {to!r}; expected one of {OUTPUT_SPACES}")
        if to == space:
            return raw
        logits = {"margin", "logit"}
        if space in logits and to in logits:
            return raw
        if space in logits and to == "probability":
            return _sigmoid(raw) if raw.ndim == 1 else _softmax(raw)
        if space == "probability" and to in logits:
            p = np.clip(raw, 1e-12, 1 - 1e-12)
            if raw.ndim == 1:
                return np.log(p) - np.log1p(-p)
            return np.log(p)
        raise ValueError(f"cannot convert {space!r} output to {to!r}")

    # -- provenance -----------------------------------------------------------
    def model_bytes(self) -> bytes:
        """A canonical serialisation used for the model hash."""
        raise NotImplementedError

    @property
    def sha256(self) -> str:
        """SHA-256 of the model's canonical serialisation."""
        if not hasattr(self, "_sha256"):
            self._sha256 = hashlib.sha256(self.model_bytes()).hexdigest()
        return self._sha256

    def describe(self) -> dict:
        """What the JSON record and the audit report say about the model."""
        return {"family": self.family, "class": type(self.model).__name__,
                "sha256": self.sha256, **self.tags,
                "feature_names": self.feature_names}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__}, output_space={self.output_space!r})"
