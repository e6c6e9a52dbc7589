import pickle

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from xai_reports import ModelLoadError, UnsafeModelError, load_model, wrap_model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = (X.a - X.b > 0).astype(int)
    return X, y


def test_xgboost_classifier_states_margin_space(data):
    X, y = data
    m = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y)
    for obj in (m, m.get_booster()):
        a = wrap_model(obj)
        assert a.output_space == "margin" and a.is_tree_ensemble and a.is_classifier
        assert not a.is_differentiable
        assert a.feature_names == ["a", "b", "c"]
        np.testing.assert_allclose(a.predict(X, output="probability"), m.predict_proba(X)[:, 1], rtol=1e-5)
        np.testing.assert_allclose(a.predict(X), m.predict(X, output_margin=True), rtol=1e-5)


def test_xgboost_regressor_states_value_space(data):
    X, y = data
    a = wrap_model(xgb.XGBRegressor(n_estimators=5, n_jobs=1).fit(X, X.a))
    assert a.output_space == "value" and not a.is_classifier


def test_sklearn_spaces(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    a = wrap_model(pipe)
    assert a.output_space == "probability" and a.is_classifier and not a.is_tree_ensemble
    np.testing.assert_allclose(a.predict(X), pipe.predict_proba(X)[:, 1])
    np.testing.assert_allclose(a.predict(X, output="margin"), pipe.decision_function(X), rtol=1e-6)
    svc = wrap_model(LinearSVC().fit(X, y))
    assert svc.output_space == "margin"
    reg = wrap_model(LinearRegression().fit(X, X.a))
    assert reg.output_space == "value"
    with pytest.raises(TypeError):
        reg.predict_proba(X)


def test_torch_module_is_differentiable(data):
    torch = pytest.importorskip("torch")
    X, _ = data
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    a = wrap_model(net, feature_names=list(X.columns), device="cpu")
    assert a.output_space == "logit" and a.is_differentiable and a.tags["supports_gpu"]
    expected = net(torch.tensor(X.to_numpy(), dtype=torch.float32))[:, 0].detach().numpy()
    np.testing.assert_allclose(a.predict(X), expected, rtol=1e-5)


def test_unknown_object_is_refused():
    with pytest.raises(TypeError, match="cannot wrap"):
        wrap_model(object())


def test_load_model_refuses_pickle(tmp_path, data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    for name in ("model.pkl", "model.joblib"):
        p = tmp_path / name
        p.write_bytes(pickle.dumps(model))
        with pytest.raises(UnsafeModelError, match="arbitrary code"):
            load_model(p)
    disguised = tmp_path / "model.json"
    disguised.write_bytes(pickle.dumps(model))
    with pytest.raises(UnsafeModelError, match="pickle"):
        load_model(disguised)


def test_load_model_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(tmp_path / "nope.json")
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        load_model(empty)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ModelLoadError, match="not a valid XGBoost"):
        load_model(bad)


def test_xgboost_json_roundtrip_keeps_hash(tmp_path, data):
    X, y = data
    m = xgb.XGBClassifier(n_estimators=5, n_jobs=1).fit(X, y)
    p = tmp_path / "m.json"
    m.get_booster().save_model(str(p))
    a = load_model(p)
    assert a.sha256 == wrap_model(m).sha256
    np.testing.assert_allclose(a.predict(X), wrap_model(m).predict(X), rtol=1e-6)


def test_torch_files_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    sd = tmp_path / "w.pt"
    torch.save(net.state_dict(), sd)
    with pytest.raises(ModelLoadError, match="architecture"):
        load_model(sd)
    a = load_model(sd, architecture=lambda: torch.nn.Sequential(torch.nn.Linear(3, 2)), device="cpu")
    assert a.is_differentiable
    full = tmp_path / "full.pt"
    torch.save(net, full)  # a pickled module: refused, never unpickled
    with pytest.raises(UnsafeModelError):
        load_model(full)
    scripted = tmp_path / "s.pt"
    torch.jit.script(net).save(str(scripted))
    assert load_model(scripted, device="cpu").family == "torch"
