"""Training throughput: the full input pipeline from Zarr against the in-memory compute ceiling,
in float32 and in mixed bfloat16 (`model.precision`).

    python benchmarks/bench_train.py [--quick]

Writes a temporary stamps store of Poisson 128x128 images (the paper's stamp size, chunks of one
cluster's 24 images), then trains the paper's CNN (batch 32, one process) for timed epochs:
  pipeline: xraymass.train.data.training_dataset (Zarr chunks -> generator -> shuffle -> batch ->
            prefetch) feeding the training step, as `xraymass train` runs it;
  ceiling:  the same model and training step on the same batches already in memory as tensors;
  read:     the input pipeline alone, no training.
Both the pipeline and the ceiling are timed for a float32 model and a mixed_bfloat16 one (same
weights at the start). The modes alternate epoch by epoch and each keeps its best epoch (the least
disturbed by other load). Prints images/s of each, the ratios pipeline / ceiling and bfloat16 /
float32, measured side by side in one run.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import xraymass  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from xraymass.store import mark_complete, open_store, write_array

PER_CLUSTER = 24
PRECISIONS = ("float32", "mixed_bfloat16")


def write_store(path: Path, n_clusters: int, npix: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    root = open_store(path, "a")
    stamps = root.create_group("stamps")
    labels = np.repeat(rng.uniform(13.6, 15.0, n_clusters), PER_CLUSTER).astype(np.float32)
    images = rng.poisson(2.0, (n_clusters * PER_CLUSTER, npix, npix)).astype(np.int32)
    write_array(stamps, "images", images, per_chunk=True, chunks=(PER_CLUSTER, npix, npix))
    n = n_clusters * PER_CLUSTER
    for name, values in {"log_m500c": labels, "halo_id": np.repeat(np.arange(n_clusters), PER_CLUSTER),
                         "projection": np.tile(np.repeat(np.arange(3), 8), n_clusters).astype(np.int8),
                         "augmentation": np.tile(np.arange(8), 3 * n_clusters).astype(np.int8),
                         "fold": np.repeat(np.arange(n_clusters) % 10, PER_CLUSTER).astype(np.int8)}.items():
        write_array(stamps, name, values, chunks=(n,))
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
        steps = {}
        for precision in PRECISIONS:
            model = build_model(npix, [16, 32, 64], 3, 2, [200, 100, 20], 0.1, "same", "log1p", output_bias=14.3,
                                seed=1, precision=precision)
            model(tf.zeros((1, npix, npix, 1)), training=True)
            steps[precision] = fit.make_steps(model, tf_keras.optimizers.Adam(5e-4), workers)[0]

        def pipeline(epoch):
            return data.training_dataset(stamps, blocks, epoch, 7, batch, 2048, workers)

        in_memory = [(tf.constant(x), tf.constant(y)) for x, y in pipeline(0)]
        for train_step in steps.values():
            for x, y in in_memory:  # trace and warm up
                train_step(x, y)

        def rate(run, epoch) -> float:
            start = time.perf_counter()
            run(epoch)
            return n_images / (time.perf_counter() - start)

        def from_zarr(train_step):
            def run(epoch):
                for x, y in pipeline(epoch):
                    train_step(x, y).numpy()
            return run

        def from_memory(train_step):
            def run(epoch):
                for x, y in in_memory:
                    train_step(x, y).numpy()
            return run

        def read_only(epoch):
            for _ in pipeline(epoch):
                pass

        modes = {"read": read_only}
        for precision, train_step in steps.items():
            modes[f"ceiling {precision}"] = from_memory(train_step)
            modes[f"full {precision}"] = from_zarr(train_step)
        rates = {name: [] for name in modes}
        for epoch in range(1, epochs + 1):  # alternate the modes; keep each one's best epoch
            for name, run in modes.items():
                rates[name].append(rate(run, epoch))
        best = {name: max(values) for name, values in rates.items()}
    print(f"bench_train: {n_images} images of {npix}x{npix} ({n_clusters} clusters), batch {batch}, best of {epochs} "
          f"alternating epochs per mode, 1 process, {tf.config.threading.get_intra_op_parallelism_threads() or 'all'} intra-op threads, "
          f"devices: {', '.join(d.device_type for d in tf.config.list_logical_devices())}")
    for precision in PRECISIONS:
        full, ceiling = best[f"full {precision}"], best[f"ceiling {precision}"]
        print(f"  {precision:15s} full pipeline from Zarr (train): {full:8.1f} images/s   in-memory ceiling: "
              f"{ceiling:8.1f} images/s   pipeline / ceiling: {full / ceiling:.3f}")
    print(f"  input pipeline alone (read):      {best['read']:9.1f} images/s")
    print(f"  mixed_bfloat16 / float32:  ceiling {best['ceiling mixed_bfloat16'] / best['ceiling float32']:.2f}x, "
          f"full pipeline {best['full mixed_bfloat16'] / best['full float32']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
