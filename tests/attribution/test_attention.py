"""Attention rollout: against attention recomputed by hand from the layers' weights; hooks removed."""

import numpy as np
import pytest
import torch
from torch import nn

from xai_reports import ExplanationError, explain

from _torch_models import hooks_left


class Encoder(nn.Module):
    def __init__(self, vocab=20, e=8, heads=2, layers=2, k=3, seed=0, boom=False):
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(vocab, e)
        layer = nn.TransformerEncoderLayer(e, heads, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(e, k)
        self.boom = boom

    def forward(self, ids):
        h = self.encoder(self.emb(ids))
        if self.boom:
            raise RuntimeError("boom")
        return self.head(h[:, 0])


def _manual_rollout(model, ids):
    """Per-layer attention from the in-projection weights of each layer's input (pre-hooks of the test's own)."""
    inputs = []
    hs = [l.register_forward_pre_hook(lambda m, a: inputs.append(a[0].detach()))
          for l in model.encoder.layers]
    try:
        with torch.no_grad():
            model(ids)
    finally:
        for h in hs:
            h.remove()
    R = None
    for layer, x in zip(model.encoder.layers, inputs):
        mha = layer.self_attn
        e, H = mha.embed_dim, mha.num_heads
        W, b = mha.in_proj_weight.detach(), mha.in_proj_bias.detach()
        q = x @ W[:e].T + b[:e]
        k = x @ W[e:2 * e].T + b[e:2 * e]
        n, L, _ = x.shape
        q = q.view(n, L, H, e // H).transpose(1, 2)
        k = k.view(n, L, H, e // H).transpose(1, 2)
        A = torch.softmax(q @ k.transpose(-1, -2) / np.sqrt(e // H), dim=-1).mean(dim=1).double().numpy()
        A = 0.5 * A + 0.5 * np.eye(L)
        A = A / A.sum(-1, keepdims=True)
        R = A if R is None else A @ R
    return R


def test_rollout_matches_attention_recomputed_by_hand():
    m = Encoder().eval()
    ids = torch.randint(0, 20, (4, 7), generator=torch.Generator().manual_seed(1))
    ref = _manual_rollout(m, ids)
    cls = explain(m, ids, method="attention_rollout", token=0, return_matrix=True)
    np.testing.assert_allclose(cls.extras["rollout"], ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cls.values, ref[:, 0, :], rtol=1e-5, atol=1e-7)
    mean = explain(m, ids, method="attention_rollout")
    np.testing.assert_allclose(mean.values, ref.mean(axis=1), rtol=1e-5, atol=1e-7)
    assert cls.values.shape == (4, 7) and cls.params["layers"] == ["encoder.layers.0.self_attn",
                                                                    "encoder.layers.1.self_attn"]
    assert cls.self_check["kind"] == "row_stochastic" and cls.self_check["passed"]
    np.testing.assert_allclose(cls.values.sum(axis=1), 1.0, rtol=1e-9)
    assert hooks_left(m) == 0
    if hasattr(torch.backends, "mha"):
        assert torch.backends.mha.get_fastpath_enabled()  # restored


def test_the_model_output_is_unchanged_and_batching():
    m = Encoder().eval()
    ids = torch.randint(0, 20, (5, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        before = m(ids)
    a = explain(m, ids, method="attention_rollout", token=0)
    b = explain(m, ids, method="attention_rollout", token=0, internal_batch_size=2)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6, atol=1e-9)
    with torch.no_grad():
        torch.testing.assert_close(m(ids), before)
    mx = explain(m, ids, method="attention_rollout", head_fusion="max")
    assert not np.allclose(mx.values, explain(m, ids, method="attention_rollout").values)


def test_plain_multihead_attention_on_embeddings():
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.mha = nn.MultiheadAttention(6, 3)  # sequence-first
            self.out = nn.Linear(6, 1)

        def forward(self, x):                       # x: (n, L, E)
            h = x.transpose(0, 1)
            y, _ = self.mha(h, h, h, need_weights=False)
            return self.out(y.mean(dim=0))

    m = Attn().eval()
    x = torch.randn(3, 5, 6)
    a = explain(m, x, method="attention_rollout", residual=False)
    mha = m.mha
    W, b = mha.in_proj_weight.detach(), mha.in_proj_bias.detach()
    q = (x @ W[:6].T + b[:6]).view(3, 5, 3, 2).transpose(1, 2)
    k = (x @ W[6:12].T + b[6:12]).view(3, 5, 3, 2).transpose(1, 2)
    A = torch.softmax(q @ k.transpose(-1, -2) / np.sqrt(2), dim=-1).mean(dim=1)
    np.testing.assert_allclose(a.values, A.mean(dim=1).detach().numpy(), rtol=1e-5, atol=1e-7)
    assert a.extras["input_kind"] == "sequence"


def test_hooks_removed_after_exception_and_errors():
    m = Encoder(boom=True).eval()
    ids = torch.randint(0, 20, (2, 5))
    with pytest.raises(RuntimeError, match="boom"):
        explain(m, ids, method="attention_rollout")
    assert hooks_left(m) == 0
    if hasattr(torch.backends, "mha"):
        assert torch.backends.mha.get_fastpath_enabled()
    m.boom = False
    with pytest.raises(ExplanationError, match="outside the sequence"):
        explain(m, ids, method="attention_rollout", token=9)
    with pytest.raises(ExplanationError, match="head_fusion"):
        explain(m, ids, method="attention_rollout", head_fusion="median")
    with pytest.raises(ExplanationError, match="no nn.MultiheadAttention"):
        explain(nn.Linear(3, 2), torch.randn(2, 3), method="attention_rollout")
    assert hooks_left(m) == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu():
    m = Encoder().eval()
    ids = torch.randint(0, 20, (4, 7), generator=torch.Generator().manual_seed(1))
    cpu = explain(m, ids, method="attention_rollout", device="cpu")
    gpu = explain(m, ids, method="attention_rollout", device="cuda")
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-4, atol=1e-6)
    assert hooks_left(m) == 0
