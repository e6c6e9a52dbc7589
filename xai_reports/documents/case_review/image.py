"""Case-review sheets of an image model (e.g. the CNN on synthetic lesion images).

Inputs are the image's hash and quality measurements (flagged outside the
training range), evidence is one map per configured attribution method over the
image, and similar cases are the nearest reference images in the model's embedding.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ...errors import PackError
from .evidence import METHOD_TITLES, explain_maps, image_png, overlay_png, thumbnail_png
from .quality import QUALITY_METRICS, image_quality, quality_flags
from .sections import Cases, data_uri


class ImageCases(Cases):
    """Sheets of an image model: image quality flags, evidence maps, similar reference images."""

    def prepare(self, rows):
        """See :meth:`Cases.prepare`."""
        if hasattr(self, "ref_emb"):   # the reference embeddings: once per batch, not per chunk
            return
        import torch

        ctx = self.ctx
        self.net = ctx.adapter.model
        ref = ctx.card.reference
        imgs = ref["images"].astype(np.float32) / 255.0
        self.ref_images = imgs[:, None] if imgs.ndim == 3 else imgs          # (n, C, H, W)
        self.ref_y = ref["y"]
        self.ref_ids = [str(s) for s in ref["ids"]]
        self.dev = getattr(ctx.adapter, "device", "cpu")
        self.has_embed = callable(getattr(self.net, "embed", None))
        e = self._embed(torch.as_tensor(self.ref_images, device=self.dev)) if len(self.ref_images) else \
            np.zeros((0, 1))
        self.ref_emb = e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)

    def _embed(self, x):
        """The similarity space: the model's ``embed`` when it has one, else its output logits."""
        import torch

        with torch.no_grad():
            out = self.net.embed(x) if self.has_embed else self.net(x)
        return out.detach().cpu().numpy().astype(np.float64).reshape(len(x), -1)

    def record(self, k, case):
        """See :meth:`Cases.record`."""
        import torch

        ctx, spec = self.ctx, self.ctx.spec
        img = case["image"]
        x = torch.as_tensor(img[None], device=self.dev)
        with torch.no_grad():
            z = self.net(x)[0].detach().cpu().numpy().astype(np.float64)
        emb = self._embed(x)[0]
        score, output = self.logits_output(z)
        # inputs and quality
        q = {m: float(v[0]) for m, v in image_quality(img[None]).items()}
        qflags = quality_flags(q, ctx.card["quality_ranges"])
        flags = list(case["image_flags"]) + qflags
        out_of_scope = bool(qflags) or bool(case["image_flags"])
        image_sha = hashlib.sha256(case["image_bytes"]).hexdigest()
        deid = ctx.profile.deidentification == "safe_harbor"
        fname = str(case["raw"].get(spec.input.column))
        if case.get("dicom") and not deid:
            fname += " (DICOM)"
        inputs = {"kind": "image", "summary": f"{spec.input.modality}",
                  "image_file": None if deid else fname,
                  "image_file_note": ("file name withheld (file names can carry identifiers)" if deid else None),
                  "image_sha256": image_sha,
                  "size": f"{spec.input.width} x {spec.input.height} px, {spec.input.channels} channel(s)",
                  "quality": [{"name": QUALITY_METRICS[m], "value": f"{q[m]:.4g}",
                               "range": "{:.4g} to {:.4g}".format(*ctx.card["quality_ranges"][m]),
                               "flag": any(QUALITY_METRICS[m] in f for f in qflags)} for m in QUALITY_METRICS],
                  "flags": flags, "missing": [],
                  "out_of_scope": out_of_scope,
                  "out_of_scope_text": ("Out of scope: the image differs from the training images (see flags); "
                                        "treat the output with caution." if out_of_scope else
                                        "Within scope: image size and quality measurements lie inside the "
                                        "training range.")}
        inputs["dicom"] = case["dicom"]["rows"] if case.get("dicom") else None
        # evidence maps: for the predicted class (softmax) or each label at or above the threshold (sigmoid)
        ev = spec.evidence
        if ev.target != "predicted":
            targets = [ev.target]
        elif output.get("predicted") is not None:
            targets = output["predicted"] or [output["positive_class"]]
        else:
            targets = [output["class"]]
        for target_name in targets:
            if target_name not in spec.classes:
                raise PackError(f"evidence target '{target_name}' is not one of the classes {list(spec.classes)}",
                                file=ctx.pack.files[-1], key_path=f"{ctx.pack.section_key('case_review')}.models.{ctx.mid}.evidence.target")
        panels = [{"title": "Original image", "method": None, "layer": None,
                   "legend": "grey levels from dark to bright, as received" if img.shape[0] == 1 else
                             "colour image, as received",
                   "png": data_uri(image_png(img, title="Original")),
                   "alt": f"The input image ({spec.input.modality}), "
                          + ("grey levels from dark to bright." if img.shape[0] == 1 else "in colour.")}]
        params = {}
        loc = (ctx.card.get("localisation") or {})
        for target_name in targets:
            t = list(spec.classes).index(target_name)
            for m in ev.methods:
                layer_path = (("net." if spec.input.normalisation else "") + ev.layer) if ev.layer else None
                maps, attr = explain_maps(ctx.adapter, img[None], m, target=t, layer=layer_path,
                                          **ev.options.get(m, {}))
                amap = maps[0]
                peak = np.unravel_index(int(np.argmax(amap)), amap.shape)
                title = METHOD_TITLES.get(m, m) + (f" · {target_name}" if len(targets) > 1 else "")
                signed = m in ("integrated_gradients", "gradient_x_input", "occlusion", "smoothgrad")
                legend = ("red: pushes towards the named class; blue: pushes away; white: no influence; "
                          "saturating at the 99.5th percentile of |value|" if signed else
                          "transparent/dark: little influence; bright yellow: most influence; scaled to this map's maximum")
                layer = ev.layer if m in ("grad_cam", "grad_cam_pp") else None
                lm = (loc.get("methods") or {}).get(m) or {}
                panels.append({
                    "title": title, "method": m, "layer": layer, "legend": legend, "target_class": target_name,
                    "png": data_uri(overlay_png(img, amap, method=m, title=title)),
                    "alt": (f"{METHOD_TITLES.get(m, m)} evidence map for the class {target_name} over the input image"
                            + (f" (layer {layer})" if layer else "") + f"; strongest influence near row {peak[0]}, "
                            f"column {peak[1]}. {legend}."),
                    "params": {k: v for k, v in attr.params.items() if k != "device"},
                    "localisation": lm if lm.get("pointing_game_malignant") is not None else None,
                })
                params[m if len(targets) == 1 else f"{m}:{target_name}"] = {
                    **{k: v for k, v in attr.params.items() if k != "device"},
                    "self_check": {kk: vv for kk, vv in attr.self_check.items() if kk != "per_row"}}
        target_name = ", ".join(targets)
        note = None
        if loc.get("available"):
            parts = []
            for m, r in (loc.get("methods") or {}).items():
                if r.get("pointing_game_malignant") is None:
                    continue
                parts.append(f"{METHOD_TITLES.get(m, m)}{' (the primary method)' if m == ev.primary else ''}: "
                             f"pointing game {r['pointing_game_malignant']:.2f} "
                             f"(strict {r.get('pointing_game_strict_malignant', float('nan')):.2f}), "
                             f"relevance mass in lesion {r['relevance_mass_malignant']:.2f}")
            note = (f"Localisation measured on {loc['n_malignant']} malignant synthetic test images against the "
                    f"ground-truth lesion masks (maps for the malignant class): " + "; ".join(parts) + ". "
                    + (f"For comparison, a model-free map peaked at the image centre scores "
                       f"{loc['baseline_centre']['pointing_game_malignant']:.2f} and "
                       f"{loc['baseline_centre']['relevance_mass_malignant']:.2f}. " if loc.get("baseline_centre") else "")
                    + loc.get("definition", "") + "."
                    + ("" if target_name == "malignant" else
                       f" The maps above are for the class {target_name}; their localisation was not measured."))
        form_note = FORM_NOTES.get(spec.model_format)
        evidence = {"target_class": target_name, "targets": targets, "primary": ev.primary, "panels": panels,
                    "method_note": note, "model_form_note": form_note,
                    "caveat": ctx.pack.spec.section("case_review").saliency_caveat}
        # similar cases in the embedding space
        e = emb / (np.linalg.norm(emb) + 1e-12)
        sims = self.ref_emb @ e
        idx = np.argsort(-sims, kind="stable")[:spec.similar_cases]
        items = [{"ref_id": self.ref_ids[i], "outcome": self._outcome(self.ref_y[i]),
                  "similarity": float(sims[i]),
                  "png": data_uri(thumbnail_png(self.ref_images[i])),
                  "alt": f"Reference image {self.ref_ids[i]}, confirmed {self._outcome(self.ref_y[i])}."}
                 for i in idx]
        focus = spec.positive_class or output["positive_class"]
        n_pos = sum(1 for it in items if focus in it["outcome"].split(", "))
        similar = {"items": items, "thumbnails": True,
                   "space": ("cosine similarity in the model's embedding (its embed() output)" if self.has_embed else
                             "cosine similarity of the model's output logits (the model exposes no embedding)"),
                   "summary": f"{n_pos} of the {len(items)} most similar reference images are {focus}.",
                   "outcome_source": ctx.card.get("reference_outcome_source",
                                                  "ground-truth label of the synthetic generator (labelling rule)")}
        cf = {"meaningful": False, "text": ("No counterfactual statement: for this image model no single, "
                                            "interpretable change of the input is defined."), "caveat": None}
        inputs_public = {"image_sha256": image_sha, "quality": q}
        explanation = {"evidence_target": target_name, "methods": params}
        perf = self.performance_section(q["contrast"])
        return self.base_record(case, score=score, output=output, inputs_public=inputs_public,
                                explanation=explanation,
                                document_parts={"inputs": inputs, "output": output, "evidence": evidence,
                                                "findings": None, "similar": similar, "counterfactual": cf,
                                                "performance": perf})


    def _outcome(self, y) -> str:
        """A reference case's confirmed class (softmax) or labels (multi-label), in words."""
        classes = self.ctx.spec.classes
        y = np.asarray(y)
        if y.ndim == 0:
            return classes[int(y)]
        present = [c for c, v in zip(classes, y) if v]
        return ", ".join(present) if present else "none of the labels"


FORM_NOTES = {
    "onnx": ("This model is an ONNX graph: the software cannot compute its gradients, so its evidence maps come "
             "from perturbation methods only (occlusion: the change of the output when part of the image is "
             "covered). Gradient methods such as Grad-CAM and integrated gradients are not available for it."),
    "torchscript": "This model is a TorchScript file: its code travels with its weights (no Python import).",
}


__all__ = ["ImageCases", "FORM_NOTES"]
