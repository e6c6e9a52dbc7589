"""Gradient attributions side by side with captum: same models, same data, one run.

    PYTHONPATH=. python benchmarks/bench_gradients.py [--device cpu|cuda] [--repeat 5] [--threads 2]
    PYTHONPATH=. python benchmarks/bench_gradients.py --quick          # four small network shapes, minutes
    PYTHONPATH=. python benchmarks/bench_gradients.py --cases shapes   # every network shape (issue 24)
    PYTHONPATH=. python benchmarks/bench_gradients.py --cases gradcam --threads 1  # Grad-CAM, many repeats
    PYTHONPATH=. python benchmarks/bench_gradients.py --cases hoist --threads 1 --repeat 3  # IG prefix hoisting

Cases (goals from issue 3):

* integrated gradients on the 13-feature HMDA MLP, 50 Gauss-Legendre steps, all
  2,380 rows: rows/s and relative completeness error |sum(attr) - (f(x) - f(0))| / |f(x) - f(0)|;
* ``n_steps="auto"`` (relative completeness error <= 1e-3 per row) against
  captum at a fixed 50 steps, in wall time;
* Grad-CAM on a small CNN (256 images, 3x32x32, last conv layer, maps upsampled
  to the input) against captum ``LayerGradCam`` + ``LayerAttribution.interpolate``;
* saliency and occlusion on the same CNN, for reference;
* network shapes (issue 24): a plain 3-conv CNN on 3x64x64, a residual CNN with
  BatchNorm on 3x96x96, a ResNet-18 (torchvision's definition, written out here,
  random weights) on 3x64x64 and 3x224x224, batch sizes 1 and up to 64: IG at 50
  Gauss-Legendre steps, IG ``n_steps="auto"`` asked for the completeness captum
  reaches at 50 steps (its median relative error on that shape), and Grad-CAM at
  the last conv layer, each beside captum with the same points per pass; speed is
  the ratio of median CPU times (robust on a shared machine), wall times shown too.

Timings are the best of ``--repeat`` runs, captum and xai-reports interleaved so
that a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))


def best_of(fns: dict, repeat: int):
    """Interleaved timing: ``{name: (best seconds, last result)}``."""
    best = {k: np.inf for k in fns}
    out = {}
    for k, f in fns.items():  # warm-up
        out[k] = f()
    for _ in range(repeat):
        for k, f in fns.items():
            t = time.perf_counter()
            out[k] = f()
            best[k] = min(best[k], time.perf_counter() - t)
    return {k: (best[k], out[k]) for k in fns}


def ig_case(activation, device, repeat, rows_out):
    import torch
    from captum.attr import IntegratedGradients as CaptumIG

    from _models import hmda_mlp
    from xai_reports import explain

    model, X, _ = hmda_mlp(activation)
    model = model.to(device)
    x = torch.tensor(X.to_numpy(), dtype=torch.float32, device=device)
    n = len(x)
    with torch.no_grad():
        delta = (model(x) - model(torch.zeros_like(x)))[:, 0].double().cpu().numpy()

    def rel(err):
        return np.asarray(err) / np.abs(delta)

    def summary(r):
        return f"median {np.median(r):.2e}, p99 {np.percentile(r, 99):.2e}, max {r.max():.2e}"

    res = best_of({
        "captum": lambda: CaptumIG(model).attribute(x, n_steps=50, method="gausslegendre",
                                                   return_convergence_delta=True),
        "ours": lambda: explain(model, x, method="integrated_gradients", n_steps=50, device=device),
        "auto": lambda: explain(model, x, method="integrated_gradients", n_steps="auto", device=device),
    }, repeat)
    (tc, (ca, cd)), (to, ao), (ta, aa) = res["captum"], res["ours"], res["auto"]
    diff = np.abs(ao.values - ca.detach().cpu().numpy()).max()
    c_rel = rel(cd.abs().detach().cpu().numpy())
    o_rel = rel(ao.self_check["per_row"])
    a_rel = rel(aa.self_check["per_row"])
    how = np.asarray(aa.extras["integration"])
    name = f"IG, HMDA MLP 13-64-32-1 ({activation}), {n} rows"
    rows_out += [
        (name, "captum IntegratedGradients, 50 GL steps", f"{n / tc:,.0f} rows/s", f"{tc:.3f}",
         summary(c_rel), "-"),
        (name, "xai-reports integrated_gradients, 50 GL steps", f"{n / to:,.0f} rows/s", f"{to:.3f}",
         summary(o_rel), f"{tc / to:.1f}x captum; max |diff| {diff:.1e}"),
        (name, 'xai-reports n_steps="auto" (rtol 1e-3)', f"{n / ta:,.0f} rows/s", f"{ta:.3f}",
         f"{summary(a_rel)}; {np.mean(a_rel <= 1e-3):.2%} rows <= 1e-3 "
         f"(self-check, float32 floor included: {np.mean(np.asarray(aa.self_check['per_row_rel']) <= 1e-3):.2%})",
         f"{ta / tc:.2f}x captum-50 time; mean steps {aa.extras['mean_steps']:.1f}; "
         f"{np.mean(how == 'piecewise_linear'):.0%} rows by exact walk"),
    ]


def cnn_cases(device, repeat, rows_out, n_images=256):
    import torch
    from captum.attr import LayerAttribution, LayerGradCam, Occlusion, Saliency

    from _models import images, small_cnn
    from xai_reports import explain

    cnn = small_cnn().to(device)
    x = images(n_images).to(device)
    layer = cnn[7]  # the last Conv2d

    def captum_gradcam():
        target = cnn(x).argmax(dim=1)
        cam = LayerGradCam(cnn, layer).attribute(x, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(cam, (32, 32), interpolate_mode="bilinear")

    res = best_of({
        "captum": captum_gradcam,
        "ours": lambda: explain(cnn, x, method="grad_cam", device=device),
    }, repeat)
    (tc, rc), (to, ro) = res["captum"], res["ours"]
    diff = np.abs(ro.values - rc[:, 0].detach().cpu().numpy()).max()
    name = f"Grad-CAM, small CNN, {n_images} images 3x32x32"
    rows_out += [
        (name, "captum LayerGradCam + interpolate", f"{n_images / tc:,.0f} images/s", f"{tc:.3f}", "-", "-"),
        (name, "xai-reports grad_cam", f"{n_images / to:,.0f} images/s", f"{to:.3f}", "-",
         f"{tc / to:.2f}x captum; max |diff| {diff:.1e}"),
    ]

    res = best_of({
        "captum": lambda: Saliency(cnn).attribute(x, target=cnn(x).argmax(dim=1)),
        "ours": lambda: explain(cnn, x, method="saliency", device=device),
    }, repeat)
    (tc, _), (to, _) = res["captum"], res["ours"]
    name = f"Saliency, small CNN, {n_images} images"
    rows_out += [
        (name, "captum Saliency", f"{n_images / tc:,.0f} images/s", f"{tc:.3f}", "-", "-"),
        (name, "xai-reports saliency (+ finite-difference self-check)", f"{n_images / to:,.0f} images/s",
         f"{to:.3f}", "-", f"{tc / to:.2f}x captum"),
    ]

    xs = x[:32]
    res = best_of({
        "captum": lambda: Occlusion(cnn).attribute(xs, sliding_window_shapes=(3, 8, 8), strides=(3, 4, 4),
                                                   target=cnn(xs).argmax(dim=1)),
        "ours": lambda: explain(cnn, xs, method="occlusion", window=(8, 8), strides=4, device=device),
    }, max(1, repeat // 2))
    (tc, rc), (to, ro) = res["captum"], res["ours"]
    diff = np.abs(ro.values - rc.detach().cpu().numpy()).max()
    name = "Occlusion 8x8 stride 4, small CNN, 32 images"
    rows_out += [
        (name, "captum Occlusion", f"{32 / tc:,.1f} images/s", f"{tc:.3f}", "-", "-"),
        (name, "xai-reports occlusion", f"{32 / to:,.1f} images/s", f"{to:.3f}", "-",
         f"{tc / to:.2f}x captum; max |diff| {diff:.1e}"),
    ]


# -- network shapes (issue 24): plain CNN, residual CNN with BatchNorm, ResNet-18; 64x64 to 224x224 -----------

def _resnet_parts():
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        """torchvision's ResNet BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, plus the (projected) identity, ReLU."""

        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            return self.relu(out + identity)

    class ResNet18(nn.Module):
        """torchvision.models.resnet18(weights=None), written out (torchvision does not import beside
        torch 2.13 here): 7x7/2 stem, max-pool, BasicBlock x [2, 2, 2, 2] at 64-128-256-512 channels,
        global average pool, 1000-way linear; torchvision's Kaiming initialisation."""

        def __init__(self, num_classes=1000):
            super().__init__()
            self.inplanes = 64
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = self._make(64, 2)
            self.layer2 = self._make(128, 2, 2)
            self.layer3 = self._make(256, 2, 2)
            self.layer4 = self._make(512, 2, 2)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def _make(self, planes, blocks, stride=1):
            down = None
            if stride != 1 or self.inplanes != planes:
                down = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
            layers = [BasicBlock(self.inplanes, planes, stride, down)]
            self.inplanes = planes
            layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
            return nn.Sequential(*layers)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    class ResBN(nn.Module):
        """A small residual CNN with BatchNorm: stem conv-BN-ReLU, three BasicBlocks (one strided), pool, linear."""

        def __init__(self, c=32, classes=10):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
            self.b1 = BasicBlock(c, c)
            self.b2 = BasicBlock(c, 2 * c, 2, nn.Sequential(nn.Conv2d(c, 2 * c, 1, 2, bias=False),
                                                           nn.BatchNorm2d(2 * c)))
            self.b3 = BasicBlock(2 * c, 2 * c)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2 * c, classes)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.b3(self.b2(self.b1(self.stem(x))))), 1))

    def plain():
        """A plain CNN: 3 conv layers (ReLU), global average pooling, linear."""
        return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1, stride=2),
                             nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1, stride=2), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

    return ResNet18, ResBN, plain


