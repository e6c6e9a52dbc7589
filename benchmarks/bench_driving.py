"""Driving pack quality on a SYNTHETIC test set: localisation of attributions and the occlusion check.

For the shipped decision CNN (or a model folder given with --model):

1. accuracy of the decision model against the documented rule on fresh scenes;
2. localisation on the frames the model decides correctly with one decisive object
   (slow/brake): pointing game (tolerance 0 px and 3 px) and relevance mass (energy
   inside the decisive object's box) for Grad-CAM, integrated gradients and occlusion,
   using ``xai_reports.metrics``; captum's LayerGradCam / IntegratedGradients / Occlusion
   are run on the same frames as the reference implementations;
3. the report's claim "object X drove the decision": over the frames where the pack's
   primary method names one object, how often removing that object (re-rendering the
   scene without it) changes the decision, and how often the named object is the
   ground-truth decisive one.

Usage::

    python benchmarks/bench_driving.py [--n 300] [--model DIR] [--write]

``--write`` replaces the "Driving pack" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # examples/ (the shipped demo models)

HEADING = "## Driving pack: attribution localisation and occlusion check (bench_driving.py)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="test scenes (balanced over continue/slow/brake)")
    ap.add_argument("--seed", type=int, default=20_000)
    ap.add_argument("--model", help="model folder (default: the shipped weights)")
    ap.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = ap.parse_args(argv)

    import torch
    from captum.attr import IntegratedGradients as CIG
    from captum.attr import LayerAttribution, LayerGradCam
    from captum.attr import Occlusion as COcc

    from examples.driving_synthetic.demo import shipped_models
    from examples.driving_synthetic.scenes import make_dataset
    from xai_reports.documents.incident import analysis as an
    from xai_reports.documents.incident.models import load_decision_model
    from xai_reports.documents.incident.scenes import render_scene
    from xai_reports.metrics import pointing_game, relevance_mass
    from xai_reports.packs import load_pack

    torch.set_num_threads(max(1, torch.get_num_threads()))
    pack = load_pack("autonomous_driving")
    ie = pack.autonomous_driving.image_explanation
    mdir = Path(args.model) if args.model else shipped_models()
    adapter = load_decision_model(mdir / "decision_cnn.pt", pack.autonomous_driving.decision_model.architecture,
                                  device="cpu")
    ds = make_dataset(args.n, seed=args.seed)
    probs = an.predict_proba(adapter, ds.images)
    pred = probs.argmax(1)
    acc = float((pred == ds.labels).mean())
    conf = np.zeros((3, 3), int)
    for t, p in zip(ds.labels, pred):
        conf[t, p] += 1

    sel = [i for i in range(len(ds)) if ds.labels[i] > 0 and pred[i] == ds.labels[i] and len(ds.decisive[i]) == 1]
    imgs = ds.images[sel]
    targets = pred[sel]
    boxes = [next(g["box"] for g in ds.truth[i] if g["id"] == ds.decisive[i][0]) for i in sel]
    rows, maps_by_method = [], {}
    x = an.to_tensor(imgs)
    module = adapter.model
    for method in ("grad_cam", "integrated_gradients", "occlusion"):
        t0 = time.perf_counter()
        maps, _ = an.attribution_maps(adapter, imgs, method, targets, ie.options.get(method))
        dt = time.perf_counter() - t0
        maps_by_method[method] = maps
        # the reference implementation (captum), same settings
        t1 = time.perf_counter()
        tt = torch.as_tensor(targets)
        if method == "grad_cam":
            layer = dict(module.named_modules())[ie.options.get("grad_cam", {}).get("layer", "features.relu4")]
            ref = LayerGradCam(module, layer).attribute(x, target=tt, relu_attributions=True)
            ref = LayerAttribution.interpolate(ref, x.shape[-2:], interpolate_mode="bilinear")[:, 0]
            ref = ref.detach().numpy()
        elif method == "integrated_gradients":
            n_steps = ie.options.get("integrated_gradients", {}).get("n_steps", 32)
            ref = CIG(module).attribute(x, target=tt, n_steps=n_steps, internal_batch_size=256)
            ref = ref.detach().abs().sum(1).numpy()
        else:
            o = ie.options.get("occlusion", {})
            w, s = tuple(o.get("window", (8, 8))), tuple(o.get("strides", (4, 4)))
            base = x.mean(dim=(2, 3), keepdim=True).expand_as(x).contiguous()
            ref = COcc(module).attribute(x, target=tt, sliding_window_shapes=(3,) + w, strides=(3,) + s,
                                         baselines=base, perturbations_per_eval=64)
            ref = ref.detach().clamp(min=0).sum(1).numpy()
        dref = time.perf_counter() - t1
        agree = float(np.abs(maps - ref).max() / max(np.abs(ref).max(), 1e-12))
        rows.append({
            "method": method, "n": len(sel),
            "pg0": float(pointing_game(maps, boxes=boxes).mean()),
            "pg3": float(pointing_game(maps, boxes=boxes, tolerance=3).mean()),
            "mass": float(relevance_mass(maps, boxes=boxes).mean()),
            "ref_pg0": float(pointing_game(ref, boxes=boxes).mean()),
            "ref_mass": float(relevance_mass(ref, boxes=boxes).mean()),
            "max_rel_diff": agree, "ms": 1000 * dt / max(len(sel), 1), "ref_ms": 1000 * dref / max(len(sel), 1)})

    # the naming claim, checked by removing the named object (scene re-rendered without it)
    named, changed, correct_obj = 0, 0, 0
    sel_all = [i for i in range(len(ds)) if pred[i] > 0]
    prim_all, _ = an.attribution_maps(adapter, ds.images[sel_all], ie.primary, pred[sel_all],
                                      ie.options.get(ie.primary))
    removed_imgs, meta = [], []
    for j, i in enumerate(sel_all):
        shares = an.object_shares(prim_all[j], ds.truth[i])
        who = an.name_driver(shares, min_share=ie.name_min_share, min_ratio=ie.name_min_ratio)
        if who is None:
            continue
        removed_imgs.append(render_scene(ds.scenes[i].without(who)))
        meta.append((i, who))
    if removed_imgs:
        p2 = an.predict_proba(adapter, np.stack(removed_imgs)).argmax(1)
        for (i, who), d2 in zip(meta, p2):
            named += 1
            changed += int(d2 != pred[i])
            correct_obj += int(who in ds.decisive[i])
    claim = {"frames_non_continue": len(sel_all), "named": named,
             "changed_rate": changed / named if named else float("nan"),
             "named_is_decisive": correct_obj / named if named else float("nan")}

    lines = [HEADING, "",
             f"SYNTHETIC test set: {args.n} fresh scenes (seed {args.seed}), balanced over continue/slow/brake; "
             f"decision model `{mdir.name}/decision_cnn.pt` ({pack.autonomous_driving.decision_model.architecture}).",
             "",
             f"Decision accuracy against the documented rule: **{acc:.3f}** (rows: true continue/slow/brake; "
             f"columns: predicted) {conf.tolist()}.",
             "",
             f"Localisation on the {len(sel)} correctly decided slow/brake frames with one decisive object "
             "(xai_reports.metrics; captum as the reference implementation on the same frames):",
             "",
             "| method | pointing game (0 px) | pointing game (3 px) | relevance mass in box | captum pointing game | "
             "captum relevance mass | max rel. diff vs captum | ms/frame | captum ms/frame |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        star = " (pack's primary)" if r["method"] == ie.primary else ""
        lines.append(f"| {r['method']}{star} | {r['pg0']:.3f} | {r['pg3']:.3f} | {r['mass']:.3f} | {r['ref_pg0']:.3f} | "
                     f"{r['ref_mass']:.3f} | {r['max_rel_diff']:.1e} | {r['ms']:.1f} | {r['ref_ms']:.1f} |")
    lines += ["",
              f"Occlusion check of 'object X drove the decision' ({ie.primary}, naming rule: share >= "
              f"{ie.name_min_share:g} and >= {ie.name_min_ratio:g}x the next object): over "
              f"{claim['frames_non_continue']} frames decided slow/brake, one object was named in {claim['named']}; "
              f"removing it (scene re-rendered without it) changed the decision in **{claim['changed_rate']:.3f}** "
              f"of them, and the named object was the rule's decisive object in {claim['named_is_decisive']:.3f}.",
              "", "Goals: pointing game >= 0.85 for the primary method; decision change >= 0.90 when one object is named.",
              "", f"Timings: CPU, {torch.get_num_threads()} torch threads on a machine shared with other jobs "
                  "(compare the columns side by side, not with other machines).",
              ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        res = Path(__file__).resolve().parent / "RESULTS.md"
        old = res.read_text(encoding="utf-8") if res.exists() else "# Benchmark results\n\n"
        pat = re.compile(re.escape(HEADING) + r".*?(?=\n## |\Z)", re.S)
        new = pat.sub(lambda m: text.rstrip() + "\n", old) if pat.search(old) else old.rstrip() + "\n\n" + text
        res.write_text(new, encoding="utf-8")
    return rows, claim


if __name__ == "__main__":
    main()
