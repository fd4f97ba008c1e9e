"""Is one mixed-adapter batch (base row + tuned row) the same as each row run on its own, on this device?

    python -m bench.check_mixed_batch [--model DIR] [--random-init] [--adapter DIR] [--dtypes fp32,bf16]

Why: the Compare and Doc-completion tabs run the base and the fine-tuned model as the two rows of one
batch, through `ModelSession`'s masked mixed-adapter LoRA forward (a replacement for peft's
gather/scatter). The CPU tests check it with the real embedded model in fp32; this check runs the same
comparison on whatever device the machine has (a GPU Space runs it in bf16), on logits rather than
texts: with random weights the next-token scores are nearly tied, so a greedy text comparison would
flag rounding, not errors. The yardstick is peft's own mixed-batch forward on the same inputs: in bf16 any
mixed batch rounds the LoRA output once more than a single-adapter forward does, so neither path matches
the single-row logits exactly. Reported per dtype and row: the largest logit difference to the single-row
forward for our path and for peft's, next to how much the adapter moves the logits at all, and how often
the top token agrees (informative only: with random weights the top scores are nearly tied, so one
rounding flips it). A row is off (exit status 1) when our error is clearly larger than peft's; a mixed
batch that applies the adapter to the wrong row shows an error as large as the adapter's whole effect.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PROMPT = ('resource "aws_dynamodb_contributor_insights" "example" {\n  table_name = aws_dynamodb_table.example.name\n}\n'
          "Create a DynamoDB Contributor Insights resource for a specific table with custom settings")
ERROR_SLACK = 1.5  # our error may exceed peft's by this factor (or be below 1e-4 of the adapter's effect)


def compare(model_dir: str, adapter_dir: Path, device: str, dtype_name: str) -> dict:
    import torch

    from iacdemo.generation.session import BASE, ModelSession

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    session = ModelSession.load(model_dir, device=device, dtype=dtype)
    name = session.attach_adapter(adapter_dir)
    ids = session.tokenizer([PROMPT], return_tensors="pt").input_ids.to(session.device)

    def forwards():
        with session.lock, torch.no_grad():
            batch = ids.repeat(2, 1)
            ours = session.model(input_ids=batch, adapter_names=[BASE, name]).logits.float()
            patched = [m for m in session.model.modules() if getattr(m, "_iacdemo_masked", False)]
            for module in patched:  # the instance attribute shadows peft's own method; drop it for a moment
                saved = module.__dict__.pop("_mixed_batch_forward")
                module._iacdemo_saved = saved
            peft_own = session.model(input_ids=batch, adapter_names=[BASE, name]).logits.float()
            for module in patched:
                module._mixed_batch_forward = module.__dict__.pop("_iacdemo_saved")
            with session.use_adapter(None) as model:
                base = model(input_ids=ids).logits.float()[0]
            with session.use_adapter(name) as model:
                tuned = model(input_ids=ids).logits.float()[0]
        return ours, peft_own, base, tuned, len(patched)

    ours, peft_own, base, tuned, patched = session.call(forwards)
    effect = (tuned - base).abs().max().item()
    rows, ok = {}, patched > 0
    for i, (label, single) in enumerate((("base", base), ("tuned", tuned))):
        row = {}
        for path, logits in (("ours", ours[i]), ("peft", peft_own[i])):
            row[f"{path}_max_abs_error"] = (logits - single).abs().max().item()
            row[f"{path}_top1_agreement"] = (logits.argmax(-1) == single.argmax(-1)).float().mean().item()
        row["ours_vs_peft_max_abs"] = (ours[i] - peft_own[i]).abs().max().item()
        ok = ok and row["ours_max_abs_error"] <= max(ERROR_SLACK * row["peft_max_abs_error"], 1e-4 * effect)
        rows[label] = row
    result = {"device": str(session.device), "dtype": dtype_name, "tokens": ids.shape[1], "patched_layers": patched,
              "adapter_effect_max_abs": effect, "rows": rows, "ok": ok}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.check_mixed_batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder or id (default: the settings' default model)")
    parser.add_argument("--random-init", action="store_true",
                        help="--model holds only config.json + tokenizer: give it random bf16 weights")
    parser.add_argument("--adapter", default=None, help="LoRA adapter folder (default: a synthetic r=16 one)")
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)

    import torch

    from bench.bench_gpu_training import materialize_random_weights
    from bench.bench_side_by_side import make_synthetic_adapter
    from iacdemo.models import resolve_model_path

    device = "cuda" if torch.cuda.is_available() else "cpu"
    work = Path(tempfile.mkdtemp(prefix="mixed-batch-"))
    if args.random_init:
        if not args.model:
            parser.error("--random-init needs --model: a folder with config.json and the tokenizer")
        model_dir = str(materialize_random_weights(Path(args.model), work / "model", device))
    else:
        model_dir = str(resolve_model_path(args.model))
    adapter = Path(args.adapter) if args.adapter else work / "adapter"
    if not args.adapter:
        make_synthetic_adapter(model_dir, adapter)
    report = {"machine": torch.cuda.get_device_name(0) if device == "cuda" else "CPU", "torch": torch.__version__,
              "model": args.model or model_dir, "adapter": str(args.adapter or "synthetic r=16"),
              "results": []}
    for dtype_name in args.dtypes.split(","):
        report["results"].append(compare(model_dir, adapter, device, dtype_name.strip()))
        if device == "cuda":
            torch.cuda.empty_cache()  # the session of that dtype is gone: give its memory back
    for r in report["results"]:
        print(f"{r['device']} {r['dtype']}: adapter moves logits by up to {r['adapter_effect_max_abs']:.4g}; "
              + "; ".join(f"{k} row error ours {v['ours_max_abs_error']:.3g} / peft {v['peft_max_abs_error']:.3g}, "
                          f"top-1 agreement ours {v['ours_top1_agreement']:.1%} / peft {v['peft_top1_agreement']:.1%}"
                          for k, v in r["rows"].items())
              + ("  OK" if r["ok"] else "  MISMATCH"))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    return 0 if all(r["ok"] for r in report["results"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
