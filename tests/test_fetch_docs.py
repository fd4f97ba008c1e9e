"""`python -m train.fetch_docs` against a local git repository (file:// URL): shallow, sparse, packed."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

from iacdemo.corpus.fetch import DEFAULT_REPOS, RepoSpec, checkout_docs, parse_repo_arg
from iacdemo.corpus.sources import iter_docs
from iacdemo.errors import ConfigError
from iacdemo.settings import REPO_ROOT

GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"]
PAGE = ('---\nsubcategory: "Demo"\n---\n\n# Resource: aws_demo_thing\n\n~> **Note:** v{n}\n\n'
        '```terraform\nresource "aws_demo_thing" "x" {{\n  name = "v{n}"\n}}\n```\n')


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """A provider-like repository with two commits, docs under website/docs and code elsewhere."""
    repo = tmp_path_factory.mktemp("upstream")
    subprocess.run([*GIT, "init", "-q"], cwd=repo, check=True)
    (repo / "website" / "docs" / "r").mkdir(parents=True)
    (repo / "website" / "docs" / "cdktf" / "python" / "r").mkdir(parents=True)
    (repo / "internal").mkdir()
    (repo / "internal" / "service.go").write_text("package internal\n")
    (repo / "README.md").write_text("# not docs\n")
    (repo / "website" / "docs" / "cdktf" / "python" / "r" / "demo_thing.html.markdown").write_text("# cdktf\n")
    for n in (1, 2):
        (repo / "website" / "docs" / "r" / "demo_thing.html.markdown").write_text(PAGE.format(n=n))
        (repo / "website" / "docs" / "index.html.markdown").write_text(f"# Provider v{n}\n")
        subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
        subprocess.run([*GIT, "commit", "-qm", f"v{n}"], cwd=repo, check=True)
    subprocess.run([*GIT, "tag", "v1", "HEAD~1"], cwd=repo, check=True)
    return repo


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "train.fetch_docs", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_fetches_and_packs_like_the_shipped_files(upstream, tmp_path):
    out = tmp_path / "corpus"
    done = _run("--out", str(out), "--repo", f"terraform-provider-aws-docs=file://{upstream}@main")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["repos"][0]["docs"] == 3 and summary["repos"][0]["status"] == "fetched"
    packed = out / "terraform-provider-aws-docs.jsonl.gz"
    with gzip.open(packed, "rt") as fh:
        records = [json.loads(line) for line in fh]
    assert {r["path"] for r in records} == {"website/docs/index.html.markdown",
                                            "website/docs/r/demo_thing.html.markdown",
                                            "website/docs/cdktf/python/r/demo_thing.html.markdown"}
    assert {r["source"] for r in records} == {"terraform-provider-aws"}
    # the packed file reads like the shipped ones: cdktf skipped by default, front matter parsed
    docs = {d.path: d for d in iter_docs([out])}
    assert len(docs) == 2 and docs["website/docs/r/demo_thing.html.markdown"].subcategory == "Demo"
    assert 'name = "v2"' in docs["website/docs/r/demo_thing.html.markdown"].text

    again = _run("--out", str(out), "--repo", f"terraform-provider-aws-docs=file://{upstream}@v1")
    assert json.loads(again.stdout.strip().splitlines()[-1])["repos"][0]["status"] == "skipped"
    forced = _run("--out", str(out), "--force", "--repo", f"terraform-provider-aws-docs=file://{upstream}@v1")
    assert forced.returncode == 0, forced.stderr
    assert 'name = "v1"' in {d.path: d for d in iter_docs([out])}["website/docs/r/demo_thing.html.markdown"].text


def test_checkout_is_shallow_and_sparse(upstream, tmp_path):
    spec = RepoSpec("x-docs", "x", f"file://{upstream}", "main", "website/docs")
    checkout = checkout_docs(spec, tmp_path / "co")
    assert (checkout / "website" / "docs" / "r" / "demo_thing.html.markdown").is_file()
    assert not (checkout / "internal").exists()  # (cone mode keeps top-level files such as README.md)
    commits = subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=checkout, capture_output=True,
                             text=True, check=True).stdout.strip()
    assert commits == "1"


def test_repo_argument_parsing():
    spec = parse_repo_arg("opa-docs=https://github.com/open-policy-agent/opa.git@v1.8.0")
    assert (spec.url, spec.ref, spec.docs_dir, spec.source) == (
        "https://github.com/open-policy-agent/opa.git", "v1.8.0", "docs", "opa")
    ssh = parse_repo_arg("mine-docs=git@github.com:me/docs.git#site/content")
    assert (ssh.url, ssh.ref, ssh.docs_dir, ssh.source, ssh.file_name) == (
        "git@github.com:me/docs.git", "HEAD", "site/content", "mine", "mine-docs.jsonl.gz")
    assert DEFAULT_REPOS["terraform-docs"].docs_dir == "website/docs"
    for bad in ("no-equals-sign", "=url", "../evil=file:///x@main"):
        with pytest.raises(ConfigError):
            parse_repo_arg(bad)


def test_errors_exit_2(tmp_path):
    done = _run("--out", str(tmp_path / "o"), "--repo", f"x=file://{tmp_path / 'not-a-repo'}@main")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: git")
    done = _run("--repo", "missing-url=")
    assert done.returncode == 2 and "NAME=URL@REF" in done.stderr
