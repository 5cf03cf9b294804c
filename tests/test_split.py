"""cnnnotes.training.split: the validation split is stratified, a partition, and seeded."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from cnnnotes.oracle import agree
from cnnnotes.oracle.cases import Case, Draw
from cnnnotes.training.split import class_quotas, split_data, validation_split


def labels_case(draw: Draw) -> Case:
    """1-400 labels over 1-12 classes, unbalanced (some classes absent), and a valid n_val."""
    k = draw.int(1, 12)
    n = draw.int(2, 400)
    weights = torch.rand(k, generator=draw.generator) ** 3 + 1e-3
    labels = torch.multinomial(weights, n, replacement=True, generator=draw.generator)
    return {"labels": labels, "n_val": draw.int(1, n - 1), "seed": draw.int(0, 2**32 - 1)}


def _properties(labels: torch.Tensor, n_val: int, seed: int) -> tuple:
    """What a split must satisfy, checked from its definition; ``(True,) * 6`` if it does."""
    train, val = validation_split(labels, n_val, seed)
    n = len(labels)
    union = torch.cat([train, val]).sort().values
    classes, counts = labels.unique(return_counts=True)
    got = [int((labels[val] == c).sum()) for c in classes]
    shares = [Fraction(n_val * int(c), n) for c in counts]  # the exact proportional shares
    return (
        len(val) == n_val and len(train) == n - n_val,
        torch.equal(union, torch.arange(n)),  # disjoint and complete
        bool((train.diff() > 0).all() and (val.diff() > 0).all()),  # sorted
        train.dtype == val.dtype == torch.int64,
        all(s.__floor__() <= q <= s.__ceil__() for s, q in zip(shares, got, strict=True)),
        torch.equal(torch.cat(validation_split(labels, n_val, seed)), torch.cat([train, val])),
    )


def test_split_is_a_stratified_seeded_partition():
    result = agree(_properties, lambda *_: (True,) * 6, labels_case, n_cases=500,
                   claim="validation_split properties")  # fmt: skip
    assert result.ok, str(result)


def test_fashion_mnist_shape_gives_500_per_class():
    labels = torch.arange(10).repeat_interleave(6000)[torch.randperm(60000)]
    train, val = validation_split(labels)
    assert labels[val].bincount().tolist() == [500] * 10
    assert labels[train].bincount().tolist() == [5500] * 10
    torch.testing.assert_close(torch.cat([train, val]).sort().values, torch.arange(60000))


def test_seed_changes_the_split_and_only_the_seed():
    labels = torch.arange(5).repeat(200)
    a = validation_split(labels, 100, seed=0)
    b = validation_split(labels, 100, seed=0)
    c = validation_split(labels, 100, seed=1)
    assert torch.equal(a[1], b[1]) and torch.equal(a[0], b[0])
    assert not torch.equal(a[1], c[1])
    assert labels[a[1]].bincount().tolist() == labels[c[1]].bincount().tolist() == [20] * 5


def test_class_quotas_is_the_largest_remainder_rounding():
    assert class_quotas([5, 3, 2], 5) == [3, 1, 1]  # 2.5, 1.5, 1.0: the tie goes to class 0
    assert class_quotas([1, 1, 1], 2) == [1, 1, 0]
    assert class_quotas([7, 0, 3], 4) == [3, 0, 1]  # 2.8, 0, 1.2
    assert class_quotas([4], 4) == [4]
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        counts = torch.randint(0, 50, (int(torch.randint(1, 9, (1,), generator=g)),),
                               generator=g).tolist()  # fmt: skip
        if sum(counts) == 0:
            continue
        n_val = int(torch.randint(0, sum(counts) + 1, (1,), generator=g))
        q = class_quotas(counts, n_val)
        assert sum(q) == n_val
        exact = [Fraction(n_val * c, sum(counts)) for c in counts]
        assert all(e.__floor__() <= x <= e.__ceil__() for e, x in zip(exact, q, strict=True))
        # largest remainder: no class rounded down has a larger remainder than one rounded up
        up = [e - e.__floor__() for e, x in zip(exact, q, strict=True) if x > e]
        down = [e - e.__floor__() for e, x in zip(exact, q, strict=True) if x < e]
        assert not up or not down or min(up) >= max(down)


def test_split_data_applies_the_split():
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 4, (50,), generator=g)
    x = torch.randn(50, 1, 2, 2, generator=g)
    (x_tr, y_tr), (x_va, y_va) = split_data(x, y, n_val=10, seed=5)
    train, val = validation_split(y, 10, 5)
    torch.testing.assert_close(x_tr, x[train])
    torch.testing.assert_close(x_va, x[val])
    assert torch.equal(y_tr, y[train]) and torch.equal(y_va, y[val])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: validation_split([0, 1, 0]), TypeError, r"labels must be a torch.Tensor"),
        (lambda: validation_split(torch.tensor([0.0, 1.0])), TypeError, r"integer class labels"),
        (
            lambda: validation_split(torch.zeros(2, 2, dtype=torch.long)),
            ValueError,
            r"shape \(N,\)",
        ),
        (lambda: validation_split(torch.tensor([1])), ValueError, r"at least 2 labels"),
        (
            lambda: validation_split(torch.tensor([0, 1]), n_val=2),
            ValueError,
            r"n_val must be an int from 1 to 1",
        ),
        (lambda: validation_split(torch.tensor([0, 1]), n_val=0), ValueError, r"n_val"),
        (lambda: validation_split(torch.tensor([0, 1]), n_val=1.0), TypeError, r"n_val"),
        (lambda: validation_split(torch.tensor([0, 1]), 1, seed=-1), ValueError, r"seed"),
        (
            lambda: split_data(torch.zeros(3), torch.tensor([0, 1]), 1),
            ValueError,
            r"one label per image",
        ),
        (lambda: class_quotas([], 1), ValueError, r"non-empty list"),
        (lambda: class_quotas(torch.tensor([2, 2]), 1), TypeError, r"got Tensor"),
        (lambda: class_quotas([2, 2], 5), ValueError, r"n_val must be an int from 0 to 4"),
        (lambda: class_quotas([2, -1], 1), ValueError, r"counts\[1\]"),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
