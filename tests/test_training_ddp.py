"""The DDP path: `torchrun --nproc_per_node 2 -m train.cpt` really trains on two gloo ranks on CPU."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from iacdemo.settings import REPO_ROOT
from iacdemo.training.runs import read_metrics, read_status


def test_torchrun_two_ranks(settings, tmp_path, tiny_model_dir, loaded_model):
    from iacdemo.corpus.build import build_corpus

    dataset = tmp_path / "dynamodb"
    build_corpus(None, out_dir=dataset, seq_len=512, services=["DynamoDB"], settings=settings,
                 tokenizer=loaded_model.tokenizer)
    out = tmp_path / "ddp-run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "train.cpt", "--model", str(tiny_model_dir), "--dataset", str(dataset), "--out", str(out),
           "--max-steps", "4", "--seq-len", "128", "--batch-size", "2", "--eval-fraction", "0.1",
           "--chat-mix-ratio", "0.2", "--device", "cpu", "--save-every", "2", "--lr", "1e-3"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=400,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    status = read_status(out)
    assert status["status"] == "finished" and status["world_size"] == 2, status
    rows = read_metrics(out)
    train = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    # tokens are summed over ranks: 2 ranks x 2 blocks x 128 tokens per step
    assert train[0]["tokens"] == 2 * 2 * 128 and train[-1]["tokens"] == 4 * 2 * 2 * 128
    assert rows[0]["step"] == 0 and rows[0]["eval_loss"] > 0 and "eval_loss" in train[-1]
    assert status["data"]["chat_examples"] > 0
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    assert json.loads((out / "checkpoints" / "step-2" / "state.json").read_text())["step"] == 2
    assert "[rank 1]" not in (out / "train.log").read_text()  # only rank 0 writes files
