"""AttnLRP through attention (``text_lrp``): each rule against its formula, the full relevance balance against
the model's own logit on BERT, RoBERTa and DistilBERT (random weights, shapes unlike the demo's), a broken rule
caught by the self-check, and leave-one-word-out occlusion on the demo's trained model (planted signal).

``lxt`` is not an oracle here: ``pip install -c requirements.lock lxt`` would replace torch (2.13 -> 2.14) and
pull bitsandbytes/open_clip, so the rules are checked one by one against the formulas of the paper instead.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402

from xai_reports.adapters.transformers_text import load_text_model  # noqa: E402
from xai_reports.attribution import explain  # noqa: E402
from xai_reports.attribution.text_lrp import _Pass  # noqa: E402
from xai_reports.errors import ExplanationError  # noqa: E402

from _tiny_text import tiny_text_model  # noqa: E402

TEXTS = ["No acute pneumothorax seen.", "Large left pleural effusions with cardiomegaly.", "Stable nodule."]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("lrp_models")
    return {"bert": tiny_text_model(root / "bert", "bert", hidden=24, layers=3, heads=3, labels=3, seed=4),
            "roberta": tiny_text_model(root / "roberta", "roberta", hidden=32, layers=2, heads=4, seed=5),
            "distilbert": tiny_text_model(root / "distilbert", "distilbert", init=0.1, hidden=16, layers=2,
                                          heads=2, seed=6),
            "modernbert": tiny_text_model(root / "modernbert", "modernbert")}


def _randomise_biases(model, seed):
    """HF initialises biases and LayerNorm shifts to 0: give them values so the bias accounting is exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
def test_relevance_balances_the_logit_and_the_forward_pass_is_the_models(folders, family):
    m = load_text_model(folders[family])
    _randomise_biases(m.model, 1)
    before = {k: v.clone() for k, v in m.model.state_dict().items()}
    attr = explain(m, TEXTS, method="text_lrp")
    check = attr.self_check
    assert check["kind"] == "conservation" and check["passed"], check
    # the logit the relevance explains is the model's own (its own forward pass, not the re-run one)
    with torch.no_grad():
        enc = m.encode(TEXTS)
        own = m.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.double().numpy()
    tgt = attr.extras["target_per_row"]
    np.testing.assert_allclose(attr.predictions, own[np.arange(len(TEXTS)), tgt], rtol=1e-12)
    absorbed = attr.extras["absorbed"]
    total = attr.values.sum(1) + sum(absorbed[k] for k in ("position", "bias", "softmax", "epsilon"))
    np.testing.assert_allclose(total, attr.predictions, atol=1e-5 * max(1.0, np.abs(attr.predictions).max()))
    assert np.abs(absorbed["bias"]).max() > 1e-3          # the biases took part, and were accounted for
    # words carry their tokens' relevance; padding gets none
    mask = attr.extras["attention_mask"]
    assert np.all(attr.values[mask == 0] == 0)
    for i, words in enumerate(attr.extras["words"]):
        np.testing.assert_allclose(sum(w["value"] for w in words) + attr.extras["special_total"][i],
                                   attr.values[i].sum(), atol=1e-12)
    # the user's model is untouched: same weights, no gradients left, still in eval mode
    after = m.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in m.model.parameters()) and not m.model.training
    # float32 gives the same relevance to float32 error
    f32 = explain(m, TEXTS, method="text_lrp", precision="float32", rtol=1e-3)
    assert f32.self_check["passed"]
    np.testing.assert_allclose(f32.values, attr.values, atol=1e-3 * np.abs(attr.values).max())


