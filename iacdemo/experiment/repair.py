"""Repair: the answer's diagnostics fed back to the same model for a few more turns.

The original experiment's "agents" next step, in its simplest form: one repair step took
Qwen2.5-Coder-3B from 61 to 76 of 458 IaC-Eval tasks in published work. Each round takes the
latest answer's code, asks a diagnostics source what is wrong with it, and when something is, sends
the messages back as a user turn ("fix these, reply with the whole program") and takes the new answer.

The diagnostics source is pluggable (`Diagnose`: code -> messages): the static checks of
`iacdemo.hcl.check` by default, plus Terraform's own errors where Terraform and its provider are
installed; a real `terraform validate` module can be passed in as another `Diagnose`.
The loop itself only needs a `generate(conversations) -> answers` function, so the experiment (batched,
cached), `train.evaluate --repair N` and the Compare tab can all drive it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

from iacdemo.hcl.check import CheckResult, check_hcl
from iacdemo.hcl.extract import first_code_block
from iacdemo.terraform.modes import REAL, STATIC
from iacdemo.terraform.real import get_runner

Diagnose = Callable[[str], list[str]]  # code (may be "") -> problems, empty when none found
Generate = Callable[[list[list[dict]]], list[str]]  # conversations -> the model's next answers
MAX_DIAGNOSTICS = 8  # a long list drowns a small model's context; the first few are enough to act on

NO_CODE_MESSAGE = "The answer has no ```hcl code block. Reply with the whole Terraform program in one ```hcl block."


def check_messages(check: CheckResult) -> list[str]:
    """What the static check found, as sentences a model (and a person) can act on."""
    if not check.has_code:
        return [NO_CODE_MESSAGE]
    if not check.parses:
        where = f" (line {check.parse_error_line})" if check.parse_error_line else ""
        return [f"The code does not parse{where}: {check.parse_error}"]
    messages = []
    for item in check.unknown_resource_types:
        hint = f"; did you mean `{item['suggestion']}`?" if item.get("suggestion") else "."
        messages.append(f"`{item['type']}` ({item['address']}) is not a {item['kind']} type of the AWS provider{hint}")
    for item in check.unknown_arguments:
        where = f" in block `{item['block_path']}`" if item.get("block_path") else ""
        hint = f"; did you mean `{item['suggestion']}`?" if item.get("suggestion") else "."
        messages.append(f"{item['address']}: argument `{item['argument']}`{where} is not supported{hint}")
    for item in check.missing_required:
        where = f" in block `{item['block_path']}`" if item.get("block_path") else ""
        messages.append(f"{item['address']}: the required argument `{item['argument']}`{where} is missing.")
    for item in check.broken_references:
        messages.append(f"`{item['reference']}` refers to a {item.get('kind', 'thing')} the program does not declare.")
    messages.extend(f"Malformed block: {text}." for text in check.malformed_blocks)
    return messages


def static_diagnostics(schema) -> Diagnose:
    """The docs-grounded static check (parse, types, arguments, required, references)."""
    return lambda code: check_messages(check_hcl(code or "", schema))


def terraform_plan_diagnostics(code: str) -> list[str]:
    """Terraform's own errors for the program (real mode: `terraform plan` in the sandbox of real.py)."""
    if not code.strip():
        return [NO_CODE_MESSAGE]
    result = get_runner().plan(code)
    if result.plannable:
        return []
    errors = [d.format() for d in result.diagnostics if d.severity == "error"]
    return errors or [f"terraform plan failed: {result.error.strip()[-800:]}"]


def default_diagnostics(schema, mode: str | None = None) -> Diagnose:
    """Static checks, then (in real mode, when they find nothing) Terraform's errors."""
    static = static_diagnostics(schema)
    if (mode or STATIC) != REAL:
        return static
    return combine(static, terraform_plan_diagnostics)


def combine(*sources: Diagnose) -> Diagnose:
    """The first source that finds problems speaks (cheap checks first, expensive ones only when clean)."""
    def diagnose(code: str) -> list[str]:
        for source in sources:
            found = source(code)
            if found:
                return found
        return []

    return diagnose


def repair_request(diagnostics: Sequence[str]) -> str:
    shown = list(diagnostics)[:MAX_DIAGNOSTICS]
    more = len(diagnostics) - len(shown)
    lines = "\n".join(f"- {d}" for d in shown) + (f"\n- ... and {more} more" if more > 0 else "")
    return ("Checking your Terraform program found these problems:\n" + lines +
            "\n\nFix them and reply with the complete corrected program in a single ```hcl code block.")


@dataclass
class RepairRound:
    answer: str
    diagnostics: list[str] = field(default_factory=list)  # problems found in this answer's code ([] = clean)

    def to_dict(self) -> dict:
        return asdict(self)


def repair(conversations: Sequence[list[dict]], first_answers: Sequence[str], *, generate: Generate,
           diagnose: Diagnose, rounds: int = 2) -> list[list[RepairRound]]:
    """Up to `rounds` repair turns per conversation; [round 0 (the first answer), round 1, ...] each.

    All conversations still needing repair go to `generate` together (one batch per round). A
    conversation stops as soon as its latest answer has no diagnostics; its final answer is the last
    round's, whatever it is (a repair that makes things worse counts as worse).
    """
    if len(conversations) != len(first_answers):
        raise ValueError("one first answer per conversation")
    history = [list(c) + [{"role": "assistant", "content": a}] for c, a in zip(conversations, first_answers)]
    out = [[RepairRound(a, diagnose(first_block(a)))] for a in first_answers]
    for _ in range(max(0, rounds)):
        todo = [i for i, r in enumerate(out) if r[-1].diagnostics]
        if not todo:
            break
        for i in todo:
            history[i].append({"role": "user", "content": repair_request(out[i][-1].diagnostics)})
        answers = generate([history[i] for i in todo])
        for i, answer in zip(todo, answers):
            history[i].append({"role": "assistant", "content": answer})
            out[i].append(RepairRound(answer, diagnose(first_block(answer))))
    return out


def first_block(answer: str) -> str:
    """The code as IaC-Eval takes it (first fenced block), '' when there is none."""
    return first_code_block(answer) or ""


def final_answer(rounds: Sequence[RepairRound]) -> str:
    return rounds[-1].answer
