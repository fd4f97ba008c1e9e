"""Command line: check a Terraform file against the AWS provider docs.

    python -m iacdemo.check main.tf        # or "-" to read stdin
    python -m iacdemo.check --answer reply.md   # a model's whole answer: code is extracted first

Prints one JSON object (parses, unknown_resource_types, unknown_arguments, missing_required,
broken_references, plannable, ...). Exit status: 0 when checked (whatever the verdict; see
`--strict`), 2 for bad input such as a missing file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from iacdemo.errors import IacdemoError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iacdemo.check",
                                     description="Check Terraform HCL against the AWS provider docs.")
    parser.add_argument("file", help="a .tf file, or - for stdin")
    parser.add_argument("--answer", action="store_true",
                        help="the input is a model's answer (markdown): extract the HCL first")
    parser.add_argument("--official", action="store_true",
                        help="with --answer: take the code exactly as the IaC-Eval harness does (first fence)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the code is not plannable")
    parser.add_argument("--no-code", action="store_true", help="leave the checked code out of the JSON")
    args = parser.parse_args(argv)
    try:
        text = _read_input(args.file)
        from iacdemo.hcl.check import check_answer, check_hcl
        from iacdemo.hcl.schema import load_schema

        schema = load_schema()
        result = (check_answer(text, schema, official=args.official) if args.answer else check_hcl(text, schema))
    except IacdemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = result.to_dict()
    if args.no_code:
        out.pop("code", None)
    print(json.dumps(out, ensure_ascii=False))
    return 1 if args.strict and not result.plannable else 0


def _read_input(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    path = Path(name)
    if not path.is_file():
        raise IacdemoError(f"No such file: {path}")
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise IacdemoError(f"Cannot read {path}: {exc}") from exc


if __name__ == "__main__":
    sys.exit(main())
