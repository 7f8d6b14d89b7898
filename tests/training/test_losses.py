"""Batch-hard triplet loss against a brute-force loop over all triplets."""

from __future__ import annotations

import itertools

import pytest
import torch

from ultrasound_reader.training.losses import batch_hard_triplet_loss, multilabel_bce, pairwise_distances


def brute_force(emb: torch.Tensor, labels: list[int], margin: float, soft: bool) -> float:
    n = len(labels)
    d = [[float(torch.linalg.norm(emb[i] - emb[j])) for j in range(n)] for i in range(n)]
    terms = []
    for a in range(n):
        pos = [d[a][p] for p in range(n) if p != a and labels[p] == labels[a]]
        neg = [d[a][q] for q in range(n) if labels[q] != labels[a]]
        if not pos or not neg:
            continue
        # The hardest triplet of anchor a is the max over all (p, n) pairs of d(a,p) - d(a,n).
        gap = max(dp - dn for dp, dn in itertools.product(pos, neg))
        terms.append(float(torch.nn.functional.softplus(torch.tensor(gap, dtype=torch.float64))) if soft else max(gap + margin, 0.0))
    return sum(terms) / len(terms) if terms else 0.0


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force(seed: int, soft: bool) -> None:
    g = torch.Generator().manual_seed(seed)
    n, dim = 12, 5
    emb = torch.randn(n, dim, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (n,), generator=g)
    labels[0] = 7  # an anchor without positives: must be left out
    got = batch_hard_triplet_loss(emb, labels, margin=0.5, soft=soft)
    assert float(got) == pytest.approx(brute_force(emb, labels.tolist(), 0.5, soft), rel=1e-9, abs=1e-12)


def test_gradient_flows_and_separated_batch_has_zero_loss() -> None:
    emb = torch.tensor([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [10.1, 0.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    assert float(batch_hard_triplet_loss(emb, labels, margin=1.0).detach()) == 0.0
    close = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.2, 0.0], [1.2, 0.0]], requires_grad=True)
    loss = batch_hard_triplet_loss(close, labels, margin=1.0)
    loss.backward()
    assert float(loss.detach()) > 0 and torch.isfinite(close.grad).all() and close.grad.abs().sum() > 0


def test_identical_embeddings_have_finite_gradient() -> None:
    emb = torch.zeros(4, 3, requires_grad=True)
    loss = batch_hard_triplet_loss(emb, torch.tensor([0, 0, 1, 1]), margin=0.3)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(0.3) and torch.isfinite(emb.grad).all()


def test_pairwise_distances_match_cdist() -> None:
    x = torch.randn(9, 4, dtype=torch.float64)
    assert torch.allclose(pairwise_distances(x), torch.cdist(x, x), atol=1e-6)


def test_multilabel_bce_ignores_unknown() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.0], [5.0, 5.0, 5.0]])
    got = multilabel_bce(logits, torch.tensor([0, -1]), 3)
    want = torch.nn.functional.binary_cross_entropy_with_logits(logits[:1], torch.tensor([[1.0, 0.0, 0.0]]))
    assert float(got) == pytest.approx(float(want))
