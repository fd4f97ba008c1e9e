"""One-time GGUF -> safetensors conversion.

Loading a GGUF through transformers dequantizes it on every load (30-120 s) and Trainer/peft refuse a
GGUF-loaded model, so we convert once into an ordinary model folder and load that afterwards.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Iterator

import torch

from iacdemo.errors import ModelError
from iacdemo.models.fetch import Progress, _noop

MARKER = "iacdemo_converted.json"
log = logging.getLogger(__name__)


def is_converted(model_dir: Path, sha256: str) -> bool:
    marker = model_dir / MARKER
    if not marker.exists():
        return False
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # damaged marker: convert again
        return False
    return isinstance(data, dict) and data.get("gguf_sha256") == sha256


def convert_gguf(gguf: Path, model_dir: Path, sha256: str, progress: Progress | None = None) -> Path:
    """Dequantize `gguf` into a safetensors folder at `model_dir`, written atomically.

    The folder appears only when complete (written beside it, then renamed), so an interrupted
    conversion is redone instead of leaving a half model that loads with random weights.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer  # only for a first-time conversion

    progress = progress or _noop
    tmp_dir = model_dir.with_name(model_dir.name + ".converting")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    progress(0.55, f"Converting {gguf.name} to safetensors (one time, ~30-90 s)")
    try:
        with _parse_gguf_once():
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except Exception as exc:  # gguf/transformers raise many types for a bad file
        raise ModelError(f"Could not read GGUF {gguf}: {exc}") from exc
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    progress(0.9, "Saving converted model")
    model.save_pretrained(tmp_dir, safe_serialization=True)
    tokenizer.save_pretrained(tmp_dir)
    (tmp_dir / MARKER).write_text(json.dumps({"gguf": gguf.name, "gguf_sha256": sha256}))
    shutil.rmtree(model_dir, ignore_errors=True)
    os.replace(tmp_dir, model_dir)
    progress(1.0, "Converted")
    return model_dir


@contextlib.contextmanager
def _parse_gguf_once() -> Iterator[None]:
    """transformers reads the GGUF file three times (config, tokenizer, weights), and builds gguf's tensor
    name map again for every submodule of the model: a first conversion took 42 s here, 12.5 s with both
    memoized (bench/RESULTS.md). Both are pure functions of their arguments, so within one conversion they are
    memoized. transformers imports both names from `gguf` at call time; if a gguf release moves them, the
    conversion runs unmemoized (slower, same result) and says so in the log."""
    import gguf

    names = ("GGUFReader", "get_tensor_name_map")
    originals = {name: getattr(gguf, name, None) for name in names}
    if not all(callable(value) for value in originals.values()):
        log.info("gguf %s lacks %s: converting without memoizing", getattr(gguf, "__version__", "?"), names)
        yield
        return
    memoized = {name: functools.lru_cache(maxsize=4)(value) for name, value in originals.items()}
    try:
        for name, value in memoized.items():
            setattr(gguf, name, value)
        yield
    finally:
        for name, value in originals.items():
            setattr(gguf, name, value)
