"""Training data: packing vs padding, the chat-mix guard from real doc pages, splits and batch order."""
from __future__ import annotations

import pytest

from iacdemo.corpus.sources import iter_docs
from iacdemo.errors import DataError
from iacdemo.settings import SYSTEM_PROMPT
from iacdemo.training.chat_mix import chat_pair, chat_pairs, mix_in_chat, render_chat_example
from iacdemo.training.config import TrainConfig
from iacdemo.training.data import BatchOrder, build_training_data, load_rows, split_by_page
from iacdemo.training.packing import IGNORE, Example, collate, pack_examples, pad_examples, pad_fraction


@pytest.fixture(scope="module")
def tokenizer(settings):
    from iacdemo.models import load_tokenizer

    return load_tokenizer(settings=settings)


@pytest.fixture(scope="module")
def dynamodb_pages(settings):
    return [d for d in iter_docs([settings.corpus_dir]) if d.subcategory == "DynamoDB"]


@pytest.fixture(scope="module")
def dynamodb_dataset(settings, tmp_path_factory, tokenizer):
    from iacdemo.corpus.build import build_corpus

    out = tmp_path_factory.mktemp("data") / "dynamodb"
    build_corpus(None, out_dir=out, seq_len=512, services=["DynamoDB"], settings=settings, tokenizer=tokenizer)
    return out


def test_packing_fills_blocks_with_eos_between_docs():
    docs = [Example.plain([1] * 5), Example.plain([2] * 7), Example([3] * 6, [IGNORE] * 2 + [3] * 4)]
    blocks = pack_examples(docs, seq_len=8, eos_id=0)
    stream = [1] * 5 + [0] + [2] * 7 + [0] + [3] * 6 + [0]  # 21 tokens -> 2 full blocks, tail dropped
    assert [b.input_ids for b in blocks] == [stream[:8], stream[8:16]]
    assert blocks[1].labels == [2, 2, 2, 2, 2, 0, IGNORE, IGNORE]
    assert pad_fraction(blocks, 8) == 0.0
    # a dataset smaller than one block still yields one (short) block
    assert [b.input_ids for b in pack_examples([Example.plain([5, 6])], 8, 0)] == [[5, 6, 0]]


def test_padding_splits_long_docs_and_masks_pads():
    blocks = pad_examples([Example.plain([1] * 3), Example.plain([2] * 9)], seq_len=4, eos_id=0)
    assert [b.input_ids for b in blocks] == [[1, 1, 1, 0], [2] * 4, [2] * 4, [2, 0]]
    batch = collate(blocks[-1:], seq_len=4, pad_id=0)
    assert batch["input_ids"].tolist() == [[2, 0, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 0, 0]]
    assert batch["labels"].tolist() == [[2, 0, IGNORE, IGNORE]]
    assert pad_fraction(blocks, 4) == pytest.approx(1 - 14 / 16)
    # a segment that fills seq_len exactly gets no EOS, rather than a second, 1-token block
    assert [b.input_ids for b in pad_examples([Example.plain([3] * 4)], 4, 0)] == [[3] * 4]


def test_chat_pairs_from_real_resource_pages(dynamodb_pages):
    page = next(d for d in dynamodb_pages if d.path.endswith("r/dynamodb_contributor_insights.html.markdown"))
    pair = chat_pair(page)
    assert pair.user == "Provides a DynamoDB contributor insights resource"
    assert pair.assistant.startswith('```hcl\nresource "aws_dynamodb_contributor_insights" "test" {')
    assert pair.assistant.endswith("}\n```") and "import {" not in pair.assistant
    pairs = chat_pairs(dynamodb_pages)
    assert len(pairs) == len(dynamodb_pages) == 11  # every DynamoDB page has an Example Usage block
    assert all("```" not in p.assistant[7:-4] for p in pairs)


