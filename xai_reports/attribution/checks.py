"""``check_explainer``: the conformance suite every attribution method passes.

In the spirit of scikit-learn's ``check_estimator``: give it an explainer (an
:class:`~.base.Explainer` subclass constructed with its model and options) and
a small input, and it checks the conventions the rest of the package relies on:

* **parameters**: the constructor only stores its named parameters;
  ``get_params`` / ``set_params`` round-trip; :func:`sklearn.base.clone` gives
  an unfitted explainer with the same options and the same model;
* **fit**: ``fit(background)`` returns the explainer and sets ``model_``,
  ``background_`` and ``expected_value_``; ``explain`` before ``fit`` is refused;
* **shape**: one row of values per input row, shaped like the input (or like
  its spatial map for image methods that merge channels), ``base_values`` and
  ``predictions`` of length ``n``;
* **determinism**: two fresh clones give identical values (under the
  method's seed, ``seed_param``, when it has one);
* **batch = single**: row ``i`` explained alone equals row ``i`` of the batch;
* **hooks released** (torch models): no forward/backward hook left on any
  module after ``explain``, also after an exception raised mid-way (injected
  at the 1st, 2nd, ... forward pass);
* **claims**: ``values.sum + base_values`` equals the model's own output
  (computed here through the adapter, not taken from the method) when the
  class declares ``claims = "additivity"`` (to float error) or
  ``"completeness"`` (to ``claim_rtol`` of ``|f(x) - base|``).

A third-party method runs it the same way::

    >>> from xai_reports.attribution import register_method
    >>> from xai_reports.attribution.checks import check_explainer
    >>> register_method("my_method", MyExplainer)          # or "my_package.module:MyExplainer"
    >>> check_explainer(MyExplainer(model, my_option=3), X[:4], background=X_reference[:20])
    {'parameters': 'passed', 'fit': 'passed', 'shape': 'passed', ...}

Each check raises ``AssertionError`` with what failed; the report maps each
check to ``"passed"`` or ``"skipped: <why>"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Attribution, Explainer


class _Injected(RuntimeError):
    """The exception :func:`check_hooks_released` raises inside a forward pass."""


def _rows(X, idx):
    if isinstance(X, pd.DataFrame):
        return X.iloc[idx]
    return X[idx]


def _n_rows(X) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def _torch_module(explainer):
    """The torch module behind the explainer's model, or ``None``."""
    try:
        import torch
    except ImportError:
        return None
    model = explainer.model
    inner = getattr(model, "model", model)
    return inner if isinstance(inner, torch.nn.Module) else None


def _fresh(explainer, **params) -> Explainer:
    from sklearn.base import clone

    ex = clone(explainer)
    if params:
        ex.set_params(**params)
    return ex


def check_parameters(explainer) -> str:
    """The constructor stores its named parameters and does no work; ``get_params``, ``set_params``, ``clone``."""
    from sklearn.base import clone

    params = explainer.get_params(deep=False)
    names = sorted(params)
    assert "model" in params, "the constructor takes the model as `model`"
    fresh = type(explainer)(**params)
    stored = sorted(k for k in vars(fresh) if not k.startswith("_"))
    assert stored == names, f"the constructor must store exactly its parameters {names}, it stored {stored}"
    assert not [k for k in vars(fresh) if k.endswith("_") and not k.startswith("_")], \
        "the constructor must not set fitted attributes (ending in '_')"
    for k, v in params.items():
        assert fresh.get_params(deep=False)[k] is v, f"parameter {k!r} is not stored as given"
    cl = clone(explainer)
    assert type(cl) is type(explainer) and cl is not explainer
    assert cl.model is explainer.model, "clone must explain the same model (not a refitted copy)"
    assert "model_" not in vars(cl), "a clone must be unfitted"
    for k, v in params.items():
        assert cl.get_params(deep=False)[k] is v, f"clone changed parameter {k!r}"
    options = [k for k in names if k != "model"]
    if options:
        k = options[0]
        marker = object()
        cl.set_params(**{k: marker})
        assert cl.get_params(deep=False)[k] is marker, f"set_params({k}=...) did not set it"
    return "passed"


def check_fit(explainer, X, background=None) -> str:
    """``fit`` returns ``self`` and learns ``model_``, ``background_``, ``expected_value_``; unfitted explain is refused."""
    ex = _fresh(explainer)
    try:
        ex.explain(_rows(X, slice(0, 1)))
    except Exception as exc:  # noqa: BLE001 - the type is checked below
        from sklearn.exceptions import NotFittedError

        assert isinstance(exc, NotFittedError), \
            f"explain before fit raised {type(exc).__name__}, not NotFittedError"
    else:
        raise AssertionError("explain before fit must raise NotFittedError")
    out = ex.fit(background)
    assert out is ex, "fit must return self"
    assert ex.background_ is background, "fit must keep background_ as given"
    assert ex.model_ is not None
    ev = ex.expected_value_
    assert ev is None or np.ndim(ev) == 0, f"expected_value_ must be a number or None, got {ev!r}"
    return "passed"


