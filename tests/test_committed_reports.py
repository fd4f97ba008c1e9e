"""The experiment results the README quotes are the committed reports' own numbers, not a hand copy that drifts."""
from __future__ import annotations

import re

import pytest

from iacdemo.settings import REPO_ROOT

REPORTS = sorted((REPO_ROOT / "docs" / "experiments").glob("*/report.md"))
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _headline(report_md: str) -> str:
    section = report_md.split("## Headline", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


@pytest.mark.parametrize("report", REPORTS, ids=[p.parent.name for p in REPORTS])
def test_a_report_the_readme_links_has_its_headline_table_there_verbatim(report):
    link = f"docs/experiments/{report.parent.name}/report.md"
    if f"({link})" not in README or "smoke" in report.parent.name:
        pytest.skip(f"{link}: not a headline of the README")
    table = _headline(report.read_text(encoding="utf-8"))
    assert table.count("\n") >= 3, table
    assert table in README, f"README's table for {link} differs from the report's headline"


def test_every_real_experiment_report_is_linked_from_the_readme():
    real = [p for p in REPORTS if "smoke" not in p.parent.name]
    assert real and all(f"(docs/experiments/{p.parent.name}/report.md)" in README for p in real)
    assert not re.search(r"qwen-coder-0\.5b[^\n]*no report yet", README)
