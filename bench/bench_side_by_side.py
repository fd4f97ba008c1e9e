"""Side-by-side generation: one batched mixed-adapter generation vs the columns one after another,
and the memory of one shared model + adapter vs two loaded models. One run measures both.

    python -m bench.bench_side_by_side [--adapter runs/NAME/adapter] [--new-tokens 64] [--repeats 3]

Throughput: the same greedy settings, prompt and columns (base, tuned) through
`stream_side_by_side` (one batch of 2, peft `adapter_names`) and `stream_sequential` (2 generations
of batch 1), interleaved so that background load hits both alike; tokens/s = useful tokens of all
columns (EOS and padding after it not counted) / wall time of the model work.

Memory: each design runs in a fresh subprocess that imports everything, records its RSS, loads, runs
one short side-by-side generation and reports its peak RSS (`ru_maxrss`). The figure compared is
peak RSS minus the RSS after imports, i.e. what loading and generating added. "Two models" loads the
base model and a second full copy with the adapter merged in (what serving the tuned model as its own
model costs). Parameter bytes of both designs are reported too.

Without a trained adapter (no runs/*/adapter yet) the bench makes a synthetic one with the training
defaults' shape (r=16 on all seven projection modules, random non-zero weights): same compute cost,
meaningless outputs. The report says which was used.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PROMPT = "Create a DynamoDB Contributor Insights resource for a specific table with custom settings"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_synthetic_adapter(model_id: str | None, out_dir: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from iacdemo.models import load_model

    torch.manual_seed(0)
    loaded = load_model(model_id)
    model = get_peft_model(loaded.model, LoraConfig(r=16, lora_alpha=32, target_modules=TARGETS,
                                                    init_lora_weights=False))
    with torch.no_grad():  # small enough that the text stays fluent, large enough to differ
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.mul_(0.3)
    model.save_pretrained(str(out_dir))


def find_adapter(explicit: str | None) -> tuple[Path | None, str]:
    if explicit:
        return Path(explicit), "given on the command line"
    try:
        from iacdemo.training.runs import list_runs

        for run in list_runs():
            if run.adapter_path is not None:
                return Path(run.adapter_path), f"trained run '{run.adapter_path.parent.name}'"
    except Exception as exc:  # the runs listing is another package; the bench still works without it
        print(f"(could not list runs: {exc})", file=sys.stderr)
    return None, "synthetic (no trained run found)"


# -- throughput -------------------------------------------------------------------------------------

def use_plain_kernels() -> None:
    """Turn off ModelSession's CPU decoding kernels (skinny matmuls, masked mixed batches) to compare."""
    from iacdemo.generation import session

    session.use_skinny_decode_matmuls = lambda model: 0
    session.use_masked_mixed_batches = lambda model: 0


def bench_throughput(model_id: str | None, adapter: Path, new_tokens: int, repeats: int) -> dict:
    import torch

    from iacdemo.generation import GenSettings, ModelSession, default_columns, stream_sequential, stream_side_by_side

    session = ModelSession.load(model_id)
    name = session.attach_adapter(adapter, name="tuned")
    columns = default_columns(name)
    gen = GenSettings(max_new_tokens=new_tokens)
    for stream in (stream_side_by_side(session, columns, PROMPT, GenSettings(max_new_tokens=4)),
                   stream_sequential(session, columns, PROMPT, GenSettings(max_new_tokens=4))):
        for _ in stream:  # warm-up: first calls allocate and pick kernels
            pass
    runs: dict[str, list[dict]] = {"batched": [], "sequential": []}
    texts: dict[str, list[str]] = {}
    for _ in range(repeats):
        for mode, start in (("batched", stream_side_by_side), ("sequential", stream_sequential)):
            stream = start(session, columns, PROMPT, gen)
            began = time.perf_counter()
            first_token_s = None
            for tick in stream:
                if first_token_s is None and any(tick):
                    first_token_s = time.perf_counter() - began
            wall = time.perf_counter() - began
            texts[mode] = tick
            runs[mode].append({"tokens": sum(stream.stats.new_tokens), "per_column": stream.stats.new_tokens,
                               "wall_s": round(wall, 3), "tokens_per_s": round(sum(stream.stats.new_tokens) / wall, 2),
                               "first_text_s": round(first_token_s or wall, 3)})
    summary = {mode: statistics.median(r["tokens_per_s"] for r in rows) for mode, rows in runs.items()}
    # Each repeat runs batched then sequential back to back: their ratio is the least disturbed by
    # other processes on a shared machine, so the headline speedup is the median of these ratios.
    paired = [round(b["tokens_per_s"] / s["tokens_per_s"], 3) for b, s in zip(runs["batched"], runs["sequential"])]
    return {
        "torch_threads": torch.get_num_threads(),
        "new_tokens_per_column": new_tokens,
        "runs": runs,
        "median_tokens_per_s": summary,
        "best_tokens_per_s": {mode: max(r["tokens_per_s"] for r in rows) for mode, rows in runs.items()},
        "paired_speedups": paired,
        "speedup": round(statistics.median(paired), 3),
        "same_texts_batched_vs_sequential": texts["batched"] == texts["sequential"],
        "columns_differ": len(set(texts["batched"])) > 1,
    }


