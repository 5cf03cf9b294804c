"""A fixed, stratified validation split of the training set: what every choice reads.

The test set is touched once per finished run, for the report. Every choice (epochs,
hyper-parameters, the "best" recipe) reads a *validation* set instead, carved out of
the training set once and for all by :func:`validation_split`:

* **stratified, proportional**: class ``c`` with ``n_c`` of the ``N`` training images
  gives ``n_val·n_c/N`` of them to validation, rounded by the *largest remainder*
  (:func:`class_quotas`): every class gets the floor of its share, and the images
  still missing go one each to the classes with the largest fractional parts (ties:
  the smaller label first). FashionMNIST's 60,000 training images, 6,000 per class,
  give exactly 500 per class for ``n_val = 5000``;
* **seeded**: inside each class (classes in increasing label order) the validation
  images are the first ``quota`` of a ``torch.randperm`` drawn from one explicit
  ``torch.Generator`` seeded with ``seed``, so one seed always gives the same split;
* **a partition**: both index tensors are sorted in increasing order, disjoint, and
  together hold every index ``0 .. N − 1`` once.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnnnotes._validate import integer, labelled, require, require_type, tensor
from cnnnotes._validate import seed as a_seed

__all__ = ["class_quotas", "split_data", "validation_split"]


def class_quotas(counts: list[int], n_val: int) -> list[int]:
    """How many of each class go to validation: ``n_val·n_c/N`` by the largest remainder.

    With ``N = Σ n_c``, class ``c`` gets ``⌊n_val·n_c/N⌋``; the ``n_val − Σ⌊·⌋`` images
    left over (fewer than the number of classes) go one each to the classes with the
    largest remainders ``(n_val·n_c) mod N``, ties to the earlier class. Integer
    arithmetic only, so the result is exact; it sums to ``n_val`` and every quota is
    the floor or the ceiling of the exact share.

    >>> class_quotas([6000] * 10, 5000)
    [500, 500, 500, 500, 500, 500, 500, 500, 500, 500]
    >>> class_quotas([5, 3, 2], 5)  # shares 2.5, 1.5, 1.0: the two .5 remainders tie
    [3, 1, 1]
    """
    require_type(
        isinstance(counts, (list, tuple)),
        f"counts must be a non-empty list of class sizes, got {type(counts).__name__}",
    )
    require(len(counts) > 0, "counts must be a non-empty list of class sizes, got []")
    counts = [integer(c, f"counts[{i}]", 0) for i, c in enumerate(counts)]
    total = sum(counts)
    n_val = integer(n_val, "n_val", 0, total)
    quotas = [n_val * c // total for c in counts]
    remainders = [n_val * c % total for c in counts]
    missing = n_val - sum(quotas)
    by_remainder = sorted(range(len(counts)), key=lambda i: (-remainders[i], i))
    for i in by_remainder[:missing]:
        quotas[i] += 1
    return quotas


def validation_split(labels: Tensor, n_val: int = 5000, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``(train_indices, val_indices)``: a stratified, seeded split of ``range(len(labels))``.

    Class ``c`` (its labels in increasing order) puts :func:`class_quotas` of its images
    into validation, the first ones of a random permutation drawn from
    ``torch.Generator().manual_seed(seed)``; the rest are training images. Both results
    are sorted ``int64`` tensors; they are disjoint and together cover every index.
    ``1 <= n_val < len(labels)``, so neither part is empty.

    >>> y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    >>> train, val = validation_split(y, n_val=4, seed=0)
    >>> train.tolist(), val.tolist()  # two images of each class in each part
    ([2, 3, 5, 7], [0, 1, 4, 6])
    >>> y[val].bincount().tolist()
    [2, 2]
    """
    tensor(labels, "labels", shape="(N,)", ndims=(1,), integers="class labels")
    n = len(labels)
    require(n >= 2, f"labels must hold at least 2 labels to split, got {n}")
    n_val = integer(n_val, "n_val", 1, n - 1)
    generator = torch.Generator().manual_seed(a_seed(seed))
    classes = torch.unique(labels.cpu())  # sorted
    members = [(labels.cpu() == c).nonzero().flatten() for c in classes]  # each sorted
    quotas = class_quotas([len(m) for m in members], n_val)
    val = [
        m[torch.randperm(len(m), generator=generator)[:q]]
        for m, q in zip(members, quotas, strict=True)
    ]
    is_val = torch.zeros(n, dtype=torch.bool)
    is_val[torch.cat(val)] = True
    return (~is_val).nonzero().flatten(), is_val.nonzero().flatten()


def split_data(
    x: Tensor, y: Tensor, n_val: int = 5000, seed: int = 0
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """``((x_train, y_train), (x_val, y_val))``: :func:`validation_split` applied to the data.

    The images keep their original order within each part (the indices are sorted).

    >>> x, y = torch.arange(6.0), torch.tensor([0, 1, 0, 1, 0, 1])
    >>> (x_train, y_train), (x_val, y_val) = split_data(x, y, n_val=2)
    >>> x_train.tolist(), y_train.tolist(), x_val.tolist(), y_val.tolist()
    ([0.0, 1.0, 2.0, 3.0], [0, 1, 0, 1], [4.0, 5.0], [0, 1])
    """
    x, y = labelled((x, y), "(x, y)")
    train, val = validation_split(y, n_val, seed)
    return (x[train], y[train]), (x[val], y[val])
