"""The team's own perception model: an object detector, and attributions for one of its detections.

Forms (the pack's ``incident.perception_model.form``):

* ``torchscript``: a TorchScript archive called torchvision-style, ``model([image])`` with
  ``image`` a float ``(3, H, W)`` tensor in ``[0, 1]``, returning a list of dicts with
  ``boxes`` ``(n, 4)`` (x0, y0, x1, y1 px), ``scores`` ``(n,)`` and ``labels`` ``(n,)``, or the
  ``(losses, detections)`` pair scripted torchvision detectors return.
* ``onnx``: a graph taking one float image ``(3, H, W)`` or ``(1, 3, H, W)`` in ``[0, 1]`` and
  giving boxes, scores and labels (outputs found by name, else torchvision's export order
  boxes, labels, scores).
* ``torchvision``: an architecture named in :data:`TORCHVISION_DETECTORS` (Faster R-CNN,
  RetinaNet, SSDlite, FCOS) built with ``num_classes`` and loaded from a state dict with
  ``torch.load(weights_only=True)``; needs ``torchvision`` beside torch.

Attributions for a target detection (its box and label):

* ``grad_cam`` (torch forms): Grad-CAM on the detection's score, at a named layer. For a
  TorchScript model the activation is the output of the layer's last parameterised
  operation in the inlined forward graph, on the batch (not inside a per-image loop); the
  archive's graph is copied with that output added, nothing of the model is changed.
* ``d_rise`` (any form): D-RISE (Petsiuk et al. 2021), random masks weighted by the
  similarity of the best-matching detection in the masked frame, IoU x score for the
  same label; the weights are centred on their mean (the map is the covariance of mask
  and similarity, clipped at 0), which removes RISE's uniform baseline.
* ``occlusion`` (any form): a window slid over the frame; the map is the drop of that
  similarity. ``occlude_box`` fills the detection's box alone and reports the score before and after.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ...errors import ExplanationError, InputError, ModelLoadError

DETECTOR_FORMS = ("torchscript", "onnx", "torchvision")
TORCHVISION_DETECTORS = ("fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2", "fasterrcnn_mobilenet_v3_large_fpn",
                         "fasterrcnn_mobilenet_v3_large_320_fpn", "retinanet_resnet50_fpn",
                         "retinanet_resnet50_fpn_v2", "ssdlite320_mobilenet_v3_large", "ssd300_vgg16",
                         "fcos_resnet50_fpn")
DETECTION_METHODS = ("grad_cam", "d_rise", "occlusion")


def iou(a, b) -> float:
    """Intersection over union of two ``[x0, y0, x1, y1]`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def similarity(target: dict, detections: list[dict]) -> float:
    """D-RISE similarity: the best IoU x score over detections of the target's label (0 when none)."""
    best = 0.0
    for d in detections:
        if d["label"] == target["label"]:
            best = max(best, iou(target["box"], d["box"]) * float(d["score"]))
    return best


class Detector:
    """A loaded detector: ``detect(images)`` -> per image, detections ``{box, score, label, class}``.

    Args:
        model: a ``torch.nn.Module``, a TorchScript module or an ``onnxruntime`` session.
        form: one of :data:`DETECTOR_FORMS`.
        classes: label index -> class name (a missing index prints as ``label N``).
        score_threshold: detections below it are dropped from what :meth:`detect` returns.
        sha256: the model file's hash (or of the weights).
    """

    def __init__(self, model, form: str, *, classes=None, score_threshold: float = 0.5, sha256: str = "",
                 name: str = ""):
        self.model, self.form, self.classes = model, form, dict(classes or {})
        self.score_threshold, self.sha256, self.name = float(score_threshold), sha256, name

    @property
    def differentiable(self) -> bool:
        return self.form in ("torchscript", "torchvision", "torch")

    def _class(self, label: int) -> str:
        return str(self.classes.get(int(label), f"label {int(label)}"))

    def _raw(self, images: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(boxes, scores, labels)`` per image, every detection the model gives."""
        x = np.ascontiguousarray(np.asarray(images, dtype=np.float32).transpose(0, 3, 1, 2) / 255.0)
        if self.form == "onnx":
            return [self._onnx_one(xi) for xi in x]
        import torch

        with torch.no_grad():
            out = self._call([torch.from_numpy(xi) for xi in x])
        return [(d["boxes"].detach().cpu().numpy().astype(np.float64).reshape(-1, 4),
                 d["scores"].detach().cpu().numpy().astype(np.float64).reshape(-1),
                 d["labels"].detach().cpu().numpy().astype(np.int64).reshape(-1)) for d in out]

    def _call(self, tensors, model=None):
        out = (model or self.model)(tensors)
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], list):
            out = out[1]                     # scripted torchvision detectors return (losses, detections)
        if not isinstance(out, (list, tuple)) or not all(isinstance(d, dict) for d in out):
            raise ExplanationError(f"the detector returned {type(out).__name__}; expected a list of dicts with "
                                   "boxes, scores and labels (torchvision style)")
        missing = [k for k in ("boxes", "scores", "labels") if k not in out[0]] if out else []
        if missing:
            raise ExplanationError(f"the detector's output lacks {missing} (torchvision style: boxes, scores, labels)")
        return out

    def _onnx_one(self, xi):
        sess = self.model
        inp = sess.get_inputs()[0]
        feed = xi[None] if len(inp.shape) == 4 else xi
        outs = sess.run(None, {inp.name: feed})
        names = [o.name.lower() for o in sess.get_outputs()]

        def pick(key, default):
            j = next((i for i, n in enumerate(names) if key in n), default)
            return np.asarray(outs[j])

        boxes, labels, scores = pick("box", 0), pick("label", 1), pick("score", 2)
        return (boxes.astype(np.float64).reshape(-1, 4), scores.astype(np.float64).reshape(-1),
                labels.astype(np.int64).reshape(-1))

    def detect(self, images, *, threshold: float | None = None) -> list[list[dict]]:
        """Detections per image above the threshold, highest score first."""
        thr = self.score_threshold if threshold is None else threshold
        out = []
        for boxes, scores, labels in self._raw(images):
            keep = [i for i in np.argsort(-scores, kind="stable") if scores[i] >= thr]
            out.append([{"box": [float(v) for v in boxes[i]], "score": float(scores[i]), "label": int(labels[i]),
                         "class": self._class(labels[i])} for i in keep])
        return out

    def similarities(self, images, target: dict, batch: int = 64) -> np.ndarray:
        """The target's similarity (:func:`similarity`) in each image, over every raw detection."""
        out = []
        for s in range(0, len(images), batch):
            for boxes, scores, labels in self._raw(images[s:s + batch]):
                dets = [{"box": boxes[i], "score": scores[i], "label": int(labels[i])} for i in range(len(scores))]
                out.append(similarity(target, dets))
        return np.asarray(out, dtype=np.float64)


def _file_sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def load_detector(path, form: str, *, architecture: str | None = None, classes=None, num_classes: int | None = None,
                  score_threshold: float = 0.5) -> Detector:
    """Load the team's detector from a file.

    Raises:
        ModelLoadError: one line naming the file (not that form, torchvision missing, bad state dict).
    """
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"{p}: detector file not found")
    kw = {"classes": classes, "score_threshold": score_threshold, "sha256": _file_sha(p), "name": p.name}
    if form == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelLoadError(f"{p}: ONNX detectors need onnxruntime (pip install 'xai-reports[onnx]')") from None
        try:
            sess = ort.InferenceSession(p.read_bytes(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own kinds
            raise ModelLoadError(f"{p}: not a usable ONNX detector ({str(exc).splitlines()[0]})") from None
        return Detector(sess, "onnx", **kw)
    import torch

    if form == "torchscript":
        try:
            model = torch.jit.load(str(p), map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError and others
            raise ModelLoadError(f"{p}: not a TorchScript archive ({str(exc).splitlines()[0]})") from None
        return Detector(model.eval(), "torchscript", **kw)
    if form == "torchvision":
        if architecture not in TORCHVISION_DETECTORS:
            raise ModelLoadError(f"{p}: unknown torchvision detector {architecture!r}; known: "
                                 f"{', '.join(TORCHVISION_DETECTORS)}")
        try:
            from torchvision.models import detection
        except Exception as exc:  # noqa: BLE001 - ImportError, or a torchvision built for another torch
            raise ModelLoadError(f"{p}: the torchvision form needs torchvision matching torch {torch.__version__} "
                                 f"({type(exc).__name__}); export the model as TorchScript or ONNX instead") from None
        model = getattr(detection, architecture)(weights=None, weights_backbone=None,
                                                 num_classes=num_classes or max(2, len(classes or {}) + 1))
        try:
            model.load_state_dict(torch.load(str(p), map_location="cpu", weights_only=True))
        except Exception as exc:  # noqa: BLE001 - shape mismatch, not a state dict
            raise ModelLoadError(f"{p}: not a state dict for {architecture} ({str(exc).splitlines()[0]})") from None
        return Detector(model.eval(), "torchvision", **kw)
    raise ModelLoadError(f"{p}: unknown detector form {form!r}; known: {', '.join(DETECTOR_FORMS)}")


def _attr_path(v) -> list[str]:
    names, src = [], v.node()
    while src.kind() == "prim::GetAttr":
        names.insert(0, src.s("name"))
        src = src.inputsAt(0).node()
    return names


def _layer_output_fn(model, layer: str, what: str = "detector"):
    """``f(images) -> (detections, activation)`` for a TorchScript model: the output of ``layer``.

    The forward graph is copied and inlined; the activation is the output of the last
    operation of the top-level graph that uses a parameter of ``layer`` (for a convolution
    layer, its output). The copy returns it beside the detections; the model is unchanged.
    """
    import torch

    g = model.forward.graph.copy()
    torch._C._jit_pass_inline(g)
    path = layer.split(".")

    def uses_layer(n):
        return any(_attr_path(i)[:len(path)] == path and len(_attr_path(i)) > len(path) for i in n.inputs())

    target = None
    for n in g.nodes():
        if n.kind() != "prim::GetAttr" and uses_layer(n) and n.outputsSize() == 1:
            target = n.output()
    if target is None:
        inside = any(uses_layer(x) for n in g.nodes() for blk in n.blocks() for x in blk.nodes())
        layers = sorted({".".join(_attr_path(i)[:-1]) for n in g.nodes() for i in n.inputs()
                         if n.kind() != "prim::GetAttr" and len(_attr_path(i)) > 1})
        raise ExplanationError(f"Grad-CAM layer {layer!r}: " + (
            f"the TorchScript {what} uses it inside a loop, per image; run the layer on the batch" if inside else
            f"no parameterised operation of that layer in the TorchScript {what} (layers: {', '.join(layers) or 'none'})"))
    ret = g.return_node()
    orig = ret.inputsAt(0)
    tup = g.create("prim::TupleConstruct", [orig, target])
    tup.insertBefore(ret)
    tup.output().setType(torch._C.TupleType([orig.type(), target.type()]))
    ret.replaceInputWith(orig, tup.output())
    fn = torch._C._create_function_from_graph("xai_reports_grad_cam", g)
    return lambda tensors: fn(model._c, tensors)


def _matched_index(boxes, scores, labels, target) -> int:
    sims = [iou(target["box"], boxes[i]) * float(scores[i]) if int(labels[i]) == target["label"] else -1.0
            for i in range(len(scores))]
    if not sims or max(sims) <= 0:
        raise ExplanationError("the target detection is not among the detector's outputs on this frame")
    return int(np.argmax(sims))


def grad_cam(det: Detector, image: np.ndarray, target: dict, layer: str) -> np.ndarray:
    """Grad-CAM of the target detection's score at ``layer``: ``(H, W)``, non-negative."""
    import torch
    import torch.nn.functional as F

    if not det.differentiable:
        raise ExplanationError(f"Grad-CAM needs a torch detector; this one is {det.form} "
                               "(use d_rise or occlusion)")
    x = torch.from_numpy(np.ascontiguousarray(np.asarray(image, np.float32).transpose(2, 0, 1) / 255.0))
    if det.form == "torchscript":
        dets, act = _layer_output_fn(det.model, layer)([x])
        dets = dets[1] if isinstance(dets, tuple) else dets
    else:
        store = {}
        try:
            mod = det.model.get_submodule(layer)
        except AttributeError:
            raise ExplanationError(f"Grad-CAM layer {layer!r} is not a submodule of the detector") from None
        h = mod.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
        try:
            dets = det._call([x])
        finally:
            h.remove()
        act = store["a"]
    d = dets[0]
    i = _matched_index(d["boxes"].detach().numpy(), d["scores"].detach().numpy(), d["labels"].detach().numpy(),
                       target)
    if not isinstance(act, torch.Tensor) or act.dim() != 4:
        raise ExplanationError(f"Grad-CAM layer {layer!r} gives {type(act).__name__}, not a (1, C, h, w) tensor")
    (grad,) = torch.autograd.grad(d["scores"][i], act, allow_unused=True)
    if grad is None:
        raise ExplanationError(f"the detection score does not depend on layer {layer!r}")
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * act).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0]
    return cam.detach().numpy().astype(np.float64)


def d_rise(det: Detector, image: np.ndarray, target: dict, *, n_masks: int = 400, grid: int = 8, p: float = 0.5,
           seed: int = 0) -> np.ndarray:
    """D-RISE saliency of the target detection: ``(H, W)``, non-negative, seeded (same bytes each run)."""
    from PIL import Image

    H, W = image.shape[:2]
    rng = np.random.default_rng(seed)
    ch, cw = int(np.ceil(H / grid)), int(np.ceil(W / grid))
    masks = np.empty((n_masks, H, W), np.float32)
    for i in range(n_masks):
        small = (rng.random((grid + 1, grid + 1)) < p).astype(np.float32)
        big = np.asarray(Image.fromarray(small).resize(((grid + 1) * cw, (grid + 1) * ch), Image.Resampling.BILINEAR))
        dy, dx = rng.integers(0, ch), rng.integers(0, cw)
        masks[i] = big[dy:dy + H, dx:dx + W]
    imgs = np.asarray(image, np.float32)[None] * masks[..., None]
    w = det.similarities(np.round(imgs).astype(np.uint8), target)
    sal = np.tensordot(w - w.mean(), masks, axes=1).astype(np.float64) / (n_masks * p)
    return np.clip(sal, 0, None)


def occlusion_map(det: Detector, image: np.ndarray, target: dict, *, window: int = 8, stride: int = 4) -> np.ndarray:
    """Drop of the target's similarity when a window is filled with the frame's mean colour, averaged per pixel."""
    H, W = image.shape[:2]
    fill = np.asarray(image, np.float64).reshape(-1, 3).mean(0)
    spots = [(y, x) for y in range(0, max(1, H - window + stride), stride)
             for x in range(0, max(1, W - window + stride), stride)]
    imgs = np.repeat(np.asarray(image)[None], len(spots), axis=0)
    for k, (y, x) in enumerate(spots):
        imgs[k, y:y + window, x:x + window] = np.round(fill).astype(np.uint8)
    base = det.similarities(np.asarray(image)[None], target)[0]
    drops = base - det.similarities(imgs, target)
    acc, cnt = np.zeros((H, W)), np.zeros((H, W))
    for d, (y, x) in zip(drops, spots):
        acc[y:y + window, x:x + window] += d
        cnt[y:y + window, x:x + window] += 1
    return np.clip(acc / np.maximum(cnt, 1), 0, None)


def occlude_box(det: Detector, image: np.ndarray, target: dict) -> dict:
    """Fill the detection's box with the frame's mean colour: the best same-label score before and after."""
    img = np.asarray(image).copy()
    x0, y0, x1, y1 = (int(round(v)) for v in target["box"])
    img[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = np.round(
        np.asarray(image, np.float64).reshape(-1, 3).mean(0)).astype(np.uint8)
    before, after = det.similarities(np.stack([np.asarray(image), img]), target)
    return {"before": float(before), "after": float(after), "frame": img, "removed": after < det.score_threshold}


def explain_detection(det: Detector, image, target: dict, methods, options: dict | None = None) -> dict:
    """Each method's map for the target detection (method -> ``(H, W)``)."""
    options = options or {}
    if np.asarray(image).ndim != 3:
        raise InputError("a key frame must be an (H, W, 3) image")
    out = {}
    for m in methods:
        o = dict(options.get(m, {}))
        if m == "grad_cam":
            if not det.differentiable:
                continue                       # ONNX: the model-agnostic methods only
            out[m] = grad_cam(det, image, target, o.get("layer", "features"))
        elif m == "d_rise":
            out[m] = d_rise(det, image, target, **o)
        elif m == "occlusion":
            out[m] = occlusion_map(det, image, target, **o)
        else:
            raise ExplanationError(f"unknown detection attribution method {m!r}; known: {', '.join(DETECTION_METHODS)}")
    return out


__all__ = ["Detector", "load_detector", "grad_cam", "d_rise", "occlusion_map", "occlude_box", "explain_detection",
           "iou", "similarity", "DETECTOR_FORMS", "TORCHVISION_DETECTORS", "DETECTION_METHODS"]
