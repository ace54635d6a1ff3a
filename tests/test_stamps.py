"""Stamps kernels: the dihedral group, binning against numpy.histogram2d, folds."""
from __future__ import annotations

import numpy as np
import pytest
import zarr

from xraymass.errors import InputError
from xraymass.store import Reader, write_array
from xraymass.stamps.binning import SUB_BLOCK, TILE, Field, bin_events, bin_events_numpy, bin_projections, read_blocks
from xraymass.stamps.dihedral import all_transforms, transform
from xraymass.stamps.folds import assign_folds, split


@pytest.fixture
def asymmetric():
    return np.random.default_rng(1).integers(0, 1000, (16, 16))


def test_dihedral_transforms_keep_counts_and_are_all_distinct(asymmetric):
    images = all_transforms(asymmetric)
    assert images.shape == (8, 16, 16)
    assert (images.sum(axis=(1, 2)) == asymmetric.sum()).all()
    assert np.array_equal(images[0], asymmetric)
    assert len({im.tobytes() for im in images}) == 8


def test_dihedral_transforms_are_the_group_of_the_square(asymmetric):
    images = all_transforms(asymmetric)
    index = {im.tobytes(): a for a, im in enumerate(images)}
    table = np.array([[index.get(transform(images[i], j).tobytes(), -1) for j in range(8)] for i in range(8)])
    assert (table >= 0).all(), "a composition left the set of 8"
    for row in table:  # a group table is a Latin square: every element once per row and column
        assert sorted(row) == list(range(8))
    for column in table.T:
        assert sorted(column) == list(range(8))
    for reference in (np.fliplr(asymmetric), np.flipud(asymmetric), np.rot90(asymmetric), asymmetric.T):
        assert reference.tobytes() in index


def test_dihedral_rejects_a_bad_index(asymmetric):
    with pytest.raises(ValueError):
        transform(asymmetric, 8)


def histogram_reference(x, y, energy, x0, y0, width, npix, emin, emax):
    """An independent stamp: numpy.histogram2d over linspace edges, band edges inclusive; [row=y, col=x]."""
    band = (energy >= emin) & (energy <= emax)
    edges_x = np.linspace(x0, x0 + width, npix + 1)
    edges_y = np.linspace(y0, y0 + width, npix + 1)
    counts, _, _ = np.histogram2d(x[band], y[band], bins=[edges_x, edges_y])
    return counts.T.astype(np.int64)


def random_events(rng, n, lo, hi):
    return (rng.uniform(lo, hi, n).astype(np.float32), rng.uniform(lo, hi, n).astype(np.float32),
            rng.uniform(0.1, 10.0, n).astype(np.float32))


def test_binning_equals_histogram2d_with_events_on_every_edge():
    rng = np.random.default_rng(2)
    npix, width, x0, y0 = 128, 2400.0, 3.25, -5.5  # a pixel is 18.75: every edge is exact in float32
    x, y, energy = random_events(rng, 3 * SUB_BLOCK + 17, -200, 2600)  # several sub-blocks, outside too
    edges = (np.arange(npix + 1) * 18.75).astype(np.float32)
    n = len(edges)
    x[:n], y[:n] = x0 + edges, y0 + edges[::-1]  # the diagonal: corners and the far edges included
    x[n:2 * n], y[n:2 * n] = x0 + edges, y0 + 700.0
    x[2 * n:3 * n], y[2 * n:3 * n] = x0 + 1000.0, y0 + edges
    energy[:3 * n] = 1.0
    energy[3 * n:3 * n + 4] = [0.5, 7.0, np.nextafter(np.float32(0.5), 0), np.nextafter(np.float32(7.0), 8)]
    field = Field(x0, y0, width, npix)
    image = bin_events(x, y, energy, field, 0.5, 7.0)
    expected = histogram_reference(x, y, energy, x0, y0, width, npix, 0.5, 7.0)
    assert image.shape == (npix, npix) and image.dtype == np.int64
    assert np.array_equal(image, expected)
    assert image[npix - 1, npix - 1] >= 1 and image[npix - 1, 0] >= 1  # far corners kept, as histogram2d does


def test_binning_equals_histogram2d_off_grid_centre_and_small_stamp():
    rng = np.random.default_rng(3)
    x, y, energy = random_events(rng, 50_000, 0, 2400)
    field = Field.centred([1187.3712, 1210.0491], 1000.0, 37)
    image = bin_events(x, y, energy, field, 0.5, 7.0)
    assert np.array_equal(image, histogram_reference(x, y, energy, field.x0, field.y0, 1000.0, 37, 0.5, 7.0))


