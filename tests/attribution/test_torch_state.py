"""The per-call module snapshot (``module_state``), the image copy's layout rule, and host-side target checks.

The snapshot replaces three walks over the submodules per call; these tests check it still sees
every change that would make a cached answer stale, and that it does not keep a model alive. The
copy is not used for a call whose first convolution PyTorch runs with its native kernel (checked
against ``torch._C._select_conv_backend`` itself), and Grad-CAM maps match a hand-written Grad-CAM
on the plain module to 1e-6 either way.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from xai_reports.adapters._torch_state import module_state  # noqa: E402
from xai_reports.attribution._torch import image_module  # noqa: E402
from xai_reports.attribution.grad_cam import GradCam  # noqa: E402
from xai_reports.errors import ExplanationError  # noqa: E402


def _cnn(c_in: int, seed: int = 0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(c_in, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, stride=2, padding=1),
                         nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()


def test_snapshot_is_kept_while_nothing_changes_and_sees_every_change():
    m = _cnn(3)
    st = module_state(m)
    assert module_state(m) is st
    with torch.no_grad():
        m[0].weight.mul_(1.0)                       # in-place write: version bump
    st2 = module_state(m)
    assert st2 is not st
    m[3].eps = m[3].eps * 3                         # a plain attribute the forward reads
    st3 = module_state(m)
    assert st3 is not st2
    m[5].padding = (2, 2)                           # a tuple attribute (the old key ignored these)
    st4 = module_state(m)
    assert st4 is not st3
    m[5].padding = (1, 1)
    m[2] = nn.Conv2d(6, 8, 3, stride=2, padding=1).eval()  # a replaced submodule
    st5 = module_state(m)
    assert st5 is not st4 and module_state(m) is st5
    m.double()                                       # new storages and dtype
    st6 = module_state(m)
    assert st6 is not st5
    m[3].train()
    st7 = module_state(m)
    assert st7 is not st6 and st7.training and not st6.training
    m.eval()
    h = m[6].register_forward_hook(lambda *a: None)  # a hook deep inside (hook dicts change in place)
    try:
        assert module_state(m).hooked
    finally:
        h.remove()
    assert not module_state(m).hooked
    m._modules["renamed"] = m._modules.pop("9")     # a renamed last submodule: same objects, new name
    assert "renamed" in module_state(m).names


def test_snapshot_sees_changes_its_flat_checks_could_miss():
    """The C-level check (sizes, then identities, hook dicts' contents, tensor versions and addresses) against
    changes that keep most of the tree as it was: an entry in a dict that was empty, a hook moved from one
    module to another (as many hooks as before), a hook dict replaced by another object, ``.data`` given
    a new storage, a parameter replaced by an equal-valued one; a TorchScript module takes the per-module
    walk."""
    m = _cnn(3, seed=2)
    st = module_state(m)
    m[1].register_buffer("extra", torch.zeros(1))       # a buffer dict that was empty gains an entry
    st2 = module_state(m)
    assert st2 is not st and module_state(m) is st2
    h = m[0].register_forward_hook(lambda *a: None)
    st3 = module_state(m)
    assert st3.hooked
    h.remove()
    h = m[6].register_forward_hook(lambda *a: None)     # moved: one hook before and after, elsewhere
    try:
        st4 = module_state(m)
        assert st4 is not st3 and st4.hooked
    finally:
        h.remove()
    st5 = module_state(m)
    assert not st5.hooked
    from collections import OrderedDict

    hooks = OrderedDict(m[6]._forward_hooks)
    m[6]._forward_hooks = hooks                         # another dict object (empty as before)
    assert module_state(m) is not st5
    st6 = module_state(m)
    with torch.no_grad():
        m[5].weight.data = m[5].weight.data.clone()     # same values, a new storage
    st7 = module_state(m)
    assert st7 is not st6
    m[9].bias = nn.Parameter(m[9].bias.detach().clone())  # an equal-valued new tensor
    st8 = module_state(m)
    assert st8 is not st7 and module_state(m) is st8
    with torch.no_grad():
        m[9].bias.add_(1.0)                             # the new tensor's in-place write is seen too
    assert module_state(m) is not st8
    sm = torch.jit.script(_cnn(3, seed=3))      # its dicts are properties: the per-module walk (a new snapshot
    ss = module_state(sm)                       # on every call, as before), never a stale one
    assert ss.dicts is None and not ss.hooked and ss.names == [n for n, _ in sm.named_modules()]


def test_snapshot_does_not_keep_the_model_alive():
    m = _cnn(3)
    module_state(m)
    x = torch.rand(2, 3, 16, 16)
    image_module(m, x)
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None


def _native(conv, x):
    backend = torch._C._select_conv_backend(x.contiguous(memory_format=torch.channels_last), conv.weight, conv.bias,
                                            conv.stride, conv.padding, conv.dilation, False, [0, 0], conv.groups, None)
    return backend.name.startswith("Slow")


@pytest.mark.parametrize("c_in", [1, 3, 8])
def test_copy_runs_native_kernel_convolutions_through_onednn_and_maps_match_the_plain_model(c_in):
    """Where PyTorch picks its native kernel for the first convolution (a small single image) the copy
    runs it through oneDNN (more than one input channel, no gradient recording), else PyTorch's choice;
    the copy's outputs and the Grad-CAM map equal the module's / a hand-written Grad-CAM's."""
    m = _cnn(c_in, seed=c_in)
    g = torch.Generator().manual_seed(c_in)
    seen = set()
    for n, size in ((1, 24), (3, 24), (1, 96)):
        x = torch.rand((n, c_in, size, size), generator=g)
        fm = image_module(m, x, fuse_bn=False)
        assert fm is not None
        xcl = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            assert torch.allclose(fm(xcl), m(x), rtol=1e-5, atol=1e-6)
        choice = fm[0].__dict__.get("_onednn_choice", {})
        if c_in > 1:
            used = choice[(xcl.shape, torch.get_num_threads())]
            assert used == _native(m[0], x)
            seen.add(used)
        else:
            assert not choice                # one channel: the same layout either way, PyTorch's choice
        with torch.enable_grad():            # an input-gradient pass on a shape seen asks PyTorch no new choice
            before = dict(choice)
            xg = xcl.clone().requires_grad_(True)
            fm(xg).sum().backward()
            assert fm[0].__dict__.get("_onednn_choice", {}) == before
        with torch.no_grad():
            tgt = m(x).argmax(dim=1)
        attr = GradCam(m).attribute(x, target=tgt.numpy(), device="cpu")
        # by hand on the plain module: activation of the last conv, its gradient, mean-weighted sum
        acts = []
        h = m[5].register_forward_hook(lambda mod, i, o: acts.append(o))
        try:
            out = m(x)
        finally:
            h.remove()
        (gr,) = torch.autograd.grad(out.gather(1, tgt.view(-1, 1)).sum(), acts[0])
        cam = torch.relu((gr.mean(dim=(2, 3), keepdim=True) * acts[0]).sum(dim=1, keepdim=True))
        ref = nn.functional.interpolate(cam, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
        ref = ref.detach().double().numpy()
        assert attr.values.shape == ref.shape
        assert np.abs(attr.values - ref).max() <= 1e-6 * max(1.0, float(np.abs(ref).max()))
    if c_in > 1:
        assert seen == {True, False}          # both kernels were exercised


def test_targets_are_checked_on_the_host():
    m = _cnn(3)
    x = torch.rand(2, 3, 16, 16)
    for bad, msg in ((4, "out of range"), (-1, "out of range"), ([0, 7], "out of range"),
                     ([0, 1, 2], "one index per row"), ("cat", "output indices")):
        with pytest.raises(ExplanationError, match=msg):
            GradCam(m).attribute(x, target=bad, device="cpu")
    a = GradCam(m).attribute(x, target=np.int64(2), device="cpu")
    b = GradCam(m).attribute(x, target=torch.tensor([2, 2]), device="cpu")
    c = GradCam(m).attribute(x, target=[2, 2], device="cpu")
    assert a.target == b.target == c.target == 2
    assert np.array_equal(a.values, b.values) and np.array_equal(a.values, c.values)


def _by_hand(m, x, layer):
    """Grad-CAM written out on the plain module (predicted class, ReLU, bilinear upsampling)."""
    acts = []
    h = layer.register_forward_hook(lambda mod, i, o: acts.append(o))
    try:
        out = m(x)
    finally:
        h.remove()
    tgt = out.argmax(dim=1)
    (gr,) = torch.autograd.grad(out.gather(1, tgt.view(-1, 1)).sum(), acts[0])
    cam = torch.relu((gr.mean(dim=(2, 3), keepdim=True) * acts[0]).sum(dim=1, keepdim=True))
    ref = nn.functional.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
    return ref.detach().double().numpy()


def test_attribute_checks_the_module_once_per_call_and_still_sees_changes(monkeypatch):
    """``attribute`` hands the snapshot its fresh adapter was checked against to Grad-CAM (one check per
    call, not two); an in-place weight write, a new hook and a re-used adapter are still seen on the
    next call (maps equal a hand-written Grad-CAM on the changed module)."""
    import xai_reports.adapters._torch_state as S

    m = _cnn(3, seed=5)
    x = torch.rand((2, 3, 20, 20), generator=torch.Generator().manual_seed(5))
    GradCam(m).attribute(x, device="cpu")
    calls = []
    real = S.module_state
    import xai_reports.attribution._torch as T

    counted = lambda mod: calls.append(mod) or real(mod)  # noqa: E731
    monkeypatch.setattr(S, "module_state", counted)      # the adapter's check
    monkeypatch.setattr(T, "module_state", counted)      # Grad-CAM's own (when nothing can be reused)
    a1 = GradCam(m).attribute(x, device="cpu")
    assert len(calls) == 1                              # the adapter's check only
    assert np.abs(a1.values - _by_hand(m, x, m[5])).max() <= 1e-6 * max(1.0, float(np.abs(a1.values).max()))
    with torch.no_grad():
        m[5].weight.mul_(-1.5)                          # in place: the same tensors, a new _version
    a2 = GradCam(m).attribute(x, device="cpu")
    ref2 = _by_hand(m, x, m[5])
    assert np.abs(a2.values - a1.values).max() > 0.1 * np.abs(a1.values).max()     # the change is seen
    assert np.abs(a2.values - ref2).max() <= 1e-6 * max(1.0, float(np.abs(ref2).max()))
    # a hook registered after the first call: the copy (which would not carry it) must not stand in
    seen = []
    h = m[5].register_forward_hook(lambda mod, i, o: seen.append(1))
    try:
        GradCam(m).attribute(x, device="cpu")
    finally:
        h.remove()
    assert seen
    # an adapter passed in is re-checked on every call (it was checked when built, not now)
    from xai_reports.adapters import wrap_model

    ad = wrap_model(m)
    with torch.no_grad():
        m[5].weight.mul_(0.25)
    calls.clear()
    a3 = GradCam(ad).attribute(x, device="cpu")
    assert len(calls) == 1                              # Grad-CAM's own check
    ref3 = _by_hand(m, x, m[5])
    assert np.abs(a3.values - ref3).max() <= 1e-6 * max(1.0, float(np.abs(ref3).max()))
