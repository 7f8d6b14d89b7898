"""Losses of the FLL recipe (Yang et al. 2020): BCE plus batch-hard triplet loss.

The triplet term (Hermans, Beyer & Leibe 2017, "In Defense of the Triplet Loss")
pulls each image's 512-d embedding towards its hardest positive in the batch (the
farthest image with the same label) and away from its hardest negative (the
closest image with another label). It needs every anchor to have at least one
positive and one negative, which the P x K sampler guarantees; anchors without
them are left out rather than contributing a meaningless term.
"""

from __future__ import annotations

import torch


def pairwise_distances(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distances between the rows of ``x`` (N, D) -> (N, N).

    Computed from the Gram matrix (one matmul, as in Hermans et al.); the sqrt is
    guarded so that the zero diagonal has a finite gradient.
    """
    sq = (x * x).sum(dim=1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min(0.0)
    zero = d2 <= eps
    d = torch.sqrt(torch.where(zero, torch.full_like(d2, eps), d2))
    return torch.where(zero, torch.zeros_like(d), d)


def batch_hard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.3,
                            soft: bool = False) -> torch.Tensor:
    """Mean over valid anchors of ``[max_p d(a,p) - min_n d(a,n) + margin]_+``.

    ``soft`` uses ``softplus(max_p - min_n)`` (the soft-margin variant) instead of the
    hinge. Returns 0 (with a gradient path) when no anchor has both a positive and
    a negative.
    """
    if embeddings.ndim != 2 or labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
        raise ValueError("expected embeddings (N, D) and labels (N,)")
    d = pairwise_distances(embeddings)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    pos = same & ~eye
    neg = ~same
    valid = pos.any(1) & neg.any(1)
    if not bool(valid.any()):
        return embeddings.sum() * 0.0
    # Masked max/min: a distance is >= 0, so -1 never wins the max and +inf never the min.
    hardest_pos = torch.where(pos, d, torch.full_like(d, -1.0)).amax(1)
    hardest_neg = torch.where(neg, d, torch.full_like(d, float("inf"))).amin(1)
    gap = hardest_pos[valid] - hardest_neg[valid]
    per_anchor = torch.nn.functional.softplus(gap) if soft else torch.relu(gap + margin)
    return per_anchor.mean()


def multilabel_bce(logits: torch.Tensor, target_index: torch.Tensor, n_classes: int) -> torch.Tensor:
    """BCE of ``n_classes`` logits against a one-hot target (the paper's BCE on LB type).

    Entries of ``target_index`` < 0 (unknown LB type) are ignored.
    """
    known = target_index >= 0
    if not bool(known.any()):
        return logits.sum() * 0.0
    onehot = torch.nn.functional.one_hot(target_index[known], n_classes).to(logits.dtype)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits[known], onehot)