# -- memory, one design per subprocess --------------------------------------------------------------

def memory_child(design: str, model_id: str | None, adapter: Path, new_tokens: int) -> dict:
    import peft  # noqa: F401  (imports done before the baseline: only what loading adds is counted)
    import torch
    import transformers  # noqa: F401

    from iacdemo.generation import GenSettings, ModelSession, default_columns, stream_side_by_side
    from iacdemo.models import load_model

    baseline = rss_mib()
    gen = GenSettings(max_new_tokens=new_tokens)
    if design == "shared":
        session = ModelSession.load(model_id)
        name = session.attach_adapter(adapter, name="tuned")
        loaded_rss = rss_mib()
        for _ in stream_side_by_side(session, default_columns(name), PROMPT, gen):
            pass
        sizes = session.weight_bytes()
        param_bytes = sizes["base"] + sizes["adapters"]
    else:
        from peft import PeftModel

        base = ModelSession.load(model_id)
        second = load_model(model_id)
        tuned_model = PeftModel.from_pretrained(second.model, str(adapter)).merge_and_unload()
        tuned = ModelSession(second)
        tuned.base_model = tuned_model
        loaded_rss = rss_mib()
        for session in (base, tuned):  # each model answers on its own
            for _ in stream_side_by_side(session, default_columns(None), PROMPT, gen):
                pass
        param_bytes = base.weight_bytes()["base"] + tuned.weight_bytes()["base"]
    del torch
    return {"design": design, "rss_after_imports_mib": round(baseline, 1),
            "rss_after_load_mib": round(loaded_rss, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
            "added_peak_mib": round(peak_rss_mib() - baseline, 1), "param_mib": round(param_bytes / 2**20, 1)}


def run_memory_child(design: str, args: argparse.Namespace, adapter: Path) -> dict:
    command = [sys.executable, "-m", "bench.bench_side_by_side", "--memory-child", design,
               "--adapter", str(adapter), "--child-tokens", str(args.child_tokens)]
    if args.model:
        command += ["--model", args.model]
    if args.plain_kernels:
        command.append("--plain-kernels")
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"memory child '{design}' failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model id (default: the settings' default model)")
    parser.add_argument("--adapter", default=None, help="LoRA adapter folder (default: newest run, else synthetic)")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child-tokens", type=int, default=16, help="tokens generated in the memory runs")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--plain-kernels", action="store_true",
                        help="measure without ModelSession's CPU decoding kernels (for comparison)")
    parser.add_argument("--skip-memory", action="store_true", help="only measure tokens/s")
    parser.add_argument("--memory-child", choices=["shared", "two_models"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_kernels:
        use_plain_kernels()

    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.model, Path(args.adapter), args.child_tokens)))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-sbs-") as tmp:
        adapter, adapter_kind = find_adapter(args.adapter)
        if adapter is None:
            adapter = Path(tmp) / "synthetic-adapter"
            make_synthetic_adapter(args.model, adapter)
        load_before = os.getloadavg()
        memory = {} if args.skip_memory else {design: run_memory_child(design, args, adapter)
                                              for design in ("shared", "two_models")}
        throughput = bench_throughput(args.model, adapter, args.new_tokens, args.repeats)
        load_after = os.getloadavg()

    from iacdemo.settings import get_settings

    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "model": args.model or get_settings().default_model,
        "adapter": adapter_kind,
        "kernels": "plain" if args.plain_kernels else "ModelSession decoding kernels",
        "throughput": throughput,
        "memory": memory,
    }
    tp = throughput["median_tokens_per_s"]
    lines = [f"batched {tp['batched']:.1f} tok/s vs sequential {tp['sequential']:.1f} tok/s (medians); "
             f"median paired speedup {throughput['speedup']:.2f}x (target >= 1.6x)"]
    if memory:
        ratio_peak = memory["shared"]["added_peak_mib"] / memory["two_models"]["added_peak_mib"]
        ratio_params = memory["shared"]["param_mib"] / memory["two_models"]["param_mib"]
        results["memory_ratio_added_peak_rss"] = round(ratio_peak, 3)
        results["memory_ratio_param_bytes"] = round(ratio_params, 3)
        lines.append(f"memory added (peak RSS): shared {memory['shared']['added_peak_mib']:.0f} MiB vs two models "
                     f"{memory['two_models']['added_peak_mib']:.0f} MiB: {ratio_peak:.2f}x (target <= 0.55x); "
                     f"parameter bytes {ratio_params:.2f}x")
    print(json.dumps(results, indent=2))
    print("\n" + "\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
