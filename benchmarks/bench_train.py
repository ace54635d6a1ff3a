"""Training throughput: the full input pipeline from Zarr against the in-memory compute ceiling.

    python benchmarks/bench_train.py [--quick]

Writes a temporary stamps store of Poisson 128x128 images (the paper's stamp size, chunks of one
cluster's 24 images), then trains the paper's CNN (batch 32, one process) for timed epochs:
  pipeline: xraymass.train.data.training_dataset (Zarr chunks -> generator -> shuffle -> batch ->
            prefetch) feeding the training step, as `xraymass train` runs it;
  ceiling:  the same model and training step on the same batches already in memory as tensors;
  read:     the input pipeline alone, no training.
The modes alternate epoch by epoch and each keeps its best epoch (the least disturbed by other load).
Prints images/s of each and the ratio pipeline / ceiling, measured side by side in one run.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import xraymass  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from xraymass.store import mark_complete, open_store

PER_CLUSTER = 24


def write_store(path: Path, n_clusters: int, npix: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    root = open_store(path, "a")
    stamps = root.create_group("stamps")
    labels = np.repeat(rng.uniform(13.6, 15.0, n_clusters), PER_CLUSTER).astype(np.float32)
    images = stamps.create_array("images", shape=(n_clusters * PER_CLUSTER, npix, npix), dtype="int32",
                                 chunks=(PER_CLUSTER, npix, npix))
    for c in range(n_clusters):
        images[c * PER_CLUSTER:(c + 1) * PER_CLUSTER] = rng.poisson(2.0, (PER_CLUSTER, npix, npix))
    n = n_clusters * PER_CLUSTER
    for name, values in {"log_m500c": labels, "halo_id": np.repeat(np.arange(n_clusters), PER_CLUSTER),
                         "projection": np.tile(np.repeat(np.arange(3), 8), n_clusters).astype(np.int8),
                         "augmentation": np.tile(np.arange(8), 3 * n_clusters).astype(np.int8),
                         "fold": np.repeat(np.arange(n_clusters) % 10, PER_CLUSTER).astype(np.int8)}.items():
        stamps.create_array(name, data=values, chunks=(n,))
    stamps.attrs.update({"n_folds": 10, "npix": npix})
    mark_complete(stamps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer clusters and epochs")
    args = parser.parse_args(argv)
    n_clusters, epochs = (20, 2) if args.quick else (60, 4)

    import tensorflow as tf
    import tf_keras

    from xraymass.train import data, fit
    from xraymass.context import DistContext
    from xraymass.train.model import build_model

    workers, batch, npix = DistContext(), 32, 128
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store.zarr"
        write_store(store, n_clusters, npix)
        stamps = data.open_stamps(store)
        blocks = np.arange(stamps.n_blocks)
        n_images = len(blocks) * PER_CLUSTER
        fit.set_determinism(1, deterministic=True)
        model = build_model(npix, [16, 32, 64], 3, 2, [200, 100, 20], 0.1, "same", "log1p", output_bias=14.3, seed=1)
        model(tf.zeros((1, npix, npix, 1)), training=True)
        optimizer = tf_keras.optimizers.Adam(5e-4)
        train_step, _ = fit.make_steps(model, optimizer, workers)

        def pipeline(epoch):
            return data.training_dataset(stamps, blocks, epoch, 7, batch, 2048, workers)

        in_memory = [(tf.constant(x), tf.constant(y)) for x, y in pipeline(0)]
        for x, y in in_memory:  # trace and warm up
            train_step(x, y)

        def rate(run, epoch) -> float:
            start = time.perf_counter()
            run(epoch)
            return n_images / (time.perf_counter() - start)

        def from_zarr(epoch):
            for x, y in pipeline(epoch):
                train_step(x, y).numpy()

        def from_memory(epoch):
            for x, y in in_memory:
                train_step(x, y).numpy()

        def read_only(epoch):
            for _ in pipeline(epoch):
                pass

        rates = {"full": [], "ceiling": [], "read": []}
        for epoch in range(1, epochs + 1):  # alternate the modes; keep each one's best epoch
            rates["ceiling"].append(rate(from_memory, epoch))
            rates["full"].append(rate(from_zarr, epoch))
            rates["read"].append(rate(read_only, epoch))
        full, ceiling, read = (max(rates[k]) for k in ("full", "ceiling", "read"))
    print(f"bench_train: {n_images} images of {npix}x{npix} ({n_clusters} clusters), batch {batch}, best of {epochs} "
          f"alternating epochs per mode, 1 process, {tf.config.threading.get_intra_op_parallelism_threads() or 'all'} intra-op threads, "
          f"devices: {', '.join(d.device_type for d in tf.config.list_logical_devices())}")
    print(f"  full pipeline from Zarr (train):  {full:9.1f} images/s")
    print(f"  in-memory ceiling (train):        {ceiling:9.1f} images/s")
    print(f"  input pipeline alone (read):      {read:9.1f} images/s")
    print(f"  ratio pipeline / ceiling:         {full / ceiling:9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
