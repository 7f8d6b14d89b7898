"""P x K batches for the batch-hard triplet loss.

Each batch holds P lesions, and the data set returns K images (ROI views) of every
lesion, so each image has K - 1 positives of its own lesion. For the negative side
every batch holds at least one lesion of each class. Lesions are otherwise drawn in
a seeded random order that covers every lesion once per epoch, so the class mix of
the batches follows the data (keeping the BCE head calibrated to the cohort), and
batches of one class borrow a lesion of the other class.

Under DistributedDataParallel each rank takes every ``world``-th batch of the same
seeded order (the epoch is padded so all ranks run the same number of steps), just
as :class:`torch.utils.data.DistributedSampler` shards single indices.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np


class PKBatchSampler:
    """Yields lists of P (P + 1 when one is borrowed) lesion indices holding both classes."""

    def __init__(self, labels: Sequence[int], p: int, seed: int = 0, rank: int = 0, world: int = 1) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        if p < 2:
            raise ValueError("P must be >= 2 so that a batch can hold both classes")
        self.classes = np.unique(self.labels).tolist()
        by_class = [np.flatnonzero(self.labels == c) for c in self.classes]
        if len(by_class) < 2:
            raise ValueError("the P x K sampler needs lesions of at least two classes")
        self.by_class = by_class
        self.p = min(p, self.labels.size)
        self.seed = seed
        self.rank = rank
        self.world = world
        self.epoch = 0
        n_batches = math.ceil(self.labels.size / self.p)
        self.n_per_rank = math.ceil(n_batches / world)

    def set_epoch(self, epoch: int) -> None:
        """Like DistributedSampler.set_epoch: a new order each epoch, the same on every rank."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_per_rank

    def _all_batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.labels.size)
        total = self.n_per_rank * self.world
        # Pad by wrapping round so that every rank runs the same number of steps.
        need = total * self.p
        order = np.concatenate([order, *(rng.permutation(self.labels.size) for _ in range(need // order.size))])[:need]
        batches = []
        for b in range(total):
            batch = order[b * self.p:(b + 1) * self.p].tolist()
            present = set(self.labels[batch].tolist())
            for c, members in zip(self.classes, self.by_class):
                if c not in present:  # borrow one lesion of the missing class
                    batch.append(int(rng.choice(members)))
            batches.append(batch)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches()
        yield from batches[self.rank::self.world]
