"""Training speed and memory of `train/cpt.py` on the machine's accelerator, measured in one run.

    python -m bench.bench_gpu_training --model DIR [--random-init] [--steps 40] [--batch-size 8]
        [--seq-len 512] [--epoch-seconds 240] [--json FILE]

Why this exists: the original experiment took "about 20 minutes on one A100" for one epoch of LoRA CPT
of Qwen2.5-1.5B-Instruct on about 4,400 segments. This bench runs the real training script (the same
subprocess the Train tab launches) on the full docs corpus, tokenized with the model's own tokenizer,
and reports, each from runs made one after another in this one invocation:

* bf16 vs fp32 (`--precision`) training tokens/s and peak GPU memory;
* gradient checkpointing's memory saving and its speed cost (bf16);
* one real epoch of the whole corpus with the default schedule, eval and checkpoints (stopped by
  SIGTERM after `--epoch-seconds`, in which case the epoch time is extrapolated from the step rate).

`--random-init` accepts a folder holding only `config.json` and the tokenizer (no weights; the machines
here reach no model hub): the published architecture gets random bf16 weights. Speed and memory do not
depend on the weight values, losses then mean nothing, and the report says so. Without a GPU it says so
and exits (`make bench` runs every bench); `--allow-cpu` runs it anyway (fp32 vs bf16 on the CPU), which is
how it is smoke-tested: keep the model tiny and `--steps` small there.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def materialize_random_weights(config_dir: Path, out_dir: Path, device: str) -> Path:
    """A loadable model folder with the architecture of `config_dir` and seeded random bf16 weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(config_dir)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out_dir)
    for item in config_dir.iterdir():
        if item.name != "config.json" and item.is_file():
            shutil.copy2(item, out_dir / item.name)
    del model
    return out_dir


def build_dataset(model_dir: Path, out_dir: Path, seq_len: int) -> dict:
    import datasets

    from iacdemo.corpus.build import build_corpus
    from iacdemo.models import load_tokenizer

    datasets.disable_progress_bars()
    tokenizer = load_tokenizer(str(model_dir))
    started = time.perf_counter()
    result = build_corpus(None, out_dir, seq_len=seq_len, model_id=str(model_dir), tokenizer=tokenizer)
    stats = result.stats
    return {"rows": stats.get("rows"), "tokens": stats.get("tokens"), "build_s": round(time.perf_counter() - started, 1)}


