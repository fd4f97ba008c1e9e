"""Markdown cleaning: markup goes, HCL code, callouts and headings stay (synthetic edge cases + real pages)."""
from __future__ import annotations

import pytest

from iacdemo.corpus.clean import CODE, HEADING, TEXT, clean_blocks, clean_markdown
from iacdemo.corpus.sources import iter_docs


@pytest.fixture(scope="module")
def real_docs(settings):
    wanted = {"website/docs/r/dynamodb_table.html.markdown", "website/docs/language/resources/syntax.mdx",
              "docs/docs/policy-language.md", "website/docs/language/import/index.mdx"}
    return {d.path: d for d in iter_docs([settings.corpus_dir]) if d.path in wanted}


def test_front_matter_headings_and_callouts():
    text = ("---\nsubcategory: \"DynamoDB\"\nlayout: \"aws\"\n---\n\n# Resource: aws_x\n\n"
            "~> **Note:** Use `lifecycle` here.\n\n-> **Note** plain\n\n!> **Warning:** careful\n\n"
            "## `for_each` and _count_ {#anchor}\n")
    out = clean_markdown(text)
    assert "subcategory" not in out and "---" not in out
    assert out.splitlines()[0] == "# Resource: aws_x"
    assert "~> Note: Use lifecycle here." in out
    assert "-> Note plain" in out
    assert "!> Warning: careful" in out
    assert "## for_each and count" in out and "{#anchor}" not in out


def test_links_images_emphasis_and_identifiers():
    text = ("See [the `aws_lb` resource](/docs/r/lb.html) and [ref link][1] or <https://example.com/x>.\n"
            "![diagram](img/a.png) A **bold** and *it* and _e.g._ and __strong__ word.\n"
            "Keep snake_case_names, my_var_, a * b * c and 2*3*4, \\_literal\\_ too.\n\n"
            "[1]: https://example.com/ref\n")
    out = clean_markdown(text)
    assert "See the aws_lb resource and ref link or https://example.com/x." in out
    assert "diagram" not in out and "img/a.png" not in out and "](" not in out
    assert "A bold and it and e.g. and strong word." in out
    assert "snake_case_names, my_var_, a * b * c and 2*3*4, _literal_ too." in out
    assert "https://example.com/ref" not in out


def test_broken_markup_in_real_docs_is_contained():
    # a stray backtick must not swallow the next list item; a link missing its "[" still loses its URL
    text = ("* `a` - values `X`.`\n* `image` - see [Docker images](https://x.example/a_b) here.\n"
            "* Stop Protection](https://docs.aws.amazon.com/x.html#Using_Stop) is on.")
    assert clean_markdown(text) == "* a - values X.\n* image - see Docker images here.\n* Stop Protection is on."


def test_code_blocks_are_kept_verbatim():
    code = ('resource "aws_s3_bucket" "b" {\n  bucket = "my_bucket_name"\n  # **not** emphasis, _nor_ this\n'
            '  tags = { Link = "[x](y)" }\n}\n\nimport {\n  to = aws_s3_bucket.b\n  id = "<b>"\n}')
    text = f"Intro *text*.\n\n```terraform\n{code}\n```\n\n  ```hcl\n  variable \"v\" {{}}\n  ```\n"
    blocks = clean_blocks(text)
    assert [b.kind for b in blocks] == [TEXT, CODE, CODE]
    assert blocks[1].text == code
    assert blocks[2].text == 'variable "v" {}'  # the fence's own indent is removed, nothing else
    assert "```" not in clean_markdown(text)


def test_html_comments_mdx_and_jsx_are_dropped():
    text = ("import Tabs from '@theme/Tabs';\nexport const meta = {}\n\n<!-- a comment\nover lines -->\n"
            "Visible <EcosystemFeatureLink feature=\"x\">community\nmaterials</EcosystemFeatureLink> here.\n\n"
            "<RunSnippet\n  command=\"data.example\"\n/>\n\n<CodeBlockConfig hideClipboard>\n\n"
            "```hcl\nx = 1\n```\n\n</CodeBlockConfig>\n\nUse <PROVIDER> as a placeholder. A<br/>B\n")
    blocks = clean_blocks(text)
    out = clean_markdown(text)
    for gone in ("import Tabs", "export const", "a comment", "RunSnippet", "CodeBlockConfig", "Ecosystem"):
        assert gone not in out
    assert "Visible community\nmaterials here." in out
    assert "<PROVIDER>" in out  # ALL-CAPS placeholders are prose, not tags
    assert any(b.kind == CODE and b.text == "x = 1" for b in blocks)


def test_real_aws_page(real_docs):
    blocks = clean_blocks(real_docs["website/docs/r/dynamodb_table.html.markdown"].text)
    out = "\n\n".join(b.text for b in blocks)
    assert (blocks[0].kind, blocks[0].text) == (HEADING, "# Resource: aws_dynamodb_table")
    assert 'resource "aws_dynamodb_table" "basic-dynamodb-table" {' in out
    assert "~> Note: We recommend using lifecycle ignore_changes for read_capacity" in out
    assert "## Argument Reference" in out and "## Example Usage" in out
    assert "* hash_key - (Required, Forces new resource) Attribute to use as the hash" in out
    for gone in ("subcategory:", "page_title", "](", "```", "**", "`"):
        assert gone not in out


def test_real_mdx_and_opa_pages(real_docs):
    syntax = clean_markdown(real_docs["website/docs/language/resources/syntax.mdx"].text)
    assert 'resource "aws_instance" "web" {' in syntax
    assert "-> Note: Resource names must start with a letter or underscore" in syntax
    assert "Documentation Update" in syntax  # the banner goes later, in the builder (see test_corpus_dedup)
    imports = clean_markdown(real_docs["website/docs/language/import/index.mdx"].text)
    assert "import {" in imports  # HCL import blocks in code are not MDX imports
    rego = clean_markdown(real_docs["docs/docs/policy-language.md"].text)
    assert "package example\n\npi := 3.14159" in rego
    assert "RunSnippet" not in rego and "EcosystemFeatureLink" not in rego
