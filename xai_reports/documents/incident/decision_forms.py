"""The incident report's decision model in any of its forms, and the methods each form can run.

``--model`` may be (recognised from the file's content, never from its suffix alone):

* a **state dict** (zip or legacy torch file of tensors) for the pack's
  ``incident.decision_model.architecture``: a registered architecture, or
  ``torchvision.<network>`` (built with ``num_classes`` = the pack's classes; needs
  torchvision matching torch);
* a **TorchScript** archive (scripted or traced; ``torch.jit.load``, no pickle of user
  objects): every method runs; Grad-CAM takes the layer's activation from a copy of the
  archive's inlined graph (:func:`~xai_reports.documents.incident.detectors._layer_output_fn`,
  the same rule as for TorchScript detectors: the output of the last operation that uses a
  parameter of the layer, e.g. a convolution), since forward hooks do not fire inside a
  TorchScript forward;
* an **ONNX** graph (onnxruntime): no gradients, so only perturbation methods (occlusion) run;
  the report says so, and the object is named from the occlusion map.

The contract is the shipped model's: RGB frames ``(n, 3, H, W)`` in ``[0, 1]`` in, one logit per
class of the pack's ``decision_model.classes`` out.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ...errors import ExplanationError, InputError, ModelLoadError
from ...io.outputs import sha256_file

DECISION_FORMS = ("state_dict", "torchscript", "onnx")
GRADIENT_METHODS = ("grad_cam", "grad_cam_pp", "integrated_gradients", "saliency", "smoothgrad", "gradient_x_input")
"""Methods that need gradients through the decision model (not available for ONNX)."""


def sniff_decision_form(path) -> str:
    """``"torchscript"``, ``"onnx"`` or ``"state_dict"`` from the file's content.

    Raises:
        ModelLoadError: one line naming the file when it is none of them.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"{p}: decision-model file not found")
    with open(p, "rb") as fh:
        head = fh.read(4096)
    if not head:
        raise ModelLoadError(f"{p}: decision-model file is empty")
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(p) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            raise ModelLoadError(f"{p}: not a readable zip archive (TorchScript or torch state dict)") from None
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            return "state_dict"
        raise ModelLoadError(f"{p}: a zip archive that is neither a TorchScript archive nor a torch state dict")
    from ...adapters.onnx_model import looks_like_onnx

    if head[:1] == b"\x08" and looks_like_onnx(p, head):
        return "onnx"
    if head[:1] == b"\x80":             # legacy (non-zip) torch.save: read with weights_only=True later
        return "state_dict"
    raise ModelLoadError(f"{p}: not a decision model (expected a TorchScript archive, an ONNX graph or a torch "
                         f"state dict; the content is none of them)")


def load_decision_file(path, architecture: str, classes, *, device: str = "auto"):
    """``(adapter, form)`` for a decision-model file of any form (:data:`DECISION_FORMS`)."""
    p = Path(path)
    form = sniff_decision_form(p)
    if form == "onnx":
        from ...adapters.onnx_image import load_onnx_image

        adapter = load_onnx_image(p)
    elif form == "torchscript":
        import torch

        from ...adapters import wrap_model

        try:
            module = torch.jit.load(str(p), map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError and others
            raise ModelLoadError(f"{p}: not a usable TorchScript archive ({str(exc).splitlines()[0][:160]})") from None
        adapter = wrap_model(module, device="cpu")
    elif architecture.startswith("torchvision."):
        from ...adapters import load_model
        from ...adapters.architectures import build_architecture

        try:
            net = build_architecture(architecture, num_classes=len(classes))
        except ModelLoadError as exc:
            raise ModelLoadError(f"{p}: {exc}") from None
        adapter = load_model(p, architecture=net, device=device)
    else:
        from .models import load_decision_model

        adapter = load_decision_model(p, architecture, device=device)
    adapter.decision_form = form
    return adapter, form


def resolve_models(model, planner, pack):
    """``(decision_adapter, decision_desc, planner_adapter or None, planner_desc or None)``."""
    from .models import load_planner

    ad = pack.section("incident")
    arch = ad.decision_model.architecture
    model_file = planner_file = None
    form = None
    if isinstance(model, (str, Path)):
        p = Path(model)
        if p.is_dir():
            cands = sorted({*p.glob("*.pt"), *p.glob("*.pth"), *p.glob("*.onnx")})
            if len(cands) != 1:
                raise InputError(f"expected one decision-model file (.pt, .pth or .onnx) in the model folder, "
                                 f"found {len(cands)}", file=p)
            model_file = cands[0]
            if planner is None and (p / "planner_xgb.json").is_file():
                planner = p / "planner_xgb.json"
        else:
            model_file = p
        adapter, form = load_decision_file(model_file, arch, ad.decision_model.classes)
    else:
        from ...adapters import wrap_model

        adapter = wrap_model(model)
        form = "torchscript" if _is_script(adapter.model) else "module"
        adapter.decision_form = form
    shown = {"torchscript": "TorchScript archive", "onnx": "ONNX graph (onnxruntime)"}.get(form, arch)
    dec = {"role": "decision model (camera)", "name": model_file.name if model_file else type(adapter.model).__name__,
           "architecture": shown, "form": form, "classes": list(ad.decision_model.classes),
           "file_sha256": sha256_file(model_file) if model_file else None, "weights_sha256": adapter.sha256}
    padapter, pdesc = None, None
    if planner is not None:
        if isinstance(planner, (str, Path)):
            planner_file = Path(planner)
            padapter = load_planner(planner_file)
        else:
            from ...adapters import wrap_model
            from .models import PLANNER_FEATURES

            padapter = wrap_model(planner, feature_names=list(PLANNER_FEATURES))
        pdesc = {"role": "planner (signals)", "name": planner_file.name if planner_file else type(padapter.model).__name__,
                 "architecture": "XGBoost gradient-boosted trees", "classes": ["not brake", "brake"],
                 "file_sha256": sha256_file(planner_file) if planner_file else None, "weights_sha256": padapter.sha256}
    return adapter, dec, padapter, pdesc


def _is_script(model) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, torch.jit.ScriptModule)


