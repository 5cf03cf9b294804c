"""The IDX file format of (Fashion-)MNIST: header checks and reading images.

An IDX file is a big-endian header (magic number, item count, then one size per
item dimension) followed by the items as bytes. Magic ``2051`` holds ``uint8``
images, ``2049`` ``uint8`` labels. :func:`check_idx_header` holds a FashionMNIST
file to its expected kind, count and size; :func:`read_idx_images` reads any IDX
image file (e.g. for :mod:`cnnnotes.predict`).
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import torch

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049

# file stem -> (magic number, item count, item shape)
IDX_FILES: dict[str, tuple[int, int, tuple[int, ...]]] = {
    "train-images-idx3-ubyte": (IMAGE_MAGIC, 60_000, (28, 28)),
    "train-labels-idx1-ubyte": (LABEL_MAGIC, 60_000, ()),
    "t10k-images-idx3-ubyte": (IMAGE_MAGIC, 10_000, (28, 28)),
    "t10k-labels-idx1-ubyte": (LABEL_MAGIC, 10_000, ()),
}


class DataCorruptError(ValueError):
    """A FashionMNIST file exists but is not a valid IDX file of the expected size."""


def check_idx_header(header: bytes, stem: str, actual_size: int | None = None) -> None:
    """Check an IDX header (and the file size, if given) against what ``stem`` must hold.

    >>> check_idx_header(struct.pack(">IIII", 2051, 10000, 28, 28), "t10k-images-idx3-ubyte")
    >>> check_idx_header(struct.pack(">II", 2051, 5), "t10k-labels-idx1-ubyte")
    Traceback (most recent call last):
    ...
    cnnnotes.idx.DataCorruptError: t10k-labels-idx1-ubyte: magic number 2051, expected 2049 ...
    """
    if stem not in IDX_FILES:
        raise ValueError(f"unknown FashionMNIST file {stem!r}; expected one of {sorted(IDX_FILES)}")
    magic, count, shape = IDX_FILES[stem]
    need = 4 * (2 + len(shape))
    if len(header) < need:
        raise DataCorruptError(f"{stem}: file is {len(header)} bytes, too short for an IDX header")
    got_magic, got_count, *got_shape = struct.unpack(f">{2 + len(shape)}I", header[:need])
    if got_magic != magic:
        raise DataCorruptError(
            f"{stem}: magic number {got_magic}, expected {magic} (not an IDX file of this kind)"
        )
    if got_count != count or tuple(got_shape) != shape:
        raise DataCorruptError(
            f"{stem}: holds {got_count} items of shape {tuple(got_shape)}, "
            f"expected {count} items of shape {shape}"
        )
    expected_size = need + count * max(1, math.prod(shape))
    if actual_size is not None and actual_size != expected_size:
        raise DataCorruptError(
            f"{stem}: file is {actual_size} bytes, expected {expected_size} (truncated or padded)"
        )


def check_idx_file(path: str | os.PathLike[str]) -> None:
    """Check one decompressed IDX file: its name must be one of :data:`IDX_FILES`."""
    path = Path(path)
    with path.open("rb") as fh:
        header = fh.read(16)
    check_idx_header(header, path.name, path.stat().st_size)


def read_idx_images(path: str | os.PathLike[str]) -> torch.Tensor:
    """All images of an IDX image file as a ``uint8 (N, H, W)`` tensor (checked, not trusted).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x-idx3-ubyte"
    >>> _ = p.write_bytes(struct.pack(">IIII", 2051, 2, 1, 3) + bytes(range(6)))
    >>> read_idx_images(p).tolist()
    [[[0, 1, 2]], [[3, 4, 5]]]
    """
    blob = Path(path).read_bytes()
    if len(blob) < 16:
        raise DataCorruptError(f"{path}: {len(blob)} bytes, too short for an IDX image header")
    magic, n, h, w = struct.unpack(">IIII", blob[:16])
    if magic != IMAGE_MAGIC:
        raise DataCorruptError(f"{path}: magic number {magic}, expected {IMAGE_MAGIC} (images)")
    if len(blob) != 16 + n * h * w:
        raise DataCorruptError(
            f"{path}: {len(blob)} bytes, but its header promises {n} images of {h}x{w} = "
            f"{16 + n * h * w} bytes (truncated or padded)"
        )
    return torch.frombuffer(bytearray(blob[16:]), dtype=torch.uint8).reshape(n, h, w)
