"""Turning tokenized examples into fixed-size training blocks: packed, or padded for comparison.

Packing concatenates examples with EOS between them and cuts the stream into full `seq_len` blocks, so
every position in a batch is a real token. Padding (the original experiment's behaviour) gives each
example its own block and fills the rest with pad tokens that cost compute but teach nothing: with
heading-aligned 512-token segments of the docs about 30% of a padded batch is padding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

IGNORE = -100  # label value the loss skips


@dataclass(frozen=True)
class Example:
    """One tokenized training example; `labels` is -100 where no loss is taken (e.g. a chat prompt)."""

    input_ids: list[int]
    labels: list[int]

    @classmethod
    def plain(cls, ids: Sequence[int]) -> "Example":
        return cls(list(ids), list(ids))

    def __len__(self) -> int:
        return len(self.input_ids)


def pack_examples(examples: Iterable[Example], seq_len: int, eos_id: int) -> list[Example]:
    """Concatenate examples, each followed by EOS, and cut the stream into full `seq_len` blocks.

    The tail that does not fill a block is dropped, unless there would be no block at all (a tiny
    dataset): then the tail is kept as one short block and padded at collate time.
    """
    ids: list[int] = []
    labels: list[int] = []
    for ex in examples:
        ids.extend(ex.input_ids)
        ids.append(eos_id)
        labels.extend(ex.labels)
        labels.append(eos_id)
    n_full = len(ids) // seq_len
    blocks = [Example(ids[i * seq_len:(i + 1) * seq_len], labels[i * seq_len:(i + 1) * seq_len])
              for i in range(n_full)]
    if not blocks and ids:
        blocks.append(Example(ids, labels))
    return blocks


def pad_examples(examples: Iterable[Example], seq_len: int, eos_id: int) -> list[Example]:
    """One block per example (+ EOS when there is room), longer ones split into `seq_len` pieces.

    Padding itself happens in `collate`.
    """
    blocks = []
    for ex in examples:
        ids, labels = list(ex.input_ids), list(ex.labels)
        if len(ids) % seq_len:  # EOS only where it fits: a full segment must not spill a 1-token block
            ids.append(eos_id)
            labels.append(eos_id)
        for start in range(0, len(ids), seq_len):
            blocks.append(Example(ids[start:start + seq_len], labels[start:start + seq_len]))
    return blocks


def collate(blocks: Sequence[Example], seq_len: int, pad_id: int) -> dict[str, torch.Tensor]:
    """Stack blocks into right-padded tensors of width `seq_len`; pads get attention 0 and label -100."""
    n = len(blocks)
    input_ids = torch.full((n, seq_len), pad_id, dtype=torch.long)
    labels = torch.full((n, seq_len), IGNORE, dtype=torch.long)
    attention = torch.zeros((n, seq_len), dtype=torch.long)
    for i, block in enumerate(blocks):
        k = len(block.input_ids)
        input_ids[i, :k] = torch.tensor(block.input_ids, dtype=torch.long)
        labels[i, :k] = torch.tensor(block.labels, dtype=torch.long)
        attention[i, :k] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def pad_fraction(blocks: Sequence[Example], seq_len: int) -> float:
    """Share of the positions of `seq_len`-wide batches of these blocks that would be padding."""
    if not blocks:
        return 0.0
    real = sum(len(b.input_ids) for b in blocks)
    return 1.0 - real / (len(blocks) * seq_len)