def form_of(adapter) -> str:
    """The decision model's form: ``"onnx"``, ``"torchscript"``, ``"state_dict"`` or ``"module"``."""
    form = getattr(adapter, "decision_form", None)
    if form:
        return form
    model = getattr(adapter, "model", None)
    if type(model).__name__ == "OnnxImageModule":       # load_onnx_image's module: onnxruntime, no gradients
        return "onnx"
    return "torchscript" if _is_script(model) else "module"


def runnable_methods(ie, form: str):
    """``(image_explanation, not_run)``: the pack's spec restricted to what the form can run.

    For ONNX the gradient methods are dropped (occlusion is added when nothing else is
    left) and the primary method becomes the first one left; ``not_run`` lists
    ``{"method", "why"}`` for each method dropped.
    """
    if form != "onnx":
        return ie, []
    keep = [m for m in ie.methods if m not in GRADIENT_METHODS] or ["occlusion"]
    dropped = [m for m in ie.methods if m not in keep]
    primary = ie.primary if ie.primary in keep else keep[0]
    options = {m: o for m, o in ie.options.items() if m in keep}
    why = "the decision model is ONNX (run in onnxruntime), which gives no gradients"
    return ie.model_copy(update={"methods": keep, "primary": primary, "options": options}), [
        {"method": m, "why": why} for m in dropped]


def _script_grad_cam(module, images, layer: str, target, plus_plus: bool) -> np.ndarray:
    """Grad-CAM (or ++) on a TorchScript classifier, one image at a time: ``(n, H, W)``."""
    import torch
    import torch.nn.functional as F

    from ...attribution.grad_cam import GradCam, GradCamPlusPlus
    from .analysis import to_tensor
    from .detectors import _layer_output_fn

    fn = _layer_output_fn(module, layer, "decision model")
    cam_of = GradCamPlusPlus._cam if plus_plus else GradCam._cam
    x = to_tensor(images)
    out = []
    for j in range(x.shape[0]):
        logits, act = fn(x[j:j + 1])
        if not isinstance(act, torch.Tensor) or act.dim() != 4:
            raise ExplanationError(f"Grad-CAM layer {layer!r} gives {type(act).__name__}, not a (1, C, h, w) tensor")
        (g,) = torch.autograd.grad(logits[0, int(target[j])], act, allow_unused=True)
        if g is None:
            raise ExplanationError(f"the decision model's output does not depend on layer {layer!r}")
        cam = torch.relu(cam_of(act.detach(), g.detach()))
        cam = F.interpolate(cam.unsqueeze(1), size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
        out.append(cam[0, 0].numpy().astype(np.float64))
    return np.stack(out)


def decision_maps(adapter, images, method: str, target, options: dict | None = None) -> np.ndarray:
    """Non-negative ``(n, H, W)`` maps of ``method`` for the decision model, whatever its form."""
    from .analysis import DEFAULT_METHOD_OPTIONS, attribution_maps

    form = form_of(adapter)
    if form == "onnx" and method in GRADIENT_METHODS:
        raise ExplanationError(f"{method} needs gradients; the decision model is ONNX (use occlusion)")
    if form == "torchscript" and method in ("grad_cam", "grad_cam_pp"):
        opts = {**DEFAULT_METHOD_OPTIONS.get("grad_cam", {}), **(options or {})}
        return _script_grad_cam(adapter.model, images, str(opts["layer"]), np.atleast_1d(target),
                                method == "grad_cam_pp")
    maps, _ = attribution_maps(adapter, images, method, target, options)
    return maps


def form_notes(form: str, not_run, ie, labels) -> list[str]:
    """Sentences for the report on what the model's form allowed."""
    notes = []
    if not_run:
        notes.append(f"Not run: {', '.join(labels.get(d['method'], d['method']) for d in not_run)}, because "
                     f"{not_run[0]['why']}. Only perturbation methods ({', '.join(labels.get(m, m) for m in ie.methods)}) "
                     f"were run, and {labels.get(ie.primary, ie.primary)} names the driving object.")
    if form == "torchscript" and any(m in ("grad_cam", "grad_cam_pp") for m in ie.methods):
        notes.append("The decision model is a TorchScript archive: Grad-CAM takes the layer's activation from a copy "
                     "of the archive's inlined forward graph (the output of the last operation using a parameter of "
                     "the layer); the archive itself is not changed.")
    return notes


__all__ = ["DECISION_FORMS", "GRADIENT_METHODS", "sniff_decision_form", "load_decision_file", "resolve_models",
           "form_of", "runnable_methods", "decision_maps", "form_notes"]
