"""IaC-Eval's own prompt format, so our pass rates compare with the paper's.

Texts follow the official harness (github.com/autoiac-project/iac-eval, evaluation/prompt-templates/
system-prompt.txt and prompt_templates.RAG_prompt).
"""
from __future__ import annotations

IACEVAL_SYSTEM_PROMPT = (
    "You are TerraformAI, an AI agent that builds and deploys Cloud Infrastructure written in Terraform HCL. "
    "Generate a description of the Terraform program you will define, followed by a single Terraform HCL "
    "program in response to each of my Instructions. Make sure the configuration is deployable. Create IAM "
    "roles as needed. If variables are used, make sure default values are supplied. Be sure to include a "
    "valid provider configuration within a valid region. Make sure there are no undeclared resources "
    "(e.g., as references) or variables, that is, all resources and variables needed in the configuration "
    "should be fully specified. "
)

_RAG_TEMPLATE = """
Here is some additional knowledge/context retrieved from Terraform documentation, that may (or may not) potentially help you answer the question:
{}

Here is the actual prompt to answer:
{}
    """


def task_messages(prompt: str, context: str | None = None) -> list[dict[str, str]]:
    """Chat messages for one task; `context` (retrieved docs) switches to the official RAG prompt."""
    user = _RAG_TEMPLATE.format(context, prompt) if context else prompt
    return [{"role": "system", "content": IACEVAL_SYSTEM_PROMPT}, {"role": "user", "content": user}]
