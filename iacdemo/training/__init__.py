"""LoRA continued pre-training: config, data, the job runner, run folders and export.

The training loop itself is `train/cpt.py` (run as a subprocess, never in the UI process).
"""
from iacdemo.training.config import TrainConfig, field_specs, quick_demo
from iacdemo.training.runs import RunInfo, delete_run, list_runs, loss_curves, read_metrics, validate_run_name

__all__ = ["TrainConfig", "field_specs", "quick_demo", "RunInfo", "delete_run", "list_runs", "loss_curves",
           "read_metrics", "validate_run_name"]
