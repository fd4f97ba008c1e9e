"""Device and dtype, chosen once per process.

CUDA gets bf16 (fast and stable for LoRA); CPU gets fp32 because bf16 training on these CPUs is ~20x
slower; MPS gets fp32 because fp16 training there needs loss scaling that LoRA CPT does not set up.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from iacdemo.errors import ConfigError


@lru_cache(maxsize=4)
def pick_device(preferred: str | None = None) -> tuple[str, torch.dtype]:
    if preferred:
        preferred = preferred.lower()
        if preferred.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"Device '{preferred}' was asked for, but CUDA is not available here.")
        if preferred == "mps" and not torch.backends.mps.is_available():
            raise ConfigError("Device 'mps' was asked for, but MPS is not available here.")
        if preferred not in {"cpu", "mps"} and not preferred.startswith("cuda"):
            raise ConfigError(f"Unknown device '{preferred}': use cpu, cuda, cuda:N or mps.")
        device = preferred
    elif torch.cuda.is_available():
        device = "cuda"
    elif torch.backends.mps.is_available():
        device = "mps"
    else:
        device = "cpu"
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    return device, dtype


def memory_summary(device: str) -> str:
    """One line for the UI header: how much memory this process (or GPU) uses now."""
    if device.startswith("cuda") and torch.cuda.is_available():
        used = torch.cuda.memory_allocated() / 2**30
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        return f"GPU {used:.1f}/{total:.0f} GiB"
    try:
        import psutil

        rss = psutil.Process().memory_info().rss / 2**30
        total = psutil.virtual_memory().total / 2**30
        return f"RAM {rss:.1f}/{total:.0f} GiB"
    except ImportError:  # psutil comes with accelerate; this is only a fallback
        return "RAM n/a"
