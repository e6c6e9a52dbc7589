"""Localisation of the healthcare evidence maps on the synthetic lesion test set, next to captum.

Run:  PYTHONPATH=. python benchmarks/bench_healthcare_localisation.py [--n-test 400] [--write]

Trains the shipped ``lesion_cnn`` configuration (seeded; the training time is reported), then scores
evidence maps on held-out synthetic images against the generator's ground-truth lesion masks:

* pointing game (Zhang et al. 2016): the map's maximum lies on the lesion; "4 px" allows 4 px, the
  paper's 15 px at 224 px scaled to 64 px; "strict" requires the pixel itself to be on the mask;
* relevance mass (Arras et al. 2022): share of the positive relevance inside the lesion mask.

Maps explain the malignant class on the malignant test images ("malignant") and the predicted class
on every test image ("all, predicted"). Rows: xai-reports methods (``xai_reports.explain``), the same
methods from captum (reference library) in the same run, and two baselines that use no model
(random map; a centred Gaussian), which show what the scores are worth.

``--write`` replaces this benchmark's section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HEADING = "## Healthcare: evidence-map localisation on synthetic lesions (`benchmarks/bench_healthcare_localisation.py`)"
TOL = 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-test", type=int, default=400)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()

    import torch

    from examples.healthcare.lesions import make_lesion_set, to_uint8
    from examples.healthcare.training import lesion_scores, train_lesion_model
    from xai_reports import wrap_model
    from xai_reports.adapters.architectures import build_architecture
    from xai_reports.documents.case_review.evidence import attribution_maps
    from xai_reports.metrics import pointing_game, relevance_mass

    torch.set_num_threads(2)
    tmp = Path(tempfile.mkdtemp())
    t0, c0 = time.perf_counter(), time.process_time()
    info = train_lesion_model(tmp, localisation=False)
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    net = build_architecture("lesion_cnn")
    net.load_state_dict(torch.load(info["model"], weights_only=True))
    net.eval()
    adapter = wrap_model(net, device="cpu")

    te = make_lesion_set(args.n_test, seed=0, start=100_000)
    X = to_uint8(te.images).astype(np.float32) / 255.0
    mal = te.labels == 1
    pred = (lesion_scores(net, X) > 0).astype(int)
    acc = float((pred == te.labels).mean())
    xt = torch.as_tensor(X)

    def ours(method, **kw):
        def run(images, target):
            return attribution_maps(adapter, images, method, target=target, **kw)
        return run

    def captum_gradcam(layer):
        from captum.attr import LayerAttribution, LayerGradCam

        lgc = LayerGradCam(net, dict(net.named_modules())[layer])

        def run(images, target):
            t = torch.as_tensor(np.asarray(target)) if np.ndim(target) else int(target)
            a = lgc.attribute(torch.as_tensor(images), target=t, relu_attributions=True)
            return LayerAttribution.interpolate(a, (64, 64), interpolate_mode="bilinear")[:, 0].detach().numpy()
        return run

    def captum_ig(images, target):
        from captum.attr import IntegratedGradients

        t = torch.as_tensor(np.asarray(target)) if np.ndim(target) else int(target)
        a = IntegratedGradients(net).attribute(torch.as_tensor(images), target=t, n_steps=32,
                                               internal_batch_size=256)
        return a.sum(1).detach().numpy()

    def captum_saliency(images, target):
        from captum.attr import Saliency

        t = torch.as_tensor(np.asarray(target)) if np.ndim(target) else int(target)
        x = torch.as_tensor(images).requires_grad_()
        return Saliency(net).attribute(x, target=t, abs=True).sum(1).detach().numpy()

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    centre = np.exp(-((yy - 31.5) ** 2 + (xx - 31.5) ** 2) / (2 * 12.0 ** 2))

    rows = [
        ("xai-reports", "grad_cam (features.relu4)", ours("grad_cam", layer="features.relu4")),
        ("captum", "LayerGradCam (features.relu4)", captum_gradcam("features.relu4")),
        ("xai-reports", "grad_cam (features.relu3)", ours("grad_cam", layer="features.relu3")),
        ("xai-reports", "integrated_gradients (32 steps, black baseline)", ours("integrated_gradients", n_steps=32)),
        ("captum", "IntegratedGradients (32 steps, black baseline)", captum_ig),
        ("xai-reports", "saliency", ours("saliency")),
        ("captum", "Saliency", captum_saliency),
        ("xai-reports", "occlusion (8 px window, stride 4)", ours("occlusion", sliding_window_shapes=(1, 8, 8),
                                                                  strides=(1, 4, 4))),
        ("baseline", "random map (no model)", lambda images, target: rng.uniform(size=(len(images), 64, 64))),
        ("baseline", "centred Gaussian (no model)", lambda images, target: np.broadcast_to(centre, (len(images), 64, 64))),
    ]
    table = []
    ref_maps = {}
    for lib, name, fn in rows:
        t = time.perf_counter()
        try:
            m_mal = fn(X[mal], 1)
        except Exception as exc:  # noqa: BLE001 - a method that cannot run is reported, not fatal
            table.append((lib, name, None, str(exc).splitlines()[0][:60]))
            continue
        secs = (time.perf_counter() - t) / max(int(mal.sum()), 1)
        m_all = fn(X, pred)
        r = {"pg_strict": pointing_game(m_mal, te.masks[mal]).mean(),
             "pg_tol": pointing_game(m_mal, te.masks[mal], tolerance=TOL).mean(),
             "rm": relevance_mass(m_mal, te.masks[mal]).mean(),
             "pg_all": pointing_game(m_all, te.masks, tolerance=TOL).mean(),
             "rm_all": relevance_mass(m_all, te.masks).mean(), "secs": secs}
        key = name.split(" ")[0].lower().replace("layergradcam", "grad_cam").replace("integratedgradients",
                                                                                     "integrated_gradients")
        if lib == "xai-reports":
            ref_maps[key] = m_mal
        elif lib == "captum" and key in ref_maps:
            a, b = ref_maps[key], np.asarray(m_mal, dtype=float)
            r["max_diff"] = float(np.abs(a - b).max() / (np.abs(b).max() + 1e-12))
        table.append((lib, name, r, None))
        print(f"{lib:12s} {name:50s} done", file=sys.stderr, flush=True)

    lines = [HEADING, "",
             f"`PYTHONPATH=. python benchmarks/bench_healthcare_localisation.py --n-test {args.n_test}`. "
             f"Shared 2-core CPU (other jobs running), python {platform.python_version()}, torch {torch.__version__}.",
             "",
             f"Model: the shipped `lesion_cnn` configuration (1,200 synthetic training images, 8 epochs, seed 0); "
             f"training took {train_wall:.0f} s wall, {train_cpu:.0f} s CPU (2 threads). Held-out synthetic test "
             f"set: {args.n_test} images ({int(mal.sum())} malignant), accuracy {acc:.3f}, AUC "
             f"{info['auc_test']:.3f} (on the card's 400-image test split).",
             "",
             f"Pointing game with a {TOL} px tolerance (Zhang et al.'s 15 px at 224 px, scaled to 64 px) and strict "
             "(on the mask); relevance mass = share of positive relevance inside the lesion mask. \"malignant\": "
             "maps for the malignant class on the malignant images; \"all\": maps for the predicted class on every "
             "image. \"vs captum\": largest absolute difference between the two libraries' maps, relative to the "
             "map's largest value.",
             "",
             "| library | method | pointing game, malignant (4 px) | strict | relevance mass, malignant | "
             "pointing game, all (4 px) | relevance mass, all | s per image | vs captum |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for lib, name, r, err in table:
        if r is None:
            lines.append(f"| {lib} | {name} | n/a ({err}) | | | | | | |")
            continue
        lines.append(f"| {lib} | {name} | {r['pg_tol']:.3f} | {r['pg_strict']:.3f} | {r['rm']:.3f} | "
                     f"{r['pg_all']:.3f} | {r['rm_all']:.3f} | {r['secs']:.4f} | "
                     f"{r['max_diff']:.1e} |" if "max_diff" in r else
                     f"| {lib} | {name} | {r['pg_tol']:.3f} | {r['pg_strict']:.3f} | {r['rm']:.3f} | "
                     f"{r['pg_all']:.3f} | {r['rm_all']:.3f} | {r['secs']:.4f} | |")
    lines += ["", "Reading the table:", "",
              "- The pack's primary evidence method is `integrated_gradients`: pointing game >= 0.9 under both "
              "protocols, and its maps equal captum's. Grad-CAM at `features.relu4` (an 8 x 8 map) reaches 0.9 only "
              "with the 4 px tolerance, because its peak sits on the centre of an 8 px cell.",
              "- The centred-Gaussian baseline scores high because large spiculated lesions must lie near the "
              "centre of a 64 px image to fit: compare each method with that row, not with 0. Integrated "
              "gradients beats it clearly on the strict pointing game; relevance mass is only modestly above it "
              "for every method (much of each map's positive mass lies outside the mask).",
              "- Occlusion with a black 8 px patch localises poorly here: a dark square in bright tissue is itself "
              "out of distribution for the model. It is not used by the pack.",
              f"- The mean mask covers {te.masks[mal].mean():.1%} of a malignant image; a random map's pointing "
              "game is near that share (higher with the tolerance).",
              ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        path = Path(__file__).with_name("RESULTS.md")
        old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
        if HEADING in old:
            start = old.index(HEADING)
            nxt = old.find("\n## ", start + len(HEADING))
            old = old[:start] + (old[nxt + 1:] if nxt != -1 else "")
        path.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")


if __name__ == "__main__":
    main()
