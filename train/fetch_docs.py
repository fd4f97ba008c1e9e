"""Fetch the documentation sets from their git repositories into the data dir, packed as JSON Lines.

    python -m train.fetch_docs                       # the three default doc sets into the corpus dir
    python -m train.fetch_docs --out /tmp/docs --repo opa-docs=https://github.com/open-policy-agent/opa.git@main

Each repository is fetched shallow and sparse (only its docs folder). Progress goes to stderr; the last
line on stdout is one JSON object. User errors print one message on stderr and exit with code 2.
"""
from __future__ import annotations

import argparse
import json
import sys

from iacdemo.corpus.fetch import DEFAULT_REPOS, fetch_docs, resolve_specs
from iacdemo.errors import IacdemoError
from iacdemo.settings import get_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    known = "; ".join(f"{s.name}: {s.url}@{s.ref[:12]} ({s.docs_dir}/)" for s in DEFAULT_REPOS.values())
    parser = argparse.ArgumentParser(
        prog="python -m train.fetch_docs",
        description="Shallow, sparse git fetch of the docs folders, packed as NAME.jsonl.gz "
                    f"(records: source, path, text). Default doc sets: {known}.")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="Folder for the packed files (default: the settings' corpus dir, "
                             "data_dir/corpus; set IACDEMO_DATA_DIR to move it).")
    parser.add_argument("--repo", nargs="+", default=None, metavar="NAME=URL@REF",
                        help="Fetch these instead of the defaults. REF is a branch, tag or commit; append "
                             "#DIR to pick the docs folder (a default NAME keeps its folder).")
    parser.add_argument("--force", action="store_true",
                        help="Fetch again even when NAME.jsonl.gz already exists (it is replaced).")
    return parser.parse_args(argv)


def _progress(fraction: float, message: str) -> None:
    print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    try:
        specs = resolve_specs(args.repo)
        out = args.out or get_settings().corpus_dir
        results = fetch_docs(specs, out, force=args.force, progress=_progress)
    except IacdemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"out": str(out), "repos": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
