"""Loading IaC-Eval task files: the real dev split, and clear errors for files that are not one."""
from __future__ import annotations

import csv

import pytest

from iacdemo.errors import DataError
from iacdemo.evaluation.tasks import COLUMNS, load_tasks, select_tasks


def test_dev_split_loads(settings):
    tasks = load_tasks(settings=settings)
    assert len(tasks) == 344
    assert {t.difficulty for t in tasks} == {1, 2, 3, 4, 5, 6}
    assert all(t.prompt and t.policy.strip() and t.reference.strip() for t in tasks)
    assert [t.id for t in tasks] == list(range(344))
    assert all("package " in t.policy for t in tasks)


def test_select_by_difficulty_and_limit(settings):
    tasks = load_tasks(settings=settings)
    easy = select_tasks(tasks, [1, 2], limit=10)
    assert len(easy) == 10 and all(t.difficulty in (1, 2) for t in easy)
    assert select_tasks(tasks, None, None) == tasks


def _write(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "tasks.csv"
    _write(path, ["Resource", "Prompt", "Difficulty"], [["aws_vpc", "make a vpc", "1"]])
    with pytest.raises(DataError, match="Rego intent"):
        load_tasks(path)


def test_bad_rows_and_files(tmp_path):
    header = list(COLUMNS.values())
    path = tmp_path / "tasks.csv"
    _write(path, header, [["aws_vpc", "make a vpc", "package p", "hard", "resource ...", ""]])
    with pytest.raises(DataError, match="Difficulty 'hard'"):
        load_tasks(path)
    _write(path, header, [])
    with pytest.raises(DataError, match="no tasks"):
        load_tasks(path)
    with pytest.raises(DataError, match="not found"):
        load_tasks(tmp_path / "missing.csv")
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError):
        load_tasks(path)
