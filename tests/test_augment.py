"""Random erasing and the recipe's augmentation: properties over many random batches."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnnotes.training.augment import augmenter, random_erasing, shift_and_flip
from cnnnotes.training.recipes import Recipe


def _distinct_images(n: int, c: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Images whose every value is distinct, so a changed pixel is always visible."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n * c * h * w, generator=g).reshape(n, c, h, w).float() / (n * c * h * w)


def _erased(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Which pixels changed, per image and position (channels agree: checked)."""
    changed = out != x
    assert torch.equal(changed, changed[:, :1].expand_as(changed)), "channels erased differently"
    return changed[:, 0]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 12),
    c=st.integers(1, 3),
    h=st.integers(2, 30),
    w=st.integers(2, 30),
    seed=st.integers(0, 2**31 - 1),
    p=st.sampled_from([0.0, 0.3, 1.0]),
    lo=st.floats(0.01, 0.5),
    span=st.floats(0.0, 0.5),
)
def test_each_image_loses_at_most_one_rectangle_filled_within_its_range(
    n: int, c: int, h: int, w: int, seed: int, p: float, lo: float, span: float
) -> None:
    x = _distinct_images(n, c, h, w, seed)
    out = random_erasing(x, torch.Generator().manual_seed(seed), p=p, scale=(lo, lo + span))
    assert out.shape == x.shape and out.dtype == x.dtype
    for image, original, mask in zip(out, x, _erased(out, x), strict=True):
        assert image.min() >= original.min() and image.max() <= original.max()
        if p == 1.0:
            assert mask.any(), "p = 1 erases every image"
        if p == 0.0:
            assert not mask.any(), "p = 0 erases nothing"
        if mask.any():
            rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
            box = torch.zeros_like(mask)
            box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
            assert torch.equal(mask, box), "the erased pixels form one rectangle"


def test_same_generator_same_erasing_and_the_draws_follow_the_stated_laws() -> None:
    x = _distinct_images(4000, 1, 28, 28, 0)
    a = random_erasing(x, torch.Generator().manual_seed(1), p=0.5)
    b = random_erasing(x, torch.Generator().manual_seed(1), p=0.5)
    assert torch.equal(a, b)
    mask = _erased(a, x)
    hit = mask.flatten(1).any(1)
    share = hit.float().mean().item()
    assert abs(share - 0.5) < 4 * math.sqrt(0.25 / 4000), share  # binomial, 4 standard errors
    area = mask.flatten(1).sum(1)[hit].float() / (28 * 28)
    # sides are rounded and clipped, so the area is near (not exactly) uniform on the scale
    assert area.min().item() > 0.0 and area.max().item() <= 1.0
    assert abs(area.mean().item() - (0.02 + 0.33) / 2) < 0.03, area.mean()
    heights = mask.any(2).sum(1)[hit].float()
    widths = mask.any(1).sum(1)[hit].float()
    log_ratio = (heights / widths).log()
    assert abs(log_ratio.median().item()) < 0.1, "the ratio's range is symmetric in log"


def test_augmenter_composes_shift_flip_then_erasing_from_one_generator() -> None:
    x = _distinct_images(8, 1, 28, 28, 3)
    assert augmenter(False, 0.0) is None
    assert augmenter(True, 0.0) is shift_and_flip
    both = augmenter(True, 0.5)(x, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    assert torch.equal(both, random_erasing(shift_and_flip(x, g), g, p=0.5))
    alone = augmenter(False, 0.5)(x, torch.Generator().manual_seed(7))
    assert torch.equal(alone, random_erasing(x, torch.Generator().manual_seed(7), p=0.5))


@pytest.mark.parametrize(
    ("kwargs", "kind", "says"),
    [
        ({"p": 1.5}, ValueError, "p must be a probability"),
        ({"p": -0.1}, ValueError, "p must be"),
        ({"scale": (0.5, 0.2)}, ValueError, "scale must be"),
        ({"scale": (0.0, 0.2)}, ValueError, "scale must be"),
        ({"scale": 0.3}, TypeError, "scale must be a pair"),
        ({"ratio": (0.0, 1.0)}, ValueError, "ratio"),
        ({"ratio": (3.0, 0.3)}, ValueError, "ratio must be"),
        ({"generator": None}, TypeError, "generator"),
        ({"x": torch.zeros(2, 28, 28)}, ValueError, "x"),
    ],
)
def test_bad_arguments_say_what_is_allowed(kwargs: dict, kind: type, says: str) -> None:
    call = {"x": torch.zeros(2, 1, 28, 28), "generator": torch.Generator(), **kwargs}
    with pytest.raises(kind, match=says):
        random_erasing(**call)


def test_recipe_erase_is_checked_and_old_records_read_with_its_default() -> None:
    with pytest.raises(ValueError, match="erase must be a probability"):
        Recipe(erase=1.5)
    with pytest.raises(TypeError, match="shift_flip"):
        augmenter("yes", 0.5)
    old = Recipe(augment=True).as_dict()
    del old["erase"]  # a record written before the field existed
    assert Recipe.from_dict(old) == Recipe(augment=True)
    with pytest.raises(ValueError, match="unknown recipe fields"):
        Recipe.from_dict({**old, "erasing": 0.5})