def test_each_rule_against_its_formula():
    g = torch.Generator().manual_seed(0)
    # softmax: R_x = x * (R - s * sum(R)) (AttnLRP Prop. 3.1, no bias)
    x = torch.randn(2, 5, generator=g, dtype=torch.float64, requires_grad=True)
    s = torch.softmax(x, -1)
    w = torch.randn(2, 5, generator=g, dtype=torch.float64)
    (gx,) = torch.autograd.grad((s * w).sum(), x)
    R = (s * w).detach()
    np.testing.assert_allclose((x * gx).detach(), x.detach() * (R - s.detach() * R.sum(-1, keepdim=True)),
                               atol=1e-14)
    # uniform rule: each factor of a @ b receives half of the relevance of the product
    a = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 2, generator=g, dtype=torch.float64, requires_grad=True)
    z = _Pass.product(a, b)
    torch.testing.assert_close(z, a @ b, rtol=0, atol=0)
    ga, gb = torch.autograd.grad(z.sum(), [a, b])
    np.testing.assert_allclose((a * ga).sum().item(), 0.5 * z.sum().item(), rtol=1e-12)
    np.testing.assert_allclose((b * gb).sum().item(), 0.5 * z.sum().item(), rtol=1e-12)
    # identity rule on GELU: the value is GELU's, the relevance passes unchanged, element by element
    x = torch.randn(7, generator=g, dtype=torch.float64, requires_grad=True)
    y = _Pass.act(x, torch.nn.functional.gelu)
    torch.testing.assert_close(y, torch.nn.functional.gelu(x), rtol=0, atol=1e-15)
    r_out = torch.randn(7, generator=g, dtype=torch.float64)
    (gx,) = torch.autograd.grad(y, x, grad_outputs=r_out / y.detach())
    np.testing.assert_allclose((x * gx).detach(), r_out, rtol=1e-10)
    # LayerNorm without shift: std constant, so relevance through it is conserved (sum in == sum out)
    ln = torch.nn.LayerNorm(6, elementwise_affine=True, bias=False).double()
    with torch.no_grad():
        ln.weight.copy_(torch.rand(6, generator=g, dtype=torch.float64) + 0.5)
    p = _Pass(1, torch.float64, 0.0)
    x = torch.randn(1, 3, 6, generator=g, dtype=torch.float64, requires_grad=True)
    y = p.layer_norm(x, ln)
    torch.testing.assert_close(y, ln(x), rtol=1e-12, atol=1e-12)
    r_out = torch.randn(1, 3, 6, generator=g, dtype=torch.float64)
    (gx,) = torch.autograd.grad(y, x, grad_outputs=r_out / y.detach())
    np.testing.assert_allclose((x * gx).sum(-1).detach(), r_out.sum(-1), rtol=1e-10)


def test_a_broken_rule_fails_the_self_check(folders, monkeypatch):
    m = load_text_model(folders["bert"])
    assert explain(m, TEXTS[:2], method="text_lrp").self_check["passed"]
    monkeypatch.setattr(_Pass, "product", staticmethod(lambda a, b: a @ b))       # no 1/2 split
    bad = explain(m, TEXTS[:2], method="text_lrp")
    assert not bad.self_check["passed"] and bad.self_check["max_abs_error"] > 1e-3


def test_refuses_what_it_does_not_read(folders):
    with pytest.raises(ExplanationError, match="modernbert"):
        explain(load_text_model(folders["modernbert"]), TEXTS, method="text_lrp")
    with pytest.raises(ExplanationError, match="precision"):
        explain(load_text_model(folders["bert"]), TEXTS, method="text_lrp", precision="half")


SHORT = ["Findings: small left pleural effusion. heart size is normal.", "Findings: lungs are clear. old rib fracture.",
         "no pleural effusion. mild cardiomegaly.", "large right pleural effusion. no pneumothorax.",
         "new bilateral effusions. stable small nodule in the right upper lobe."]


def _occlusion(m, text, k):
    """Leave-one-word-out: the logit drop when a word's tokens become [PAD] (positions kept)."""
    enc = m.encode([text])
    ids, wid = enc["input_ids"], enc["word_ids"][0]
    with torch.no_grad():
        full = m.model(input_ids=ids).logits[0, k].item()
        out = []
        for w in sorted({w for w in wid if w is not None}):
            occ = ids.clone()
            occ[0, [t for t, ww in enumerate(wid) if ww == w]] = 0
            out.append(full - m.model(input_ids=occ).logits[0, k].item())
    return np.array(out)


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory):
    from examples.healthcare_text.training import train

    return load_text_model(train(tmp_path_factory.mktemp("lrp_demo") / "model"))


def test_word_relevance_ranks_as_leave_one_word_out_occlusion(demo_model):
    from scipy.stats import spearmanr

    attr = explain(demo_model, SHORT, method="text_lrp")
    assert attr.self_check["passed"]
    rel, occ, top = [], [], []
    for i, text in enumerate(SHORT):
        values = np.array([w["value"] for w in attr.extras["words"][i]])
        deltas = _occlusion(demo_model, text, int(attr.extras["target_per_row"][i]))
        assert len(values) == len(deltas)
        rel.append(values)
        occ.append(deltas)
        top.append(int(np.argmax(np.abs(values))) in np.argsort(-np.abs(deltas))[:2])
    rho = spearmanr(np.concatenate(rel), np.concatenate(occ))[0]
    assert rho >= 0.6, rho
    assert np.mean(top) >= 0.8, top                  # the word LRP ranks first is among occlusion's first two
    # the same comparison fails for relevance that carries no information (shuffled within each text)
    rng = np.random.default_rng(0)
    shuffled = [spearmanr(np.concatenate([rng.permutation(r) for r in rel]), np.concatenate(occ))[0]
                for _ in range(5)]
    assert max(shuffled) < 0.6, shuffled
