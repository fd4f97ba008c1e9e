"""Command line: check a Terraform file against the AWS provider docs.

    python -m iacdemo.check main.tf        # or "-" to read stdin
    python -m iacdemo.check --answer reply.md   # a model's whole answer: code is extracted first
    python -m iacdemo.check --jsonl answers.jsonl   # many: one JSON report per input line

Prints one JSON object (parses, unknown_resource_types, unknown_arguments, missing_required,
broken_references, diagnostics, plannable, ...). With `--jsonl`, each input line is a JSON object with
`"answer"` (a model's reply: the code is extracted) or `"code"` (a .tf text), or a bare JSON string (an
answer); each output line is that line's report, with `"line"` (1-based) and any `"id"` of the input.
A line that is not such JSON gets a report with `"error"` instead: one bad line never stops the rest.
Exit status: 0 when checked (whatever the verdict; see `--strict`), 2 for bad input such as a missing file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from iacdemo.errors import IacdemoError
from iacdemo.hcl.check import check_answer, check_hcl
from iacdemo.terraform.schema import load_schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iacdemo.check",
                                     description="Check Terraform HCL against the AWS provider docs.")
    parser.add_argument("file", help="a .tf file (or a .jsonl file with --jsonl), or - for stdin")
    parser.add_argument("--jsonl", action="store_true",
                        help="the input holds one JSON object per line ({\"answer\": ...} or {\"code\": ...})")
    parser.add_argument("--answer", action="store_true",
                        help="the input is a model's answer (markdown): extract the HCL first")
    parser.add_argument("--official", action="store_true",
                        help="with --answer: take the code exactly as the IaC-Eval harness does (first fence)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the code is not plannable")
    parser.add_argument("--no-code", action="store_true", help="leave the checked code out of the JSON")
    args = parser.parse_args(argv)
    try:
        text = _read_input(args.file)

        schema = load_schema()
        if args.jsonl:
            failed = 0
            for number, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                report = check_jsonl_line(line, schema, official=args.official, keep_code=not args.no_code)
                failed += not report.get("plannable", False)
                print(json.dumps({"line": number, **report}, ensure_ascii=False))
            return 1 if args.strict and failed else 0
        result = (check_answer(text, schema, official=args.official) if args.answer else check_hcl(text, schema))
    except IacdemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = result.to_dict()
    if args.no_code:
        out.pop("code", None)
    print(json.dumps(out, ensure_ascii=False))
    return 1 if args.strict and not result.plannable else 0


def check_jsonl_line(line: str, schema, *, official: bool = False, keep_code: bool = True) -> dict:
    """The report for one `--jsonl` input line (an `error` report for a line that cannot be checked)."""
    try:
        item = json.loads(line)
    except ValueError as exc:
        return {"error": f"not JSON: {exc}", "plannable": False}
    if isinstance(item, str):
        item = {"answer": item}
    if not isinstance(item, dict) or not isinstance(item.get("answer", item.get("code")), str):
        return {"error": 'expected {"answer": "..."} or {"code": "..."} or a JSON string', "plannable": False}
    if isinstance(item.get("code"), str):
        result = check_hcl(item["code"], schema)
    else:
        result = check_answer(item["answer"], schema, official=official)
    report = result.to_dict()
    if not keep_code:
        report.pop("code", None)
    if "id" in item:
        report = {"id": item["id"], **report}
    return report


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
