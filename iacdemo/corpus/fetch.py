"""Fetching the documentation sets from their git repositories and packing them as JSON Lines.

For users who are online and want fresh docs (our machines ship them packed in the data dir). The
repositories are large (the AWS provider's history is gigabytes), so each is fetched shallow (one
commit) and sparse (only its docs folder), which takes seconds and a few tens of megabytes. The packed
form is the one `iter_docs` reads: gzipped JSON Lines with `source`, `path` (inside the repository) and
`text` per markdown file.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from iacdemo.corpus.sources import MARKDOWN_SUFFIXES
from iacdemo.errors import ConfigError, DataError

Progress = Callable[[float, str], None]
GIT_TIMEOUT_S = 900


@dataclass(frozen=True)
class RepoSpec:
    name: str  # the packed file is `<name>.jsonl.gz`
    source: str  # each record's `source`
    url: str
    ref: str  # branch, tag or commit
    docs_dir: str  # folder inside the repository; "" packs every markdown file

    @property
    def file_name(self) -> str:
        return f"{self.name}.jsonl.gz"


# Refs as in ../shared/data/corpus/SOURCE.md where the upstream folder has moved since: Terraform's
# own docs left hashicorp/terraform for web-unified-docs after this commit.
DEFAULT_REPOS: dict[str, RepoSpec] = {
    spec.name: spec for spec in (
        RepoSpec("terraform-provider-aws-docs", "terraform-provider-aws",
                 "https://github.com/hashicorp/terraform-provider-aws.git", "main", "website/docs"),
        RepoSpec("terraform-docs", "terraform", "https://github.com/hashicorp/terraform.git",
                 "cfe0464bf814fbf9e53ac9d9248cd749925203c2", "website/docs"),
        RepoSpec("opa-docs", "opa", "https://github.com/open-policy-agent/opa.git", "main", "docs"),
    )
}


def parse_repo_arg(value: str) -> RepoSpec:
    """`NAME=URL[@REF][#DOCS_DIR]` → RepoSpec; a known NAME keeps its defaults for what is left out.

    The ref follows the last `@` unless that part holds a `:` (then the `@` belongs to an ssh URL such
    as `git@github.com:org/repo.git`).
    """
    name, sep, rest = value.partition("=")
    name = name.strip()
    if not sep or not name or not rest.strip():
        raise ConfigError("--repo wants NAME=URL@REF (e.g. opa-docs=https://github.com/open-policy-agent/"
                          f"opa.git@main), got {value!r}.")
    if "/" in name or "\\" in name or name.startswith("."):
        raise ConfigError(f"--repo name {name!r} must be a plain file name (it becomes NAME.jsonl.gz).")
    rest, _, docs_dir = rest.strip().partition("#")
    url, ref = rest, None
    if "@" in rest:
        head, tail = rest.rsplit("@", 1)
        if tail and ":" not in tail:
            url, ref = head, tail
    known = DEFAULT_REPOS.get(name)
    return RepoSpec(name=name, source=known.source if known else name.removesuffix("-docs"), url=url,
                    ref=ref or (known.ref if known else "HEAD"),
                    docs_dir=(docs_dir if docs_dir else (known.docs_dir if known else "")).strip("/"))


def _git(args: Sequence[str], cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}  # never hang on a password
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S)
    except FileNotFoundError as exc:
        raise DataError("git is not installed; it is needed to fetch the docs.") from exc
    except subprocess.TimeoutExpired as exc:
        raise DataError(f"git {' '.join(args[:2])} took longer than {GIT_TIMEOUT_S} s; check the network.") from exc
    if done.returncode != 0:
        tail = [ln for ln in (done.stderr or done.stdout).strip().splitlines() if ln.strip()][-2:]
        raise DataError(f"git {' '.join(args)} failed: {' '.join(tail) or f'exit code {done.returncode}'}")
    return done.stdout


def checkout_docs(spec: RepoSpec, workdir: Path) -> Path:
    """Shallow (depth 1), sparse (docs folder only) checkout of `spec.ref` into `workdir`; returns it.

    `git init` + `fetch <ref>` rather than `clone --branch`, because only the former accepts a commit id.
    Cone-mode sparse checkout also keeps the repository's top-level files (README and the like): a few
    kilobytes, and `pack_docs` only reads the docs folder.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    _git(["init", "-q"], cwd=workdir)
    _git(["remote", "add", "origin", spec.url], cwd=workdir)
    if spec.docs_dir:
        _git(["sparse-checkout", "set", spec.docs_dir], cwd=workdir)
    _git(["-c", "protocol.version=2", "fetch", "-q", "--depth", "1", "--filter=blob:none", "origin", spec.ref],
         cwd=workdir)
    _git(["checkout", "-q", "FETCH_HEAD"], cwd=workdir)
    return workdir


def pack_docs(checkout: Path, spec: RepoSpec, out_file: Path) -> int:
    """Write every markdown file under the docs folder as one JSON record; returns the record count."""
    root = checkout / spec.docs_dir if spec.docs_dir else checkout
    if not root.is_dir():
        raise DataError(f"{spec.url}@{spec.ref} has no folder {spec.docs_dir!r}.")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in MARKDOWN_SUFFIXES and p.is_file()
                   and ".git" not in p.relative_to(checkout).parts)
    if not files:
        raise DataError(f"No markdown files in {spec.docs_dir or 'the repository'} of {spec.url}@{spec.ref}.")
    tmp = out_file.with_name(out_file.name + ".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        for path in files:
            record = {"source": spec.source, "path": path.relative_to(checkout).as_posix(),
                      "text": path.read_text(encoding="utf-8", errors="replace")}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(out_file)
    return len(files)


def fetch_docs(specs: Sequence[RepoSpec], out_dir: str | Path, force: bool = False,
               progress: Progress | None = None) -> list[dict]:
    """Fetch and pack each repository's docs into `out_dir`; files already there are kept unless `force`.

    Returns one summary per repository: name, file, docs (records written, or None when skipped),
    seconds and status ("fetched" or "skipped").
    """
    progress = progress or (lambda fraction, message: None)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"Cannot create the docs folder {out}: {exc}") from exc
    if not os.access(out, os.W_OK):
        raise DataError(f"The docs folder {out} is not writable; pass --out DIR.")
    results = []
    for k, spec in enumerate(specs):
        target = out / spec.file_name
        if target.exists() and not force:
            progress((k + 1) / len(specs), f"{spec.file_name} exists, kept (use --force to fetch again)")
            results.append({"name": spec.name, "file": str(target), "docs": None, "seconds": 0.0,
                            "status": "skipped"})
            continue
        progress(k / len(specs), f"Fetching {spec.docs_dir or 'docs'} of {spec.url}@{spec.ref}")
        started = time.perf_counter()
        workdir = Path(tempfile.mkdtemp(prefix=f"iacdemo-fetch-{spec.name}-"))
        try:
            checkout_docs(spec, workdir)
            n = pack_docs(workdir, spec, target)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        results.append({"name": spec.name, "file": str(target), "docs": n,
                        "seconds": round(time.perf_counter() - started, 2), "status": "fetched"})
        progress((k + 1) / len(specs), f"{spec.file_name}: {n:,} docs")
    return results


def resolve_specs(repo_args: Sequence[str] | None = None) -> list[RepoSpec]:
    """The repositories to fetch: the three defaults, or exactly those given as `NAME=URL@REF`."""
    if not repo_args:
        return list(DEFAULT_REPOS.values())
    specs = {}
    for value in repo_args:
        spec = parse_repo_arg(value)
        specs[spec.name] = spec
    return list(specs.values())
