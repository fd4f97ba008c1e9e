"""Faster CPU decoding kernels for the shared model: few-row matmuls and masked mixed-adapter LoRA.

Both replace a method on existing modules, so they live apart from the session that installs them.
The mixed-adapter one replaces peft's private `LoraLinear._mixed_batch_forward`: it is installed only
when the installed peft is a version it was checked against and the layer still has every attribute it
reads (`masked_mixed_batch_support`); otherwise peft's own mixed-batch path runs, which is slower but
always right, and the log says why. docs/peft-masked-mixed-batch.md proposes the change to peft.
"""
from __future__ import annotations

import inspect
import logging
from typing import Any

import torch
import torch.nn.functional as F

log = logging.getLogger("iacdemo.generation")

BASE = "__base__"  # peft's name for "no adapter" in a mixed-adapter batch
SKINNY_MAX_ROWS = 8
# peft minor versions whose LoraLinear mixed-batch forward the masked one was compared with (equal outputs
# in tests/test_generation_units.py); a new minor version falls back until it is checked and added here.
CHECKED_PEFT_VERSIONS = ("0.21",)
# what the masked forward reads from a LoRA layer; a layer missing any of them keeps peft's forward
LAYER_ATTRIBUTES = ("base_layer", "lora_A", "lora_B", "lora_dropout", "lora_variant", "scaling",
                    "_mixed_batch_forward")


def use_skinny_decode_matmuls(model: Any) -> int:
    """Route the few-row matmuls of CPU decoding through MKL's fast path; returns how many layers.

    A decoding step multiplies 1-3 rows (one per column) by every weight matrix, and MKL computes
    `x @ W.T` for such skinny x slowly; the same product written as `W @ x.T` with at least 2 rows is
    2-4x faster (figures in bench/RESULTS.md, "Side-by-side generation"): single answers get faster
    and a side-by-side batch of 2 costs about what one answer costs. Only inference inputs of at most
    SKINNY_MAX_ROWS rows take the new path; prompts, perplexity windows and anything needing
    gradients keep the usual kernel. Weights are not copied, so tied embeddings stay tied.
    """
    patched = 0
    for module in model.modules():
        if type(module) is torch.nn.Linear and not getattr(module, "_iacdemo_skinny", False):
            module.forward = _skinny_forward(module)
            module._iacdemo_skinny = True
            patched += 1
    return patched


def _skinny_forward(linear: torch.nn.Linear):
    plain_forward = linear.forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        weight = linear.weight
        features = x.shape[-1]
        rows = x.numel() // features if features else 0
        if (not 0 < rows <= SKINNY_MAX_ROWS or x.dtype != weight.dtype
                or (torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad))):
            return plain_forward(x)
        flat = x.reshape(rows, features)
        # Row-major rows, so that flat.t() is the column-major operand MKL is fast with (a transposed
        # layout inherited from an earlier output made the 2-row products 1.8x slower).
        flat = torch.cat([flat, flat]) if rows == 1 else flat.contiguous()  # 1 row: the slow gemv path
        out = torch.mm(weight, flat.t()).t()[:rows].contiguous()
        if linear.bias is not None:
            out = out + linear.bias
        return out.reshape(*x.shape[:-1], weight.shape[0])

    return forward


# -- masked mixed-adapter batches -----------------------------------------------------------------------
def masked_mixed_batch_support() -> tuple[bool, str]:
    """(True, "") when the installed peft is one the masked forward was checked against, else (False, why).

    The masked forward replaces a private peft method and strips peft's variant keyword arguments
    (`VARIANT_KWARG_KEYS`) before calling the base layer, as peft does; a peft whose private layout
    changed could otherwise give silently wrong answers in the side-by-side.
    """
    import peft  # peft loads lazily: the app starts before any adapter is used
    from peft.tuners.lora import layer as lora_layer

    version = str(getattr(peft, "__version__", "?"))
    if ".".join(version.split(".")[:2]) not in CHECKED_PEFT_VERSIONS:
        return False, (f"peft {version} is not a version the masked forward was checked against "
                       f"({', '.join(CHECKED_PEFT_VERSIONS)}.x)")
    keys = getattr(lora_layer, "VARIANT_KWARG_KEYS", None)
    if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
        return False, f"peft {version} has no VARIANT_KWARG_KEYS list in peft.tuners.lora.layer"
    method = getattr(getattr(lora_layer, "Linear", None), "_mixed_batch_forward", None)
    if method is None:
        return False, f"peft {version}'s LoRA Linear layer has no _mixed_batch_forward"
    params = inspect.signature(method).parameters
    if "adapter_names" not in params or params["adapter_names"].kind is not inspect.Parameter.KEYWORD_ONLY:
        return False, f"peft {version}'s _mixed_batch_forward no longer takes adapter_names as a keyword"
    return True, ""


