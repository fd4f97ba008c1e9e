"""Packed vs padded LoRA training: useful (non-pad) tokens per second on the same data and model.

    python -m bench.bench_packing                      # embedded model, whole HCL corpus, 512-token segments
    python -m bench.bench_packing --steps 4 --services DynamoDB,Lambda

The corpus builder's heading-aligned 512-token segments are the data. The padded run gives each
segment its own 512-wide row, so part of every batch is padding; the packed run concatenates the same
segments (EOS between them) into full rows. Both run the same model, LoRA setup, batch shape and number
of steps, interleaved step by step so that load from other processes hits both alike.

From the padded batches' own pad fraction p the ideal gain of packing is 1 / (1 - p); the target is
that packing achieves at least 90% of it.
"""
from __future__ import annotations

import argparse
import random
import time

import torch

from iacdemo.corpus.build import build_corpus
from iacdemo.models import load_model
from iacdemo.settings import get_settings
from iacdemo.training.config import TrainConfig
from iacdemo.training.packing import Example, collate, pack_examples, pad_examples, pad_fraction
from train.cpt import add_lora, make_optimizer


def train_step(model, optimizer, batch) -> float:
    start = time.perf_counter()
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model id (default: the embedded default)")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per mode first")
    parser.add_argument("--services", default="", help="comma-separated doc subcategories (default: all)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    settings = get_settings()
    loaded = load_model(args.model, settings)
    tok = loaded.tokenizer
    services = [s for s in args.services.split(",") if s.strip()] or None
    t0 = time.perf_counter()
    corpus = build_corpus(None, seq_len=args.seq_len, services=services, settings=settings, tokenizer=tok)
    segments = corpus.dataset["text"]
    print(f"corpus: {len(segments):,} segments of <= {args.seq_len} tokens ({time.perf_counter() - t0:.0f} s)")

    order = list(range(len(segments)))
    random.Random(args.seed).shuffle(order)
    n_blocks = (args.steps + args.warmup) * args.batch_size
    # enough segments for the padded run; packing the same segments gives fewer (full) rows
    sample = [segments[i] for i in order[:n_blocks * 2]]
    examples = [Example.plain(ids) for ids in tok(sample, add_special_tokens=False)["input_ids"]]
    padded = pad_examples(examples, args.seq_len, tok.eos_token_id)[:n_blocks]
    packed = pack_examples(examples, args.seq_len, tok.eos_token_id)[:n_blocks]
    if len(packed) < n_blocks:
        raise SystemExit("Not enough text for the packed run: use more --services or fewer --steps.")

    config = TrainConfig(dataset=".", lora_r=16, lora_alpha=32, lora_dropout=0.0)
    model = add_lora(loaded.model, config)
    model.config.use_cache = False
    model.train()
    optimizer = make_optimizer(model, config)

    def batches(blocks):
        return [collate(blocks[i:i + args.batch_size], args.seq_len, tok.pad_token_id)
                for i in range(0, len(blocks), args.batch_size)]

    modes = {"padded": batches(padded), "packed": batches(packed)}
    seconds = {m: 0.0 for m in modes}
    useful = {m: 0 for m in modes}
    for i in range(args.warmup + args.steps):
        for mode in ("padded", "packed"):  # interleaved: machine load hits both alike
            batch = modes[mode][i]
            dt = train_step(model, optimizer, batch)
            if i >= args.warmup:
                seconds[mode] += dt
                useful[mode] += int(batch["attention_mask"].sum())
    timed_padded = padded[args.warmup * args.batch_size:]
    pad = pad_fraction(timed_padded, args.seq_len)
    tps = {m: useful[m] / seconds[m] for m in modes}
    ideal = 1.0 / (1.0 - pad)
    achieved = tps["packed"] / tps["padded"]
    result = {"model": loaded.model_id, "device": loaded.device, "seq_len": args.seq_len,
              "batch_size": args.batch_size, "steps": args.steps, "threads": torch.get_num_threads(),
              "pad_fraction": pad, "padded_tokens_per_s": tps["padded"], "packed_tokens_per_s": tps["packed"],
              "padded_s_per_step": seconds["padded"] / args.steps, "packed_s_per_step": seconds["packed"] / args.steps,
              "ideal_gain": ideal, "achieved_gain": achieved, "ratio": achieved / ideal}
    print(f"model {result['model']} on {result['device']}, {args.batch_size} x {args.seq_len}, {args.steps} timed "
          f"steps per mode, {result['threads']} threads")
    print(f"padded: {tps['padded']:8.1f} useful tok/s  ({result['padded_s_per_step']:.2f} s/step, "
          f"pad fraction {pad:.1%})")
    print(f"packed: {tps['packed']:8.1f} useful tok/s  ({result['packed_s_per_step']:.2f} s/step)")
    print(f"ideal gain {ideal:.2f}x, achieved {achieved:.2f}x, achieved/ideal {achieved / ideal:.2f} "
          f"({'meets' if achieved / ideal >= 0.9 else 'misses'} the 0.9 target)")
    return result


if __name__ == "__main__":
    main()
