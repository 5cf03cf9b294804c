"""FashionMNIST, found offline first.

The data sets are torchvision's ``FashionMNIST`` objects (the ecosystem's
convention). The files are looked for in this order:

1. an explicit ``root`` argument, else the ``CNNNOTES_DATA`` environment
   variable, else ``~/.cache/cnnnotes``: torchvision's layout
   ``<root>/FashionMNIST/raw/*-ubyte``;
2. Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``),
   decompressed into that layout;
3. torchvision's normal download.

Every file is checked (IDX magic number, item count, 28×28 images, exact size) before
torchvision reads it, and written atomically, so a truncated file is reported, not half-loaded.
Errors: :class:`DataNotFoundError` (no source), :class:`DataCorruptError` (a damaged file:
rebuilt from Debian's files when they are there, else named for deletion) and
:class:`DataNotWritableError` (the data folder cannot be written: permissions, disk full).

The IDX format: a big-endian header (magic number, item count, then one size per item
dimension) followed by the items as bytes; magic ``2051`` holds ``uint8`` images, ``2049``
``uint8`` labels. :func:`check_idx_header` holds a FashionMNIST file to its expected kind,
count and size; :func:`read_idx_images` reads any IDX image file (for ``predict``).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import torch
from torchvision import datasets

from cnnnotes._io import atomic_write

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
    cnnnotes.training.data.DataCorruptError: t10k-labels-idx1-ubyte: magic number 2051, ...
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

    A gzip-compressed file (as Debian ships them) is recognised by its first two bytes
    ``1f 8b``, whatever its name, and decompressed; a damaged one raises
    :class:`DataCorruptError` saying so.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x-idx3-ubyte"
    >>> _ = p.write_bytes(struct.pack(">IIII", 2051, 2, 1, 3) + bytes(range(6)))
    >>> read_idx_images(p).tolist()
    [[[0, 1, 2]], [[3, 4, 5]]]
    >>> _ = p.write_bytes(gzip.compress(p.read_bytes()))
    >>> read_idx_images(p).tolist()
    [[[0, 1, 2]], [[3, 4, 5]]]
    """
    blob = Path(path).read_bytes()
    if blob[:2] == b"\x1f\x8b":
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataCorruptError(f"{path}: gzip file is damaged or truncated ({exc})") from None
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


DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package puts the four ``.gz`` files."""

CLASSES: tuple[str, ...] = tuple(datasets.FashionMNIST.classes)
"""The ten class names, in label order (0 = T-shirt/top … 9 = Ankle boot)."""

FIXES = (
    "Fix it in one of these ways:\n"
    "  * install Debian's package: sudo apt-get install dataset-fashion-mnist\n"
    "  * or connect to the internet once, so torchvision can download the files\n"
    "  * or set CNNNOTES_DATA (or pass root=...) to a folder that already holds\n"
    "    FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte"
)


class DataNotFoundError(FileNotFoundError):
    """FashionMNIST is in none of the places looked at and cannot be downloaded."""


class DataNotWritableError(OSError):
    """The data folder cannot be written (no permission, disk full, a file in the way)."""


def default_root() -> Path:
    """The data folder: ``$CNNNOTES_DATA`` if set, else ``~/.cache/cnnnotes``."""
    env = os.environ.get("CNNNOTES_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cnnnotes"


def raw_folder(root: str | os.PathLike[str]) -> Path:
    """torchvision's folder for the raw IDX files under ``root``."""
    return Path(root) / "FashionMNIST" / "raw"


def _decompress_atomically(src: Path, dest: Path) -> None:
    """Decompress ``src`` into ``dest`` via a temporary file, checked before the rename.

    Reading errors (bad gzip stream, truncated source) raise :class:`DataCorruptError`
    naming ``src``; writing errors raise :class:`DataNotWritableError` naming ``dest``.
    """

    def write(out) -> None:
        try:
            raw = src.open("rb")
        except OSError as exc:
            raise DataCorruptError(f"{src}: cannot be read ({exc.strerror or exc})") from exc
        with raw, gzip.GzipFile(fileobj=raw, mode="rb") as inp:
            while True:
                try:
                    chunk = inp.read(1 << 20)
                except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
                    raise DataCorruptError(
                        f"{src}: cannot be decompressed, the gzip file is damaged or cut short "
                        f"({type(exc).__name__}: {exc}); reinstall dataset-fashion-mnist"
                    ) from exc
                if not chunk:
                    return
                out.write(chunk)

    def check(tmp: Path) -> None:
        with tmp.open("rb") as fh:
            header = fh.read(16)
        try:
            check_idx_header(header, dest.name, tmp.stat().st_size)
        except DataCorruptError as exc:
            raise DataCorruptError(f"{src} (decompressed): {exc}") from None

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, write, check=check)
    except OSError as exc:  # only writing is left: reading errors are DataCorruptError
        raise DataNotWritableError(
            f"cannot write {dest}: {exc.strerror or exc}. Free some disk space or make "
            "the folder writable, or set CNNNOTES_DATA (or pass root=...) to another folder"
        ) from exc


