"""The report's verdicts on the original's three findings: a verdict must follow the numbers, not flatter them."""
from __future__ import annotations

from iacdemo.experiment.report import PARTLY, _verdict, findings

BASE = {"ppl_trained": 11.0, "probe_right_type": 0.0, "code_block_rate": 1.0, "prose_rate": 1.0,
        "drift_rate": 0.0, "forgetting_ratio": 1.0}


def _verdicts(tuned: dict) -> list:
    return [f["reproduced"] for f in findings({"base": BASE, "tuned": {**BASE, **tuned}})]


def test_all_three_reproduced_when_every_number_moves_the_original_way():
    assert _verdicts({"ppl_trained": 3.0, "probe_right_type": 0.5, "probe_known_args": 0.4, "code_block_rate": 0.5,
                      "drift_rate": 0.25}) == [True, True, True]


def test_never_writing_the_type_is_not_learning_it():
    # 0 -> 0 right types: only the perplexity moved, so "learned the types" is at most partly true.
    assert _verdicts({"ppl_trained": 3.0, "probe_right_type": 0.0, "probe_known_args": 0.5})[0] == PARTLY
    assert _verdicts({"ppl_trained": 12.0, "probe_right_type": 0.0})[0] is False


def test_a_perplexity_rise_alone_is_only_part_of_losing_chat_ability():
    assert _verdicts({"forgetting_ratio": 1.05})[1] == PARTLY
    assert _verdicts({"forgetting_ratio": 0.99})[1] is False
    assert _verdicts({"prose_rate": 0.5})[1] is True


def test_verdict_words():
    assert _verdict(PARTLY) == "**partly reproduced**"
    assert _verdict(True) == "**reproduced**" and _verdict(False) == "**not reproduced**"
    assert _verdict(None) == "not measurable"


def test_a_python_example_in_a_python_answer_is_still_prose():
    from iacdemo.experiment.measures import is_prose

    python = ("Lists are mutable and tuples are not. For example:\n\n```python\nitems = [1, 2]\nitems.append(3)\n```\n")
    assert is_prose(python)  # the tuned SmolLM2's answer to the list/tuple question looked like this
    assert not is_prose("Here is how:\n\n```hcl\nlocals { a = 1 }\n```\n")
    assert not is_prose("Here it is:\n\n```\nresource \"aws_s3_bucket\" \"b\" {\n}\n```\n")