def check_shape(attr: Attribution, X, explainer) -> str:
    """Values per row, shaped like the input; ``base_values`` and ``predictions`` of length ``n``."""
    n = _n_rows(X)
    shape = tuple(X.shape)
    values = np.asarray(attr.values)
    assert isinstance(attr, Attribution), f"explain must return an Attribution, got {type(attr).__name__}"
    assert explainer.name in (attr.method, attr.params.get("chosen_by")), \
        f"Attribution.method {attr.method!r} != the explainer's name {explainer.name!r}"
    assert values.shape[0] == n, f"{values.shape[0]} rows of values for {n} input rows"
    if len(shape) == 2:
        assert values.shape == shape, f"values {values.shape} for tabular input {shape}"
        if attr.feature_names is not None:
            assert len(attr.feature_names) == shape[1], "one feature name per column"
    else:
        assert values.shape[1:] in (shape[1:], shape[2:]), \
            f"values {values.shape} for input {shape}: expected the input's shape or its spatial map"
    assert np.asarray(attr.base_values).shape == (n,), f"base_values shape {np.shape(attr.base_values)}"
    if attr.predictions is not None:
        assert np.asarray(attr.predictions).shape == (n,), f"predictions shape {np.shape(attr.predictions)}"
    assert np.isfinite(values).all(), "values must be finite"
    return "passed"


def check_determinism(explainer, X, background=None) -> str:
    """Two fresh clones (same options, same seed) give identical values."""
    a = _fresh(explainer).fit(background).explain(X)
    b = _fresh(explainer).fit(background).explain(X)
    np.testing.assert_array_equal(np.asarray(a.values), np.asarray(b.values),
                                  err_msg="two runs with the same options differ")
    seed = explainer.seed_param
    if seed is None:
        return "passed"
    other = {seed: 12345}
    c = _fresh(explainer, **other).fit(background).explain(X)
    d = _fresh(explainer, **other).fit(background).explain(X)
    np.testing.assert_array_equal(np.asarray(c.values), np.asarray(d.values),
                                  err_msg=f"two runs with {seed}=12345 differ")
    return "passed"


def check_batch_equals_single(explainer, X, batch: Attribution, background=None, *, rows: int = 2,
                              rtol: float = 1e-4, atol: float = 1e-6) -> str:
    """Row ``i`` explained alone equals row ``i`` explained in the batch (to ``rtol``/``atol``)."""
    ex = _fresh(explainer).fit(background)
    values = np.asarray(batch.values)
    scale = max(1.0, float(np.abs(values).max()))
    for i in range(min(rows, _n_rows(X))):
        one = ex.explain(_rows(X, slice(i, i + 1)))
        np.testing.assert_allclose(np.asarray(one.values)[0], values[i], rtol=rtol, atol=atol * scale,
                                   err_msg=f"row {i} alone differs from row {i} in the batch")
    return "passed"


def _hook_state(module):
    import torch
    from torch.nn.modules import module as mm

    per_module = []
    for name, m in module.named_modules():
        per_module.append((name, tuple(m._forward_hooks), tuple(m._forward_pre_hooks), tuple(m._backward_hooks),
                           tuple(getattr(m, "_backward_pre_hooks", {})), m.training))
    globals_ = tuple(tuple(getattr(mm, g, {})) for g in (
        "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
        "_global_backward_pre_hooks"))
    grads = tuple(p.requires_grad for p in module.parameters())
    fast = torch.backends.mha.get_fastpath_enabled() if hasattr(torch.backends, "mha") else None
    return per_module, globals_, grads, fast


def check_hooks_released(explainer, X, background=None, *, max_passes: int = 4) -> str:
    """No hook (or changed ``training`` / ``requires_grad`` / global switch) left behind, also after an exception.

    An exception is injected at the 1st, 2nd, ... ``max_passes``-th forward pass
    of the model (through a forward pre-hook of the checker's own, removed
    afterwards), or until a run completes without reaching it.
    """
    module = _torch_module(explainer)
    if module is None:
        return "skipped: not a torch model"
    before = _hook_state(module)
    _fresh(explainer).fit(background).explain(X)
    assert _hook_state(module) == before, "explain left hooks (or changed state) on the module"
    calls = {"n": 0, "at": 0}

    def fail(_module, _inputs):
        calls["n"] += 1
        if calls["n"] == calls["at"]:
            raise _Injected(f"injected at forward pass {calls['at']}")

    for at in range(1, max_passes + 1):
        calls.update(n=0, at=at)
        handle = module.register_forward_pre_hook(fail)
        with_ours = _hook_state(module)
        raised = False
        try:
            _fresh(explainer).fit(background).explain(X)
        except Exception:  # noqa: BLE001 - any exception the injected one became
            raised = True
        after = _hook_state(module)
        handle.remove()
        assert after == with_ours, f"an exception at forward pass {at} left hooks (or changed state) behind"
        assert _hook_state(module) == before
        if not raised:
            break
    return "passed"


