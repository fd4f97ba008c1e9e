"""The numbers that tell the story of continued pre-training: pure functions of answers and pages.

*learned*: does the model now know the slice's resource types (right type, real arguments, required
ones present)? *kept*: does it still answer requests with code that parses and plans, and general
questions in prose? *drift*: does the docs' voice (`-> **Note:**`, "The following arguments are
supported") leak into chat answers? Generating the answers is the pipeline's job; scoring them is here,
so every number can be tested on hand-written answers.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from iacdemo.hcl.check import check_hcl
from iacdemo.hcl.extract import first_code_block
from iacdemo.hcl.parse import BLOCK_MARKER, HCLParseError, parse_hcl
from iacdemo.terraform.schema_model import META_BLOCKS_NOT_CHECKED, RESOURCE

# The docs' voice, as the original experiment saw it leak into the tuned model's chat answers.
DOCS_ARTEFACTS: dict[str, re.Pattern] = {
    "note_callout": re.compile(r"^\s*(?:->|~>|!>)\s*\*\*(?:Note|NOTE|Warning|WARNING)", re.M),
    "warning_arrow": re.compile(r"^\s*~>", re.M),
    "argument_reference": re.compile(r"^#+\s*Argument(?:s)? Reference", re.M | re.I),
    "arguments_supported": re.compile(r"The following arguments? (?:are|is) supported", re.I),
}

DEFAULT_CHAT_REQUESTS = (
    "Write Terraform code for an S3 bucket with versioning enabled.",
    "Create a DynamoDB table with a string hash key named id, using Terraform.",
    "Write Terraform HCL for an AWS VPC with one public subnet.",
    "Create an IAM role that EC2 instances can assume, in Terraform.",
    "Write a Terraform configuration for an SQS queue with a dead-letter queue.",
    "Create an SNS topic with an email subscription in Terraform.",
    "Write Terraform for a security group that allows inbound HTTPS from anywhere.",
    "Create a CloudWatch log group that keeps logs for 14 days, using Terraform.",
)

DEFAULT_GENERAL_PROMPTS = (
    "What is the capital of France? Answer in one sentence.",
    "Explain in two sentences why the sky is blue.",
    "Give me three tips for writing a clear email.",
    "What is the difference between a list and a tuple in Python?",
    "Summarise the plot of Romeo and Juliet in two sentences.",
    "How many minutes are there in a day? Explain briefly.",
)

_TERRAFORM_FENCE = re.compile(r"```[ \t]*(?:hcl|terraform|tf)\b", re.I)
_HCL_LIKE = re.compile(r'^\s*(?:resource|data|provider|module|variable|terraform)\s+("[^"]*"\s*)*\{', re.M)


def rate(flags: Iterable[bool]) -> float | None:
    flags = list(flags)
    return round(sum(bool(f) for f in flags) / len(flags), 4) if flags else None


def mean(values: Iterable[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def geometric_mean(values: Iterable[float]) -> float | None:
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    return round(math.exp(sum(math.log(v) for v in values) / len(values)), 4) if values else None


# -- drift -----------------------------------------------------------------------------------------------
def docs_artefacts(text: str) -> list[str]:
    """Names of the docs artefacts found in an answer (empty: it reads like a chat answer)."""
    return [name for name, pattern in DOCS_ARTEFACTS.items() if pattern.search(text or "")]


def drift(texts: Sequence[str]) -> dict:
    """Share of answers with any docs artefact, and per artefact."""
    found = [docs_artefacts(t) for t in texts]
    out = {"answers": len(texts), "artefact_rate": rate(bool(f) for f in found)}
    for name in DOCS_ARTEFACTS:
        out[name] = rate(name in f for f in found)
    return out


# -- kept ------------------------------------------------------------------------------------------------
@dataclass
class CodeScore:
    has_code_block: bool
    parses: bool
    plannable: bool

    def to_dict(self) -> dict:
        return {"has_code_block": self.has_code_block, "parses": self.parses, "plannable": self.plannable}


def score_code_answer(answer: str, schema) -> CodeScore:
    """IaC-Eval's view of a chat answer: its first fenced block, parsed and statically planned."""
    code = first_code_block(answer) or ""
    if not code.strip():
        return CodeScore(False, False, False)
    check = check_hcl(code, schema)
    return CodeScore(True, check.parses, check.plannable)


