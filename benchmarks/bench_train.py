"""Training throughput: the full input pipeline from Zarr against the in-memory compute ceiling,
in float32 and in mixed bfloat16 (`model.precision`).

    python benchmarks/bench_train.py [--quick]

Writes a temporary stamps store of Poisson 128x128 images (the paper's stamp size, chunks of one
cluster's 24 images), then trains the paper's CNN (batch 32, one process). Modes:
  pipeline: xraymass.train.data.training_batches (row indices through tf.data's shuffle buffer, then each
            batch gathered in numpy from the Zarr chunks as they fall due) feeding the training step, as
            `xraymass train` runs it, epoch after epoch;
  ceiling:  the same model and training step on one epoch's batches already in memory as tensors, in turn;
  read:     the input pipeline alone, no training (one epoch, best of three), for the stage's images codec
            and zarr's default zstd, each read straight from the chunk files (xraymass.rawread.RawChunks,
            as training reads) and through Zarr.
The modes are timed in paired rounds: a few steps of each in turn, for as many steps of each, so that
a slow spell of a shared machine falls on both; a ratio is total time against total time. First float32
pipeline against float32 ceiling over several epochs, then all four (float32 and mixed_bfloat16, each
pipeline and ceiling, the same weights at the start) over one epoch, which gives the bfloat16 figures:
on a CPU without native bfloat16 a mixed_bfloat16 step is several times slower. Prints images/s of each
mode, the ratios pipeline / ceiling and bfloat16 / float32, measured side by side in one run.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import xraymass  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from xraymass.stamps.stage import IMAGE_COMPRESSORS
from xraymass.store import mark_complete, open_store, write_array

PER_CLUSTER = 24
PRECISIONS = ("float32", "mixed_bfloat16")


def write_store(path: Path, n_clusters: int, npix: int, seed: int = 0, compressors=IMAGE_COMPRESSORS) -> None:
    rng = np.random.default_rng(seed)
    root = open_store(path, "a")
    stamps = root.create_group("stamps")
    labels = np.repeat(rng.uniform(13.6, 15.0, n_clusters), PER_CLUSTER).astype(np.float32)
    images = rng.poisson(2.0, (n_clusters * PER_CLUSTER, npix, npix)).astype(np.int32)
    write_array(stamps, "images", images, per_chunk=True, chunks=(PER_CLUSTER, npix, npix), compressors=compressors)
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
    n_clusters, epochs = (20, 2) if args.quick else (60, 6)

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

        def pipeline(epoch, source=stamps):
            return data.training_batches(source, blocks, epoch, 7, batch, 2048, workers)

        in_memory = [(tf.constant(x), tf.constant(y)) for x, y in pipeline(0)]
        for train_step in steps.values():
            for x, y in in_memory:  # trace and warm up
                train_step(x, y)

        def paired(modes: dict, per_round: int = 3) -> dict:
            """Images/s of each mode, `per_round` steps of each in turn until one (a pipeline) runs out."""
            spent = {name: [0.0, 0] for name in modes}
            while True:
                for name, (train_step, batches) in modes.items():
                    start, ran = time.perf_counter(), 0
                    for x, y in itertools.islice(batches, per_round):
                        train_step(x, y).numpy()
                        spent[name][1] += len(x)
                        ran += 1
                    spent[name][0] += time.perf_counter() - start
                    if not ran:
                        return {name: n / t for name, (t, n) in spent.items()}

        def from_zarr(n_epochs):
            return itertools.chain.from_iterable(pipeline(epoch) for epoch in range(1, n_epochs + 1))

        def read_only(source) -> float:
            times = []
            for epoch in range(1, 4):
                start = time.perf_counter()
                for _ in pipeline(epoch, source):
                    pass
                times.append(time.perf_counter() - start)
            return n_images / min(times)

        write_store(Path(tmp) / "zstd.zarr", n_clusters, npix, compressors="auto")
        zstd = data.open_stamps(Path(tmp) / "zstd.zarr")
        reads = {}
        for codec, source in (("blosc lz4, bit shuffle (the stamps stage's)", stamps), ("zstd (zarr's default)", zstd)):
            size = source.images.nbytes_stored() / n_images
            reads[f"{codec}, {size / 1024:.1f} KiB/image: read directly"] = read_only(source)
            reads[f"{codec}, {size / 1024:.1f} KiB/image: read through Zarr"] = read_only(replace(source, raw=None))
        f32 = paired({"full": (steps["float32"], from_zarr(epochs)),
                      "ceiling": (steps["float32"], itertools.cycle(in_memory))})
        mixed = paired({f"{kind} {precision}": (steps[precision], from_zarr(1) if kind == "full"
                                                 else itertools.cycle(in_memory))
                        for precision in PRECISIONS for kind in ("full", "ceiling")})
    print(f"bench_train: {n_images} images of {npix}x{npix} ({n_clusters} clusters), batch {batch}, 1 process, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'all'} intra-op threads, "
          f"devices: {', '.join(d.device_type for d in tf.config.list_logical_devices())}")
    print(f"  float32, {epochs} epochs in paired rounds: full pipeline from Zarr (train) {f32['full']:7.1f} images/s, "
          f"in-memory ceiling {f32['ceiling']:7.1f}: pipeline / ceiling {f32['full'] / f32['ceiling']:.3f}")
    print(f"  all four, 1 epoch in paired rounds:")
    for precision in PRECISIONS:
        full, ceiling = mixed[f"full {precision}"], mixed[f"ceiling {precision}"]
        print(f"    {precision:15s} full pipeline {full:7.1f} images/s, in-memory ceiling {ceiling:7.1f}: "
              f"pipeline / ceiling {full / ceiling:.3f}")
    print(f"    mixed_bfloat16 / float32: ceiling {mixed['ceiling mixed_bfloat16'] / mixed['ceiling float32']:.2f}x, "
          f"full pipeline {mixed['full mixed_bfloat16'] / mixed['full float32']:.2f}x")
    print("  input pipeline alone (read), best of 3 epochs:")
    for name, rate in reads.items():
        print(f"    {name:70s} {rate:7.1f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
