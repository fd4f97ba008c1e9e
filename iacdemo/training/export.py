"""Loading a trained adapter onto its base model, and exporting the merged model as a plain folder.

The adapter folder records its base model (`iacdemo_adapter.json`, written by train/cpt.py) because a
LoRA adapter is only meaningful on the exact weights it was trained on: on another model of the same
shape it loads silently and produces garbage, so a mismatch is refused up front.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable

import torch

from iacdemo.errors import ConfigError, ModelError
from iacdemo.models import load_model
from iacdemo.safe_json import read_json_or
from iacdemo.safe_paths import free_name, refuse_symlink, swap_in, temp_dir_for
from iacdemo.settings import Settings, get_settings
from iacdemo.training import runs

EXPORT_META = "iacdemo_export.json"


def adapter_dir_of(path: str | Path) -> Path:
    """Accept a run folder (uses its adapter/) or an adapter folder itself."""
    path = Path(path).expanduser()
    if (path / runs.ADAPTER_DIR / "adapter_config.json").is_file():
        return path / runs.ADAPTER_DIR
    if (path / "adapter_config.json").is_file():
        return path
    raise ModelError(f"No LoRA adapter in {path} (no adapter_config.json): has the run saved one yet?")


def adapter_base_model(adapter_dir: str | Path) -> str:
    """The base model id the adapter was trained on."""
    adapter_dir = Path(adapter_dir)
    meta, _ = read_json_or(adapter_dir / runs.ADAPTER_META, {})
    if isinstance(meta.get("base_model"), str) and meta["base_model"]:
        return meta["base_model"]
    config, problem = read_json_or(adapter_dir / "adapter_config.json", None)
    if problem:
        raise ModelError(f"Broken adapter in {adapter_dir}: {problem}.")
    base = config.get("base_model_name_or_path")
    base = base if isinstance(base, str) else None
    if not base:
        raise ModelError(f"The adapter in {adapter_dir} does not say which base model it belongs to.")
    return base


def load_adapter_model(adapter: str | Path, model_id: str | None = None, settings: Settings | None = None,
                       device: str | None = None, dtype: torch.dtype | None = None, adapter_name: str = "default"):
    """(PeftModel, tokenizer, LoadedModel): the base model with the adapter on top, in eval mode.

    `model_id` defaults to the adapter's recorded base; giving a different one raises ModelError.
    """
    from peft import PeftModel  # loaded only when a run is exported, not at app start

    adapter_dir = adapter_dir_of(adapter)
    base_id = adapter_base_model(adapter_dir)
    if model_id and model_id != base_id:
        raise ModelError(f"This adapter was trained on '{base_id}', not on '{model_id}': an adapter only "
                         "works on the exact base model it was trained on.")
    loaded = load_model(base_id, settings, device=device, dtype=dtype)
    try:
        model = PeftModel.from_pretrained(loaded.model, str(adapter_dir), adapter_name=adapter_name)
    except Exception as exc:  # shape mismatch, missing weights file, corrupt safetensors, wrong modules
        raise ModelError(f"Cannot load the adapter in {adapter_dir} onto '{base_id}': "
                         f"{type(exc).__name__}: {str(exc)[:400]}") from exc
    model.eval()
    return model, loaded.tokenizer, loaded


def export_merged(run_dir: str | Path, out_dir: str | Path | None = None, model_id: str | None = None,
                  settings: Settings | None = None, progress: Callable[[float, str], None] | None = None,
                  overwrite: bool = False) -> Path:
    """Merge the run's adapter into its base model (`merge_and_unload`) and save a normal model folder.

    The result (weights + tokenizer) loads with `AutoModelForCausalLM.from_pretrained` and is a valid
    model id everywhere in iacdemo. Merging happens in fp32 on the CPU; the weights are saved in the
    base model's own dtype. An earlier export of the same name is kept: the new one goes to `NAME-2`
    (the returned path says where) unless `overwrite` asks to replace it. Returns the folder written.
    """
    settings = settings or get_settings()
    progress = progress or (lambda fraction, message: None)
    adapter_dir = adapter_dir_of(run_dir)
    name = adapter_dir.parent.name if adapter_dir.name == runs.ADAPTER_DIR else adapter_dir.name
    out = Path(out_dir).expanduser() if out_dir else settings.exports_dir / name
    refuse_symlink(out, "export folder")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"Export folder {out} exists and is not a folder: pick another name.")
    if out.exists() and any(out.iterdir()):
        if not (out / EXPORT_META).exists():
            raise ConfigError(f"Export folder {out} is not empty: pick an empty or new folder.")
        if not overwrite:
            out = free_name(out)
    progress(0.1, "Loading base model and adapter")
    model, tokenizer, loaded = load_adapter_model(adapter_dir, model_id, settings, device="cpu",
                                                  dtype=torch.float32)
    progress(0.6, "Merging")
    merged = model.merge_and_unload()
    saved_dtype = getattr(merged.config, "dtype", None) or torch.float32
    if isinstance(saved_dtype, str):
        saved_dtype = getattr(torch, saved_dtype, torch.float32)
    merged = merged.to(saved_dtype)
    progress(0.8, f"Saving to {out}")
    tmp = temp_dir_for(out)
    try:
        tmp.mkdir(parents=True)
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / EXPORT_META).write_text(json.dumps({"base_model": loaded.model_id, "adapter": str(adapter_dir),
                                                   "exported": time.time()}, indent=2))
        swap_in(tmp, out)
    except OSError as exc:  # disk full, a folder turned into a link meanwhile: no half export, no leftovers
        raise ConfigError(f"Cannot save the merged model to {out}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_if_empty(tmp.parent)
    progress(1.0, f"Merged model saved to {out}")
    return out


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
