"""The stamps as training input, streamed from Zarr one cluster chunk at a time.

A cluster's 24 images are one chunk of `stamps/images` (docs/store.md); a cluster is the unit of
shuffling, sharding and reading. Epoch e of a fold reads its training clusters in an order drawn
from (seed, e) alone, rank r takes every size-th cluster of that order, and tf.data's seeded shuffle
buffer mixes the images' rows across clusters before batching. The batches are gathered in numpy from
the chunks as they fall due. Nothing holds more than the shuffle buffer and one chunk per rank in
memory, at any scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from ..errors import InputError, StoreError
from ..layout import STAMPS
from ..rawread import RawChunks
from ..store import array_of, check_settings, is_complete, open_store, read_verified, record_of, verify_chunk
from ..context import DistContext


@dataclass
class Stamps:
    """The `stamps/` group: arrays stay on disk except the 1-D per-image columns."""

    path: Path
    images: zarr.Array
    log_m500c: np.ndarray
    halo_id: np.ndarray
    projection: np.ndarray
    augmentation: np.ndarray
    fold: np.ndarray
    n_folds: int
    block: int  # images per chunk (one cluster)
    raw: RawChunks | None = None  # the direct read of `images`, where its layout allows one

    @property
    def npix(self) -> int:
        return int(self.images.shape[1])

    @property
    def channels(self) -> int:
        """Energy bands per stamp: 1 for single-band images [N, npix, npix], C for [N, npix, npix, C]."""
        return 1 if self.images.ndim == 3 else int(self.images.shape[3])

    def as_input(self, block: np.ndarray) -> np.ndarray:
        """A block of stored images as network input [n, npix, npix, channels] float32."""
        return (block[..., None] if block.ndim == 3 else block).astype(np.float32)

    @property
    def n_blocks(self) -> int:
        return len(self.log_m500c) // self.block

    def rows(self, blocks: np.ndarray) -> np.ndarray:
        return (np.asarray(blocks)[:, None] * self.block + np.arange(self.block)).ravel()

    def read_block(self, b: int) -> np.ndarray:
        """Block b as stored: straight from its chunk file where xraymass.rawread.RawChunks reads the layout."""
        if self.raw is None:
            return np.asarray(self.images[b * self.block:(b + 1) * self.block])
        try:
            return self.raw.read(b)
        except ValueError as err:
            rows = f"rows {b * self.block}-{(b + 1) * self.block - 1}"
            raise StoreError(f"{self.path}/stamps/images: {rows}: {err}") from None

    def read_verified_block(self, b: int) -> np.ndarray:
        """Block b, checked against the stamps stage's record (StoreError naming the rows if not)."""
        from ..store import _read

        where = f"{self.path}/stamps/images"
        counts = _read(self.images, slice(b * self.block, (b + 1) * self.block), where)
        verify_chunk(self.images, b, counts, where)
        return counts


@dataclass(frozen=True)
class FoldSplit:
    fold: int
    validation_fold: int
    training_folds: tuple[int, ...]
    train: np.ndarray  # cluster (chunk) indices
    validation: np.ndarray
    test: np.ndarray


def check_made_with(store_path: Path, cfg, stage: str) -> None:
    """ConfigError naming the keys when the store's stamps were made with other `stamps` settings."""
    from ..stamps.config_schema import SETTINGS

    root = open_store(store_path, "r")
    if STAMPS in root:
        check_settings(root[STAMPS], cfg, SETTINGS, f"{store_path}/{STAMPS}", stage)


def open_stamps(store_path: Path) -> Stamps:
    """Open the finished `stamps/` group of the run's store (StoreError when absent, unfinished or
    not as the stamps stage recorded it; the images are checked block by block in check_values)."""
    root = open_store(store_path, "r")
    where = f"{store_path}/stamps"
    if STAMPS not in root:
        raise StoreError(f"{where}: no stamps in the store (run `xraymass stamps` first)")
    group = root[STAMPS]
    if not is_complete(group):
        raise StoreError(f"{where}: stamps are not complete (re-run `xraymass stamps`)")
    for name in ("images", "log_m500c", "halo_id", "projection", "augmentation", "fold"):
        if name not in group:
            raise StoreError(f"{where}: array '{name}' is missing")
    images = group["images"]
    record_of(images, f"{where}/images")
    n = images.shape[0]
    block = int(images.chunks[0])
    if images.ndim not in (3, 4) or images.shape[1] != images.shape[2] or n == 0 or n % block:
        raise StoreError(f"{where}/images: shape {images.shape}, chunks {images.chunks}; expected [N,npix,npix] "
                         "(or [N,npix,npix,bands]) in chunks of one cluster's images")
    columns = {name: read_verified(array_of(group, name, f"{where}/{name}"), f"{where}/{name}")
               for name in ("log_m500c", "halo_id", "projection", "augmentation", "fold")}
    for name, col in columns.items():
        if col.shape != (n,):
            raise StoreError(f"{where}/{name}: shape {col.shape}, expected ({n},) like images")
    if "n_folds" not in group.attrs:
        raise StoreError(f"{where}: attribute 'n_folds' is missing")
    return Stamps(store_path, images, columns["log_m500c"].astype(np.float32), columns["halo_id"],
                  columns["projection"], columns["augmentation"], columns["fold"], int(group.attrs["n_folds"]), block,
                  RawChunks.of(images))


