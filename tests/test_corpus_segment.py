"""Segmentation by the real tokenizer: hard limit, exact counts, cuts at headings/blocks/lines."""
from __future__ import annotations

from functools import partial

import pytest

from iacdemo.corpus.clean import CODE, clean_blocks
from iacdemo.corpus.segment import (layout_blocks, segment_document, settle_counts, token_offsets,
                                    word_offsets)
from iacdemo.corpus.sources import iter_docs


@pytest.fixture(scope="module")
def tokenizer(settings):
    from iacdemo.models import load_tokenizer

    return load_tokenizer(settings=settings)


@pytest.fixture(scope="module")
def pages(settings):
    """A mix of long AWS pages (big code blocks, long argument lists), MDX and OPA docs."""
    wanted = ("r/instance.html", "r/dynamodb_table.html", "r/wafv2_web_acl.html", "language/resources/syntax",
              "docs/docs/rest-api.md", "docs/docs/policy-language.md")
    return [d for d in iter_docs([settings.corpus_dir]) if any(w in d.path for w in wanted)]


def _segments(doc, tokenizer, seq_len):
    blocks = clean_blocks(doc.text)
    text, spans = layout_blocks(blocks)
    segs = segment_document(text, spans, token_offsets(tokenizer, [text])[0], seq_len)
    return blocks, text, segs


@pytest.mark.parametrize("seq_len", [64, 512])
def test_hard_limit_and_exact_counts(pages, tokenizer, seq_len):
    assert len(pages) == 6
    for doc in pages:
        _, text, segs = _segments(doc, tokenizer, seq_len)
        pieces = [text[s.start:s.end] for s in segs]
        settled = settle_counts(pieces, [s.n_tokens for s in segs], partial(token_offsets, tokenizer), seq_len)
        for parts in settled:
            for piece, n in parts:
                real = len(tokenizer(piece, add_special_tokens=False)["input_ids"])
                assert real == n <= seq_len, (doc.path, piece[:80])
        # nothing is lost or reordered (only whitespace at the cuts)
        joined = "".join(p for parts in settled for p, _ in parts)
        assert "".join(joined.split()) == "".join(text.split())


def test_cuts_prefer_headings_and_keep_code_blocks_whole(pages, tokenizer):
    doc = next(d for d in pages if d.path.endswith("r/dynamodb_table.html.markdown"))
    blocks, text, segs = _segments(doc, tokenizer, 512)
    pieces = [text[s.start:s.end] for s in segs]
    assert len(pieces) >= 3 and pieces[0].startswith("# Resource: aws_dynamodb_table")
    heading_starts = [0] + [i + 2 for i in range(len(text)) if text.startswith("\n\n#", i)] + [len(text)]
    for seg, piece in zip(segs, pieces):
        if not piece.startswith("#"):  # a cut away from a heading only inside a section too big for one segment
            section_start = max(h for h in heading_starts if h <= seg.start)
            section_end = min(h for h in heading_starts if h > seg.start)
            assert len(tokenizer(text[section_start:section_end])["input_ids"]) > 512
    for block in blocks:
        if block.kind == CODE and len(tokenizer(block.text)["input_ids"]) <= 512:
            assert any(block.text in p for p in pieces), block.text[:60]  # never split a code block that fits


def test_oversize_code_block_is_cut_between_lines(pages, tokenizer):
    doc = next(d for d in pages if d.path.endswith("r/wafv2_web_acl.html.markdown"))
    blocks, text, segs = _segments(doc, tokenizer, 64)
    big = max((b for b in blocks if b.kind == CODE), key=lambda b: len(b.text))
    assert all(len(tokenizer(line)["input_ids"]) <= 64 for line in big.text.splitlines())
    start = text.index(big.text)
    end = start + len(big.text)
    inside = [s for s in segs if s.start < end and s.end > start]
    assert len(inside) > 3  # too big for one segment ...
    for s in inside:  # ... so it is cut, but only between lines
        assert s.start == 0 or text[s.start - 1] == "\n"
        assert s.end == len(text) or text[s.end] == "\n"


def test_word_offsets_make_model_free_chunks():
    text = "# Title\n\none two three four\n\nfive six seven eight nine ten"
    offsets = word_offsets([text])[0]
    assert len(offsets) == 12 and text[offsets[2][0]:offsets[2][1]] == "one"
    _, spans = layout_blocks(clean_blocks(text))
    segs = segment_document(text, spans, offsets, 8)
    assert [s.n_tokens for s in segs] == [6, 6]