def _seeded(model, seed=0):
    """Random weights (seeded), BatchNorm statistics away from the identity, eval mode."""
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1, generator=g)
            m.running_var.uniform_(0.5, 1.5, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.normal_(0, 0.1, generator=g)
    return model.eval()


def shape_list(quick: bool):
    """(name, builder, size, batch): every shape; --quick keeps a few small ones."""
    ResNet18, ResBN, plain = _resnet_parts()
    full = [("plain CNN", plain, 64, 1), ("plain CNN", plain, 64, 64),
            ("residual CNN + BatchNorm", ResBN, 96, 1), ("residual CNN + BatchNorm", ResBN, 96, 32),
            ("ResNet-18 (no weights)", ResNet18, 64, 1), ("ResNet-18 (no weights)", ResNet18, 64, 16),
            ("ResNet-18 (no weights)", ResNet18, 224, 1), ("ResNet-18 (no weights)", ResNet18, 224, 2)]
    if quick:
        return [full[0], full[1], ("residual CNN + BatchNorm", ResBN, 96, 8), full[4]]
    return full


def _timed(fns: dict, repeat: int):
    """Interleaved: ``{name: (median wall s, median CPU s, last result)}`` after one warm-up each."""
    out, wall, cpu = {}, {k: [] for k in fns}, {k: [] for k in fns}
    for k, f in fns.items():
        out[k] = f()
    for _ in range(repeat):
        for k, f in fns.items():
            t, c = time.perf_counter(), time.process_time()
            out[k] = f()
            wall[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    return {k: (float(np.median(wall[k])), float(np.median(cpu[k])), out[k]) for k in fns}


def _corr(a, b):
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def _selected_shapes(shapes, only, device):
    """The ``(name, size, n, model, x, tgt)`` of each shape ``--only`` keeps: the seeded network in eval
    mode, seeded uniform images and the predicted class as target (one place for every case list)."""
    import torch

    for name, build, size, n in shapes:
        key = f"{name} {size} {n}"
        if only and not any(re.search(rf"(^|\s){re.escape(o.strip())}($|\s|,)", key) or o.strip() in name
                            for o in only):
            continue
        torch.manual_seed(0)
        model = _seeded(build()).to(device)
        x = torch.rand((n, 3, size, size), generator=torch.Generator().manual_seed(1)).to(device)
        with torch.no_grad():
            tgt = model(x).argmax(dim=1)
        yield name, size, n, model, x, tgt


def shape_cases(device, repeat, quick, rows_out, steps=50, only=None):
    """IG (fixed steps and auto) and Grad-CAM beside captum on each network shape."""
    import torch
    from captum.attr import IntegratedGradients as CaptumIG
    from captum.attr import LayerAttribution, LayerGradCam

    from xai_reports import explain
    from xai_reports.attribution._torch import auto_batch

    first_row = len(rows_out)
    for name, size, n, model, x, tgt in _selected_shapes(shape_list(quick), only, device):
        with torch.no_grad():
            delta = (model(x) - model(torch.zeros_like(x))).gather(1, tgt[:, None])[:, 0].double().cpu().numpy()
        ibs = auto_batch(3 * size * size)           # points per pass, the same for both
        label = f"{name}, 3x{size}x{size}, batch {n}"

        def rel(err):
            return np.abs(np.asarray(err, dtype=np.float64)) / np.abs(delta)

        def captum_ig():
            return CaptumIG(model).attribute(x, target=tgt, n_steps=steps, method="gausslegendre",
                                             internal_batch_size=ibs, return_convergence_delta=True)

        def ours_ig():
            return explain(model, x, method="integrated_gradients", target=tgt.cpu().numpy(), n_steps=steps,
                           internal_batch_size=ibs, device=device)

        res = _timed({"captum": captum_ig, "ours": ours_ig}, repeat)
        (cw, cc, (ca, cd)), (ow, oc, oa) = res["captum"], res["ours"]
        c_rel = rel(cd.detach().cpu().numpy())
        o_rel = rel(oa.self_check["per_row"])
        ca_np = ca.detach().cpu().numpy()
        # n_steps="auto" asked for the completeness captum reaches at 50 steps on this shape (its median)
        rtol = float(max(np.median(c_rel), 1e-6))

        def ours_auto():
            return explain(model, x, method="integrated_gradients", target=tgt.cpu().numpy(), n_steps="auto",
                           rtol=rtol, internal_batch_size=ibs, device=device)

        res_a = _timed({"captum": captum_ig, "auto": ours_auto}, repeat)
        (cw2, cc2, _), (aw, ac, aa) = res_a["captum"], res_a["auto"]
        a_rel = rel(aa.self_check["per_row"])

        def summ(r):
            return f"median {np.median(r):.1e}, max {r.max():.1e}"

        rows_out += [
            (label, f"IG captum, {steps} GL steps", f"{cw:.3f}", f"{cc:.3f}", summ(c_rel), "-", "-"),
            (label, f"IG xai-reports, {steps} GL steps", f"{ow:.3f}", f"{oc:.3f}", summ(o_rel),
             f"{_corr(oa.values, ca_np):.6f}", f"**{cc / oc:.2f}x** (wall {cw / ow:.2f}x)"),
            (label, f'IG xai-reports n_steps="auto", rtol {rtol:.1e}', f"{aw:.3f}", f"{ac:.3f}", summ(a_rel),
             f"{_corr(aa.values, ca_np):.6f}",
             f"**{cc2 / ac:.2f}x** captum-{steps} (wall {cw2 / aw:.2f}x); mean {aa.extras['mean_steps']:.1f} steps, "
             f"{aa.extras['gradient_evaluations'] / n:.1f} gradients/row"),
        ]

        layer_name = [k for k, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)][-1]
        layer = dict(model.named_modules())[layer_name]

        def captum_cam():
            cam = LayerGradCam(model, layer).attribute(x, target=tgt, relu_attributions=True)
            return LayerAttribution.interpolate(cam, (size, size), interpolate_mode="bilinear")

        res = _timed({"captum": captum_cam,
                      "ours": lambda: explain(model, x, method="grad_cam", target=tgt.cpu().numpy(), device=device)},
                     repeat)
        (cw, cc, rc), (ow, oc, ro) = res["captum"], res["ours"]
        rows_out += [
            (label, f"Grad-CAM captum LayerGradCam ({layer_name}) + interpolate", f"{cw:.3f}", f"{cc:.3f}", "-",
             "-", "-"),
            (label, "Grad-CAM xai-reports", f"{ow:.3f}", f"{oc:.3f}", "-",
             f"{_corr(ro.values, rc[:, 0].detach().cpu().numpy()):.6f}", f"**{cc / oc:.2f}x** (wall {cw / ow:.2f}x)"),
        ]
        print(f"  done: {label}", flush=True)
        for r in rows_out[first_row:]:                  # this shape's rows now (a long run may be cut short)
            print("| " + " | ".join(r) + " |", flush=True)
        first_row = len(rows_out)


def gradcam_cases(device, blocks, rows_out, only=None):
    """Grad-CAM beside captum, many repeats: blocks of calls timed in CPU time, captum, xai-reports and
    xai-reports without its channels_last copy interleaved; fastest block and median block per call."""
    import torch
    from captum.attr import LayerAttribution, LayerGradCam

    import xai_reports.attribution._torch as T
    from xai_reports.attribution.grad_cam import GradCam

    ResNet18, ResBN, plain = _resnet_parts()
    shapes = [("plain CNN", plain, 64, 1), ("plain CNN", plain, 64, 64), ("residual CNN + BatchNorm", ResBN, 96, 1),
              ("residual CNN + BatchNorm", ResBN, 96, 8), ("ResNet-18 (no weights)", ResNet18, 64, 1),
              ("ResNet-18 (no weights)", ResNet18, 224, 1)]
    for name, size, n, model, x, tgt in _selected_shapes(shapes, only, device):
        tn = tgt.cpu().numpy()
        layer_name = [k for k, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)][-1]
        layer = model.get_submodule(layer_name)

        def captum_cam():
            cam = LayerGradCam(model, layer).attribute(x, target=tgt, relu_attributions=True)
            return LayerAttribution.interpolate(cam, (size, size), interpolate_mode="bilinear")

        def ours():
            return GradCam(model).attribute(x, target=tn, device=device)

        def no_copy():
            keep = T.image_module
            T.image_module = lambda *a, **k: None     # what every method's ``_fast_images`` calls
            try:
                return ours()
            finally:
                T.image_module = keep

        fns = {"captum": captum_cam, "ours": ours, "no_copy": no_copy}
        corr = _corr(ours().values, captum_cam()[:, 0].detach().cpu().numpy())
        per = max(1, int(0.03 / (1e-3 * n))) if size * size * n < 64 * 64 * 8 else 2
        times = {k: [] for k in fns}
        for f in fns.values():
            f()
        for _ in range(blocks):
            for k, f in fns.items():
                c = time.process_time()
                for _ in range(per):
                    f()
                times[k].append((time.process_time() - c) / per)
        mn = {k: 1e3 * min(v) for k, v in times.items()}
        md = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
        rows_out.append((f"{name}, 3x{size}x{size}, batch {n}", f"{mn['captum']:.2f} / {md['captum']:.2f}",
                         f"{mn['ours']:.2f} / {md['ours']:.2f}",
                         f"**{mn['captum'] / mn['ours']:.2f}x / {md['captum'] / md['ours']:.2f}x**",
                         f"{mn['no_copy']:.2f} / {md['no_copy']:.2f}", f"{corr:.6f}"))
        print("| " + " | ".join(rows_out[-1]) + " |", flush=True)