def _variant_kwarg_keys() -> tuple[str, ...]:
    from peft.tuners.lora.layer import VARIANT_KWARG_KEYS

    return tuple(VARIANT_KWARG_KEYS)


_fallback_logged: set[str] = set()


def use_masked_mixed_batches(peft_model: Any) -> int:
    """A cheaper mixed-adapter forward for peft's LoRA linear layers; returns how many layers.

    peft computes a mixed batch by gathering each adapter's rows, running its LoRA on them and
    scattering the result back: two index operations per adapter in each of the 210 LoRA layers of a
    SmolLM2 adapter, about a quarter of a 2-row CPU decoding step. With a few rows it is cheaper to run
    each adapter's rank-r LoRA on every row and scale the rows that do not use it by zero:
    `base(x) + (mask * scaling) * B(A(x))`, one fused multiply-add. Rows with mask 0 get exactly
    `base(x)`. Layers with features peft handles specially (DoRA, aLoRA and other variants, LoRA bias,
    dropout in training, any variant keyword argument) and batches over SKINNY_MAX_ROWS rows keep
    peft's own method. With a peft this was not checked against, nothing is patched (logged once).
    """
    supported, why = masked_mixed_batch_support()
    if not supported:
        if why not in _fallback_logged:
            _fallback_logged.add(why)
            log.warning("Mixed-adapter batches use peft's own forward: %s.", why)
        return 0
    from peft.tuners.lora.layer import Linear as LoraLinear

    variant_keys = _variant_kwarg_keys()
    patched = 0
    for module in peft_model.modules():
        if isinstance(module, LoraLinear) and not getattr(module, "_iacdemo_masked", False):
            missing = [a for a in LAYER_ATTRIBUTES if not hasattr(module, a)]
            if missing:
                if "layer" not in _fallback_logged:
                    _fallback_logged.add("layer")
                    log.warning("LoRA layers without %s keep peft's own mixed-batch forward.", ", ".join(missing))
                continue
            module._mixed_batch_forward = _masked_mixed_forward(module, module._mixed_batch_forward, variant_keys)
            module._iacdemo_masked = True
            patched += 1
    return patched


_ROW_SCALES: dict[tuple, torch.Tensor] = {}


def _row_scale(adapter_names: tuple[str, ...], name: str, scaling: float, x: torch.Tensor) -> torch.Tensor:
    """`scaling` for the rows using adapter `name`, 0 for the others, shaped to broadcast over x."""
    key = (adapter_names, name, scaling, x.dim(), x.dtype, x.device)
    scale = _ROW_SCALES.get(key)
    if scale is None:
        if len(_ROW_SCALES) > 256:
            _ROW_SCALES.clear()
        scale = torch.tensor([scaling if a == name else 0.0 for a in adapter_names], dtype=x.dtype,
                             device=x.device).reshape((len(adapter_names),) + (1,) * (x.dim() - 1))
        _ROW_SCALES[key] = scale
    return scale


def _masked_mixed_forward(layer: Any, peft_forward: Any, variant_keys: tuple[str, ...]):
    def forward(x: torch.Tensor, *args: Any, adapter_names: list[str], **kwargs: Any) -> torch.Tensor:
        names = [n for n in dict.fromkeys(adapter_names) if n != BASE and n in layer.lora_A]
        if (any(kwargs.get(k) is not None for k in variant_keys) or len(adapter_names) > SKINNY_MAX_ROWS
                or any(n in layer.lora_variant or layer.lora_B[n].bias is not None
                       or not isinstance(layer.lora_dropout[n], torch.nn.Identity) and layer.training
                       for n in names)):
            return peft_forward(x, *args, adapter_names=adapter_names, **kwargs)
        for k in variant_keys:  # peft never passes these to the base layer either
            kwargs.pop(k, None)
        result = layer.base_layer(x, *args, **kwargs)
        key = tuple(adapter_names)
        for name in names:
            a, b = layer.lora_A[name].weight, layer.lora_B[name].weight
            delta = F.linear(F.linear(x.to(a.dtype), a), b)
            if delta.dtype == result.dtype:
                result = torch.addcmul(result, delta, _row_scale(key, name, float(layer.scaling[name]), result))
            else:  # bf16 base, fp32 adapter: add in fp32 and round once, as peft's single-adapter forward does
                scale = _row_scale(key, name, float(layer.scaling[name]), delta)
                result = torch.addcmul(result.to(delta.dtype), delta, scale).to(result.dtype)
        return result

    return forward
