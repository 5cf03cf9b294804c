"""Any picture → the input the models take: 28×28 grey, a light object on black.

FashionMNIST's images are grey, 28×28, with the object light on a black background.
A photo of a garment is usually none of these, so :func:`prepare_image` makes it so,
in five small steps, each its own function, and says what it did:

1. :func:`to_grey`: colour → grey as Pillow's ``"L"`` does (ITU-R BT.601 luma,
   ``0.299 R + 0.587 G + 0.114 B``), but in floating point;
2. :func:`background_is_light`: the mean of the outermost ring of pixels (the
   picture's border, which is usually background) above 0.5 on a 0..1 scale means a
   light background; then the picture is inverted (``1 - x``), so that the object
   becomes light on dark (``invert="yes"`` or ``"no"`` decides by hand);
3. :func:`pad_to_square`: the shorter side is padded with the background value (the
   border mean after step 2), centred, so the object keeps its aspect ratio;
4. the square is resized to 28×28 with antialiasing (bilinear with the triangle filter
   widened to the scale factor, ``torch.nn.functional.interpolate(..., antialias=True)``,
   the call torchvision's ``resize(..., antialias=True)`` makes);
5. the result is rounded to ``uint8`` 0..255, FashionMNIST's own type, so the image
   written by ``cnnnotes predict --show`` is exactly the one that was classified.

:func:`load_picture` reads a file with Pillow (any format and size Pillow reads; EXIF
rotation applied; transparent parts made white). Sizes are written width×height, the
order image tools use; tensors are ``(channels, height, width)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnnnotes._validate import choice

SIDE = 28
"""The image side every model of :mod:`cnnnotes.training.models` expects."""

LUMA = (0.299, 0.587, 0.114)
"""Weights of R, G, B in grey (ITU-R BT.601, as Pillow's ``convert("L")``)."""

INVERT = ("auto", "yes", "no")


def to_grey(image: torch.Tensor) -> torch.Tensor:
    """A ``(H, W)`` grey image from ``(H, W)``, ``(1, H, W)`` grey or ``(3, H, W)`` RGB floats.

    >>> to_grey(torch.tensor([[[1.0]], [[1.0]], [[0.0]]]))  # yellow: 0.299 + 0.587
    tensor([[0.8860]])
    """
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[0] == 1:
        return image[0]
    if image.ndim == 3 and image.shape[0] == 3:
        return torch.einsum("c,chw->hw", torch.tensor(LUMA, dtype=image.dtype), image)
    raise ValueError(f"image must be (H, W), (1, H, W) or (3, H, W), got {tuple(image.shape)}")


def border_mean(grey: torch.Tensor) -> float:
    """Mean of the outermost ring of pixels of a ``(H, W)`` image (each pixel once).

    >>> border_mean(torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    0.875
    """
    if grey.shape[0] <= 2 or grey.shape[1] <= 2:
        return float(grey.mean())  # every pixel is on the border
    ring = torch.cat([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
    return float(ring.mean())


def background_is_light(grey: torch.Tensor, threshold: float = 0.5) -> bool:
    """Whether the border of a ``(H, W)`` image in 0..1 is light on average (above ``threshold``).

    >>> background_is_light(torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]))
    True
    >>> background_is_light(torch.zeros(3, 3))
    False
    """
    return border_mean(grey) > threshold


def pad_to_square(grey: torch.Tensor, fill: float) -> torch.Tensor:
    """Pad the shorter side of a ``(H, W)`` image with ``fill``, centred (odd extra: bottom/right).

    >>> pad_to_square(torch.ones(1, 3), fill=0.0)
    tensor([[0., 0., 0.],
            [1., 1., 1.],
            [0., 0., 0.]])
    """
    h, w = grey.shape
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = torch.full((side, side), fill, dtype=grey.dtype)
    square[top : top + h, left : left + w] = grey
    return square


def as_float(image: torch.Tensor) -> torch.Tensor:
    """``uint8`` 0..255 → float32 0..1; a float image is checked to be within 0..1."""
    if image.dtype == torch.uint8:
        return image.to(torch.float32) / 255
    if not image.is_floating_point():
        raise TypeError(f"image must be uint8 (0..255) or float (0..1), got {image.dtype}")
    if image.numel() and not 0 <= float(image.min()) <= float(image.max()) <= 1:
        raise ValueError("a float image must hold values in 0..1")
    return image.to(torch.float32)


def prepare_image(
    image: torch.Tensor, invert: str = "auto", side: int = SIDE
) -> tuple[torch.Tensor, list[str]]:
    """The ``uint8 (side, side)`` model input made from ``image``, and notes on what was done.

    ``image``: ``(H, W)`` or ``(C, H, W)`` with C = 1 (grey) or 3 (RGB), ``uint8`` or
    float in 0..1. ``invert``: ``"auto"`` (when the border is light), ``"yes"`` or ``"no"``.

    >>> x, notes = prepare_image(torch.ones(3, 2, 4))  # a white RGB picture 4 wide, 2 high
    >>> x.shape, x.dtype, int(x.max())
    (torch.Size([28, 28]), torch.uint8, 0)
    >>> notes
    ['converted to grey', 'background light (border mean 1.00), inverted', 'padded to 4×4', 'resized to 28×28']
    """  # noqa: E501
    choice(invert, "invert", INVERT)
    x = as_float(image)
    notes = ["converted to grey"] if x.ndim == 3 and x.shape[0] == 3 else []
    x = to_grey(x)
    light = background_is_light(x)
    flip = light if invert == "auto" else invert == "yes"
    if invert == "auto":
        kind = "light" if light else "dark"
        notes.append(
            f"background {kind} (border mean {border_mean(x):.2f}), "
            + ("inverted" if flip else "not inverted")
        )
    else:
        notes.append(("inverted" if flip else "not inverted") + f" (--invert {invert})")
    if flip:
        x = 1 - x
    if x.shape[0] != x.shape[1]:
        x = pad_to_square(x, fill=border_mean(x))
        notes.append(f"padded to {x.shape[1]}×{x.shape[0]}")
    if x.shape[0] != side:
        x = F.interpolate(x[None, None], size=(side, side), mode="bilinear", antialias=True)[0, 0]
        notes.append(f"resized to {side}×{side}")
    return (x.clamp(0, 1) * 255).round().to(torch.uint8), notes


class ImageError(ValueError):
    """An image file that cannot be read."""


def load_picture(path: str | os.PathLike[str]) -> tuple[torch.Tensor, str]:
    """A picture file as a float ``(C, H, W)`` tensor in 0..1 (C = 1 or 3) and its description.

    The description is ``"W×H MODE"`` with Pillow's mode (``RGB``, ``P``, ...) or
    ``grey``, plus what was done on reading (transparency, 16-bit depth).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError  # Pillow: a dependency

    path = Path(path)
    try:
        with Image.open(path) as opened:
            im = ImageOps.exif_transpose(opened)  # a phone photo is stored sideways
            im.load()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        reason = f" ({exc})" if isinstance(exc, Image.DecompressionBombError) else ""
        raise ImageError(f"{path}: not an image Pillow can read nor IDX images{reason}") from None
    grey_modes = ("1", "L", "LA", "La", "I;16", "I;16L", "I;16B", "I;16N")
    grey = im.mode in grey_modes
    mode = "grey" if im.mode in ("1", "L") else im.mode
    described = f"{im.width}×{im.height} {mode}"
    if im.mode in ("I", "F"):
        raise ImageError(f"{path}: {described}: 32-bit images are not supported; save 8 or 16 bit")
    if im.mode.startswith("I;16"):
        array = np.asarray(im, dtype=np.float32) / 65535
        return torch.from_numpy(array)[None], described + " (16-bit)"
    if "A" in im.getbands() or "a" in im.getbands() or "transparency" in im.info:
        white = Image.new("RGBA", im.size, "white")
        im = Image.alpha_composite(white, im.convert("RGBA"))
        described += " (transparent parts made white)"
    array = np.asarray(im.convert("L" if grey else "RGB"), dtype=np.float32)
    tensor = torch.from_numpy(array / 255)
    return (tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)), described
