"""Generation speed while a training job runs: idle vs job at normal priority vs job that yields.

    python -m bench.bench_generate_while_training [--tokens 48] [--repeats 3]

Three phases in one run, same model, same prompt, greedy, `--tokens` new tokens per generation:

* idle     - no job;
* old      - a real quick-demo job (SmolLM2-135M, DynamoDB pages, torch's default threads) at normal
             priority, never yielding (`job_niceness=0`, `job_yield_threads=0`): the behaviour before;
* new      - the same job with the app's settings (`job_niceness`, `job_yield_threads`): lower priority,
             and one torch thread while the app uses its model (iacdemo/training/cpu_share.py).

Generation goes through `ModelSession.call`, exactly like the app, so the marker the job watches is
set as in the app. Prints tok/s per phase, the ratios, and the job's training speed in each phase.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from iacdemo.settings import get_settings

PROMPT = "Write a Terraform resource block for an AWS DynamoDB table with a hash key named id."


def generation_rate(session, tokens: int, repeats: int) -> list[float]:
    tok = session.tokenizer
    ids = tok.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)

    def generate():
        with torch.no_grad():
            start = time.perf_counter()
            session.model.generate(**ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                                   pad_token_id=tok.pad_token_id or tok.eos_token_id)
            return tokens / (time.perf_counter() - start)

    return [session.call(generate) for _ in range(repeats)]


def train_rate(runner, name: str, since_step: int, since: float) -> tuple[float, int]:
    snap = runner.poll(name)
    return (snap.step - since_step) / max(1e-9, time.perf_counter() - since), snap.step


def phase_with_job(label, settings, dataset, session, args) -> dict:
    from iacdemo.training.config import quick_demo
    from iacdemo.training.runner import JobRunner

    runner = JobRunner(settings)
    config = replace(quick_demo(settings, dataset), run_name=f"bench-{label}", max_steps=100000, log_every=1)
    name = runner.start(config)
    try:
        deadline = time.monotonic() + 600
        while runner.poll(name).step < 2:  # model loaded and the loop running
            if not runner.poll(name).running or time.monotonic() > deadline:
                raise SystemExit(f"job {label} did not start: {runner.poll(name).error}")
            time.sleep(0.5)
        # the job alone: the time of two whole steps (a step takes seconds, so a fixed window would often see none)
        step0 = runner.poll(name).step
        while runner.poll(name).step == step0 and time.monotonic() < deadline:
            time.sleep(0.1)
        step0, t0 = runner.poll(name).step, time.perf_counter()
        while runner.poll(name).step < step0 + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        alone, _ = train_rate(runner, name, step0, t0)
        step1, t1 = runner.poll(name).step, time.perf_counter()
        rates = generation_rate(session, args.tokens, args.repeats)
        during, _ = train_rate(runner, name, step1, t1)
    finally:  # never leave the job training after the bench ends (or fails)
        runner.stop(name)
        runner.wait(name, timeout=300)
    return {"rates": rates, "train_alone": alone, "train_during": during}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from iacdemo.corpus.build import build_corpus
    from iacdemo.generation.session import ModelSession

    base = get_settings()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gwt-"))
    session = ModelSession.load(settings=base)
    dataset = tmp / "dynamodb"
    build_corpus(None, out_dir=dataset, seq_len=256, services=["DynamoDB"], settings=base,
                 tokenizer=session.tokenizer)
    generation_rate(session, 4, 1)  # warm-up

    results = {"idle": {"rates": generation_rate(session, args.tokens, args.repeats)}}
    old = base.with_overrides(runs_dir=tmp / "runs-old", job_niceness=0, job_yield_threads=0)
    new = base.with_overrides(runs_dir=tmp / "runs-new")
    results["old"] = phase_with_job("old", old, dataset, session, args)
    results["new"] = phase_with_job("new", new, dataset, session, args)

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads in the app; new = niceness "
          f"{base.job_niceness}, {base.job_yield_threads} thread(s) while generating")
    idle = statistics.median(results["idle"]["rates"])
    for label in ("idle", "old", "new"):
        r = results[label]
        line = f"{label:>5}: generation {statistics.median(r['rates']):5.1f} tok/s " \
               f"(runs {', '.join(f'{x:.1f}' for x in r['rates'])}); vs idle {statistics.median(r['rates']) / idle:.2f}x"
        if "train_alone" in r:
            line += f"; job {r['train_alone']:.2f} steps/s alone, {r['train_during']:.2f} while generating"
        print(line)
    print(f"new / old generation speed: {statistics.median(results['new']['rates']) / statistics.median(results['old']['rates']):.1f}x")


if __name__ == "__main__":
    main()
