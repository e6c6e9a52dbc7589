"""The desired outcome of a counterfactual, as a signed slack on the model's output.

Every target turns model outputs into

* ``prediction``: the number reported next to a counterfactual (P(deny) for a
  pack with a letter section, the desired class's probability, or the output value);
* ``valid``: whether the output is the desired one, exactly as the decision
  is made (strict or not, as the model decides);
* ``slack``: how far inside (> 0) or outside (< 0) the desired region the output
  is, used to rank candidates and as the loss of gradient refinement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass
class Target:
    """Base class. ``rows`` maps each evaluated candidate to its query row."""

    kind: str = "target"
    output: str = "probability"

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def raw(self, adapter, frame) -> np.ndarray:
        return np.asarray(adapter.predict(frame, output=self.output), dtype=np.float64)

    def evaluate(self, adapter, frame, rows: np.ndarray):
        """``(prediction, valid, slack)`` for the candidates in ``frame``."""
        return self.from_output(self.raw(adapter, frame), rows)

    def from_output(self, out: np.ndarray, rows: np.ndarray):  # pragma: no cover - abstract
        raise NotImplementedError

    def torch_slack(self, adapter, out, rows):  # pragma: no cover - abstract
        raise NotImplementedError

    def group(self, row: int):
        """Rows with the same group share donors (background rows already on the desired side)."""
        return 0


def _torch_prob(adapter, out):
    import torch

    if adapter.output_space in ("logit", "margin"):
        return torch.sigmoid(out) if out.ndim == 1 else torch.softmax(out, dim=-1)
    return out


@dataclass
class DecisionTarget(Target):
    """Finance packs: the decision flips to approval, P(deny) < threshold."""

    threshold: float = 0.5
    positive_class: str = "deny"
    kind: str = "decision"

    def describe(self) -> str:
        return f"approval: P(deny) < {self.threshold:g}"

    def from_output(self, p, rows):
        p_deny = p if self.positive_class == "deny" else 1.0 - p
        return p_deny, p_deny < self.threshold, self.threshold - p_deny

    def torch_slack(self, adapter, out, rows):
        p = _torch_prob(adapter, out)
        p_deny = p if self.positive_class == "deny" else 1.0 - p
        return self.threshold - p_deny


@dataclass
class ClassTarget(Target):
    """A class of a classifier: one class for every row, or per-row classes (``classes``)."""

    classes: np.ndarray | None = None  # (n_rows,) desired class index per query row
    n_classes: int = 2
    label: str = ""
    kind: str = "class"

    def describe(self) -> str:
        return f"class {self.label}" if self.label else "the other class"

    def group(self, row: int):
        return int(self.classes[row])

    def from_output(self, p, rows):
        want = self.classes[rows]
        if p.ndim == 1:  # binary: P(class 1); class 1 iff p > 0.5 (ties go to class 0, as argmax does)
            pred = np.where(want == 1, p, 1.0 - p)
            slack = np.where(want == 1, p - 0.5, 0.5 - p)
            valid = np.where(want == 1, p > 0.5, p <= 0.5)
            return pred, valid, slack
        idx = np.arange(len(p))
        pc = p[idx, want]
        other = p.copy()
        other[idx, want] = -np.inf
        best_other = other.max(axis=1)
        slack = pc - best_other
        return pc, slack > 0, slack

    def torch_slack(self, adapter, out, rows):
        import torch

        p = _torch_prob(adapter, out)
        want = torch.as_tensor(self.classes[rows], device=p.device)
        if p.ndim == 1:
            return torch.where(want == 1, p - 0.5, 0.5 - p)
        pc = p.gather(1, want[:, None])[:, 0]
        mask = torch.nn.functional.one_hot(want, p.shape[1]).bool()
        best_other = p.masked_fill(mask, float("-inf")).max(dim=1).values
        return pc - best_other


@dataclass
class RangeTarget(Target):
    """An output range ``[lo, hi]`` (either end may be ``None``) in ``output`` space."""

    lo: float = -np.inf
    hi: float = np.inf
    kind: str = "range"

    def describe(self) -> str:
        return f"{self.output} in [{self.lo:g}, {self.hi:g}]"

    def from_output(self, v, rows):
        if v.ndim != 1:
            raise InputError("an output range needs a model with one output; pass desired=<class> instead")
        slack = np.minimum(v - self.lo, self.hi - v)
        return v, slack >= 0, slack

    def torch_slack(self, adapter, out, rows):
        import torch

        if self.output == "probability":
            out = _torch_prob(adapter, out)
        return torch.minimum(out - self.lo, self.hi - out)


def resolve_target(adapter, X, desired, pack, output: str | None = None) -> Target:
    """Turn the user's ``desired`` into a :class:`Target`.

    * ``None``: approval under the pack's ``letter.decision``; otherwise, for a binary classifier,
      the other class than the one predicted for each row;
    * ``"approve"`` / ``"deny"``: with a pack that has a ``letter`` section;
    * a class label (in ``model.classes_``) or index;
    * ``(lo, hi)``: an output range (``output`` space; default probability for
      classifiers, the value otherwise).
    """
    fin = getattr(pack, "spec", pack).section("letter") if pack is not None else None
    if isinstance(desired, str) and desired.lower() in ("approve", "approval", "approved", "deny", "denial", "denied"):
        if fin is None:
            raise InputError(f"desired={desired!r} needs a pack with a letter section (its decision) (pack=...)")
        if desired.lower().startswith("deny") or desired.lower().startswith("deni"):
            raise InputError("desired='deny': counterfactuals explain how to reach approval; "
                             "pass an output range for other questions")
        desired = None
    if desired is None and fin is not None:
        return DecisionTarget(threshold=fin.decision.threshold, positive_class=fin.decision.positive_class,
                              output="probability")
    if isinstance(desired, (tuple, list)) and len(desired) == 2:
        lo = -np.inf if desired[0] is None else float(desired[0])
        hi = np.inf if desired[1] is None else float(desired[1])
        if lo > hi:
            raise InputError(f"desired range {list(desired)}: lower > upper")
        out = output or ("probability" if adapter.is_classifier else adapter.output_space)
        return RangeTarget(lo=lo, hi=hi, output=out)
    if not adapter.is_classifier:
        if desired is None:
            raise InputError("a regression model needs desired=(lo, hi), the output range to reach")
        raise InputError(f"desired={desired!r}: a regression model needs an output range (lo, hi)")
    p = np.asarray(adapter.predict(X, output="probability"))
    n_classes = 2 if p.ndim == 1 else p.shape[1]
    if desired is None:
        if n_classes != 2:
            raise InputError("a multi-class model needs desired=<class>")
        current = (p > 0.5).astype(int)
        return ClassTarget(classes=1 - current, n_classes=2, output="probability")
    cl = getattr(adapter.model, "classes_", None)
    classes = list(cl) if cl is not None else []
    if classes and any(_eq(desired, c) for c in classes):
        idx = next(i for i, c in enumerate(classes) if _eq(desired, c))
    elif isinstance(desired, (int, np.integer)) and not isinstance(desired, bool) and 0 <= desired < n_classes:
        idx = int(desired)
    else:
        raise InputError(f"desired={desired!r} is not a class of the model "
                         f"({classes or list(range(n_classes))})")
    return ClassTarget(classes=np.full(len(X), idx), n_classes=n_classes, label=str(desired), output="probability")


def _eq(a, b) -> bool:
    try:
        return bool(a == b) or str(a) == str(b)
    except (TypeError, ValueError):
        return False