def _valid(path: Path) -> bool:
    """True if ``path`` holds a complete, correct IDX file."""
    try:
        check_idx_file(path)
    except (DataCorruptError, OSError):
        return False
    return True


def _complete(raw: Path) -> bool:
    return all((raw / stem).is_file() for stem in IDX_FILES)


def prepare(
    root: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    system_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Make sure the four IDX files are in ``root`` (see the module docstring); return root.

    ``system_dir`` defaults to :data:`DEBIAN_DIR`. Raises :class:`DataNotFoundError` naming
    the fixes when no source works, :class:`DataCorruptError` when a file is present but wrong.
    """
    root = Path(root) if root is not None else default_root()
    raw = raw_folder(root)
    system_dir = Path(system_dir) if system_dir is not None else DEBIAN_DIR
    sources = [system_dir / f"{stem}.gz" for stem in IDX_FILES]
    have_sources = all(src.is_file() for src in sources)
    if not _complete(raw) or have_sources:
        if have_sources:
            for src in sources:
                dest = raw / src.stem
                if not dest.is_file() or not _valid(dest):  # a damaged copy is rebuilt
                    _decompress_atomically(src, dest)
        elif download:
            _download(root, system_dir)
        if not _complete(raw):
            missing = [stem for stem in IDX_FILES if not (raw / stem).is_file()]
            raise DataNotFoundError(
                f"FashionMNIST not found: {raw} lacks {missing}, {system_dir} does not hold "
                f"the Debian files{'' if download else ', and downloading was turned off'}.\n"
                + FIXES
            )
    for stem in IDX_FILES:
        try:
            check_idx_file(raw / stem)
        except DataCorruptError as exc:
            raise DataCorruptError(
                f"{exc}. Delete {raw / stem} and run again to fetch a good copy"
            ) from None
    return root


def _download(root: Path, system_dir: Path) -> None:
    """torchvision's download; any failure becomes one :class:`DataNotFoundError`."""
    try:
        datasets.FashionMNIST(str(root), train=True, download=True)
        datasets.FashionMNIST(str(root), train=False, download=True)
    except Exception as exc:  # torchvision raises RuntimeError, URLError, OSError...
        raise DataNotFoundError(
            f"FashionMNIST is not in {raw_folder(root)} nor in {system_dir}, and torchvision's "
            f"download failed ({type(exc).__name__}: {exc}).\n" + FIXES
        ) from exc


def fashion_mnist(
    train: bool = True,
    root: str | os.PathLike[str] | None = None,
    *,
    transform=None,
    download: bool = True,
    system_dir: str | os.PathLike[str] | None = None,
) -> datasets.FashionMNIST:
    """The FashionMNIST training (``train=True``) or test set as a torchvision dataset.

    ``transform`` is passed to torchvision (e.g. ``transforms.ToTensor()``).
    """
    if not isinstance(train, bool):
        raise TypeError(f"train must be True or False, got {train!r}")
    root = prepare(root, download=download, system_dir=system_dir)
    return datasets.FashionMNIST(str(root), train=train, transform=transform, download=False)


def as_tensors(dataset: datasets.FashionMNIST) -> tuple[torch.Tensor, torch.Tensor]:
    """All images as float32 ``(N, 1, 28, 28)`` in [0, 1] and labels as int64 ``(N,)``.

    Exactly what ``transforms.ToTensor()`` gives item by item, done once for the whole set.
    """
    images = dataset.data.unsqueeze(1).to(torch.float32).div_(255.0)
    return images, dataset.targets.to(torch.int64).clone()
