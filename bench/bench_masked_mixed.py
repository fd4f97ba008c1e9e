"""The masked mixed-adapter LoRA forward vs peft's own gather/scatter, on the same session and batch.

    python -m bench.bench_masked_mixed [--new-tokens 32] [--repeats 3]

One ModelSession (the embedded SmolLM2-135M, CPU kernels on) with the synthetic r=16 adapter of
bench_side_by_side on all seven projections generates greedily for a batch of two rows (base, tuned)
with `adapter_names`, alternately through the masked forward and through peft's `_mixed_batch_forward`
(the instance attribute that shadows it is removed for those runs), interleaved so background load hits
both alike. Prints tokens/s of each and their ratio per repeat, and whether the texts are identical.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_side_by_side import PROMPT, make_synthetic_adapter  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_masked_mixed")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = parser.parse_args(argv)

    import torch

    from iacdemo.generation.kernels import BASE
    from iacdemo.generation.session import ModelSession

    if args.threads:
        torch.set_num_threads(args.threads)
    session = ModelSession.load()
    with tempfile.TemporaryDirectory() as tmp:
        make_synthetic_adapter(None, Path(tmp))
        name = session.attach_adapter(Path(tmp))
    masked = [m for m in session.model.modules() if getattr(m, "_iacdemo_masked", False)]
    ids = session.tokenizer([PROMPT], return_tensors="pt").input_ids.repeat(2, 1)

    def generate(use_masked: bool):
        saved = []
        if not use_masked:
            for module in masked:
                saved.append(module.__dict__.pop("_mixed_batch_forward"))
        try:
            with session.lock, torch.no_grad():
                started = time.perf_counter()
                out = session.call(lambda: session.model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), adapter_names=[BASE, name],
                    max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False,
                    pad_token_id=session.tokenizer.pad_token_id))
                seconds = time.perf_counter() - started
        finally:
            for module, method in zip(masked, saved):
                module._mixed_batch_forward = method
        return 2 * args.new_tokens / seconds, out[:, ids.shape[1]:].tolist()

    generate(True), generate(False)  # warm-up
    rows = []
    for _ in range(args.repeats):
        ours, ours_ids = generate(True)
        peft_own, peft_ids = generate(False)
        print(f"masked {ours:.1f} tok/s, peft {peft_own:.1f} tok/s", file=sys.stderr, flush=True)
        rows.append({"masked_tok_s": round(ours, 1), "peft_tok_s": round(peft_own, 1),
                     "ratio": round(ours / peft_own, 2), "same_tokens": ours_ids == peft_ids})
    result = {"machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads", "patched_layers": len(masked),
              "new_tokens_per_row": args.new_tokens, "repeats": rows,
              "median_ratio": statistics.median(r["ratio"] for r in rows)}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
