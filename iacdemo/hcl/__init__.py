"""Terraform HCL: finding it in answers, parsing it, and checking it against the AWS provider schema
(which `iacdemo.terraform.schema` loads)."""
from iacdemo.hcl.check import CheckResult, check_answer, check_hcl, check_tree
from iacdemo.hcl.extract import CodeBlock, extract_code_blocks, extract_hcl, first_code_block
from iacdemo.hcl.highlight import highlight_css, highlight_hcl
from iacdemo.hcl.parse import HCLParseError, parse_hcl

__all__ = [
    "CheckResult", "check_answer", "check_hcl", "check_tree",
    "CodeBlock", "extract_code_blocks", "extract_hcl", "first_code_block",
    "highlight_css", "highlight_hcl",
    "HCLParseError", "parse_hcl",
]