def code_rates(answers: Sequence[str], schema) -> dict:
    scores = [score_code_answer(a, schema) for a in answers]
    return {"answers": len(answers), "code_block_rate": rate(s.has_code_block for s in scores),
            "parse_rate": rate(s.parses for s in scores), "plannable_rate": rate(s.plannable for s in scores)}


def is_prose(text: str) -> bool:
    """A general question answered as a person would: words, no Terraform, no docs voice.

    A Python example in an answer about Python is still an answer to the question; Terraform (a fenced
    hcl/terraform block or HCL-looking lines) or the docs' voice in reply to a general question is not.
    """
    text = (text or "").strip()
    if len(re.findall(r"[A-Za-z]{2,}", text)) < 4:
        return False
    return not _TERRAFORM_FENCE.search(text) and not _HCL_LIKE.search(text) and not docs_artefacts(text)


def prose_rate(answers: Sequence[str]) -> float | None:
    return rate(is_prose(a) for a in answers)


# -- learned ---------------------------------------------------------------------------------------------
@dataclass
class TypeScore:
    """One answer asked to use `type_name`: did it, with real arguments, with the required ones?"""

    right_type: bool
    arguments: int  # top-level arguments written in the type's blocks
    known_arguments: int  # of which the provider schema documents
    required_present: bool | None  # None when the type is not used (nothing to judge)

    @property
    def known_share(self) -> float | None:
        return round(self.known_arguments / self.arguments, 4) if self.arguments else None

    def to_dict(self) -> dict:
        return {"right_type": self.right_type, "arguments": self.arguments, "known_arguments": self.known_arguments,
                "known_share": self.known_share, "required_present": self.required_present}


def _resource_bodies(tree: dict, type_name: str) -> list[dict]:
    bodies = []
    for entry in tree.get("resource") or []:
        if isinstance(entry, dict) and isinstance(entry.get(type_name), dict):
            bodies += [b for b in entry[type_name].values() if isinstance(b, dict) and b.get(BLOCK_MARKER)]
    return bodies


def score_type_answer(code: str, type_name: str, schema) -> TypeScore:
    """Judge code written for `type_name` against the provider docs (top-level arguments only)."""
    type_schema = schema.get(type_name, RESOURCE)
    try:
        tree = parse_hcl(code, explicit_blocks=True) if code and code.strip() else {}
    except HCLParseError:
        tree = {}
    bodies = _resource_bodies(tree, type_name)
    if not bodies or type_schema is None:
        return TypeScore(bool(bodies), 0, 0, None)
    arguments = known = 0
    required_ok = True
    for body in bodies:
        names = {k for k in body if not k.startswith("__")}
        if "dynamic" in names:
            names.discard("dynamic")
        checked = [n for n in names if n not in META_BLOCKS_NOT_CHECKED]
        arguments += len(checked)
        known += sum(type_schema.is_known(n) for n in checked)
        required_ok &= all(r in names for r in type_schema.required())
    return TypeScore(True, arguments, known, required_ok)


def type_rates(scores: Sequence[TypeScore]) -> dict:
    """Averages over probes: right-type rate, mean known-argument share, required-present rate."""
    used = [s for s in scores if s.right_type]
    return {"probes": len(scores), "right_type_rate": rate(s.right_type for s in scores),
            "known_argument_share": mean(s.known_share for s in used),
            "required_present_rate": rate(s.required_present for s in used if s.required_present is not None)}


def answer_code(answer: str) -> str:
    """The code of a chat answer as IaC-Eval takes it: the first fenced block ('' when none)."""
    return first_code_block(answer) or ""


def probe_code(prefix_fence: str, continuation: str) -> str:
    """The code of a docs-style probe: the prompt opened a fence, the model continued inside it."""
    return first_code_block(prefix_fence + continuation + ("" if "```" in continuation else "\n```")) or ""