def hoist_cases(device, repeat, rows_out, only=None, steps=50):
    """IG at 50 Gauss-Legendre steps with the affine prefix hoisted and without (the ordinary path), beside
    captum, interleaved ``repeat`` times at batch 1: median CPU s, and how far the two maps differ."""
    import torch
    from captum.attr import IntegratedGradients as CaptumIG

    from xai_reports import explain
    from xai_reports.attribution import _affine_prefix
    from xai_reports.attribution._affine_prefix import affine_split
    from xai_reports.attribution._torch import auto_batch, image_module
    from xai_reports.attribution.integrated_gradients import IntegratedGradients

    ResNet18, ResBN, plain = _resnet_parts()
    shapes = [("plain CNN", plain, 64, 1), ("residual CNN + BatchNorm", ResBN, 96, 1),
              ("ResNet-18 (no weights)", ResNet18, 64, 1), ("ResNet-18 (no weights)", ResNet18, 224, 1)]
    for name, size, n, model, x, tgt in _selected_shapes(shapes, only, device):
        ibs = auto_batch(3 * size * size)
        fast = image_module(model, x)
        split = affine_split(fast, x)
        found = _affine_prefix._SPLITS.get(fast)
        if not isinstance(found, tuple):
            prefix = "none found"
        else:
            prefix = ", ".join(getattr(type(m), "same_math_as", type(m)).__name__       # the copy's oneDNN conv
                               for _, m in found[0].named_modules() if not list(m.children()))
            prefix += f" ({found[2]:.0f} flops/output{'' if split is not None else ': below the gate, not hoisted'})"

        def ig(hoist):
            def run():
                IntegratedGradients._hoist = hoist
                try:
                    return explain(model, x, method="integrated_gradients", target=tgt.cpu().numpy(),
                                   n_steps=steps, internal_batch_size=ibs, device=device)
                finally:
                    IntegratedGradients._hoist = True
            return run

        def captum_ig():
            return CaptumIG(model).attribute(x, target=tgt, n_steps=steps, method="gausslegendre",
                                             internal_batch_size=ibs)

        res = _timed({"captum": captum_ig, "hoisted": ig(True), "ordinary": ig(False)}, repeat)
        cc, hc, oc = (res[k][1] for k in ("captum", "hoisted", "ordinary"))
        hv, ov = res["hoisted"][2].values, res["ordinary"][2].values
        diff = float(np.abs(hv - ov).max() / np.abs(ov).max())
        rows_out.append((f"{name}, 3x{size}x{size}, batch {n}", prefix, f"{cc:.3f}", f"{oc:.3f}", f"{hc:.3f}",
                         f"**{oc / hc:.2f}x**", f"{cc / oc:.2f}x -> **{cc / hc:.2f}x**", f"{diff:.1e}",
                         f"{_corr(hv, res['captum'][2].detach().cpu().numpy()):.6f}"))
        print("| " + " | ".join(rows_out[-1]) + " |", flush=True)