def test_binning_drops_nan_events():
    x = np.array([np.nan, 10.0, 10.0], np.float32)
    y = np.array([10.0, np.nan, 10.0], np.float32)
    energy = np.array([1.0, 1.0, np.nan], np.float32)
    assert bin_events(x, y, energy, Field(0, 0, 100, 10), 0.5, 7.0).sum() == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_kernel_equals_the_numpy_reference_bit_for_bit(dtype):
    """Edges, NaN, infinities, far-away values, tile boundaries and a band edge that float32 cannot hold."""
    rng = np.random.default_rng(5)
    x, y, energy = (a.astype(dtype) for a in random_events(rng, 3 * TILE + 5, -300, 2700))
    field = Field.centred([1187.3712, 1210.0491], 2000.0, 128)
    edges_x, edges_y = (e.astype(dtype) for e in field.edges())
    x[:129], y[:129] = edges_x, edges_y
    x[129:133] = [np.nan, np.inf, -np.inf, 1e30]
    y[133:137] = [np.nan, np.inf, -np.inf, -1e30]
    energy[137:141] = [np.nan, 1.2, np.nextafter(dtype(1.2), 0), 4.7]
    for emin, emax in ((0.5, 7.0), (1.2, 4.7)):
        image = bin_events(x, y, energy, field, emin, emax)
        assert np.array_equal(image, bin_events_numpy(x, y, energy, field, emin, emax))
        assert image.sum() > 0
    out = bin_events(x, y, energy, field, 0.5, 7.0)
    assert np.array_equal(bin_events(x, y, energy, field, 0.5, 7.0, out=out), 2 * image_of(x, y, energy, field))
    assert bin_events(x[:0], y[:0], energy[:0], field, 0.5, 7.0).sum() == 0


def within_three_steps(edges: np.ndarray) -> np.ndarray:
    """Each edge in float32, and the three float32 values either side of it."""
    values, up, down = [edges.astype(np.float32)], edges.astype(np.float32), edges.astype(np.float32)
    for _ in range(3):
        up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(-np.inf))
        values += [up, down]
    return np.concatenate(values)


def test_float32_kernel_equals_the_reference_on_and_around_every_edge_of_many_fields():
    """Float32 events go through the float32 kernel where the field's float32 grid is exact (float32_grid) and
    through the float64 one elsewhere; both equal the reference around every pixel edge and the field's edges."""
    rng = np.random.default_rng(13)
    kernels = []
    for trial in range(60):
        npix = int(rng.choice([16, 128, 129]))
        if trial % 2:
            centre = rng.integers(0, 8192, 2) / 2  # whole and half detector pixels, as the stamps stage centres
            field = Field.centred(centre, float(rng.choice([2400.0, 1200.0, 4096.0])), npix)
        else:
            field = Field(rng.uniform(-100, 8000), rng.uniform(-100, 8000), rng.uniform(1, 5000), npix)
        kernels.append(field.grids32 is not None)
        (ex, ey), n = field.edges(), 20_000
        x = np.concatenate([rng.choice(within_three_steps(ex), n), rng.uniform(ex[0] - 5, ex[-1] + 5, n)])
        y = np.concatenate([rng.choice(within_three_steps(ey), n), rng.uniform(ey[0] - 5, ey[-1] + 5, n)])
        x, y, energy = x.astype(np.float32), y.astype(np.float32), rng.uniform(0, 8, 2 * n).astype(np.float32)
        x[:4], y[4:8] = [np.nan, np.inf, -np.inf, 1e30], [np.nan, np.inf, -np.inf, -1e30]
        image = bin_events(x, y, energy, field, 0.5, 7.0)
        assert np.array_equal(image, bin_events_numpy(x, y, energy, field, 0.5, 7.0)), (trial, kernels[-1])
    assert 5 <= sum(kernels) <= 55  # both kernels were tested (9 fields of 60 take the float32 one)
    assert Field.centred([1200.0, 1200.0], 2400.0, 128).grids32 is not None  # the demo's stamps: float32 kernel


def image_of(x, y, energy, field):
    return bin_events_numpy(x, y, energy, field, 0.5, 7.0)


def test_kernel_in_pieces_equals_one_pass(monkeypatch):
    """The compiled kernel's int32 counts take at most PIECE events per call; pieces add up exactly,
    also with every event in one pixel (the count a piece could overflow)."""
    from xraymass.stamps import binning

    rng = np.random.default_rng(9)
    x, y, energy = random_events(rng, 5 * TILE + 3, 0, 2000)
    x[:TILE], y[:TILE] = 1000.25, 1000.25
    field = Field.centred([1000.0, 1000.0], 2000.0, 128)
    whole = bin_events(x, y, energy, field, 0.5, 7.0)
    monkeypatch.setattr(binning, "PIECE", 1000)
    assert np.array_equal(bin_events(x, y, energy, field, 0.5, 7.0), whole)
    assert np.array_equal(whole, bin_events_numpy(x, y, energy, field, 0.5, 7.0))


