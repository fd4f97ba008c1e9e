"""One base model in memory, any number of LoRA adapters on top of it.

The Compare tab shows "base" and "fine-tuned" side by side. Loading the tuned model as a second full
model would double memory; a LoRA adapter is a few MB on top of the same weights, and peft can run the
base (adapter off) and several adapters in one batch. `ModelSession` owns that single model, checks
adapters before they touch it (a wrong adapter must not break a running demo) and serialises access so
two UI users cannot change adapters under each other's generation.
"""
from __future__ import annotations

import json
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import torch
from safetensors import safe_open

from iacdemo.errors import ModelError
from iacdemo.generation.kernels import BASE, use_masked_mixed_batches, use_skinny_decode_matmuls
from iacdemo.models import load_model
from iacdemo.models.registry import model_names
from iacdemo.settings import Settings
from iacdemo.training.cpu_share import while_app_uses_model

T = TypeVar("T")
_ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    path: Path
    base_model: str  # base_model_name_or_path from adapter_config.json ("" if absent)
    rank: int | None
    target_modules: tuple[str, ...]
    n_params: int
    mtime: float  # of adapter_config.json: a retrained run is reloaded, not served stale


_MODEL_THREAD_NAME = "iacdemo-model"
_MODEL_THREAD: ThreadPoolExecutor | None = None
_MODEL_THREAD_LOCK = threading.Lock()


def model_thread() -> ThreadPoolExecutor:
    """The single thread on which every session runs its model (created on first use).

    Torch's CPU thread pool is per calling thread: when two threads take turns running a model (a
    UI worker scoring perplexity, then a generation thread, or a new session after a model switch)
    their pools fight over the cores, and a decoding step took about twice as long once the model had
    run on another thread, even seconds earlier. So all heavy model work of the process goes through
    this one thread; the session lock already allows one job at a time.
    """
    global _MODEL_THREAD
    with _MODEL_THREAD_LOCK:
        if _MODEL_THREAD is None:
            _MODEL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix=_MODEL_THREAD_NAME)
        return _MODEL_THREAD


def adapter_name_for(adapter_dir: Path) -> str:
    """A peft-safe adapter name: the run's name for `runs/<run>/adapter`, else the folder's name.

    (To list the runs that have an adapter, use `iacdemo.training.runs.list_runs()`.)

    peft stores adapters in ModuleDicts, so names cannot contain dots; "__base__" is reserved.
    """
    folder = adapter_dir.parent.name if adapter_dir.name == "adapter" else adapter_dir.name
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", folder).strip("_") or "adapter"
    return "adapter_" + name if name in {BASE, "base"} or name[0].isdigit() else name


