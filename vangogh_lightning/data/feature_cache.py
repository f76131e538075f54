"""Frozen-prefix features (``data.feature_cache``): what a backbone's frozen first ``features`` modules make of
each image and augmentation view, computed once and stored, so that every later epoch, fold and trial runs only
the modules that train.

A stored tensor is a pure function of what its key covers: the frozen modules' weights (a digest of their bytes),
where they are cut, the precision they ran in, the transforms, the image size and decoding settings, the image (its
:func:`file_stamp`, or a generated image's seed) and the view's seed. Frozen AlexNet/VGG-19 modules have no batch
norm and no dropout, so training or evaluation mode does not enter it. Entries are fp16 ``.npy`` (fp32 where a
value would not fit fp16), written atomically: two processes computing one entry both write the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset, RandomSampler, Sampler

from vangogh_lightning.core.atomic import atomic_save_array, atomic_write_text, write_problem
from vangogh_lightning.core.errors import UserError
from vangogh_lightning.data.caches import entry_path, file_identity, npy_usage

VERSION = 1  # raise it when code behind a stored tensor changes (a transform's or a generator's code: not in its repr)
VALIDATION_VIEW = -1  # the deterministic view: validation, the out-of-fold pass
FP16_MAX = float(np.finfo(np.float16).max)


def prefix_depth(features: nn.Sequential) -> int:
    """How many leading modules of ``features`` have no parameter that trains (0: nothing to cache)."""
    for depth, module in enumerate(features):
        if any(p.requires_grad for p in module.parameters()):
            return depth
    return len(features)


def weights_digest(modules: nn.Module) -> str:
    """SHA-1 of the names, shapes and bytes of every parameter and buffer of ``modules``."""
    digest = hashlib.sha1(usedforsecurity=False)
    for name, tensor in modules.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def image_identity(row: pd.Series) -> str:
    """What an image is, as far as its pixels go: a file's resolved path and stamp, or a generated image's seed."""
    if row["path"] is None:
        return f"synthetic|{int(row['seed'])}|{int(row['label'])}"
    return file_identity(row["path"])


def view_seed(row: pd.Series, view: int, seed: int) -> int:
    """The seed augmentation view ``view`` of ``row``'s image is drawn with: the same in every fold and trial."""
    name = row["filename"] if row["path"] is not None else f"synthetic-{int(row['seed'])}"
    text = f"{seed}|{name}|{view}"
    return int.from_bytes(hashlib.sha1(text.encode(), usedforsecurity=False).digest()[:8], "little")


def _npy_size(shape: tuple[int, ...], dtype: type) -> int:
    """Bytes of an ``.npy`` file of one array of ``shape`` and ``dtype``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                  "shape": shape})
    return len(buffer.getvalue()) + int(np.prod(shape)) * np.dtype(dtype).itemsize


class FeatureStore:
    """The entries of one frozen prefix under ``<folder>/<key>/``; ``settings`` (JSON-able) is everything
    besides the image and view that changes a stored tensor, ``shape`` what one entry holds."""

    def __init__(self, folder: str | Path, settings: dict, shape: Sequence[int]):
        text = json.dumps({"version": VERSION, **settings}, sort_keys=True)
        self.key = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:20]
        self.root = Path(folder).expanduser()
        self.folder = self.root / self.key
        self.settings, self.shape = settings, tuple(shape)
        self.sizes = {_npy_size(self.shape, dtype) for dtype in (np.float16, np.float32)}

    def stored(self, path: Path) -> bool:
        """True when ``path`` holds an entry of the right size (one cut short or foreign is computed again)."""
        try:
            return path.stat().st_size in self.sizes
        except OSError:
            return False

    def problem(self) -> str | None:
        """Why entries cannot be written here (a file, not writable, a full disk), or None."""
        return write_problem(self.folder)

    def entry(self, identity: str, view: int, seed: int | None) -> Path:
        """Where the features of one image's view live."""
        return entry_path(self.folder, f"{identity}|{view}|{seed}")

    def write(self, path: Path, features: torch.Tensor) -> None:
        """Store one entry (fp16, or fp32 where a value is beyond fp16's range) atomically."""
        array = features.detach().float().cpu().numpy()
        atomic_save_array(array.astype(np.float16) if np.abs(array).max(initial=0) < FP16_MAX else array, path)

    def describe_once(self) -> None:
        """Write ``about.json`` (what this folder's entries were computed with) if it is not there."""
        about = self.folder / "about.json"
        if not about.is_file():
            atomic_write_text(json.dumps({"version": VERSION, **self.settings, "shape": self.shape}, indent=2), about)

    def usage(self) -> tuple[int, int]:
        """(entries, bytes) this prefix's folder holds now."""
        return npy_usage(self.folder)


class CachedFeatures(Dataset):
    """Stored features with their labels: ``paths[i][v]`` is view ``v`` of image ``i``. An index is ``i`` (view 0)
    or ``(i, v)`` (what :class:`EpochViews` draws)."""

    def __init__(self, paths: list[list[Path]], labels: Sequence[float], shape: Sequence[int]):
        self.paths, self.labels, self.shape = paths, [float(y) for y in labels], tuple(shape)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        i, view = index if isinstance(index, tuple) else (index, 0)
        path = self.paths[i][view]
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise UserError(f"data.feature_cache: {path} cannot be read ({type(exc).__name__}: {exc}); delete it "
                            "and run again (it is computed again)") from None
        if array.shape != self.shape or array.dtype not in (np.float16, np.float32):
            raise UserError(f"data.feature_cache: {path} holds {array.dtype} {array.shape}, not features of "
                            f"shape {self.shape}; delete it and run again (it is computed again)")
        return torch.from_numpy(array), torch.tensor(self.labels[i])


class EpochViews(Sampler):
    """A random order of the images (``RandomSampler``'s), each with the view its epoch reads (epoch mod
    views). Drawing an epoch's order first has ``prepare`` store the entries that epoch will read: the first
    ``reads()`` of the order (fewer than all when the trainer limits its batches)."""

    def __init__(self, count: int, views: int, epoch: Callable[[], int], reads: Callable[[], int],
                 prepare: Callable[[list[int], int], None]):
        self.count, self.views, self.epoch, self.reads, self.prepare = count, views, epoch, reads, prepare

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = list(RandomSampler(range(self.count)))
        view = self.epoch() % self.views
        self.prepare(order[:self.reads()], view)
        return iter([(i, view) for i in order])