def test_kernel_refuses_arrays_of_different_lengths():
    x = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="differ in length"):
        bin_events(x, x[:2], x, Field(0, 0, 10, 4), 0.5, 7.0)


@pytest.mark.parametrize("chunk, block_events", [(7_000, 999), (1_000, 25_000), (300_000, 65_536), (None, 1)])
def test_projections_binned_in_blocks_equal_one_pass(tmp_path, chunk, block_events):
    """Blocks smaller and larger than the stored chunks, and a numpy array, give the one-pass images."""
    rng = np.random.default_rng(4)
    n = 2 * SUB_BLOCK + 321 if block_events > 1 else 3000
    x, y, energy = random_events(rng, n, 0, 2400)
    offsets = [0, 1234, n // 2, n]
    field = Field.centred([1200, 1200], 2400, 128)
    if chunk is None:
        arrays = (x, y, energy)
    else:
        group = zarr.open_group(str(tmp_path / "events.zarr"), mode="w", zarr_format=3)
        arrays = tuple(group.create_array(name, data=data, chunks=(chunk,))
                       for name, data in (("x", x), ("y", y), ("energy", energy)))
    images = bin_projections(*arrays, offsets, field, 0.5, 7.0, block_events)
    for p in range(3):
        rows = slice(offsets[p], offsets[p + 1])
        assert np.array_equal(images[p], bin_events(x[rows], y[rows], energy[rows], field, 0.5, 7.0))


def test_projections_read_straight_from_the_store_into_reused_buffers_equal_one_pass(tmp_path):
    """The events layout (uncompressed, sharded) read by Readers into two buffers in turn, over many blocks."""
    rng = np.random.default_rng(8)
    n = 300_001
    x, y, energy = (a.astype(np.float32) for a in random_events(rng, n, 0, 2400))
    offsets = [0, 77_777, 150_000, n]
    field = Field.centred([1200, 1200], 2400, 128)
    group = zarr.open_group(str(tmp_path / "events.zarr"), mode="w", zarr_format=3)
    readers = [Reader(write_array(group, name, data, chunks=(10_000,), shards=(320_000,), compressors=None), name)
               for name, data in (("x", x), ("y", y), ("energy", energy))]
    assert all(reader.raw is not None for reader in readers)
    images = bin_projections(*readers, offsets, field, 0.5, 7.0, 40_000)  # 31 blocks of 10,000 rows
    for reader in readers:
        reader.finish()  # every row read once, in order, and the writer's CRC-32C matches
    for p in range(3):
        rows = slice(offsets[p], offsets[p + 1])
        assert np.array_equal(images[p], bin_events_numpy(x[rows], y[rows], energy[rows], field, 0.5, 7.0))


def test_read_blocks_decode_each_chunk_once():
    class Stored:
        chunks = (1000,)

    assert read_blocks(Stored, 500, 4200, 2500) == [(500, 2000), (2000, 4000), (4000, 4200)]
    assert read_blocks(Stored, 0, 2500, 300) == [(0, 1000), (1000, 2000), (2000, 2500)]


def test_folds_are_dealt_cyclically_in_mass_order():
    rng = np.random.default_rng(5)
    masses = rng.uniform(13.57, 15.06, 329)
    folds = assign_folds(masses, 10)
    assert folds.dtype == np.int8
    assert np.array_equal(folds[np.argsort(masses)], np.arange(329) % 10)
    assert np.bincount(folds).tolist() == [33] * 9 + [32]
    for fold in range(10):  # every fold spans the mass range
        members = np.sort(masses[folds == fold])
        assert members[0] <= np.sort(masses)[fold] and members[-1] >= np.sort(masses)[-10]


def test_folds_of_equal_masses_keep_catalogue_order():
    assert assign_folds(np.array([14.0, 13.0, 14.0, 14.0, 13.0]), 3).tolist() == [2, 0, 0, 1, 1]


def test_fold_assignment_rejects_bad_masses():
    with pytest.raises(InputError, match="NaN"):
        assign_folds(np.array([14.0, np.nan]), 10)


@pytest.mark.parametrize("n_folds", [3, 10])
def test_split_tests_on_k_validates_on_the_next_and_trains_on_the_rest(n_folds):
    tests, validations = [], []
    for k in range(n_folds):
        test, validation, training = split(k, n_folds)
        assert test == k and validation == (k + 1) % n_folds
        assert sorted([test, validation, *training]) == list(range(n_folds))
        assert len(training) == n_folds - 2
        tests.append(test)
        validations.append(validation)
    assert sorted(tests) == sorted(validations) == list(range(n_folds))


def test_split_rejects_a_fold_that_does_not_exist():
    with pytest.raises(InputError, match="fold 10 does not exist"):
        split(10, 10)
