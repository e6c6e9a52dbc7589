"""Text classifiers from ``transformers``: local loading, token/word attributions against independent truths.

Tiny random-config models and a WordPiece tokenizer written in tmp (no network). Oracles: captum's
LayerIntegratedGradients on the same model, a brute-force numpy rollout, networkx's maximum flow.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402

from xai_reports.adapters.transformers_text import load_text_model  # noqa: E402
from xai_reports.attribution import explain  # noqa: E402
from xai_reports.errors import ExplanationError, ModelLoadError, UnsafeModelError  # noqa: E402

from _tiny_text import tiny_text_model  # noqa: E402

TEXTS = ["No acute pneumothorax seen.", "Large left pleural effusions with cardiomegaly."]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("text_models")
    return {fam: tiny_text_model(root / fam, fam, init=0.1 if fam == "distilbert" else 0.3)
            for fam in ("bert", "roberta", "distilbert", "modernbert")}


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert", "modernbert"])
def test_loads_from_the_folder_and_predicts_as_the_model_does(folders, family):
    import transformers as tf

    m = load_text_model(folders[family])
    assert m.model.config.model_type == family and m.tags["text"] and m.labels == ["LABEL_0", "LABEL_1"]
    tok = tf.AutoTokenizer.from_pretrained(folders[family], local_files_only=True)
    ref = tf.AutoModelForSequenceClassification.from_pretrained(folders[family], local_files_only=True).eval()
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        want = ref(**enc).logits.double().numpy()
    np.testing.assert_allclose(m.predict(TEXTS), want, rtol=1e-5, atol=1e-6)
    assert len(m.sha256) == 64


def test_refuses_pickle_weights_missing_files_and_unknown_types(folders, tmp_path):
    import json
    import shutil

    with pytest.raises(ModelLoadError, match="not found"):
        load_text_model(tmp_path / "nowhere")
    pick = tmp_path / "pickled"
    shutil.copytree(folders["bert"], pick)
    (pick / "model.safetensors").rename(pick / "pytorch_model.bin")
    with pytest.raises(UnsafeModelError, match="pytorch_model.bin"):
        load_text_model(pick)
    (pick / "pytorch_model.bin").unlink()
    with pytest.raises(ModelLoadError, match="no model.safetensors"):
        load_text_model(pick)
    other = tmp_path / "gpt"
    shutil.copytree(folders["bert"], other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["model_type"] = "gpt2"
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="gpt2"):
        load_text_model(other)


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_integrated_gradients_equals_captum_layer_ig(folders, family):
    from captum.attr import LayerIntegratedGradients

    m = load_text_model(folders[family])
    attr = explain(m, TEXTS, method="text_integrated_gradients", n_steps=32)
    enc = m.encode(TEXTS)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    base = torch.where(m.special_mask(ids) | (mask == 0), ids, torch.zeros_like(ids))
    lig = LayerIntegratedGradients(lambda i, am: m.model(input_ids=i, attention_mask=am).logits,
                                   m.model.get_input_embeddings())
    tgt = attr.extras["target_per_row"].tolist()
    ref, delta = lig.attribute(ids, baselines=base, target=tgt, additional_forward_args=(mask,), n_steps=32,
                               method="gausslegendre", return_convergence_delta=True)
    ref = ref.sum(-1).detach().double().numpy() * mask.numpy()
    np.testing.assert_allclose(attr.values, ref, atol=2e-5 * np.abs(ref).max())
    # completeness against the model's own outputs, and the word sums
    assert attr.self_check["passed"], attr.self_check
    np.testing.assert_allclose(attr.values.sum(1), attr.predictions - attr.base_values, atol=1e-3)
    for i, words in enumerate(attr.extras["words"]):
        assert "".join(w["word"] for w in words) == TEXTS[i].replace(" ", "")
        np.testing.assert_allclose(sum(w["value"] for w in words) + attr.extras["special_total"][i],
                                   attr.values[i].sum(), atol=1e-9)
    eff = [w for w in attr.extras["words"][1] if w["word"] == "effusions"][0]
    assert eff["tokens"] == 2                 # effusion + ##s, summed into one word


def test_auto_steps_meet_the_tolerance_and_report_it(folders):
    m = load_text_model(folders["bert"])
    attr = explain(m, TEXTS, method="text_integrated_gradients", rtol=1e-4)
    err = np.abs(attr.values.sum(1) - (attr.predictions - attr.base_values))
    assert attr.self_check["passed"] and err.max() <= attr.self_check["tolerance"]
    bad = explain(m, TEXTS, method="text_integrated_gradients", n_steps=1, rtol=1e-9)
    assert not bad.self_check["passed"]          # the check can fail
    with pytest.raises(ExplanationError, match="not a label"):
        explain(m, TEXTS, method="text_integrated_gradients", target="finding")


def _brute_rollout(attentions, mask, token=0):
    n, L = mask.shape
    out = np.zeros((n, L))
    for r in range(n):
        R = np.eye(L)
        for a in attentions:
            A = np.zeros((L, L))
            for h in range(a.shape[1]):
                A += a[r, h].double().numpy() / a.shape[1]
            A = 0.5 * A + 0.5 * np.eye(L)
            for i in range(L):
                for j in range(L):
                    if not (mask[r, i] and mask[r, j]):
                        A[i, j] = 0.0
            for i in range(L):
                s = A[i].sum()
                A[i] = A[i] / s if s > 0 else A[i]
            R = A @ R
        out[r] = R[token] * mask[r]
    return out


@pytest.mark.parametrize("family", ["bert", "distilbert", "modernbert"])
def test_rollout_and_flow_against_brute_force_and_networkx(folders, family):
    import networkx as nx

    m = load_text_model(folders[family])
    enc = m.encode(TEXTS)
    with torch.no_grad():
        att = m.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                      output_attentions=True).attentions
    mask = enc["attention_mask"].numpy()
    roll = explain(m, TEXTS, method="text_attention_rollout")
    np.testing.assert_allclose(roll.values, _brute_rollout(att, mask), atol=1e-12)
    assert roll.self_check["passed"] and roll.extras["words"][0][0]["word"] == "No"
    flow = explain(m, TEXTS[:1], method="text_attention_flow")
    assert flow.self_check["passed"]
    # networkx on float capacities, the same graph built independently
    L = int(mask[0].sum())
    G = nx.DiGraph()
    for lyr, a in enumerate(att):
        A = 0.5 * a[0].double().mean(0).numpy()[:L, :L] + 0.5 * np.eye(L)
        A = A / A.sum(1, keepdims=True)
        for i in range(L):
            for j in range(L):
                G.add_edge((lyr, j), (lyr + 1, i), capacity=A[i, j])
    want = [nx.maximum_flow_value(G, (0, j), (len(att), 0)) for j in range(L)]
    np.testing.assert_allclose(flow.values[0, :L], want, atol=1e-5)


def test_auto_steps_report_their_cost_and_leave_the_model_as_it_was(folders):
    m = load_text_model(folders["roberta"])
    flags = [p.requires_grad for p in m.model.parameters()]
    attr = explain(m, TEXTS, method="text_integrated_gradients", rtol=1e-6, atol=0.0, max_steps=96)
    per, cost = attr.extras["n_steps_per_row"], attr.extras["evaluations_per_row"]
    assert np.all(cost >= per) and np.all(per >= 16)        # every node it cost is counted, the last count kept
    err = np.abs(attr.values.sum(1) - (attr.predictions - attr.base_values))
    ok = err <= attr.self_check["tolerance"]
    assert attr.self_check["passed"] == ok.all() and np.all(ok | (per == 96))   # only rows at the cap may fail
    assert [p.requires_grad for p in m.model.parameters()] == flags and all(p.grad is None for p in m.model.parameters())
