"""`python -m train.build_corpus` end to end on the DynamoDB slice, as a user runs it."""
from __future__ import annotations

import json
import subprocess
import sys

from iacdemo.settings import REPO_ROOT


def _run(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "train.build_corpus", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_builds_the_dynamodb_slice(settings, tmp_path):
    out = tmp_path / "dynamodb"
    done = _run("--source", str(settings.corpus_dir), "--out", str(out), "--service", "DynamoDB",
                "--seq-len", "256")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["sources"] == {"terraform-provider-aws": summary["rows"]}
    assert summary["docs"] == 11 and summary["seq_len"] == 256 and summary["seconds"] > 0
    assert 8_000 < summary["tokens"] < 14_000
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["rows"], stats["tokens"], stats["max_tokens"] <= 256) == (summary["rows"], summary["tokens"], True)
    assert "Tokenizing" in done.stderr  # progress goes to stderr, stdout stays machine-readable


def test_cli_help_documents_every_flag():
    done = _run("--help")
    assert done.returncode == 0
    for flag in ("--source", "--out", "--seq-len", "--model", "--service", "--source-name", "--path-pattern",
                 "--include-cdktf"):
        assert flag in done.stdout


def test_cli_errors_exit_2_without_traceback(settings, tmp_path, capsys):
    """The entry point as a process once (a process's own exit code and stderr), the other bad arguments
    through `main()` in this process: each process start re-imports the libraries for seconds."""
    from train.build_corpus import main

    def in_process(args: list[str]) -> tuple[int, str]:
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's own refusals
            code = exc.code
        return code, capsys.readouterr().err

    done = _run("--source", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    results = [(done.returncode, done.stderr)]
    for args in (["--source", str(settings.corpus_dir), "--out", str(tmp_path / "o"), "--service", "Nope"],
                 ["--source", str(settings.corpus_dir), "--out", str(tmp_path / "o"), "--seq-len", "2"]):
        results.append(in_process(args))
    for code, err in results:
        assert code == 2, err
        assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: ")
        assert not (tmp_path / "o").exists()