def _load() -> str:
    try:
        return ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _print_table(headers, rows) -> None:
    """A markdown table: ``headers`` and ``rows`` of cells (strings)."""
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for r in rows:
        print("| " + " | ".join(r) + " |")


def main(argv=None):
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (the goals are for 2 cores)")
    p.add_argument("--cases", default="mlp,cnn,shapes", help="which tables: mlp, cnn, shapes (issue 24), gradcam (issue 24: "
                   "Grad-CAM with many repeats; not in the default), hoist (IG with and without the "
                   "affine prefix hoisted, batch 1)")
    p.add_argument("--blocks", type=int, default=20, help="timed blocks per implementation for --cases gradcam")
    p.add_argument("--quick", action="store_true", help="shapes only, four small shapes, 1 repeat (a few minutes)")
    p.add_argument("--only", default="", help="shapes whose 'name size batch' is one of these, or whose name is "
                   "(comma list; 'plain CNN 64 1' does not pick batch 16)")
    args = p.parse_args(argv)
    if args.quick:
        args.cases, args.repeat = "shapes", 1
    torch.set_num_threads(args.threads)
    import captum

    dev = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU, {args.threads} torch threads"
    rows: list = []
    cases = args.cases.split(",")
    if "mlp" in cases:
        for act in ("relu", "silu"):
            ig_case(act, args.device, args.repeat, rows)
    if "cnn" in cases:
        cnn_cases(args.device, args.repeat, rows)
    only = [o for o in args.only.split(",") if o] or None
    if "shapes" in cases:
        shape_rows: list = []
        shape_cases(args.device, args.repeat, args.quick, shape_rows, only=only)
        print(f"device: {dev}; torch {torch.__version__}; captum {captum.__version__}; median of {args.repeat}, "
              f"captum and xai-reports interleaved; load average {_load()} (a shared machine)\n")
        _print_table(["shape", "implementation", "wall s", "CPU s", "rel. completeness error", "corr. vs captum-50",
                      "speed vs captum (CPU time)"], shape_rows)
        print()
    if "gradcam" in cases:
        cam_rows: list = []
        gradcam_cases(args.device, args.blocks, cam_rows, only=only)
        print(f"\nGrad-CAM, CPU ms per call over {args.blocks} interleaved blocks; load average {_load()}\n")
        _print_table(["shape", "captum ms (min / median)", "xai-reports ms (min / median)",
                      "speed vs captum (min / median)", "no copy ms (min / median)", "corr."], cam_rows)
    if "hoist" in cases:
        h_rows: list = []
        hoist_cases(args.device, args.repeat, h_rows, only=only)
        print(f"\nIG 50 GL steps, affine prefix hoisted vs the ordinary path, median CPU s of {args.repeat}, "
              f"interleaved; load average {_load()}\n")
        _print_table(["shape", "hoisted prefix", "captum CPU s", "ordinary CPU s", "hoisted CPU s",
                      "hoisted vs ordinary", "vs captum: ordinary -> hoisted", "max diff / max abs",
                      "corr. vs captum"], h_rows)
    if not rows:
        return

    print(f"device: {dev}; torch {torch.__version__}; captum {captum.__version__}; best of {args.repeat}, "
          "interleaved\n")
    _print_table(["case", "implementation", "throughput", "seconds", "rel. completeness error",
                  "vs captum / notes"], rows)


if __name__ == "__main__":
    main()
