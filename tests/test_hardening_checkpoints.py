"""A run folder can come from anywhere: resuming from it must never run code hidden in a checkpoint."""
from __future__ import annotations

import os

import torch

from iacdemo.training import runs
from iacdemo.training.config import TrainConfig
from iacdemo.training.runner import JobRunner

WAIT = 420


class _Payload:
    """Pickles as a call to os.system: what `torch.load(weights_only=False)` would run on load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_resume_refuses_a_pickled_object_in_optimizer_pt_and_runs_nothing(tiny_model_dir, page_dataset, tmp_path,
                                                                          settings):
    runner = JobRunner(settings.with_overrides(runs_dir=tmp_path / "runs"))
    config = TrainConfig(model=str(tiny_model_dir), dataset=str(page_dataset), run_name="run", seq_len=64,
                         batch_size=2, eval_fraction=0.0, chat_mix_ratio=0.0, cpu_threads=1, device="cpu",
                         max_steps=2)
    first = runner.wait(runner.start(config), timeout=WAIT)
    assert first.status == "finished", first.log_tail
    out = runner.settings.runs_dir / "run"
    ckpt = runs.latest_checkpoint(out)
    for name in ("optimizer.pt", "scheduler.pt", "rng.pt"):  # what we save loads under weights_only=True
        torch.load(ckpt / name, weights_only=True)

    marker = tmp_path / "pwned"
    state = torch.load(ckpt / "optimizer.pt", weights_only=True)
    state["evil"] = _Payload(marker)
    torch.save(state, ckpt / "optimizer.pt")
    resumed = runner.wait(runner.resume("run", max_steps=4), timeout=WAIT)
    assert not marker.exists(), "resuming ran code from optimizer.pt"
    assert resumed.status == "failed"
    status = runs.read_status(out)
    assert status["status"] == "failed"
    assert "holds something other than tensors and plain values" in status["error"]
    assert "optimizer.pt" in status["error"] and "Nothing in it was run" in status["error"]
