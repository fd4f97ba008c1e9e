"""Build the continued-pre-training corpus from documentation.

    python -m train.build_corpus --source ../shared/data/corpus --out cache/datasets/docs-512
    python -m train.build_corpus --source ../shared/data/corpus --out /tmp/dynamodb --service DynamoDB

Progress goes to stderr; the last line on stdout is one JSON object (rows, tokens, sources, seconds, ...)
for scripts. User errors print one message on stderr and exit with code 2.
"""
from __future__ import annotations

import argparse
import json
import sys

from iacdemo.corpus.build import build_corpus
from iacdemo.errors import IacdemoError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train.build_corpus",
        description="Clean, segment (by the model's tokenizer) and deduplicate documentation into a "
                    "`datasets` folder with columns text, source, path, subcategory, n_tokens, plus stats.json.")
    parser.add_argument("--source", nargs="+", required=True, metavar="PATH",
                        help="Docs inputs: *.jsonl(.gz) files (records with source, path, text), directories "
                             "holding them, or directories of .md/.markdown/.mdx files.")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="Output folder (new, empty, or an earlier corpus, which is replaced).")
    parser.add_argument("--seq-len", type=int, default=512, metavar="N",
                        help="Maximum tokens per segment (default: 512).")
    parser.add_argument("--model", default=None, metavar="ID",
                        help="Model whose tokenizer counts the tokens: a registry id, a Hub id or a local "
                             "model folder (default: the settings' default model).")
    parser.add_argument("--service", nargs="+", default=None, metavar="NAME",
                        help="Keep only pages of these services (the front-matter `subcategory`, e.g. "
                             "DynamoDB; 'S3' also matches 'S3 (Simple Storage)').")
    parser.add_argument("--source-name", nargs="+", default=None, metavar="NAME",
                        help="Keep only records of these sources (terraform-provider-aws, terraform, opa).")
    parser.add_argument("--path-pattern", default=None, metavar="GLOB",
                        help="Keep only docs whose path matches this glob, e.g. 'website/docs/r/*' "
                             "(`*` also crosses '/').")
    parser.add_argument("--include-cdktf", action="store_true",
                        help="Also use the cdktf Python/TypeScript translations of the AWS pages "
                             "(excluded by default: they teach no HCL).")
    return parser.parse_args(argv)


def _progress(fraction: float, message: str) -> None:
    print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import datasets  # heavy: `--help` and bad arguments answer before it loads

    datasets.disable_progress_bars()  # our own progress lines say the same, once

    try:
        result = build_corpus(args.source, out_dir=args.out, seq_len=args.seq_len, model_id=args.model,
                              sources_filter=args.source_name, services=args.service,
                              path_pattern=args.path_pattern, include_cdktf=args.include_cdktf,
                              progress=_progress)
    except IacdemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stats = result.stats
    summary = {
        "out": str(result.out_dir),
        "rows": stats["rows"],
        "tokens": stats["tokens"],
        "docs": stats["docs_kept"],
        "sources": {name: s["rows"] for name, s in stats["sources"].items()},
        "services": len(stats["services"]),
        "seq_len": stats["seq_len"],
        "pad_fraction": stats["pad_fraction"],
        "duplicates": stats["duplicates_exact"] + stats["duplicates_near"],
        "seconds": stats["seconds"],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