def select_fold(stamps: Stamps, fold: int) -> FoldSplit:
    """Test fold `fold`, validation and training folds per `xraymass.stamps.folds.split`, as cluster lists."""
    from ..stamps.folds import split

    n = stamps.n_folds
    if not 0 <= fold < n:
        raise InputError(f"--fold {fold} is out of range: {stamps.path}/stamps has n_folds={n} (folds 0-{n - 1})")
    test_fold, validation_fold, training_folds = split(fold, n)
    block_fold = stamps.fold[::stamps.block]
    if not np.all(stamps.fold.reshape(-1, stamps.block) == block_fold[:, None]):
        raise StoreError(f"{stamps.path}/stamps/fold: a cluster's images are split over folds")
    pick = {name: np.flatnonzero(np.isin(block_fold, list(folds))) for name, folds in
            (("train", training_folds), ("validation", [validation_fold]), ("test", [test_fold]))}
    for name, folds in (("train", training_folds), ("validation", [validation_fold]), ("test", [test_fold])):
        if pick[name].size == 0:
            set_name = "training" if name == "train" else name
            raise InputError(f"fold {fold}: the {set_name} set (folds {', '.join(map(str, folds))}) holds no images "
                             f"in {stamps.path}/stamps/fold")
    return FoldSplit(fold, int(validation_fold), tuple(int(f) for f in training_folds),
                     pick["train"], pick["validation"], pick["test"])


def check_values(stamps: Stamps, split: FoldSplit) -> None:
    """Fail before training on a non-finite label, or a negative or non-finite count, or a block that
    differs from what the stamps stage wrote (chunk by chunk)."""
    where = f"{stamps.path}/stamps"
    blocks = np.sort(np.concatenate([split.train, split.validation, split.test]))
    labels = stamps.log_m500c[stamps.rows(blocks)]
    bad = np.flatnonzero(~np.isfinite(labels))
    if bad.size:
        row = stamps.rows(blocks)[bad[0]]
        raise InputError(f"{where}/log_m500c: {bad.size} non-finite labels (first: row {row}, halo "
                         f"{stamps.halo_id[row]}, value {labels[bad[0]]})")
    for b in blocks:
        counts = stamps.read_verified_block(int(b))
        if counts.dtype.kind == "f" and not np.isfinite(counts).all():
            raise InputError(f"{where}/images: non-finite counts (NaN or inf) in rows "
                             f"{b * stamps.block}-{(b + 1) * stamps.block - 1} (halo {stamps.halo_id[b * stamps.block]})")
        if (counts < 0).any():
            raise InputError(f"{where}/images: negative counts in rows {b * stamps.block}-"
                             f"{(b + 1) * stamps.block - 1} (halo {stamps.halo_id[b * stamps.block]})")


def epoch_seed(seed: int, epoch: int) -> int:
    """A 31-bit seed for epoch `epoch`, a function of (seed, epoch) only."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)


def steps_per_epoch(n_blocks: int, block: int, local_batch: int, workers: DistContext) -> int:
    """Batches per rank and epoch: every image once on one rank; with several ranks, the same whole
    number of full batches on every rank (collectives need equal step counts)."""
    if workers.size == 1:
        return -(-n_blocks * block // local_batch)
    return (n_blocks // workers.size) * block // local_batch


def shuffled_rows(rows: np.ndarray, seed: int, local_batch: int, shuffle_buffer: int, drop_remainder: bool,
                  steps: int) -> list[np.ndarray]:
    """The rows of each batch: `rows` through tf.data's shuffle buffer (`seed`) and batching, the order that
    shuffling the images themselves gives, at the cost of shuffling integers."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(rows).shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=False)
    return list(ds.batch(local_batch, drop_remainder=drop_remainder).take(steps).as_numpy_iterator())


def training_batches(stamps: Stamps, blocks: np.ndarray, epoch: int, seed: int, local_batch: int,
                     shuffle_buffer: int, workers: DistContext):
    """This rank's shuffled (counts float32 [n, npix, npix, channels], log_m500c [n]) batches of one epoch.

    A cluster's chunk is read when the first of its rows is due; each of its images is then held until its
    batch, so memory holds at most `shuffle_buffer` images and the rest of one chunk, as a shuffle buffer of
    images would, and every chunk is read once. Reading runs in the caller's thread between training steps:
    no input thread competes with TensorFlow's for the cores (benchmarks/bench_train.py).
    """
    s = epoch_seed(seed, epoch)
    order = np.random.default_rng(s).permutation(blocks)[workers.rank::workers.size]
    steps = steps_per_epoch(len(blocks), stamps.block, local_batch, workers)
    held: dict[int, np.ndarray] = {}
    for rows in shuffled_rows(stamps.rows(order), s, local_batch, shuffle_buffer, workers.size > 1, steps):
        counts = np.empty((len(rows), stamps.npix, stamps.npix, stamps.channels), np.float32)
        for i, row in enumerate(rows.tolist()):
            if row not in held:
                b = row // stamps.block
                # each image copied apart (no image holds on to the chunk), as stored: the batch converts it
                images = stamps.read_block(b).reshape(stamps.block, *counts.shape[1:])
                held.update(zip(range(b * stamps.block, (b + 1) * stamps.block), (image.copy() for image in images)))
            counts[i] = held.pop(row)  # what as_input gives: numpy's cast to float32
        yield counts, stamps.log_m500c[rows]


def prediction_batches(stamps: Stamps, blocks: np.ndarray, batch: int, workers: DistContext):
    """This rank's share of `blocks` in row order, as (counts, row index) batches of `batch` images."""
    rows = stamps.rows(np.sort(blocks)[workers.rank::workers.size])
    b, chunk = -1, None
    for lo in range(0, len(rows), batch):
        part = rows[lo:lo + batch]
        counts = np.empty((len(part), stamps.npix, stamps.npix, stamps.channels), np.float32)
        for i, row in enumerate(part.tolist()):
            if row // stamps.block != b:
                b = row // stamps.block
                chunk = stamps.as_input(stamps.read_block(b))
            counts[i] = chunk[row - b * stamps.block]
        yield counts, part