def _model_output(explainer, X, attr: Attribution) -> np.ndarray:
    """The model's own output for ``X`` in ``attr.output`` space and for ``attr``'s target."""
    from ..adapters import wrap_model

    adapter = wrap_model(explainer.model)
    out = adapter.predict(X, output=attr.output)
    if hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim == 2:
        if attr.target is not None:
            out = out[:, int(attr.target)]
        elif "target_per_row" in attr.extras:
            out = out[np.arange(len(out)), np.asarray(attr.extras["target_per_row"], dtype=int)]
        else:
            out = out.max(axis=1)   # the predicted class, the default target of classifiers
    return out


def check_claims(explainer, X, attr: Attribution, *, rtol: float = 1e-5, atol: float = 1e-6,
                 claim_rtol: float = 1e-2) -> str:
    """``values.sum + base_values`` against the model's own output, where the class claims it."""
    claim = explainer.claims
    if claim is None:
        return "skipped: the method claims neither additivity nor completeness"
    n = _n_rows(X)
    f = _model_output(explainer, X, attr)
    total = np.asarray(attr.values, dtype=np.float64).reshape(n, -1).sum(axis=1) + np.asarray(attr.base_values)
    err = np.abs(total - f)
    if claim == "additivity":
        tol = atol + rtol * np.maximum(1.0, np.abs(f))
    elif claim == "completeness":
        tol = atol + claim_rtol * np.abs(f - np.asarray(attr.base_values))
    else:
        raise AssertionError(f"unknown claim {claim!r}: expected 'additivity' or 'completeness'")
    assert (err <= tol).all(), (f"{claim}: |sum(values) + base - f(x)| up to {err.max():.3g} "
                                f"(tolerance {tol[np.argmax(err - tol)]:.3g})")
    return "passed"


def check_explainer(explainer, X, *, background=None, rows: int = 2, rtol: float = 1e-4, atol: float = 1e-6,
                    claim_rtol: float = 1e-2, additivity_rtol: float = 1e-5) -> dict:
    """Run every conformance check on ``explainer`` (see the module docstring).

    Args:
        explainer: an :class:`~.base.Explainer` subclass instance (fitted or not;
            the checks work on clones, the instance is left as it is).
        X: a small input batch (at least 2 rows; tabular ``(n, d)`` or images ``(n, C, H, W)``).
        background: the reference rows ``fit`` gets (for methods that take one).
        rows: rows checked one at a time against the batch.
        rtol, atol: tolerance of batch = single (``atol`` scaled by the largest value).
        claim_rtol: completeness tolerance, relative to ``|f(x) - base|``.
        additivity_rtol: additivity tolerance, relative to ``max(1, |f(x)|)``.

    Returns:
        ``{check name: "passed" | "skipped: why"}``.

    Raises:
        AssertionError: a check failed (the message says which and how).

    Examples::

        >>> check_explainer(TreeShap(xgb_model), X[:4], background=X[100:150])["claims"]
        'passed'
    """
    if not isinstance(explainer, Explainer):
        raise TypeError(f"check_explainer needs an Explainer instance, got {type(explainer).__name__}")
    assert _n_rows(X) >= 2, "give at least 2 rows"
    report = {"parameters": check_parameters(explainer), "fit": check_fit(explainer, X, background)}
    fitted = _fresh(explainer).fit(background)
    attr = fitted.explain(X)
    report["shape"] = check_shape(attr, X, explainer)
    report["determinism"] = check_determinism(explainer, X, background)
    report["batch_equals_single"] = check_batch_equals_single(explainer, X, attr, background, rows=rows,
                                                              rtol=rtol, atol=atol)
    report["hooks_released"] = check_hooks_released(explainer, X, background)
    report["claims"] = check_claims(fitted, X, attr, rtol=additivity_rtol, atol=atol, claim_rtol=claim_rtol)
    ev = fitted.expected_value_
    if ev is not None and explainer.claims == "additivity":
        base = np.asarray(attr.base_values)
        assert np.allclose(base, ev, rtol=1e-6, atol=1e-6 * max(1.0, abs(ev))), \
            f"expected_value_ {ev!r} differs from the base_values {base[:3]} the method reports"
        report["expected_value"] = "passed"
    else:
        report["expected_value"] = "skipped: no expected_value_ to compare" if ev is None else \
            "skipped: base_values are not a single reference for this method"
    return report


__all__ = ["check_explainer", "check_parameters", "check_fit", "check_shape", "check_determinism",
           "check_batch_equals_single", "check_hooks_released", "check_claims"]
