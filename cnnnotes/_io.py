"""Atomic file writes (private module): a file is either the old one or the complete new one.

Every writer goes to a temporary file in the destination's own folder (so the final
``os.replace`` is a rename on one file system, atomic on POSIX), is optionally
checked, and only then renamed over the destination. On any failure the temporary
file is removed and the destination is left as it was. ``data``, ``checkpoint``,
``results`` and ``cli`` all write through here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_save", "atomic_write", "atomic_write_bytes", "atomic_write_text"]


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[IO[bytes]], object],
    *,
    check: Callable[[Path], object] | None = None,
    mode: int = 0o644,
) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, ``check(tmp)``, then rename.

    The parent folder must exist. ``mode`` is the new file's permission bits
    (``mkstemp`` would leave 0600; nothing written here is secret).

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(folder / "a.bin", lambda fh: fh.write(b"hi")).read_bytes()
    b'hi'
    >>> sorted(p.name for p in folder.iterdir())  # no temporary file left
    ['a.bin']
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if check is not None:
            check(tmp)
        tmp.chmod(mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj, path)`` atomically."""
    import torch

    return atomic_write(path, lambda fh: torch.save(obj, fh))
