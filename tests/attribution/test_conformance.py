"""check_explainer over the method registry: every method follows the Explainer conventions.

One small model and input per input kind: a tree model for tree_shap (and auto), a
linear model for linear, a points table for scorecard, a small torch MLP for the
gradient and tabular black-box methods, a tiny CNN on 8x8 images for the image
methods, a tiny attention encoder for attention rollout. Plus a toy third-party
method registered from here, and the checks failing where they must.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch import nn

from xai_reports import ExplanationError, explain
from xai_reports.attribution import METHODS, Explainer, get_explainer_class, register_method
from xai_reports.attribution.base import Attribution, additivity_check
from xai_reports.attribution.checks import check_explainer, check_hooks_released

from _torch_models import mlp


def _frame(n, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, d)), columns=[f"x{j}" for j in range(d)])


@pytest.fixture(scope="module")
def xgb_model():
    import xgboost as xgb

    X = _frame(200, seed=1)
    y = X.x0 * X.x1 + X.x2 - 0.5 * X.x3
    return xgb.XGBRegressor(n_estimators=6, max_depth=3, n_jobs=1).fit(X, y), X


@pytest.fixture(scope="module")
def logistic():
    from sklearn.linear_model import LogisticRegression

    X = _frame(200, seed=2)
    return LogisticRegression().fit(X, (X.x0 + X.x1 > 0).astype(int)), X


@pytest.fixture(scope="module")
def scorecard(tmp_path_factory):
    import _lender as L
    from xai_reports import load_model

    card = load_model(L.write_scorecard_yaml(tmp_path_factory.mktemp("card") / "card.yaml"))
    X = pd.DataFrame({
        "seniority": [0.0, 4.9, 15.0, 30.0], "home": ["owner", "rent", "parents", "ignore"],
        "records": ["no", "yes", "no", "no"], "job": ["fixed", "partime", "freelance", "fixed"],
        "income": [79.9, 80.0, 149.0, 500.0], "amount": [100.0, 800.0, 1400.0, 799.0]})
    return card, X


def _seq_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3)).double().eval()


class _Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(12, 8)
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(8, 3)

    def forward(self, ids):
        return self.head(self.encoder(self.emb(ids))[:, 0])


def _images(n=3):
    return torch.rand((n, 3, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.float64)


_TEXT = {}


def _text_model():
    """A tiny BERT classifier saved and loaded from a local folder (built once)."""
    if "m" not in _TEXT:
        import tempfile
        from pathlib import Path

        from _tiny_text import tiny_text_model
        from xai_reports.adapters.transformers_text import load_text_model

        _TEXT["dir"] = tempfile.TemporaryDirectory()
        _TEXT["m"] = load_text_model(tiny_text_model(Path(_TEXT["dir"].name) / "bert", "bert"))
    return _TEXT["m"]


def _text_ids():
    return np.array([[2, 5, 6, 7, 3], [2, 9, 10, 11, 3], [2, 14, 6, 20, 3]])


# method -> [(case id, builder(fixtures) -> (model, X, background, options))]
def _cases():
    mlp1 = lambda: mlp(d=4, k=1, double=True)  # noqa: E731 - one output: black-box methods
    mlp3 = lambda: mlp(d=4, k=3, double=True)  # noqa: E731 - three classes: gradient methods
    tab = lambda n=3: _frame(n, seed=3).to_numpy()  # noqa: E731
    bg = lambda: _frame(12, seed=4).to_numpy()  # noqa: E731
    return {
        "tree_shap": [("interventional", lambda f: (f["xgb"][0], f["xgb"][1].iloc[:3], f["xgb"][1].iloc[50:70], {})),
                      ("path_dependent", lambda f: (f["xgb"][0], f["xgb"][1].iloc[:3], None, {}))],
        "auto": [("trees", lambda f: (f["xgb"][0], f["xgb"][1].iloc[:3], f["xgb"][1].iloc[50:70], {}))],
        "linear": [("logistic", lambda f: (f["logistic"][0], f["logistic"][1].iloc[:3],
                                           f["logistic"][1].iloc[100:130], {}))],
        "scorecard": [("max_points", lambda f: (f["card"][0], f["card"][1], None, {})),
                      ("reference", lambda f: (f["card"][0], f["card"][1], f["card"][1], {}))],
        "shapley": [("mlp", lambda f: (mlp1(), tab(), bg(), {}))],
        "kernel_shap": [("mlp", lambda f: (mlp1(), tab(), bg(), {"n_samples": 64, "exact_pairs": False}))],
        "lime": [("mlp", lambda f: (mlp1(), tab(), bg(), {"n_samples": 50}))],
        "occlusion": [("tabular", lambda f: (mlp1(), tab(), bg(), {})),
                      ("image", lambda f: (_seq_cnn(), _images(2), None, {"window": (4, 4)}))],
        "integrated_gradients": [("mlp", lambda f: (mlp3(), tab(), None, {"n_steps": "auto"})),
                                 ("cnn", lambda f: (_seq_cnn(), _images(2), None, {"n_steps": "auto", "rtol": 5e-3}))],
        "saliency": [("mlp", lambda f: (mlp3(), tab(), None, {}))],
        "smoothgrad": [("mlp", lambda f: (mlp3(), tab(), None, {"nt_samples": 4}))],
        "gradient_x_input": [("mlp", lambda f: (mlp3(), tab(), None, {}))],
        "grad_cam": [("cnn", lambda f: (_seq_cnn(), _images(), None, {}))],
        "grad_cam_pp": [("cnn", lambda f: (_seq_cnn(), _images(), None, {}))],
        "lrp": [("cnn", lambda f: (_seq_cnn(), _images(2), None, {}))],
        "attention_rollout": [("encoder", lambda f: (_Encoder().eval(),
                                                     torch.randint(0, 12, (3, 5),
                                                                   generator=torch.Generator().manual_seed(2)),
                                                     None, {"token": 0}))],
        "text_integrated_gradients": [("bert", lambda f: (_text_model(), _text_ids(), None, {"n_steps": 16}))],
        "text_attention_rollout": [("bert", lambda f: (_text_model(), _text_ids(), None, {}))],
        "text_attention_flow": [("bert", lambda f: (_text_model(), _text_ids(), None, {}))],
        "text_lrp": [("bert", lambda f: (_text_model(), _text_ids(), None, {}))],
    }


CASES = [(m, cid, build) for m, cases in _cases().items() for cid, build in cases]


@pytest.fixture(scope="module")
def fixtures(xgb_model, logistic, scorecard):
    return {"xgb": xgb_model, "logistic": logistic, "card": scorecard}


def test_every_registered_method_has_a_conformance_case():
    assert set(METHODS) == set(_cases()), "add a case to _cases() for every method in METHODS"


@pytest.mark.parametrize("method,case,build", CASES, ids=[f"{m}-{c}" for m, c, _ in CASES])
def test_check_explainer(method, case, build, fixtures):
    model, X, background, options = build(fixtures)
    explainer = get_explainer_class(method)(model, **options)
    report = check_explainer(explainer, X, background=background)
    assert set(report) >= {"parameters", "fit", "shape", "determinism", "batch_equals_single", "hooks_released",
                           "claims"}
    assert all(v == "passed" or v.startswith("skipped") for v in report.values())
    cls = get_explainer_class(method)
    if cls.claims is not None:
        assert report["claims"] == "passed"
    if isinstance(model, nn.Module):
        assert report["hooks_released"] == "passed"
    # the one-call entry and the captum form give the same values as fit/explain
    one_call = explain(model, X, method=method, **({"background": background} if background is not None else {}),
                       **options)
    fitted = cls(model, **options).fit(background).explain(X)
    np.testing.assert_array_equal(one_call.values, fitted.values)


def test_constructor_does_no_work_and_clone_shares_the_model(xgb_model):
    from xai_reports.attribution.tree_shap import TreeShap

    model, X = xgb_model
    ex = TreeShap("not a model", batch_size=7)          # no wrapping, no checks until fit
    assert ex.get_params() == {"model": "not a model", "target": None, "device": "auto", "batch_size": 7,
                               "tolerance": 1e-3, "feature_perturbation": None, "engine": "auto"}
    with pytest.raises(TypeError, match="cannot wrap"):
        ex.fit()
    ex = TreeShap(model).fit(X.iloc[50:70])
    cl = clone(ex)
    assert cl.model is model and "model_" not in vars(cl)
    with pytest.raises(NotFittedError):
        cl.explain(X.iloc[:2])
    with pytest.raises(NotFittedError):
        cl.expected_value_
    a = ex.explain(X.iloc[:3])
    np.testing.assert_allclose(a.base_values, ex.expected_value_, rtol=1e-12)
    assert ex.set_params(batch_size=1) is ex and ex.explain(X.iloc[:3]).values.tolist() == a.values.tolist()
    with pytest.raises(ExplanationError, match="fit"):
        ex.explain(X.iloc[:3], background=X.iloc[:5])


def test_per_call_options_override_the_constructor(xgb_model):
    from xai_reports.attribution.tree_shap import TreeShap

    model, X = xgb_model
    ex = TreeShap(model, engine="flat").fit()
    assert ex.explain(X.iloc[:2]).params["implementation"] == "xai_reports flat TreeSHAP"
    assert ex.explain(X.iloc[:2], engine="auto").params["implementation"] == "xgboost pred_contribs"


def test_background_refused_by_methods_that_take_none():
    from xai_reports.attribution.gradients import Saliency

    with pytest.raises(ExplanationError, match="takes no background"):
        Saliency(mlp(d=4, k=1)).fit(np.zeros((3, 4)))


# -- a third-party method, registered from here ---------------------------------------------------
class ToyLinear(Explainer):
    """``coef_j (x_j - mean_B x_j)`` for a scikit-learn linear regression: exact and additive."""

    name = "toy_linear"
    additive = True
    claims = "additivity"

    def __init__(self, model, *, tolerance: float = 1e-9, scale: float = 1.0):
        self.model = model
        self.tolerance = tolerance
        self.scale = scale

    def _expected_value(self):
        return float(np.mean(self.model_.predict(self.background_)))

    def _explain(self, X, *, background=None, tolerance=1e-9, scale=1.0) -> Attribution:
        X = np.asarray(X, dtype=np.float64)
        coef = self.model_.model.coef_
        values = scale * coef * (X - np.asarray(background, dtype=np.float64).mean(axis=0))
        base = np.full(len(X), self._expected_value())
        preds = np.asarray(self.model_.predict(X), dtype=np.float64)
        return Attribution(values=values, base_values=base, feature_names=None, method=self.name, output="value",
                           predictions=preds, self_check=additivity_check(values, base, preds, tolerance))


@pytest.fixture()
def toy_registered():
    register_method("toy_linear", ToyLinear)
    yield
    METHODS.pop("toy_linear", None)


def test_a_registered_third_party_method_passes_and_runs_through_explain(toy_registered):
    from sklearn.linear_model import LinearRegression

    X = _frame(40, seed=5).to_numpy()
    model = LinearRegression().fit(X, X @ np.array([1.0, -2.0, 0.5, 3.0]) + 1)
    report = check_explainer(ToyLinear(model), X[:4], background=X[10:30])
    assert report["claims"] == "passed" and report["expected_value"] == "passed"
    attr = explain(model, X[:4], method="toy_linear", background=X[10:30])
    assert attr.method == "toy_linear"
    with pytest.raises(ExplanationError, match="already registered"):
        register_method("toy_linear", ToyLinear)
    # the checks can fail: a wrong scale breaks additivity
    with pytest.raises(AssertionError, match="additivity"):
        check_explainer(ToyLinear(model, scale=2.0), X[:4], background=X[10:30])


def test_a_leaked_hook_is_caught():
    """An explainer that leaves a hook behind after an exception fails check_hooks_released."""
    from xai_reports.attribution.gradients import Saliency

    class Leaky(Saliency):
        def _explain(self, X, background=None, **options):
            self.model_.model[0].register_forward_hook(lambda *a: None)      # never removed
            return super()._explain(X, **options)

    with pytest.raises(AssertionError, match="left hooks"):
        check_hooks_released(Leaky(mlp(d=4, k=1, double=True)), np.zeros((2, 4)))