def test_chat_example_trains_on_assistant_tokens_only(dynamodb_pages, tokenizer):
    pair = chat_pair(next(d for d in dynamodb_pages if "contributor_insights" in d.path))
    ex = render_chat_example(pair, tokenizer)
    text = tokenizer.decode(ex.input_ids)
    assert SYSTEM_PROMPT in text and pair.user in text and "<|im_start|>assistant" in text
    trained = tokenizer.decode([t for t, lab in zip(ex.input_ids, ex.labels) if lab != IGNORE])
    assert trained.startswith("```hcl") and SYSTEM_PROMPT not in trained and pair.user not in trained
    assert "<|im_end|>" in trained  # the model learns to end its turn


def test_mix_ratio_and_repeat_cap():
    chat = [Example.plain([1] * 10) for _ in range(5)]
    picked = mix_in_chat(doc_tokens=850, chat_examples=chat, ratio=0.15, seed=0)
    share = sum(map(len, picked)) / (850 + sum(map(len, picked)))
    assert 0.14 <= share <= 0.17
    assert len(mix_in_chat(10**6, chat, 0.15, 0, max_repeats=4)) == 20
    assert mix_in_chat(850, chat, 0.0, 0) == []


def test_split_holds_out_whole_pages():
    rows = [{"path": f"p{i // 3}", "text": str(i)} for i in range(60)]
    train, held = split_by_page(rows, 0.2)
    assert held and train
    assert not {r["path"] for r in train} & {r["path"] for r in held}
    assert split_by_page(rows, 0.2) == (train, held)  # stable
    assert split_by_page(rows, 0.0) == (rows, [])


def test_batch_order_shards_ranks_and_resumes():
    ranks = [BatchOrder(n_blocks=10, batch_size=2, world_size=2, rank=r, seed=1) for r in range(2)]
    assert ranks[0].micro_steps_per_epoch == 3  # 10 blocks, global batch 4, wrapped to 12
    epoch0 = [i for m in range(3) for r in ranks for i in r.indices(m)]
    assert sorted(set(epoch0)) == list(range(10))
    for m in range(3):
        assert not set(ranks[0].indices(m)) & set(ranks[1].indices(m))
    fresh = BatchOrder(10, 2, 2, 0, seed=1)
    assert fresh.indices(4) == ranks[0].indices(4)  # a resumed run finds its place from the step alone
    assert ranks[0].indices(3) != ranks[0].indices(0) or ranks[0].indices(4) != ranks[0].indices(1)


def test_build_training_data_on_real_corpus(dynamodb_dataset, tokenizer, settings):
    packed = build_training_data(TrainConfig(dataset=str(dynamodb_dataset), seq_len=256, eval_fraction=0.1,
                                             chat_mix_ratio=0.15), tokenizer, settings)
    s = packed.stats
    assert s["eval_pages"] >= 1 and s["train_rows"] + s["eval_rows"] == s["rows"]
    assert s["pad_fraction"] == 0.0 and all(len(b.input_ids) == 256 for b in packed.train_blocks)
    assert s["chat_examples"] > 0 and 0.08 <= s["chat_share"] <= 0.2, s
    padded = build_training_data(TrainConfig(dataset=str(dynamodb_dataset), seq_len=512, eval_fraction=0.0,
                                             chat_mix_ratio=0.0, packing=False), tokenizer, settings)
    assert padded.stats["pad_fraction"] > 0.2  # heading-aligned segments leave a lot of padding
    only = build_training_data(TrainConfig(dataset=str(dynamodb_dataset), subcategory="dynamodb",
                                           eval_fraction=0.0), tokenizer, settings)
    assert only.stats["rows"] == s["rows"]


def test_bad_datasets(tmp_path, dynamodb_dataset):
    with pytest.raises(DataError, match="not found"):
        load_rows(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="No corpus"):
        load_rows(tmp_path / "empty")
    with pytest.raises(DataError, match="No rows of subcategory"):
        load_rows(dynamodb_dataset, "S3")
