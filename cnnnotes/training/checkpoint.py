"""Checkpoints you can use as saved: weights plus everything needed to predict.

A checkpoint is a ``torch.save`` file ``{"state_dict": ..., "meta": ...}`` loaded with
``weights_only=True``. ``meta`` holds plain values only; the keys that make it usable:

* ``"model"``: the architecture, a name in :data:`cnnnotes.training.models.MODELS`;
* ``"normalization"``: ``{"mean": float, "std": float}``, the input normalisation the
  model was trained with (``{"mean": 0.0, "std": 1.0}`` for raw ``[0, 1]`` inputs);
* ``"classes"``: the class names in label order (optional; default
  :data:`cnnnotes.training.data.CLASSES`);
* ``"provenance"``: command, versions, machine, threads, date
  (:func:`cnnnotes.training.results.provenance`); training records add ``"recipe"``, ``"seed"``,
  ``"history"`` and ``"test_acc"``.

A file may also hold an ``"int8"`` key: weights stored in 8 bits with one scale per row
(``save_checkpoint(..., int8=[names])``, :mod:`~.quantize`), rebuilt in float32 on loading.

:func:`load_model` returns a :class:`Classifier` whose :meth:`~Classifier.predict`
takes raw images (``uint8`` 0..255 or float 0..1) and applies the normalisation.
A file that is not such a checkpoint raises :class:`CheckpointError`, never a bare
``KeyError`` or unpickling error.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnnotes._io import atomic_save
from cnnnotes._validate import integer
from cnnnotes.training.data import CLASSES
from cnnnotes.training.models import MODELS, build_model
from cnnnotes.training.quantize import dequantize_rows, quantize_rows

PLAIN = (str, int, float, bool, type(None))
IDENTITY = {"mean": 0.0, "std": 1.0}
"""The normalisation of a model trained on raw ``[0, 1]`` inputs."""


class CheckpointError(ValueError):
    """The file exists but is not a usable cnnnotes checkpoint (foreign, truncated, wrong)."""


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


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    meta: dict[str, Any],
    int8: Sequence[str] = (),
) -> Path:
    """Write ``{"state_dict", "meta"}`` to ``path`` atomically (temporary file, then rename).

    The weights named in ``int8`` are stored in 8 bits with one scale per row
    (:func:`~.quantize.quantize_rows`, under the file's ``"int8"`` key) and rebuilt in
    float32 on loading: a quarter of their size, each weight moved by at most half a step.
    """
    if "model" not in meta:
        raise ValueError(
            "meta must name the model (meta['model'], a key of cnnnotes.training.models.MODELS)"
        )
    _check_plain(meta)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if isinstance(int8, str) or not all(isinstance(name, str) for name in int8):
        raise TypeError(f"int8 must be a list of weight names, got {int8!r}")
    unknown = [n for n in int8 if n not in state or not state[n].is_floating_point()]
    if unknown:
        raise ValueError(
            f"int8 names {unknown}, which are not float weights of the model; "
            f"it has {', '.join(state)}"
        )
    blob: dict[str, Any] = {"state_dict": state, "meta": meta}
    if int8:
        blob["int8"] = {}
        for name in int8:
            q, scale = quantize_rows(state.pop(name))
            blob["int8"][name] = {"q": q, "scale": scale}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_save(blob, path)


def _unpack_int8(blob: dict[str, Any], path: Path) -> None:
    """Rebuild the float32 weights stored in 8 bits (the ``"int8"`` key) into the state dict."""
    packed = blob.pop("int8", {})
    try:
        for name, entry in packed.items():
            blob["state_dict"][name] = dequantize_rows(entry["q"], entry["scale"])
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its 8-bit weights are not readable ({e})") from None


def _read(path: Path) -> dict[str, Any]:
    """The checkpoint's dict, or :class:`CheckpointError` saying why it is not one."""
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": a foreign file
            warnings.simplefilter("ignore", UserWarning)
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a foreign or cut file fails in many ways (pickle, zip, OS, index)
        raise CheckpointError(
            f"{path} is not a readable cnnnotes checkpoint: truncated, not written by "
            f"torch.save, or holding more than plain metadata ({type(e).__name__})"
        ) from None
    if not (isinstance(blob, dict) and isinstance(blob.get("meta"), dict)):
        raise CheckpointError(f"{path} is not a cnnnotes checkpoint: no 'state_dict' and 'meta'")
    if not isinstance(blob.get("state_dict"), dict):
        raise CheckpointError(f"{path} is not a cnnnotes checkpoint: no 'state_dict'")
    _unpack_int8(blob, path)
    name = blob["meta"].get("model")
    if name not in MODELS:
        raise CheckpointError(
            f"{path}: meta['model'] is {name!r}; a cnnnotes checkpoint names one of "
            f"{', '.join(sorted(MODELS))}"
        )
    return blob


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """The model named in the checkpoint's metadata, with its weights, in eval mode."""
    path = Path(path)
    blob = _read(path)
    model = build_model(blob["meta"]["model"])
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{path}: the weights do not fit the model: {first}") from None
    model.eval()
    return model, blob["meta"]


@dataclass
class Classifier:
    """A trained model with the input normalisation and class names it was saved with."""

    model: nn.Module
    mean: float
    std: float
    classes: tuple[str, ...]
    meta: dict[str, Any]

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Raw images → the normalised ``(N, 1, H, W)`` float32 batch the model was trained on.

        ``uint8`` images are divided by 255 (as ``ToTensor``); float images must already be
        in ``[0, 1]``. Shapes ``(H, W)``, ``(N, H, W)`` and ``(N, 1, H, W)`` are accepted.
        """
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
        if images.dtype == torch.uint8:
            x = images.to(torch.float32) / 255.0
        elif images.is_floating_point():
            x = images.to(torch.float32)
        else:
            raise TypeError(f"images must be uint8 (0..255) or float (0..1), got {images.dtype}")
        if x.ndim == 2:
            x = x[None, None]
        elif x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(
                "images must have shape (H, W), (N, H, W) or (N, 1, H, W), "
                f"got {tuple(images.shape)}"
            )
        return (x - self.mean) / self.std

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(N, len(classes))`` for raw images (see :meth:`prepare`)."""
        was_training = self.model.training
        self.model.eval()
        try:
            return self.model(self.prepare(images)).softmax(1)
        finally:
            self.model.train(was_training)

    def top(self, images: torch.Tensor, k: int = 3) -> list[list[tuple[str, float]]]:
        """For each image, the ``k`` most likely ``(class name, probability)``, best first."""
        k = integer(k, "k", 1, len(self.classes))
        probs, idx = self.predict(images).topk(k, dim=1)
        return [
            [(self.classes[i], p) for i, p in zip(row_i.tolist(), row_p.tolist(), strict=True)]
            for row_i, row_p in zip(idx, probs, strict=True)
        ]


def load_model(path: str | os.PathLike[str]) -> Classifier:
    """One call from a checkpoint file to a ready-to-use :class:`Classifier` (eval mode).

    Missing ``"normalization"`` means raw inputs; missing ``"classes"`` means
    :data:`cnnnotes.training.data.CLASSES`.
    """
    model, meta = load_checkpoint(path)
    norm = meta.get("normalization", IDENTITY)
    try:
        mean, std = float(norm["mean"]), float(norm["std"])
    except (TypeError, KeyError, ValueError):
        raise CheckpointError(
            f"{path}: meta['normalization'] must be {{'mean': float, 'std': float}}, got {norm!r}"
        ) from None
    if not std > 0:
        raise CheckpointError(f"{path}: meta['normalization']['std'] must be > 0, got {std}")
    classes = tuple(meta.get("classes") or CLASSES)
    with torch.no_grad():
        out = model(torch.zeros(1, 1, 28, 28)).shape[1]
    if len(classes) != out:
        raise CheckpointError(f"{path}: {len(classes)} class names for a model with {out} outputs")
    return Classifier(model, mean, std, classes, meta)
