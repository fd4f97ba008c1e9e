"""Repair as a Compare mode: every pane's answer repaired from its own conversation, each round shown.

A real (tiny) model generates the repair turns and the real static checks (provider schema) diagnose them.
"""
from __future__ import annotations

import pytest

from iacdemo.errors import ConfigError
from iacdemo.experiment import compare_repair
from iacdemo.experiment.compare_repair import NOTHING_TO_REPAIR, last_turns, repair_panes, rounds_markdown
from iacdemo.experiment.repair import NO_CODE_MESSAGE, static_diagnostics
from iacdemo.generation.side_by_side import Column, GenSettings, generate_side_by_side

BROKEN = 'Here:\n\n```hcl\nresource "aws_dynamodb_contributor_insight" "x" {\n  table_name = "t"\n}\n```\n'
GOOD = 'Here:\n\n```hcl\nresource "aws_dynamodb_contributor_insights" "x" {\n  table_name = "t"\n}\n```\n'
GEN = GenSettings(temperature=0.0, max_new_tokens=6, seed=1)


def _history(request: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": request}, {"role": "assistant", "content": answer}]


def test_each_pane_is_repaired_from_its_own_conversation_with_its_own_column(tiny_session, schema, settings,
                                                                               monkeypatch):
    columns = [Column("Base model", None), Column("Base + retrieved docs", None, rag=True)]
    histories = [_history("Make a contributor insights resource.", BROKEN),
                 _history("Make a contributor insights resource.", "I cannot write code.")]
    calls = []

    def spy(session, cols, prompt, gen, **kwargs):
        calls.append((cols[0].label, kwargs["histories"][0], prompt))
        return generate_side_by_side(session, cols, prompt, gen, **kwargs)

    monkeypatch.setattr(compare_repair, "generate_side_by_side", spy)
    panes = repair_panes(tiny_session, columns, histories, GEN, diagnose=static_diagnostics(schema), rounds=2,
                         system_prompt="sys", settings=settings)

    assert [p[0].answer for p in panes] == [BROKEN, "I cannot write code."]
    assert "aws_dynamodb_contributor_insights" in " ".join(panes[0][0].diagnostics)  # the checks' suggestion
    assert panes[1][0].diagnostics == [NO_CODE_MESSAGE]
    # A tiny random model never writes clean code: both panes use both rounds, one generation per pane each.
    assert [len(p) for p in panes] == [3, 3]
    assert len(calls) == 4
    for label, history, prompt in calls:
        pane = [c.label for c in columns].index(label)
        assert history[:2] == histories[pane]  # the pane's own request and answer, not the other pane's
        assert prompt.startswith("Checking your Terraform program found these problems:")
    # Round 2 of a pane follows that pane's round-1 answer.
    second = [h for label, h, _ in calls if label == "Base model"][1]
    assert second[3] == {"role": "assistant", "content": panes[0][1].answer}
    # The same answer as generating that pane's repair turn alone: the pane's column was used.
    alone = generate_side_by_side(tiny_session, [columns[1]], calls[-1][2], GEN, histories=[calls[-1][1]],
                                  system_prompt="sys", settings=settings)[0]
    assert panes[1][2].answer == alone


def test_a_clean_answer_is_not_repaired(tiny_session, schema, settings, monkeypatch):
    monkeypatch.setattr(compare_repair, "generate_side_by_side",
                        lambda *a, **k: pytest.fail("a clean answer must not be sent back"))
    panes = repair_panes(tiny_session, [Column("Base model")], [_history("q", GOOD)], GEN,
                         diagnose=static_diagnostics(schema), rounds=2, settings=settings)
    assert len(panes[0]) == 1 and panes[0][0].diagnostics == []
    assert "clean at once" in rounds_markdown(["Base model"], panes, 2)


def test_the_pane_shows_every_round_with_its_problems(tiny_session, schema, settings):
    panes = repair_panes(tiny_session, [Column("Base model")], [_history("q", BROKEN)], GEN,
                         diagnose=static_diagnostics(schema), rounds=1, settings=settings)
    text = rounds_markdown(["Base model"], panes, 1)
    assert "### Base model: " in text and "left after 1 repair round(s)" in text
    assert "**Round 0 (first answer)**" in text and "**Round 1 (repair 1)**" in text
    assert 'resource "aws_dynamodb_contributor_insight" "x"' in text  # round 0's code
    assert "did you mean `aws_dynamodb_contributor_insights`?" in text


@pytest.mark.parametrize("histories", [[], [[]], [[{"role": "user", "content": "q"}]]])
def test_nothing_to_repair_before_a_request_is_a_clear_message(histories):
    with pytest.raises(ConfigError, match=NOTHING_TO_REPAIR):
        last_turns(histories)


def test_panes_and_histories_must_match(tiny_session, schema, settings):
    with pytest.raises(ConfigError, match="send the request again"):
        repair_panes(tiny_session, [Column("Base model"), Column("Other")], [_history("q", BROKEN)], GEN,
                     diagnose=static_diagnostics(schema), settings=settings)


@pytest.fixture(scope="module")
def tiny_session(tiny_model_dir):
    from iacdemo.generation.session import ModelSession

    return ModelSession.load(str(tiny_model_dir))