def run_training(name: str, model_dir: Path, dataset: Path, work: Path, flags: list[str],
                 cap_s: float | None = None) -> dict:
    """One `python -m train.cpt` subprocess; its metrics.jsonl and status.json give the figures."""
    out = work / name
    cmd = [sys.executable, "-m", "train.cpt", "--model", str(model_dir), "--dataset", str(dataset),
           "--out", str(out), *flags]
    print(f"[{name}] {' '.join(cmd[3:])}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    log = open(work / f"{name}.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        proc.wait(timeout=cap_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the script saves a checkpoint and ends as "stopped"
        proc.wait(timeout=300)
    wall = time.perf_counter() - started
    log.close()
    status = json.loads((out / "status.json").read_text()) if (out / "status.json").exists() else {}
    rows = []
    if (out / "metrics.jsonl").exists():
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train_rows = [r for r in rows if "loss" in r]
    if proc.returncode not in (0, None) and status.get("status") != "stopped" or not train_rows:
        tail = (work / f"{name}.log").read_text()[-3000:]
        return {"name": name, "ok": False, "returncode": proc.returncode, "log_tail": tail}
    steady = train_rows[3:] or train_rows[1:] or train_rows  # the first steps pay for warm-up
    step_s = [b["elapsed_s"] - a["elapsed_s"] for a, b in zip(steady, steady[1:])]
    return {
        "name": name, "ok": True, "status": status.get("status"), "dtype": status.get("dtype"),
        "device": status.get("device"), "steps_done": train_rows[-1]["step"], "total_steps": status.get("total_steps"),
        "tokens_per_s": round(statistics.median(r["tokens_per_s"] for r in steady), 1),
        "step_s": round(statistics.median(step_s), 4) if step_s else None,
        "gpu_peak_gib": max((r["gpu_peak_gib"] for r in rows if "gpu_peak_gib" in r), default=None),
        "first_loss": train_rows[0]["loss"], "last_loss": train_rows[-1]["loss"],
        "eval_losses": [r["eval_loss"] for r in rows if r.get("eval_loss") is not None],
        "train_elapsed_s": train_rows[-1]["elapsed_s"], "wall_s": round(wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_gpu_training", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder or id (default: the settings' default model); "
                        "with --random-init: a folder with config.json + tokenizer")
    parser.add_argument("--random-init", action="store_true", help="give the architecture random bf16 weights")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per speed run")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--epoch-seconds", type=float, default=240, help="cap on the full-epoch run; 0 skips it")
    parser.add_argument("--skip-fp32", action="store_true")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a GPU (smoke test)")
    args = parser.parse_args(argv)
    if args.random_init and not args.model:
        parser.error("--random-init needs --model: a folder with config.json and the tokenizer")

    import torch

    from iacdemo.models import resolve_model_path

    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        print("No CUDA GPU here: the GPU training bench is skipped (--allow-cpu runs it on the CPU).")
        return 0
    if not args.random_init:
        args.model = str(resolve_model_path(args.model))
    device = "cuda" if cuda else "cpu"
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-gpu-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {"machine": torch.cuda.get_device_name(0) if cuda else f"CPU ({os.cpu_count()} cores)",
                    "torch": torch.__version__, "python": platform.python_version(), "model": args.model,
                    "weights": "random (speed/memory only)" if args.random_init else "as loaded",
                    "batch_size": args.batch_size, "seq_len": args.seq_len}
    model_dir = Path(args.model)
    if args.random_init:
        started = time.perf_counter()
        model_dir = materialize_random_weights(model_dir, work / "model", device)
        report["random_init_s"] = round(time.perf_counter() - started, 1)
    report["dataset"] = build_dataset(model_dir, work / "dataset", args.seq_len)
    print(f"dataset: {report['dataset']}", file=sys.stderr, flush=True)

    common = ["--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len), "--lr", "2e-4",
              "--log-every", "1"]
    speed = common + ["--max-steps", str(args.steps), "--eval-fraction", "0", "--save-every", "0",
                      "--chat-mix-ratio", "0", "--scheduler", "constant"]
    runs = {"bf16": run_training("bf16", model_dir, work / "dataset", work, speed + ["--precision", "bf16"])}
    if not args.skip_fp32:
        runs["fp32"] = run_training("fp32", model_dir, work / "dataset", work, speed + ["--precision", "fp32"])
    runs["bf16_ckpt"] = run_training("bf16_ckpt", model_dir, work / "dataset", work,
                                     speed + ["--precision", "bf16", "--gradient-checkpointing"])
    if args.epoch_seconds > 0:
        runs["epoch"] = run_training("epoch", model_dir, work / "dataset", work,
                                     common + ["--epochs", "1", "--precision", "bf16"], cap_s=args.epoch_seconds)
    report["runs"] = runs

    ratios: dict = {}
    ok = {k: v for k, v in runs.items() if v.get("ok")}
    if "bf16" in ok and "fp32" in ok:
        ratios["bf16_vs_fp32_tokens_per_s"] = round(ok["bf16"]["tokens_per_s"] / ok["fp32"]["tokens_per_s"], 2)
        if ok["bf16"]["gpu_peak_gib"] and ok["fp32"]["gpu_peak_gib"]:
            ratios["bf16_vs_fp32_peak_memory"] = round(ok["bf16"]["gpu_peak_gib"] / ok["fp32"]["gpu_peak_gib"], 2)
    if "bf16" in ok and "bf16_ckpt" in ok:
        ratios["checkpointing_tokens_per_s"] = round(ok["bf16_ckpt"]["tokens_per_s"] / ok["bf16"]["tokens_per_s"], 2)
        if ok["bf16"]["gpu_peak_gib"] and ok["bf16_ckpt"]["gpu_peak_gib"]:
            ratios["checkpointing_peak_memory"] = round(ok["bf16_ckpt"]["gpu_peak_gib"] / ok["bf16"]["gpu_peak_gib"], 2)
    if "epoch" in ok:
        epoch = ok["epoch"]
        done, total = epoch["steps_done"], epoch["total_steps"] or epoch["steps_done"]
        per_step = epoch["train_elapsed_s"] / max(done, 1)
        report["epoch_minutes"] = round((epoch["train_elapsed_s"] if done >= total else per_step * total) / 60, 2)
        report["epoch_measured_fully"] = done >= total
    report["ratios"] = ratios
    for name, run in runs.items():
        if run.get("ok"):
            print(f"{name:10s} {run['dtype']:9s} {run['tokens_per_s']:>10.0f} tok/s  step {run['step_s']} s  "
                  f"peak {run['gpu_peak_gib']} GiB  loss {run['first_loss']} -> {run['last_loss']}  "
                  f"({run['steps_done']}/{run['total_steps']} steps, {run['status']})")
        else:
            print(f"{name:10s} FAILED (rc {run.get('returncode')}):\n{run.get('log_tail')}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    return 0 if all(r.get("ok") for r in runs.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
