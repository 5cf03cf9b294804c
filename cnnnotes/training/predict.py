"""``python -m cnnnotes predict CHECKPOINT IMAGE...``: the top classes of each image.

Examples::

    python -m cnnnotes predict runs/notes/model.pt shoe.png shirt.png
    python -m cnnnotes predict runs/notes/model.pt t10k-images-idx3-ubyte --index 0:5

An IMAGE is a 28×28 PNG (or JPEG) file, read with Pillow as grey levels 0..255, or an IDX image
file such as FashionMNIST's test set, of which ``--index`` picks the images
(``7`` or a range ``0:5``; default ``0``). The checkpoint's own normalisation and
class names are applied (:func:`cnnnotes.training.checkpoint.load_model`). A bad argument,
a foreign or truncated checkpoint, or an unreadable image ends with exit status 2
and one line naming it, never a traceback.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from cnnnotes.training.checkpoint import CheckpointError, load_model
from cnnnotes.training.data import IMAGE_MAGIC, DataCorruptError, read_idx_images

SIDE = 28
"""The image side every model of :mod:`cnnnotes.training.models` expects."""


class ImageError(ValueError):
    """An image file that cannot be read or is not a 28×28 picture."""


def index_range(text: str) -> slice:
    """argparse type: ``"7"`` or ``"0:5"`` (start:stop, stop excluded), both >= 0.

    >>> index_range("3"), index_range("0:5")
    (slice(3, 4, None), slice(0, 5, None))
    """
    parts = text.split(":")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1 and values[0] >= 0:
        return slice(values[0], values[0] + 1)
    if len(values) == 2 and 0 <= values[0] < values[1]:
        return slice(values[0], values[1])
    raise argparse.ArgumentTypeError(
        f"expected an index N >= 0 or a range START:STOP with 0 <= START < STOP, got {text!r}"
    )


def read_images(path: Path, index: slice) -> list[tuple[str, torch.Tensor]]:
    """``(label, uint8 (28, 28) image)`` pairs from a PNG/JPEG file or an IDX image file."""
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == IMAGE_MAGIC.to_bytes(4, "big"):
        try:
            images = read_idx_images(path)
        except DataCorruptError as exc:
            raise ImageError(str(exc)) from None
        if index.stop > len(images):
            raise ImageError(
                f"--index {index.start}:{index.stop} is beyond {path}, which holds "
                f"{len(images)} images (allowed: 0..{len(images) - 1})"
            )
        picked = [(f"{path.name}[{i}]", images[i]) for i in range(index.start, index.stop)]
    else:
        from PIL import Image, UnidentifiedImageError  # Pillow: a dependency of matplotlib

        try:
            with Image.open(path) as im:
                grey = torch.from_numpy(np.array(im.convert("L"), dtype=np.uint8))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ImageError(f"{path}: not a readable PNG/JPEG image nor IDX images") from None
        picked = [(path.name, grey)]
    for name, image in picked:
        if tuple(image.shape) != (SIDE, SIDE):
            got = "x".join(map(str, image.shape))
            raise ImageError(f"{name}: the models take {SIDE}x{SIDE} images, got {got}")
    return picked


def parser(prog: str = "cnnnotes predict") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Print the most likely classes of each image under a saved model.",
    )
    p.add_argument("checkpoint", type=Path, help="a model.pt written by cnnnotes train")
    p.add_argument("images", type=Path, nargs="+", help="28x28 PNG files or an IDX image file")
    p.add_argument("--index", type=index_range, default=slice(0, 1), help="N or START:STOP")
    p.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    return p


def main(argv: list[str] | None = None, prog: str = "cnnnotes predict") -> int:
    """``cnnnotes predict ...``: exit status 0, or 2 with one line on a bad call."""
    p = parser(prog)
    args = p.parse_intermixed_args(argv)
    try:
        classifier = load_model(args.checkpoint)
    except (CheckpointError, FileNotFoundError) as exc:
        p.error(f"checkpoint: {exc}")
    if not 1 <= args.top <= len(classifier.classes):
        p.error(f"--top must be from 1 to {len(classifier.classes)}, got {args.top}")
    try:
        named = [pair for path in args.images for pair in read_images(path, args.index)]
    except (ImageError, OSError) as exc:
        p.error(f"image: {exc}")
    tops = classifier.top(torch.stack([image for _, image in named]), args.top)
    for (name, _), best in zip(named, tops, strict=True):
        print(f"{name}: " + ", ".join(f"{label} {100 * prob:.1f}%" for label, prob in best))
    return 0
