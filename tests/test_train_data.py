"""Training input: the batches gathered in numpy are the ones tf.data gives by shuffling the images."""
from __future__ import annotations

import numpy as np
import pytest

import xraymass  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from xraymass.context import DistContext
from xraymass.train import data, fit

from test_train_helpers import PER_CLUSTER, write_stamps_store


def images_shuffled_by_tf(stamps, blocks, epoch, seed, local_batch, shuffle_buffer, workers):
    """The reference: each cluster's images through a generator, unbatched, shuffled and batched by tf.data."""
    import tensorflow as tf

    s = data.epoch_seed(seed, epoch)
    order = order_of(stamps, blocks, epoch, seed, workers)

    def chunks():
        for b in order:
            yield stamps.as_input(stamps.read_block(int(b))), stamps.log_m500c[stamps.rows([b])]

    ds = tf.data.Dataset.from_generator(chunks, output_signature=(
        tf.TensorSpec((None, stamps.npix, stamps.npix, stamps.channels), tf.float32),
        tf.TensorSpec((None,), tf.float32)))
    ds = ds.unbatch().shuffle(shuffle_buffer, seed=s, reshuffle_each_iteration=False)
    steps = data.steps_per_epoch(len(blocks), stamps.block, local_batch, workers)
    return [(x.numpy(), y.numpy()) for x, y in ds.batch(local_batch, drop_remainder=workers.size > 1).take(steps)]


def order_of(stamps, blocks, epoch, seed, workers):
    return np.random.default_rng(data.epoch_seed(seed, epoch)).permutation(blocks)[workers.rank::workers.size]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("stamps")
    write_stamps_store(root / "one.zarr", n_clusters=30, npix=16)
    write_stamps_store(root / "bands.zarr", n_clusters=12, npix=8, bands=[[0.5, 2.0], [2.0, 7.0]])
    fit.set_determinism(5, deterministic=True)
    return {name: data.open_stamps(root / f"{name}.zarr") for name in ("one", "bands")}


@pytest.mark.parametrize("name, size, batch, buffer", [("one", 1, 32, 100), ("one", 2, 16, 300), ("one", 1, 7, 1),
                                                        ("bands", 1, 10, 1000)])
def test_training_batches_are_tf_datas_shuffle_of_the_images(stores, name, size, batch, buffer):
    stamps = stores[name]
    blocks = np.arange(1, stamps.n_blocks, 2)  # not every cluster, not in store order
    for rank in range(size):
        workers = DistContext(rank=rank, size=size)
        for epoch in (1, 2):
            got = list(data.training_batches(stamps, blocks, epoch, 11, batch, buffer, workers))
            want = images_shuffled_by_tf(stamps, blocks, epoch, 11, batch, buffer, workers)
            assert len(got) == len(want) > 1
            for (x, y), (wx, wy) in zip(got, want):
                assert x.dtype == np.float32 and x.shape == wx.shape
                assert np.array_equal(x, wx) and np.array_equal(y, wy)
        stream = order_of(stamps, blocks, 2, 11, workers)
        in_stream_order = np.concatenate([stamps.as_input(stamps.read_block(b)) for b in stream])
        assert np.array_equal(got[0][0], in_stream_order[:batch]) == (buffer == 1)  # a buffer of one keeps the order


def test_each_chunk_is_read_once_and_at_most_the_buffer_and_one_chunk_is_held(stores, monkeypatch):
    stamps, buffer = stores["one"], 50
    reads = []
    read_block = stamps.read_block
    monkeypatch.setattr(stamps, "read_block", lambda b: reads.append(b) or read_block(b))
    emitted, most_held = 0, 0
    for x, _ in data.training_batches(stamps, np.arange(stamps.n_blocks), 3, 11, 8, buffer, DistContext()):
        emitted += len(x)
        most_held = max(most_held, len(reads) * PER_CLUSTER - emitted)
    assert sorted(reads) == list(range(stamps.n_blocks))
    assert emitted == stamps.n_blocks * PER_CLUSTER
    assert buffer - PER_CLUSTER < most_held <= buffer + PER_CLUSTER - 1


def test_prediction_batches_are_every_row_of_the_share_in_order(stores):
    stamps = stores["bands"]
    blocks = np.array([7, 2, 5, 3, 11])
    for rank in range(2):
        got = list(data.prediction_batches(stamps, blocks, 10, DistContext(rank=rank, size=2)))
        rows = stamps.rows(np.sort(blocks)[rank::2])
        assert [len(r) for _, r in got] == [len(rows[lo:lo + 10]) for lo in range(0, len(rows), 10)]
        assert np.array_equal(np.concatenate([r for _, r in got]), rows)
        images = np.concatenate([x for x, _ in got])
        assert images.dtype == np.float32
        share = rows[::PER_CLUSTER] // PER_CLUSTER
        assert np.array_equal(images, np.concatenate([stamps.as_input(stamps.read_block(b)) for b in share]))
