"""How much of a short training job is process start-up: a fresh `python -m train.cpt` vs the same job
forked from the job helper, a process that imported the libraries once (iacdemo/training/job_server.py,
what the runner does for CPU jobs).

    python -m bench.bench_job_start [--repeat 2] [--steps 3]

Both run the same job: `--steps` steps of a tiny random Qwen2 model (the embedded model's tokenizer) on
the DynamoDB slice, one thread, so what differs is only what happens before the first step. Each is timed
from the launch to the end of the job's process. Prints one line per run and, last, one JSON object with
the medians and their ratio, and the helper's own start (paid once per app, while the Train tab is open).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from iacdemo.settings import get_settings
from iacdemo.training import runs
from iacdemo.training.job_server import job_server
from iacdemo.training.runner import job_env

REPO = Path(__file__).resolve().parent.parent


def _tiny_model_and_data(root: Path) -> tuple[Path, Path]:
    from iacdemo.corpus.build import build_corpus
    from iacdemo.models import load_tokenizer
    from iacdemo.models.tiny import save_tiny_model

    tok = load_tokenizer()
    model_dir = save_tiny_model(tok, root / "tiny-model")
    data = root / "dynamodb"
    build_corpus(None, out_dir=data, seq_len=256, services=["DynamoDB"], tokenizer=tok)
    return model_dir, data


def _fresh(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "train.cpt", *args], cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def _forked(args: list[str], console: Path) -> float:
    started = time.perf_counter()
    pid = job_server().launch(args, job_env(get_settings()), REPO, console)
    while runs.pid_alive(pid):
        time.sleep(0.01)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_job_start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        if not job_server().warm(job_env(get_settings()), wait_s=300):
            raise SystemExit("the job helper did not start")
        imports_s = time.perf_counter() - started
        model_dir, data = _tiny_model_and_data(root)

        def job(kind: str, i: int) -> list[str]:
            return ["--model", str(model_dir), "--dataset", str(data), "--out", str(root / f"{kind}-{i}"),
                    "--max-steps", str(args.steps), "--seq-len", "64", "--batch-size", "2", "--eval-fraction", "0",
                    "--save-every", "0", "--chat-mix-ratio", "0", "--cpu-threads", "1", "--device", "cpu"]

        fresh, forked = [], []
        for i in range(max(1, args.repeat)):
            fresh.append(_fresh(job("fresh", i)))
            forked.append(_forked(job("forked", i), root / f"forked-{i}.log"))
            print(f"run {i + 1}: fresh process {fresh[-1]:.2f} s, forked {forked[-1]:.2f} s", file=sys.stderr)
        for kind in ("fresh", "forked"):
            status = json.loads((root / f"{kind}-0" / "status.json").read_text())
            assert status["status"] == "finished" and status["step"] == args.steps, status

    result = {"steps": args.steps, "helper_start_s": round(imports_s, 2),
              "fresh_process_s": round(statistics.median(fresh), 2), "forked_s": round(statistics.median(forked), 2)}
    result["ratio"] = round(result["fresh_process_s"] / result["forked_s"], 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
