"""Image models of case-review sheets in every form the pack allows, and their agreement with the model card.

* a torch state dict, loaded with ``torch.load(weights_only=True)`` into a network built from data
  (a registered name, ``monai.<Network>`` / ``torchvision.<name>`` with keyword arguments) or from the
  team's own ``module:factory``, imported only when the caller names it (``--architecture``);
* a TorchScript archive (``torch.jit.load``; no layer hooks, so no Grad-CAM);
* an ONNX graph run by onnxruntime (no gradients: perturbation methods only);

and, with ``input.normalisation``, a wrapper that feeds ``(x - mean) / std`` to the model.
"""

from __future__ import annotations

from ...adapters import load_model
from ...errors import PackError


def load_image_model(model, card, spec, pack, mid, *, architecture=None):
    """The adapter of an image model in any of its forms: a state dict with an architecture (registered,
    MONAI/torchvision by name + options, or the team's ``module:factory`` passed as ``architecture``),
    TorchScript, or ONNX (no gradients); with ``input.normalisation``, the module reads ``(x - mean) / std``
    (its layers then sit under ``net.``)."""
    adapter = _load_image_model(model, card, spec, pack, mid, architecture=architecture)
    norm = spec.input.normalisation
    if norm is None:
        return adapter
    import torch

    from ...adapters import wrap_model

    inner = adapter.model

    class Normalised(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = inner
            self.register_buffer("mean", torch.tensor(norm["mean"], dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(norm["std"], dtype=torch.float32).view(1, -1, 1, 1))

        def forward(self, x):
            return self.net((x - self.mean) / self.std)

    wrapped = Normalised()
    if callable(getattr(inner, "embed", None)):
        wrapped.embed = lambda x: inner.embed((x - wrapped.mean) / wrapped.std)
    return wrap_model(wrapped)


def _load_image_model(model, card, spec, pack, mid, *, architecture=None):
    from ...adapters.architectures import is_code_reference, resolve_case_review_architecture

    key = f"{pack.section_key('case_review')}.models.{mid}"
    form = (card.get("model_format") or "state_dict")
    if form != spec.model_format:
        raise PackError(f"the pack says model_format '{spec.model_format}', the model card '{form}'",
                        file=pack.files[-1], key_path=f"{key}.model_format")
    if form == "onnx":
        from ...adapters.onnx_image import load_onnx_image

        return load_onnx_image(model)
    if form == "torchscript":
        import torch

        adapter = load_model(model)
        if not isinstance(adapter.model, torch.jit.ScriptModule):
            raise PackError(f"{model}: the pack says TorchScript, the file is not a TorchScript archive",
                            file=pack.files[-1], key_path=f"{key}.model_format")
        return adapter
    arch = card["architecture"]["name"]
    if spec.architecture != arch:
        raise PackError(f"the pack names architecture '{spec.architecture}', the model card '{arch}'",
                        file=pack.files[-1], key_path=f"{key}.architecture")
    if architecture is not None and architecture != arch:
        raise PackError(f"--architecture {architecture} differs from the pack's architecture '{arch}'",
                        file=pack.files[-1], key_path=f"{key}.architecture")
    if is_code_reference(arch) and architecture is None:
        raise PackError(f"the pack names code ('{arch}'); pass --architecture {arch} (API: architecture="
                        f"'{arch}') to allow importing it", file=pack.files[-1], key_path=f"{key}.architecture")
    opts = {**card["architecture"].get("options", {}), **spec.architecture_options}
    module = resolve_case_review_architecture(arch, opts, allow_code=architecture)
    return load_model(model, architecture=module)


def check_card_declarations(card, spec, pack, mid):
    """The model card's classes, output and input (size, channels, normalisation) agree with the pack's."""
    key = f"{pack.section_key('case_review')}.models.{mid}"
    if card.get("classes") is not None and list(card["classes"]) != list(spec.classes):
        raise PackError(f"the pack declares classes {list(spec.classes)}, the model card {list(card['classes'])}",
                        file=pack.files[-1], key_path=f"{key}.classes")
    if card.get("output", "softmax") != spec.output:
        raise PackError(f"the pack declares output '{spec.output}', the model card '{card.get('output')}'",
                        file=pack.files[-1], key_path=f"{key}.output")
    declared = card.get("input") or {}
    for k in ("height", "width", "channels", "normalisation"):
        if k in declared and declared[k] != getattr(spec.input, k):
            raise PackError(f"the pack declares input.{k} {getattr(spec.input, k)}, the model card {declared[k]}",
                            file=pack.files[-1], key_path=f"{key}.input.{k}")


__all__ = ["load_image_model", "check_card_declarations"]
