"""The stamps as tf.data input, streamed from Zarr one cluster chunk at a time.

A cluster's 24 images are one chunk of `stamps/images` (docs/store.md); a cluster is the unit of
shuffling, sharding and reading. Epoch e of a fold reads its training clusters in an order drawn
from (seed, e) alone, rank r takes every size-th cluster of that order, and a seeded shuffle buffer
mixes images across clusters before batching; prefetching overlaps reads with training. Nothing
holds more than the shuffle buffer and one chunk per rank in memory, at any scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from ..errors import InputError, StoreError
from ..layout import STAMPS
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
        return np.asarray(self.images[b * self.block:(b + 1) * self.block])

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
                  columns["projection"], columns["augmentation"], columns["fold"], int(group.attrs["n_folds"]), block)


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


def training_dataset(stamps: Stamps, blocks: np.ndarray, epoch: int, seed: int, local_batch: int,
                     shuffle_buffer: int, workers: DistContext):
    """This rank's shuffled, batched, prefetched (counts, log_m500c) batches for one epoch."""
    import tensorflow as tf

    s = epoch_seed(seed, epoch)
    order = np.random.default_rng(s).permutation(blocks)[workers.rank::workers.size]
    steps = steps_per_epoch(len(blocks), stamps.block, local_batch, workers)

    def chunks():
        for b in order:
            rows = slice(b * stamps.block, (b + 1) * stamps.block)
            yield stamps.as_input(stamps.read_block(int(b))), stamps.log_m500c[rows]

    npix = stamps.npix
    ds = tf.data.Dataset.from_generator(chunks, output_signature=(
        tf.TensorSpec((None, npix, npix, stamps.channels), tf.float32), tf.TensorSpec((None,), tf.float32)))
    ds = ds.unbatch().shuffle(shuffle_buffer, seed=s, reshuffle_each_iteration=False)
    ds = ds.batch(local_batch, drop_remainder=workers.size > 1).take(steps)
    return ds.prefetch(tf.data.AUTOTUNE)


def prediction_dataset(stamps: Stamps, blocks: np.ndarray, batch: int, workers: DistContext):
    """This rank's share of `blocks` in order, as (counts, row index) batches."""
    import tensorflow as tf

    mine = np.sort(blocks)[workers.rank::workers.size]

    def chunks():
        for b in mine:
            rows = np.arange(b * stamps.block, (b + 1) * stamps.block, dtype=np.int64)
            yield stamps.as_input(stamps.read_block(int(b))), rows

    npix = stamps.npix
    ds = tf.data.Dataset.from_generator(chunks, output_signature=(
        tf.TensorSpec((None, npix, npix, stamps.channels), tf.float32), tf.TensorSpec((None,), tf.int64)))
    return ds.unbatch().batch(batch).prefetch(tf.data.AUTOTUNE)
