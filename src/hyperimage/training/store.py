"""Training data in bounded memory: images prepared once into a file, windows and
hyper-images streamed from files.

Holding a training set as tensors grows with the set (3.6 MB per 512 x 384 image for the
``tid`` preset: about 37 GB for KonIQ-10k). Instead:

* :meth:`ImageStore.prepare` decodes, validates, scales down and preprocesses every image
  once, in ``DataLoader`` worker processes, with its window labels and weights (the
  selective rule's SSIM maps are computed there, image by image, and dropped). The
  preprocessed images go to one raw float32 file of fixed-size slots; only the per-window
  labels, weights and the Eq. 2 grid origins (a few KB per image) stay in memory, and are
  saved beside the images, so other processes (DDP ranks) open the same store.
* :meth:`ImageStore.windows` cuts the windows of one batch out of the file through a memory
  map that lives only for that batch, so resident memory is one batch, not the set.
* :class:`HyperImageCache` writes the hyper-image ``(D, U, V)`` of every image (stage 1 in eval
  mode) once, as float16, and :meth:`HyperImageCache.read` streams batches for stage 2.

Writes go through ``write`` at an offset rather than a writable memory map, so dirty pages
belong to the page cache, not to the training process.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.io import ImageError
from hyperimage.inference import preprocess
from hyperimage.inference.grid import PatchGrid
from hyperimage.inference.hyper_image import lay_on_grid
from hyperimage.inference.model import HyperImageModel, ModelConfig, read_image
from hyperimage.inference import scoring
from hyperimage.storage import load_tensors, save_tensors
from hyperimage.training import window_labels

#: A store's preprocessed images, and its per-window tables (labels, weights, grid origins).
IMAGES, INDEX = "images.f32", "index.safetensors"
STORE_FORMAT = 2
"""Version of the store's layout, part of its fingerprint: 2 records each image's size."""


def default_workers(n_images: int) -> int:
    """Preparation processes: as many as scoring decodes with
    (:func:`~hyperimage.inference.scoring.default_workers`), none for a handful of images."""
    return 0 if n_images < 8 else scoring.default_workers()


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)


def _as_is(item: dict) -> dict:
    return item


class _Prepare(Dataset):
    """Item ``i``: record ``i`` decoded, labelled by the window-label rule and preprocessed,
    or the error message of a file that could not be read.

    Items are NumPy arrays, pickled through the worker's pipe as they are (``collate_fn``
    :func:`_as_is`): sent as torch tensors in shared memory, they stayed alive in the worker
    of every DataLoader after a process's first (measured: 2 MB more per image).
    """

    def __init__(self, records: Sequence[ImageRecord], config: ModelConfig, grid: PatchGrid):
        self.records, self.config, self.grid = list(records), config, grid
        self._refs: dict[Path, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.records)

    def _reference(self, rec: ImageRecord) -> torch.Tensor:
        if rec.reference not in self._refs:
            if len(self._refs) >= 4:
                self._refs.pop(next(iter(self._refs)))
            self._refs[rec.reference] = read_image(rec.reference, self.config, self.grid)
        return self._refs[rec.reference]

    def __getitem__(self, i: int) -> dict:
        rec, config, grid = self.records[i], self.config, self.grid
        rule = window_labels.get(config.window_labels)
        try:
            img = read_image(rec.path, config, grid)
            ref = None
            if getattr(rule, "uses_reference", False) and rec.reference is not None and rec.reference.resolve() != rec.path.resolve():
                ref = self._reference(rec)
                if ref.shape != img.shape:
                    raise ImageError(rec.path, f"size {tuple(img.shape)} differs from its reference {tuple(ref.shape)}")
        except ImageError as err:
            return {"index": i, "error": str(err)}
        with torch.no_grad():
            target = torch.tensor([rec.target], dtype=torch.float32)
            labels, weights = rule(img[None], target, grid, None if ref is None else ref[None], **config.window_label_args)
            image = preprocess.get(config.preprocess)(img[None])[0]
        rows, cols = grid.origins(img.shape[1], img.shape[2])
        return {
            "index": i, "image": image.numpy(), "labels": labels[0].numpy(), "weights": weights[0].numpy(),
            "rows": rows, "cols": cols, "pristine": ref is None,
        }


class ImageStore:
    """The preprocessed images of a record list in ``folder/images.f32``, with their windows.

    Unreadable images are left out with a warning naming each file (``errors`` keeps the
    messages), so one bad file never stops training. Each image sits at the top left of a
    slot of the grid's maximum size (``grid.fit_image`` never exceeds it).
    """

    def __init__(self, folder: str | Path, records: Sequence[ImageRecord], grid: PatchGrid):
        """Open a store that :meth:`prepare` wrote in ``folder`` for ``records``."""
        self.grid, self.folder = grid, Path(folder)
        self.path = self.folder / IMAGES
        tensors, meta = load_tensors(self.folder / INDEX)
        self.slot, self.errors = tuple(meta["slot"]), meta["errors"]
        self.records = [records[i] for i in meta["kept"]]
        self.targets = torch.tensor([r.target for r in self.records], dtype=torch.float32)
        self.rows, self.cols, self.sizes = tensors["rows"], tensors["cols"], tensors["sizes"]
        self.labels, self.weights = tensors["labels"], tensors["weights"]

    @classmethod
    def prepare(
        cls, records: Sequence[ImageRecord], model: HyperImageModel, folder: str | Path, workers: int | None = None
    ) -> "ImageStore":
        """Decode, label and preprocess ``records`` into ``folder`` (``workers`` processes,
        ``None``: :func:`default_workers`), then open the store.

        A store already there for the same files (names, sizes, modification times, targets)
        and model settings is opened as it is, so a resumed run does not prepare again.
        """
        config, grid = model.config, model.grid
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = fingerprint(records, config)
        if (folder / INDEX).is_file() and (folder / IMAGES).is_file():
            try:
                if load_tensors(folder / INDEX)[1].get("fingerprint") == stamp:
                    return cls(folder, records, grid)
            except ValueError:
                pass  # a damaged index: prepare again
        slot = (config.channels, *grid.max_size)
        slot_bytes = 4 * int(np.prod(slot))
        workers = default_workers(len(records)) if workers is None else workers
        loader = DataLoader(
            _Prepare(records, config, grid), batch_size=None, num_workers=workers, collate_fn=_as_is,
            worker_init_fn=_one_thread if workers else None,
        )
        kept, errors = [], []
        rows, cols, labels, weights, pristine, sizes = [], [], [], [], [], []
        (folder / INDEX).unlink(missing_ok=True)  # the index is written last: none means the images are not whole
        with open(folder / IMAGES, "wb") as out:
            for item in loader:
                if "error" in item:
                    errors.append(item["error"])
                    warnings.warn(f"skipped: {item['error']}", stacklevel=2)
                    continue
                padded = np.zeros(slot, dtype=np.float32)
                image = item["image"]
                padded[:, : image.shape[1], : image.shape[2]] = image
                out.seek(len(kept) * slot_bytes)
                out.write(padded.tobytes())
                kept.append(item["index"])
                rows.append(torch.from_numpy(item["rows"]))
                cols.append(torch.from_numpy(item["cols"]))
                labels.append(torch.from_numpy(item["labels"]))
                weights.append(torch.from_numpy(item["weights"]))
                pristine.append(item["pristine"])
                sizes.append(torch.tensor(image.shape[1:]))
        if not kept:
            raise ValueError("no readable images in this set")
        weights_t = torch.stack(weights)
        if getattr(window_labels.get(config.window_labels), "balance_references", False):
            weights_t = balance(weights_t, torch.tensor(pristine))
        tensors = {
            "rows": torch.stack(rows), "cols": torch.stack(cols), "sizes": torch.stack(sizes), "labels": torch.stack(labels),
            "weights": weights_t,
        }
        save_tensors(folder / INDEX, tensors, {"slot": list(slot), "kept": kept, "errors": errors, "fingerprint": stamp})
        return cls(folder, records, grid)

    def __len__(self) -> int:
        return len(self.records)

    def _map(self) -> np.memmap:
        return np.memmap(self.path, dtype=np.float32, mode="r", shape=(len(self), *self.slot))

    def windows(self, n: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Windows of images ``n`` at grid cells ``(u, v)``: ``(K,)`` x3 -> ``(K, C, p, p)``."""
        ar = torch.arange(self.grid.patch)
        r = (self.rows[n, u][:, None] + ar).numpy()
        c = (self.cols[n, v][:, None] + ar).numpy()
        cut = self._map()[n.numpy()[:, None, None], :, r[:, :, None], c[:, None, :]]
        return torch.from_numpy(np.ascontiguousarray(cut)).permute(0, 3, 1, 2)

    def images(self, n: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Images ``n`` as ``(len(n), C, H, W)``: their top-left ``size`` (e.g. the size they
        share, from :meth:`origin_groups`), or whole slots (zero beyond each image)."""
        h, w = size or self.slot[1:]
        return torch.from_numpy(np.array(self._map()[n.numpy(), :, :h, :w]))

    def kept_windows(self) -> torch.Tensor:
        """Indices ``(K, 3)`` of all windows with a non-zero weight."""
        return (self.weights > 0).nonzero()

    def origin_groups(self, per: int) -> Iterator[tuple[torch.Tensor, np.ndarray, np.ndarray, tuple[int, int]]]:
        """Image indices in chunks of at most ``per`` that share their size and so their grid
        origins, with those origins and the size: what one fast-path call takes."""
        u, v = self.grid.grid
        keys = torch.cat([self.rows, self.cols, self.sizes], dim=1)
        for key in torch.unique(keys, dim=0):
            members = (keys == key).all(dim=1).nonzero().flatten()
            for start in range(0, len(members), per):
                yield members[start : start + per], key[:u].numpy(), key[u : u + v].numpy(), tuple(key[u + v :].tolist())


def fingerprint(records: Sequence[ImageRecord], config: ModelConfig) -> str:
    """A digest of what a store holds: each record's files (path, size, modification time),
    target and split, and the model settings that shape the prepared images and labels."""
    digest = hashlib.sha256()
    settings = (STORE_FORMAT, config.image_mode, config.channels, config.patch, config.grid, config.max_size, config.preprocess,
                config.window_labels, config.window_label_args)
    digest.update(repr(settings).encode())
    for rec in records:
        for path in (rec.path, rec.reference):
            st = path.stat() if path is not None and path.exists() else None
            digest.update(repr((str(path), st and (st.st_size, st.st_mtime_ns))).encode())
        digest.update(repr((rec.target, rec.split)).encode())
    return digest.hexdigest()


def balance(weights: torch.Tensor, pristine: torch.Tensor) -> torch.Tensor:
    """Scale the windows of pristine images ``(N,)`` so both kinds carry equal total weight."""
    total_pristine = weights[pristine].sum()
    total_distorted = weights[~pristine].sum()
    if total_pristine == 0 or total_distorted == 0:
        return weights
    out = weights.clone()
    out[pristine] *= total_distorted / total_pristine
    return out


class HyperImageCache:
    """Per-cell features ``(N, D, U, V)`` of an :class:`ImageStore`, float16 in ``folder/NAME.f16``:
    the hyper-images, or (``features``) what a frozen trunk gives every cell.

    Built once in eval mode; for hyper-images ``means`` keeps each image's mean patch score
    (:meth:`HyperImageModel.cell_scores`, computed in float32 before the cast), which the
    patch-averaging baseline calibrates on.
    """

    def __init__(self, folder: str | Path, name: str, targets: torch.Tensor):
        """Open the cache :meth:`build` wrote as ``folder/NAME``, for images with ``targets``."""
        self.path = Path(folder) / f"{name}.f16"
        tensors, meta = load_tensors(Path(folder) / f"{name}.safetensors")
        self.shape, self.means, self.targets = tuple(meta["shape"]), tensors["means"], targets

    @classmethod
    def build(
        cls, store: ImageStore, model: HyperImageModel, folder: str | Path, name: str, batch: int = 2048,
        features: Callable[[torch.Tensor, np.ndarray, np.ndarray], torch.Tensor] | None = None, depth: int | None = None,
    ) -> "HyperImageCache":
        """Compute and write the hyper-images of ``store`` (``batch`` patches per stage-1 call), then open them.

        ``features``: instead of the model's hyper-image, ``(B, C, H, W), rows, cols -> (B, U, V,
        depth)`` per cell (e.g. :meth:`~hyperimage.inference.networks.TrunkStage1.trunk_grid`);
        ``means`` is then 0.
        """
        u, v = store.grid.grid
        shape = (len(store), depth or model.stage1.num_features, u, v)
        item_bytes = 2 * int(np.prod(shape[1:]))
        means = torch.zeros(len(store))
        model.eval()
        with open(Path(folder) / f"{name}.f16", "wb") as out, torch.no_grad():
            out.truncate(len(store) * item_bytes)
            for n, rows, cols, size in store.origin_groups(max(1, batch // (u * v))):
                images = store.images(n, size).to(model.device)
                if features is None:
                    hyper = lay_on_grid(model.grid_features(images, rows, cols))
                    means[n] = model.cell_scores(hyper).mean(dim=(1, 2)).cpu()
                else:
                    hyper = lay_on_grid(features(images, rows, cols))
                half = hyper.to(torch.float16).cpu().numpy()
                for k, index in enumerate(n.tolist()):
                    out.seek(index * item_bytes)
                    out.write(half[k].tobytes())
        save_tensors(Path(folder) / f"{name}.safetensors", {"means": means}, {"shape": list(shape)})
        return cls(folder, name, store.targets)

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, n: torch.Tensor) -> torch.Tensor:
        """Hyper-images of images ``n`` as float32 ``(len(n), D, U, V)``."""
        mapped = np.memmap(self.path, dtype=np.float16, mode="r", shape=self.shape)
        return torch.from_numpy(mapped[n.numpy()].astype(np.float32))
