"""Checkpoints: weights plus plain metadata, saved atomically, loaded with ``weights_only=True``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnnotes.models import build_model

PLAIN = (str, int, float, bool, type(None))


def _check_plain(value: Any, where: str = "meta") -> None:
    """Metadata must load under ``weights_only=True``: plain values, lists and str-keyed dicts."""
    if type(value) in PLAIN:  # exact types: a str subclass such as TorchVersion would not load
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} keys must be str, got {key!r}")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(
        f"{where} is a {type(value).__name__}; metadata may hold str, int, float, bool, None, "
        "lists and dicts only"
    )


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, meta: dict[str, Any]) -> Path:
    """Write ``{"state_dict", "meta"}`` to ``path`` via a temporary file and a rename."""
    if "model" not in meta:
        raise ValueError(
            "meta must name the model (meta['model'], a key of cnnnotes.models.MODELS)"
        )
    _check_plain(meta)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"state_dict": state, "meta": meta}, tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a checkpoint is not secret
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """The model named in the checkpoint's metadata, with its weights, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(blob["meta"]["model"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model, blob["meta"]
