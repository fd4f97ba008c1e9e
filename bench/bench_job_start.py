"""How much of a short training job is process start-up: a fresh `python -m train.cpt` vs a job forked
from a parent that has already imported the libraries (what a fork-server for jobs would give).

    python -m bench.bench_job_start [--repeat 2] [--steps 3]

Both run the same job: `--steps` steps of a tiny random Qwen2 model (the embedded model's tokenizer) on
the DynamoDB slice, one thread, so what differs is only what happens before the first step. Not what the
app does today (the runner starts a fresh process); this measures what changing that would buy. Prints one
line per run and, last, one JSON object with the medians and their ratio.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _tiny_model_and_data(root: Path) -> tuple[Path, Path]:
    from transformers import AutoModelForCausalLM, Qwen2Config

    from iacdemo.corpus.build import build_corpus
    from iacdemo.models import load_tokenizer

    tok = load_tokenizer()
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model_dir = root / "tiny-model"
    AutoModelForCausalLM.from_config(cfg).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    data = root / "dynamodb"
    build_corpus(None, out_dir=data, seq_len=256, services=["DynamoDB"], tokenizer=tok)
    return model_dir, data


def _fresh(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "train.cpt", *args], cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def _forked(args: list[str]) -> float:
    import train.cpt as cpt

    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: a job in a process whose imports are done
        os.setsid()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os._exit(cpt.main(args))
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the forked job failed: {status}")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_job_start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        for name in ("accelerate", "datasets", "peft", "transformers", "train.cpt"):  # what a fork-server
            importlib.import_module(name)                                           # would import once
        getattr(importlib.import_module("transformers"), "get_scheduler")  # transformers' lazy part cpt uses
        imports_s = time.perf_counter() - started
        model_dir, data = _tiny_model_and_data(root)

        def job(kind: str, i: int) -> list[str]:
            return ["--model", str(model_dir), "--dataset", str(data), "--out", str(root / f"{kind}-{i}"),
                    "--max-steps", str(args.steps), "--seq-len", "64", "--batch-size", "2", "--eval-fraction", "0",
                    "--save-every", "0", "--chat-mix-ratio", "0", "--cpu-threads", "1", "--device", "cpu"]

        fresh, forked = [], []
        for i in range(max(1, args.repeat)):
            fresh.append(_fresh(job("fresh", i)))
            forked.append(_forked(job("forked", i)))
            print(f"run {i + 1}: fresh process {fresh[-1]:.2f} s, forked {forked[-1]:.2f} s", file=sys.stderr)
        for kind in ("fresh", "forked"):
            status = json.loads((root / f"{kind}-0" / "status.json").read_text())
            assert status["status"] == "finished" and status["step"] == args.steps, status

    result = {"steps": args.steps, "parent_imports_s": round(imports_s, 2),
              "fresh_process_s": round(statistics.median(fresh), 2), "forked_s": round(statistics.median(forked), 2)}
    result["ratio"] = round(result["fresh_process_s"] / result["forked_s"], 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
