"""Global importance and surrogate trees: sanity against known answers, fidelity recomputed independently."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

import xai_reports
from xai_reports import ExplanationError, global_importance, surrogate


@pytest.fixture(scope="module")
def linear_data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 4)), columns=["a", "b", "ignored", "c"])
    w = np.array([3.0, -1.0, 0.0, 0.5])
    y = X.to_numpy() @ w + rng.normal(scale=0.1, size=400)
    model = LinearRegression().fit(X, y)
    model.coef_[2] = 0.0          # the model ignores column 'ignored' exactly
    return model, X, y


def test_exported():
    assert {"global_importance", "surrogate"} <= set(xai_reports.__all__)
    for fn in (global_importance, surrogate):
        assert "Args:" in fn.__doc__ and "Examples::" in fn.__doc__


def test_permutation_with_labels_ranks_and_ignores(linear_data):
    model, X, y = linear_data
    gi = global_importance(model, X, y, n_repeats=4, random_state=0)
    f = gi.frame.set_index("feature")
    assert list(gi.frame["feature"]) == ["a", "b", "c", "ignored"]
    assert f.loc["ignored", "importance"] == 0.0 and f.loc["ignored", "std"] == 0.0
    assert gi.params["scoring"] == "r2" and gi.baseline_score == pytest.approx(r2_score(y, model.predict(X)))
    assert (gi.frame["importance"].diff().dropna() <= 0).all()      # sorted
    assert list(gi.frame["rank"]) == [1, 2, 3, 4]
    # the drop in R2 from shuffling a column of a linear model is about 2 w_j^2 var(x_j) / var(y)
    expected = 2 * model.coef_ ** 2 * X.var().to_numpy() / np.var(y)
    np.testing.assert_allclose(f.loc[["a", "b", "c"], "importance"], expected[[0, 1, 3]], rtol=0.25)


def test_permutation_seeded_and_repeats(linear_data):
    model, X, y = linear_data
    a = global_importance(model, X, y, n_repeats=3, random_state=7)
    b = global_importance(model, X, y, n_repeats=3, random_state=7)
    c = global_importance(model, X, y, n_repeats=3, random_state=8)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert not np.allclose(a.frame["importance"], c.frame["importance"])
    assert a.raw.shape == (4, 3)


def test_permutation_without_labels_uses_output_change(linear_data):
    """Without labels: mean |f(x with column j shuffled) - f(x)| = |w_j| mean |x_perm - x|."""
    model, X, _ = linear_data
    gi = global_importance(model, X, n_repeats=2, random_state=0)
    f = gi.frame.set_index("feature")
    assert f.loc["ignored", "importance"] == 0.0
    rng = np.random.default_rng(0)
    for j, col in enumerate(X.columns):  # same permutation order as the implementation (one per repeat)
        perms = [rng.permutation(len(X)) for _ in range(2)]
        manual = np.mean([np.mean(np.abs(model.coef_[j] * (X[col].to_numpy()[p] - X[col].to_numpy())))
                          for p in perms])
        assert f.loc[col, "importance"] == pytest.approx(manual, rel=1e-9)


def test_classifier_default_auc_and_categorical_frame(hmda_model, hmda, finance_pack):
    from examples.finance_hmda import FEATURES
    from xai_reports.io.tabular import encode_like_pack

    X = encode_like_pack(hmda.iloc[1900:][["applicant_id"] + FEATURES], finance_pack, FEATURES)
    y = hmda["deny"].iloc[1900:].to_numpy()
    gi = global_importance(hmda_model, X, y, n_repeats=2, pack=finance_pack)
    assert gi.params["scoring"] == "roc_auc"
    margin = hmda_model.predict(X, output_margin=True)
    assert gi.baseline_score == pytest.approx(roc_auc_score(y, margin))
    labels = dict(zip(gi.frame["feature"], gi.frame["label"]))
    assert labels["pirat"] == "Total debt payments to income"
    assert gi.frame.iloc[0]["importance"] > 0.01
    fig = gi.plot(top=5)
    assert len(fig.axes[0].patches) == 5
    buf1, buf2 = io.BytesIO(), io.BytesIO()
    fig.savefig(buf1, format="png", metadata={"Software": None})
    gi.plot(top=5).savefig(buf2, format="png", metadata={"Software": None})
    assert buf1.getvalue() == buf2.getvalue()


def test_mean_abs_shap_linear_truth(linear_data):
    model, X, _ = linear_data
    bg = X.iloc[:50]
    gi = global_importance(model, X.iloc[100:200], method="mean_abs_shap", background=bg)
    f = gi.frame.set_index("feature")
    truth = np.abs(model.coef_ * (X.iloc[100:200].to_numpy() - bg.to_numpy().mean(axis=0))).mean(axis=0)
    np.testing.assert_allclose(f.loc[list(X.columns), "importance"], truth, atol=1e-10)
    assert f.loc["ignored", "importance"] < 1e-14
    assert gi.params["attribution_method"] == "shapley"


def test_mean_abs_shap_on_trees_uses_tree_shap(hmda_model, hmda, finance_pack):
    from examples.finance_hmda import FEATURES
    from xai_reports.io.tabular import encode_like_pack

    X = encode_like_pack(hmda.iloc[1900:2100][["applicant_id"] + FEATURES], finance_pack, FEATURES)
    gi = global_importance(hmda_model, X, method="mean_abs_shap", random_state=0)
    assert gi.params["attribution_method"] == "tree_shap" and gi.params["output"] == "margin"
    assert len(gi.frame) == len(FEATURES) and (gi.frame["importance"] > 0).all()
    with pytest.raises(ExplanationError, match="unknown global importance"):
        global_importance(hmda_model, X, method="gain")


def test_surrogate_of_a_tree_is_faithful_and_readable():
    """A model that is itself a depth-2 tree is recovered exactly: fidelity 1, thresholds in the rules."""
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.integers(0, 10, size=(2000, 3)).astype(float), columns=["income", "debt", "age"])
    y = ((X.income > 4) & (X.debt < 3)).astype(int)
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    s = surrogate(model, X, max_depth=2)
    assert s.fidelity == 1.0 and s.fidelity_metric == "agreement"
    assert "income" in s.text and "debt" in s.text and "age" not in s.text
    assert sum(r["samples"] for r in s.rules) == s.n_train
    assert any(r["prediction"] == "1" and len(r["conditions"]) == 2 for r in s.rules)


def test_surrogate_fidelity_recomputed_independently(hmda_model, hmda, finance_pack):
    from examples.finance_hmda import FEATURES
    from xai_reports.io.tabular import encode_like_pack

    X = encode_like_pack(hmda[["applicant_id"] + FEATURES], finance_pack, FEATURES)
    s = surrogate(hmda_model, X.iloc[:1900], max_depth=3, pack=finance_pack, random_state=0)
    decisions = (hmda_model.predict_proba(X)[:, 1] >= 0.5).astype(int)
    # the held-out rows: the same split, redone here
    _, te = train_test_split(np.arange(1900), test_size=0.25, random_state=0, stratify=decisions[:1900])
    assert s.fidelity == pytest.approx(np.mean(s.predict(X.iloc[te]) == decisions[te]))
    # and on rows the surrogate never saw, agreement is in the same range
    fresh = np.mean(s.predict(X.iloc[1900:]) == decisions[1900:])
    assert abs(fresh - s.fidelity) < 0.05
    assert s.fidelity > 0.9
    # readable rules with the pack's labels and category labels
    assert "Denied private mortgage insurance is yes" in s.text or "Denied private mortgage insurance is no" in s.text
    assert "pirat" not in s.text
    assert s.to_dict()["fidelity_metric"] == "agreement"
    assert len(s.rules) <= 8


def test_surrogate_regression_r2():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(800, 3))
    model = LogisticRegression().fit(X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int))
    s = surrogate(model, X, max_depth=4, task="regression", output="probability", random_state=3)
    assert s.fidelity_metric == "r2"
    _, te = train_test_split(np.arange(800), test_size=0.25, random_state=3)
    assert s.fidelity == pytest.approx(r2_score(model.predict_proba(X[te])[:, 1], s.predict(X[te])))
    assert 0.5 < s.fidelity < 1.0
    assert "x0" in s.text
    with pytest.raises(ExplanationError, match="task"):
        surrogate(model, X, task="ranking")
