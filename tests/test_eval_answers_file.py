"""`python -m train.evaluate --answers FILE.jsonl`: answers made elsewhere, scored in static mode here."""
from __future__ import annotations

import json

import pytest


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_answers_file_is_scored_by_row_number_or_by_row(tmp_path, tasks, settings):
    from train.evaluate import main

    row = {"Resource": tasks[1].resource, "Prompt": tasks[1].prompt, "Rego intent": tasks[1].policy,
           "Difficulty": tasks[1].difficulty, "Reference output": tasks[1].reference, "Intent": tasks[1].intent}
    answers = _write(tmp_path / "a.jsonl", [
        json.dumps({"task": 0, "answer": f"Here:\n```hcl\n{tasks[0].reference}\n```"}),
        json.dumps({"task": row, "answer": f"```terraform\n{tasks[1].reference}\n```"}),
        json.dumps({"task": 2, "answer": "I cannot write Terraform."}),
    ])
    out = tmp_path / "r.json"
    assert main(["--tasks", str(settings.iac_eval_csv), "--answers", str(answers), "--mode", "static",
                 "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["mode"] == "static" and report["samples"] == 3
    verdicts = [(r["task_id"], r["has_code"]) for r in report["results"]]
    assert verdicts[0] == (0, True) and verdicts[2] == (2, False)
    assert report["results"][2]["cause"] == "no code"
    assert report["passed"] == sum(r["passed"] for r in report["results"]) >= 1


@pytest.mark.parametrize("lines, message", [
    (["{not json"], "line 1: not JSON"),
    (['{"answer": "x"}'], 'line 1: expected {"task": ROW, "answer": TEXT}'),
    (['{"task": 0, "answer": "x"}', '{"task": 99999, "answer": "x"}'], "line 2: task 99999 is not a row"),
    (['{"task": {"Prompt": "p"}, "answer": "x"}'], "line 1: the task has no 'Rego intent' policy"),
    (['{"task": "zero", "answer": "x"}'], "line 1: task must be a row number or a task row"),
    ([""], "holds no answers"),
])
def test_bad_answers_files_name_the_line(tmp_path, settings, capsys, lines, message):
    from train.evaluate import main

    answers = _write(tmp_path / "bad.jsonl", lines)
    assert main(["--tasks", str(settings.iac_eval_csv), "--answers", str(answers),
                 "--out", str(tmp_path / "r.json")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_a_missing_answers_file_is_a_clear_error(tmp_path, capsys):
    from train.evaluate import main

    assert main(["--answers", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "r.json")]) == 2
    assert "Answers file not found" in capsys.readouterr().err
