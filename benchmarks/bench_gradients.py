"""Gradient attributions side by side with captum: same models, same data, one run.

    PYTHONPATH=. python benchmarks/bench_gradients.py [--device cpu|cuda] [--repeat 5] [--threads 2]

Cases (goals from issue 3):

* integrated gradients on the 13-feature HMDA MLP, 50 Gauss-Legendre steps, all
  2,380 rows: rows/s and relative completeness error |sum(attr) - (f(x) - f(0))| / |f(x) - f(0)|;
* ``n_steps="auto"`` (relative completeness error <= 1e-3 per row) against
  captum at a fixed 50 steps, in wall time;
* Grad-CAM on a small CNN (256 images, 3x32x32, last conv layer, maps upsampled
  to the input) against captum ``LayerGradCam`` + ``LayerAttribution.interpolate``;
* saliency and occlusion on the same CNN, for reference.

Timings are the best of ``--repeat`` runs, captum and xai-reports interleaved so
that a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import os
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


def main(argv=None):
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (the goals are for 2 cores)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows: list = []
    for act in ("relu", "silu"):
        ig_case(act, args.device, args.repeat, rows)
    cnn_cases(args.device, args.repeat, rows)
    import captum

    dev = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU, {args.threads} torch threads"
    print(f"device: {dev}; torch {torch.__version__}; captum {captum.__version__}; best of {args.repeat}, "
          "interleaved\n")
    print("| case | implementation | throughput | seconds | rel. completeness error | vs captum / notes |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
