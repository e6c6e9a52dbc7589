"""Training the finance example's model: a seeded XGBoost classifier of P(deny)."""

from __future__ import annotations

from .data import FEATURES, SEED

__all__ = ["train_model"]


def train_model(train, pack):
    """A seeded XGBoost classifier of P(deny) on the pack's encoding of the features.

    Args:
        train: HMDA rows as :func:`~examples.finance_hmda.data.load_hmda` returns them.
        pack: the loaded ``finance_hmda_example`` pack (its feature declarations give the encoding).

    Returns:
        The fitted ``xgboost.XGBClassifier`` (identical on every run).
    """
    import xgboost as xgb

    from xai_reports.io.tabular import encode_like_pack

    X = encode_like_pack(train[["applicant_id"] + FEATURES], pack, FEATURES)
    model = xgb.XGBClassifier(n_estimators=200, max_depth=3, learning_rate=0.08, subsample=1.0,
                              enable_categorical=True, tree_method="hist", random_state=SEED,
                              n_jobs=1, eval_metric="logloss")
    model.fit(X, train["deny"].to_numpy())
    return model
