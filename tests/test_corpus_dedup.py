"""Duplicate removal: exact and near-duplicate segments, and site banners pasted on every page."""
from __future__ import annotations

import pytest

from iacdemo.corpus.clean import clean_blocks
from iacdemo.corpus.dedup import drop_boilerplate, duplicate_mask, minhash_signatures
from iacdemo.corpus.sources import iter_docs


@pytest.fixture(scope="module")
def page_texts(settings):
    """Cleaned text of 40 real AWS resource pages: realistic, mostly distinct documents."""
    docs = [d for d in iter_docs([settings.corpus_dir]) if d.path.startswith("website/docs/r/")][:40]
    return ["\n\n".join(b.text for b in clean_blocks(d.text)) for d in docs]


def test_distinct_pages_are_all_kept(page_texts):
    keep, exact, near = duplicate_mask(page_texts)
    assert keep.all() and exact == near == 0


def test_exact_and_near_duplicates_are_dropped(page_texts):
    base = page_texts[:10]
    exact_copy = "  " + base[3].upper().replace("\n", " \n ")  # same words: case and spacing differ
    words = base[5].split()
    words[len(words) // 2] = "CHANGED"  # one word of a long page edited: a near duplicate
    near_copy = " ".join(words)
    texts = base + [exact_copy, near_copy]
    keep, exact, near = duplicate_mask(texts)
    assert keep.tolist() == [True] * 10 + [False, False]
    assert (exact, near) == (1, 1)


def test_first_occurrence_wins_and_signatures_are_stable(page_texts):
    texts = [page_texts[7], page_texts[0], page_texts[7]]
    assert duplicate_mask(texts)[0].tolist() == [True, True, False]
    words = [t.lower().split() for t in page_texts[:5]]
    assert (minhash_signatures(words) == minhash_signatures(words)).all()
    short = minhash_signatures([["a"], [], ["a", "b"]])  # texts shorter than a shingle still hash
    assert short.shape == (3, minhash_signatures(words).shape[1])


def test_banner_on_every_terraform_page_is_dropped(settings):
    docs = [d for d in iter_docs([settings.corpus_dir]) if d.source == "terraform"][:60]
    cleaned = drop_boilerplate([(d.source, clean_blocks(d.text)) for d in docs])
    texts = ["\n\n".join(b.text for b in blocks) for blocks in cleaned]
    before = sum("Documentation Update" in "\n".join(b.text for b in clean_blocks(d.text)) for d in docs)
    assert before == len(docs)
    assert not any("Documentation Update" in t for t in texts)
    # real structure repeated on many pages is not boilerplate
    aws = [d for d in iter_docs([settings.corpus_dir]) if d.path.startswith("website/docs/r/")][:60]
    kept = drop_boilerplate([(d.source, clean_blocks(d.text)) for d in aws])
    assert sum("This resource supports the following arguments:" in b.text for bl in kept for b in bl) > 20
