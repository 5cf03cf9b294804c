"""``python -m cnnnotes predict CHECKPOINT IMAGE...``: the top classes of each image.

Examples::

    python -m cnnnotes predict runs/notes/model.pt shoe.jpg shirt.png --show seen.png
    python -m cnnnotes predict runs/notes/model.pt t10k-images-idx3-ubyte.gz --index 0:5

An IMAGE is a picture file of any size and colour that Pillow reads (PNG, JPEG, ...), or
an IDX image file such as FashionMNIST's test set, plain or gzip-compressed (recognised by
its first bytes, whatever its name), of which ``--index`` picks the images (``7`` or a
range ``0:5``; default ``0``). Each image is made into what the models were trained on
(28×28 grey, light object on black) by :func:`cnnnotes.training.images.prepare_image`:
grey, inverted when its border is light (``--invert auto``, the default; ``yes``/``no``
decide by hand), padded to a square, resized with antialiasing. The output names every
step taken, on an indented line under the image's top classes, so a photo that went wrong
shows why. ``--show FILE`` writes the 28×28 images that were classified to a PNG, side by
side in the order printed, at their own size (no upscaling).

The checkpoint's own normalisation and class names are applied
(:func:`cnnnotes.training.checkpoint.load_model`). A bad argument, a foreign or truncated
checkpoint, or an unreadable image ends with exit status 2 and one line naming it, never
a traceback, and nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from cnnnotes._io import atomic_write
from cnnnotes._validate import integer
from cnnnotes.training.checkpoint import CheckpointError, load_model
from cnnnotes.training.data import IMAGE_MAGIC, DataCorruptError, read_idx_images
from cnnnotes.training.images import INVERT, ImageError, load_picture, prepare_image

GZIP_MAGIC = b"\x1f\x8b"


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


def read_images(path: Path, index: slice) -> list[tuple[str, torch.Tensor, str]]:
    """``(name, image, description)`` for a picture file or the ``index`` images of an IDX file.

    Pictures are float ``(C, H, W)`` in 0..1, IDX images ``uint8 (H, W)``; the description
    is ``"W×H MODE"`` (see :func:`~cnnnotes.training.images.load_picture`).
    """
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    with path.open("rb") as fh:
        head = fh.read(4)
    if head[:2] != GZIP_MAGIC and head != IMAGE_MAGIC.to_bytes(4, "big"):
        image, described = load_picture(path)
        return [(path.name, image, described)]
    try:
        images = read_idx_images(path)
    except DataCorruptError as exc:
        raise ImageError(str(exc)) from None
    if index.stop > len(images):
        raise ImageError(
            f"--index {index.start}:{index.stop} is beyond {path}, which holds "
            f"{len(images)} images (allowed: 0..{len(images) - 1})"
        )
    height, width = images.shape[1:]
    described = f"{width}×{height} grey (IDX)"
    return [(f"{path.name}[{i}]", images[i], described) for i in range(index.start, index.stop)]


def write_png(path: Path, images: list[torch.Tensor]) -> Path:
    """Write ``uint8 (28, 28)`` images side by side, unscaled, to a PNG file (atomically)."""
    from PIL import Image

    strip = torch.cat(images, dim=1).numpy()
    return atomic_write(path, lambda fh: Image.fromarray(strip).save(fh, format="PNG"))


def parser(prog: str = "cnnnotes predict") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Print the most likely classes of each image under a saved model. "
        "Pictures of any size and colour are made 28x28 grey, light on black, first.",
    )
    p.add_argument("checkpoint", type=Path, help="a model.pt written by cnnnotes train")
    p.add_argument(
        "images", type=Path, nargs="+", help="picture files (PNG, JPEG, ...) or IDX image files"
    )
    p.add_argument(
        "--index", type=index_range, default=slice(0, 1), help="N or START:STOP (IDX files)"
    )
    p.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    p.add_argument(
        "--invert",
        choices=INVERT,
        default="auto",
        help="make a light background dark: auto (when the border is light; default), yes, no",
    )
    p.add_argument(
        "--show",
        type=Path,
        metavar="FILE",
        help="write the 28x28 images that were classified, side by side, to this PNG file",
    )
    return p


def main(argv: list[str] | None = None, prog: str = "cnnnotes predict") -> int:
    """``cnnnotes predict ...``: exit status 0, or 2 with one line on a bad call."""
    p = parser(prog)
    args = p.parse_intermixed_args(argv)
    if args.show is not None and not args.show.parent.is_dir():
        p.error(f"--show: folder {args.show.parent} does not exist")
    if args.show is not None and args.show.is_dir():
        p.error(f"--show: {args.show} is a folder; give a file name such as seen.png")
    try:
        classifier = load_model(args.checkpoint)
    except (CheckpointError, FileNotFoundError) as exc:
        p.error(f"checkpoint: {exc}")
    try:
        top = integer(args.top, "--top", 1, len(classifier.classes))
        named = [item for path in args.images for item in read_images(path, args.index)]
        prepared = [prepare_image(image, args.invert) for _, image, _ in named]
    except (ImageError, OSError) as exc:
        p.error(f"image: {exc}")
    except ValueError as exc:
        p.error(str(exc))
    inputs = [image for image, _ in prepared]
    tops = classifier.top(torch.stack(inputs), top)
    if args.show is not None:
        try:
            write_png(args.show, inputs)
        except OSError as exc:
            p.error(f"--show: cannot write {args.show}: {exc.strerror or exc}")
    for (name, _, described), (_, notes), best in zip(named, prepared, tops, strict=True):
        print(f"{name}: " + ", ".join(f"{label} {100 * prob:.1f}%" for label, prob in best))
        print(f"    ({'; '.join([described, *notes])})")
    return 0
