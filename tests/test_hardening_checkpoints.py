"""A run folder can come from anywhere: resuming from it must never run code hidden in a checkpoint."""
from __future__ import annotations

import os
import subprocess
import sys

import torch

from iacdemo.settings import REPO_ROOT
from iacdemo.training import runs

WAIT = 420


class _Payload:
    """Pickles as a call to os.system: what `torch.load(weights_only=False)` would run on load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _cpt(tiny_model_dir, dataset, out, *extra):
    cmd = [sys.executable, "-m", "train.cpt", "--model", str(tiny_model_dir), "--dataset", str(dataset),
           "--out", str(out), "--seq-len", "64", "--batch-size", "2", "--eval-fraction", "0",
           "--chat-mix-ratio", "0", "--cpu-threads", "1", "--device", "cpu", *extra]
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=WAIT)


def test_resume_refuses_a_pickled_object_in_optimizer_pt_and_runs_nothing(tiny_model_dir, page_dataset, tmp_path):
    out = tmp_path / "run"
    first = _cpt(tiny_model_dir, page_dataset, out, "--max-steps", "2")
    assert first.returncode == 0, first.stderr[-2000:]
    ckpt = runs.latest_checkpoint(out)
    for name in ("optimizer.pt", "scheduler.pt", "rng.pt"):  # what we save loads under weights_only=True
        torch.load(ckpt / name, weights_only=True)

    marker = tmp_path / "pwned"
    state = torch.load(ckpt / "optimizer.pt", weights_only=True)
    state["evil"] = _Payload(marker)
    torch.save(state, ckpt / "optimizer.pt")
    resumed = _cpt(tiny_model_dir, page_dataset, out, "--max-steps", "4", "--resume")
    assert not marker.exists(), "resuming ran code from optimizer.pt"
    assert resumed.returncode == 1
    status = runs.read_status(out)
    assert status["status"] == "failed"
    assert "holds something other than tensors and plain values" in status["error"]
    assert "optimizer.pt" in status["error"] and "Nothing in it was run" in status["error"]