class ModelSession:
    """The app's one loaded model, with LoRA adapters attached by name.

    Hold `session.lock` around anything that runs or changes the model (one job at a time), and run
    the model itself through `session.call`/`session.submit` (the process's one model thread);
    `use_adapter` must be called with the lock held. On CPU the session installs faster kernels for
    decoding a few rows (`use_skinny_decode_matmuls`, `use_masked_mixed_batches`).
    """

    def __init__(self, loaded: Any):
        self.loaded = loaded
        self.base_model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.model_id: str = loaded.model_id
        self.device: str = loaded.device
        self.adapters: dict[str, AdapterInfo] = {}
        self._peft: Any = None  # PeftModel wrapping base_model once the first adapter is attached
        self.lock = threading.Lock()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.base_model.eval()
        if str(self.device).startswith("cpu"):
            use_skinny_decode_matmuls(self.base_model)

    @classmethod
    def load(cls, model_id: str | None = None, settings: Settings | None = None, progress: Any = None,
             device: str | None = None, dtype: torch.dtype | None = None) -> "ModelSession":
        return cls(load_model(model_id, settings=settings, progress=progress, device=device, dtype=dtype))

    # -- where the model runs ----------------------------------------------------------------------
    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> "Future[T]":
        """Run `fn` on the process's one model thread (see `model_thread`)."""
        return model_thread().submit(while_app_uses_model(fn), *args, **kwargs)  # a training job yields meanwhile

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`submit` and wait for the result (exceptions re-raised here)."""
        if threading.current_thread().name.startswith(_MODEL_THREAD_NAME):
            return fn(*args, **kwargs)
        return self.submit(fn, *args, **kwargs).result()

    # -- what the UI asks about --------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The module to call: the peft wrapper once adapters exist, else the plain base model."""
        return self._peft if self._peft is not None else self.base_model

    @property
    def adapter_names(self) -> list[str]:
        return list(self.adapters)

    @property
    def busy(self) -> bool:
        return self.lock.locked()

    @property
    def context_length(self) -> int:
        config = self.base_model.config
        for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(config, key, None)
            if isinstance(value, int) and value > 0:
                return value
        return 2048

    def stop_token_ids(self) -> set[int]:
        """Token ids that end an answer: the generation config's EOS plus the document separator."""
        ids: set[int] = set()
        eos = getattr(self.base_model.generation_config, "eos_token_id", None)
        for value in (eos if isinstance(eos, (list, tuple)) else [eos]):
            if value is not None:
                ids.add(int(value))
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        vocab = self.tokenizer.get_vocab()
        if "<|endoftext|>" in vocab:  # end of a raw document for SmolLM2 / Qwen style vocabularies
            ids.add(int(vocab["<|endoftext|>"]))
        return ids

    def weight_bytes(self) -> dict[str, int]:
        """Bytes held by distinct parameter storages: base weights vs adapter weights.

        Shared storages (tied embeddings, one base under several adapters) count once, so this is
        what the process really holds for parameters.
        """
        seen: set[int] = set()
        totals = {"base": 0, "adapters": 0}
        for name, param in self.model.named_parameters(remove_duplicate=False):
            key = param.untyped_storage().data_ptr()
            if key in seen:
                continue
            seen.add(key)
            kind = "adapters" if "lora_" in name else "base"
            totals[kind] += param.untyped_storage().nbytes()
        return totals

    # -- adapters ----------------------------------------------------------------------------------
    def inspect_adapter(self, adapter_dir: str | Path) -> tuple[dict, Path]:
        """Check an adapter folder against this base model without touching the model.

        Raises ModelError saying what is wrong: missing folder or files, not a LoRA adapter, trained
        for another base model, or weights whose shapes do not fit this model.
        """
        path = Path(adapter_dir).expanduser()
        if not path.is_dir():
            raise ModelError(f"Adapter folder {path} does not exist.")
        config_file = path / "adapter_config.json"
        if not config_file.is_file():
            raise ModelError(f"{path} is not a LoRA adapter folder: it has no adapter_config.json.")
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{config_file} is not valid JSON ({exc}); the adapter is corrupt.") from exc
        if not isinstance(config, dict):
            raise ModelError(f"{config_file} does not hold a JSON object; the adapter is corrupt.")
        if str(config.get("peft_type", "")).upper() != "LORA":
            raise ModelError(f"{path} is a '{config.get('peft_type')}' adapter; only LoRA adapters can be "
                             "compared side by side.")
        weights = next((path / f for f in _ADAPTER_WEIGHTS if (path / f).is_file()), None)
        if weights is None:
            raise ModelError(f"{path} has no adapter weights ({' or '.join(_ADAPTER_WEIGHTS)}).")
        base_name = str(config.get("base_model_name_or_path") or "")
        if base_name:
            mine = model_names(self.model_id) | model_names(str(self.loaded.path))
            theirs = {base_name.strip().rstrip("/").lower(), Path(base_name).name.lower()}
            if not mine & theirs:
                raise ModelError(f"Adapter {path} was trained on base model '{base_name}', but the loaded "
                                 f"model is '{self.model_id}'. Load that base model to use this adapter.")
        self._check_shapes(weights)
        return config, weights

    def _check_shapes(self, weights: Path) -> None:
        """Every LoRA matrix must match the base layer it adapts, or peft would fail half-way in."""
        tensors = _read_tensor_shapes(weights)
        modules = dict(self.base_model.named_modules())
        if not tensors:
            raise ModelError(f"{weights} holds no tensors; the adapter is empty or corrupt.")
        for key, shape in tensors.items():
            match = re.match(r"(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$", key)
            if not match:
                continue
            module_name, which = match.groups()
            module = modules.get(module_name)
            if module is None:
                # peft adapters of a wrapped base can carry an extra ".base_layer" or lack the "model." prefix
                module = next((m for n, m in modules.items() if n.endswith(module_name)), None)
            if module is None:
                raise ModelError(f"Adapter {weights.parent}: layer '{module_name}' does not exist in "
                                 f"'{self.model_id}'; the adapter was trained for another model architecture.")
            in_features = getattr(module, "in_features", None)
            out_features = getattr(module, "out_features", None)
            expected_ok = (which == "A" and shape[-1] == in_features) or (which == "B" and shape[0] == out_features)
            if in_features is not None and not expected_ok:
                raise ModelError(f"Adapter {weights.parent}: weight {key} has shape {tuple(shape)}, which does not fit "
                                 f"'{module_name}' ({in_features}→{out_features}) of '{self.model_id}': "
                                 "the adapter belongs to another base model.")

    def attach_adapter(self, adapter_dir: str | Path, name: str | None = None) -> str:
        """Load a LoRA adapter onto the shared base model and return its name.

        Attaching the same folder twice returns the existing name. On any failure the session keeps
        working with the adapters it had.
        """
        path = Path(adapter_dir).expanduser()
        config, _ = self.inspect_adapter(path)
        mtime = (path / "adapter_config.json").stat().st_mtime
        with self.lock:
            for info in list(self.adapters.values()):
                if info.path.resolve() == path.resolve():
                    if info.mtime == mtime:
                        return info.name
                    self.adapters.pop(info.name)  # retrained since: load the new weights
                    self.call(self._drop_adapter_locked, info.name)
                    name = name or info.name
            name = name or adapter_name_for(path)
            if name in self.adapters or name == BASE:
                suffix = 2
                while f"{name}_{suffix}" in self.adapters:
                    suffix += 1
                name = f"{name}_{suffix}"
            self.call(self._load_adapter_locked, path, name)
            n_params = sum(p.numel() for n, p in self._peft.named_parameters() if f".{name}." in n and "lora_" in n)
            self.adapters[name] = AdapterInfo(
                name=name, path=path, base_model=str(config.get("base_model_name_or_path") or ""),
                rank=config.get("r"), target_modules=tuple(sorted(_as_list(config.get("target_modules")))),
                n_params=n_params, mtime=mtime)
        return name

    def _load_adapter_locked(self, path: Path, name: str) -> None:
        from peft import PeftModel  # loaded with the first adapter, not at app start

        try:
            if self._peft is None:
                self._peft = PeftModel.from_pretrained(self.base_model, str(path), adapter_name=name,
                                                       is_trainable=False)
            else:
                self._peft.load_adapter(str(path), adapter_name=name, is_trainable=False)
        except Exception as exc:
            self._recover_after_failed_load(name)
            raise ModelError(f"Could not load adapter {path}: {type(exc).__name__}: {str(exc)[:300]}. "
                             "The adapter files may be corrupt.") from exc
        use_masked_mixed_batches(self._peft)  # new LoRA layers, if this adapter targets new modules
        broken = [n for n, p in self._peft.named_parameters()
                  if f".{name}." in n and "lora_" in n and not torch.isfinite(p).all()]
        if broken:  # a diverged training run or a damaged file: every answer would be garbage
            self._drop_adapter_locked(name)
            raise ModelError(f"Adapter {path} holds NaN or infinite weights (e.g. {broken[0]}); "
                             "the training run diverged or the file is damaged.")
        self.model.eval()

    def _recover_after_failed_load(self, name: str) -> None:
        """Undo a half-loaded adapter so the base model and the other adapters stay usable."""
        if self._peft is not None:
            if name in getattr(self._peft, "peft_config", {}):
                try:
                    self._drop_adapter_locked(name)
                except Exception:
                    pass
            return
        # The first adapter failed while wrapping the base in place: strip any injected LoRA layers.
        if any("lora_" in n for n, _ in self.base_model.named_parameters()):
            reloaded = load_model(self.model_id, device=self.device, dtype=self.loaded.dtype)
            self.loaded, self.base_model = reloaded, reloaded.model
            if str(self.device).startswith("cpu"):
                use_skinny_decode_matmuls(self.base_model)
        self.base_model.eval()

    def detach_adapter(self, name: str) -> None:
        """Remove an adapter; the base weights stay where they are."""
        if name not in self.adapters:
            raise ModelError(f"No adapter named '{name}' is loaded (loaded: {', '.join(self.adapters) or 'none'}).")
        with self.lock:
            self.adapters.pop(name)
            self.call(self._drop_adapter_locked, name)

    def _drop_adapter_locked(self, name: str) -> None:
        """Delete a peft adapter; with none left, unwrap so the base runs without LoRA layers."""
        self._peft.delete_adapter(name)
        if not self.adapters and not self._peft.peft_config:
            self.base_model = self._peft.unload()  # same weight tensors, LoRA wrappers removed
            self._peft = None
            self.base_model.eval()

    def require_adapter(self, name: str | None) -> None:
        if name is not None and name not in self.adapters:
            raise ModelError(f"Adapter '{name}' is not loaded (loaded: {', '.join(self.adapters) or 'none'}). "
                             "Pick a run's adapter first.")

    @contextmanager
    def use_adapter(self, name: str | None) -> Iterator[Any]:
        """Make `name` (None: the base model) the one the model runs with; yields the model to call.

        The caller must hold `lock`: this switches the model's active adapter.
        """
        self.require_adapter(name)
        model = self.model
        model.eval()
        if self._peft is None:
            yield model
        elif name is None:
            with self._peft.disable_adapter():
                yield model
        else:
            self._peft.set_adapter(name)
            yield model


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _read_tensor_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    try:
        if weights.suffix == ".safetensors":
            with safe_open(str(weights), framework="pt") as handle:
                return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
        return {key: tuple(value.shape) for key, value in state.items()}
    except Exception as exc:
        raise ModelError(f"Cannot read adapter weights {weights}: {type(exc).__name__}: {str(exc)[:200]}. "
                         "The file is corrupt or truncated.") from exc
