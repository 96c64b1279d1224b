"""The token audits (nnlearn.audit.tokens) on small hand-made id tensors."""

from __future__ import annotations

import torch

from nnlearn.audit.tokens import label_column, pad_in_loss, padding, target_copy, token_facts


def ids(n=200, t=12, vocab=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(3, vocab, (n, t), generator=g)
    x[:, 0] = 1  # BOS: constant, not padding
    return x


def padded(x, seed=0):
    g = torch.Generator().manual_seed(seed + 1)
    lengths = torch.randint(3, x.shape[1] + 1, (len(x),), generator=g)
    mask = torch.arange(x.shape[1])[None] < lengths[:, None]
    return torch.where(mask, x, 0), mask.long()


def test_features_are_not_ids():
    assert token_facts(torch.randn(10, 3), torch.zeros(10, dtype=torch.long)) == {}


def test_padding_found_from_the_ids_and_from_the_mask():
    x, mask = padded(ids())
    found = padding(x)
    assert found["pad_id"] == 0 and found["side"] == "end"
    assert abs(found["share"] - float((mask == 0).float().mean())) < 1e-6
    assert padding(x, mask)["source"] == "attention_mask"
    assert padding(ids()) == {}  # BOS in every row is not padding


def test_pad_counted_in_the_loss_and_ignored():
    x, mask = padded(ids())
    counted = pad_in_loss(x, x.clone(), padding(x), None, -100)
    assert counted["share"] > 0.2
    y = torch.where(mask.bool(), x, -100)
    assert pad_in_loss(x, y, padding(x), None, -100)["share"] == 0.0


def test_targets_equal_to_inputs_are_a_copy_and_shifted_ones_are_not():
    seq = ids(t=13)
    assert target_copy(seq[:, :-1], seq[:, :-1], -100)["copied"]
    assert not target_copy(seq[:, :-1], seq[:, 1:], -100)["copied"]


def test_a_leaked_label_position_is_found():
    x = ids()
    y = torch.randint(0, 2, (len(x),), generator=torch.Generator().manual_seed(3))
    assert label_column(x, y) == {}
    x[:, 4] = 10 + y
    assert label_column(x, y)["position"] == 4
    facts = token_facts(x, y)
    assert facts["leak"]["kind"] == "label_column" and facts["ids"]["max"] < 30
