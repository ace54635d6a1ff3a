"""Multi-band stamps (`stamps.bands`): the stamps stage bins one channel per band, the network takes the
channels, single band stays the paper's layout; bad band sets are refused in one line."""
from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

from conftest import REPO, xraymass
from stamps_events import NPIX_DET, build_event_store
from test_stamps_stage import expected_stamps
from test_train_helpers import write_stamps_store

from xraymass.stamps.binning import Field, bin_projections, bin_projections_bands
from xraymass.stamps.config_schema import band_set
from xraymass.store import open_store

BANDS = [[0.5, 1.2], [1.2, 2.0], [2.0, 7.0]]


def test_each_band_is_binned_once_and_a_shared_edge_goes_to_the_upper_band():
    field = Field(0.0, 0.0, 8.0, 4)
    x = np.array([1.0, 1.0, 1.0, 5.0, 5.0, 7.9], np.float32)
    y = np.array([1.0, 1.0, 1.0, 5.0, 5.0, 0.5], np.float32)
    energy = np.array([0.5, 1.2, 2.0, 7.0, 1.19, 8.0], np.float32)
    offsets = [0, 3, 6]
    bands = bin_projections_bands(x, y, energy, offsets, field, BANDS, block_events=4)
    single = bin_projections(x, y, energy, offsets, field, 0.5, 7.0, block_events=4)
    assert bands.shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(bands.sum(axis=1), single)  # the bands tile 0.5-7 keV: no event lost or doubled
    assert bands[0, :, 0, 0].tolist() == [1, 1, 1]  # 0.5 -> band 0; 1.2 -> band 1; 2.0 -> band 2
    assert bands[1, :, 2, 2].tolist() == [1, 0, 1]  # 1.19 -> band 0; 7.0 (the last band's upper edge) -> band 2
    assert bands[1].sum() == 2  # 8 keV is outside every band


@pytest.mark.parametrize("bands, message", [
    ([[0.3, 1.0], [1.0, 7.0]], r"'stamps.bands' item 0 = \[0.3, 1.0\]: expected \[emin, emax\] in keV with 'stamps.emin_kev' = 0.5"),
    ([[1.0, 0.5], [1.0, 2.0]], r"'stamps.bands' item 0 = \[1.0, 0.5\]"),
    ([[0.5, 2.0, 7.0]], r"'stamps.bands' item 0 = \[0.5, 2.0, 7.0\]"),
    ([[0.5, 7.0]], r"'stamps.bands' holds one band"),
])
def test_bad_band_sets_are_refused_in_one_line(write_config, bands, message):
    out = xraymass("stamps", "--config", str(write_config({"stamps": {"bands": bands}})))
    lines = out.stderr.strip().splitlines()
    assert out.returncode != 0 and len(lines) == 1 and re.search(message, lines[0]), out.stderr


def test_band_set_of_a_config_or_a_store():
    assert band_set({"emin_kev": 0.5, "emax_kev": 7.0, "bands": []}) == [[0.5, 7.0]]
    assert band_set({"emin_kev": 0.5, "emax_kev": 7}) == [[0.5, 7.0]]  # a store written before bands existed
    assert band_set({"emin_kev": 0.5, "emax_kev": 7.0, "bands": BANDS}) == BANDS


@pytest.mark.slow
def test_the_stamps_stage_writes_one_channel_per_band(tmp_path, write_config):
    store = tmp_path / "run" / "store.zarr"
    info = build_event_store(store, n_halos=2)
    config = write_config({"stamps": {"bands": BANDS}})
    out = xraymass("stamps", "--config", str(config), "--site", "local", "--site-set", "dask.n_workers=1")
    assert out.returncode == 0, out.stderr
    stamps = open_store(store)["stamps"]
    assert stamps["images"].shape == (48, 128, 128, 3) and stamps["images"].chunks == (24, 128, 128, 3)
    assert stamps.attrs["bands"] == BANDS and stamps.attrs["settings"]["stamps"]["bands"] == BANDS
    images = stamps["images"][:]
    # the channels add up to the single-band stamps (independent histogram2d of 0.5-7 keV)
    np.testing.assert_array_equal(images.sum(axis=-1), expected_stamps(info))
    # channel 1 is 1.2 <= E < 2 keV: histogram2d of those events, untransformed view of projection 0
    x, y, energy = info["events"][int(info["halo_id"][0])][0]
    x0, y0 = (c - NPIX_DET / 2 for c in info["centre"])
    keep = (energy >= 1.2) & (energy < 2.0)
    edges_x, edges_y = np.linspace(x0, x0 + NPIX_DET, 129), np.linspace(y0, y0 + NPIX_DET, 129)
    np.testing.assert_array_equal(images[0, :, :, 1], np.histogram2d(x[keep], y[keep], bins=[edges_x, edges_y])[0].T)
    # the 8 transforms act on every channel alike
    np.testing.assert_array_equal(images[5, :, :, 2], np.rot90(np.fliplr(images[0, :, :, 2]), 1))
    # a config with another band set is refused against these stamps
    other = write_config({"stamps": {"bands": [[0.5, 2.0], [2.0, 7.0]]}}, name="other.yaml")
    refused = xraymass("train", "--config", str(other), "--fold", "0")
    assert refused.returncode != 0 and "stamps.bands: " in refused.stderr.strip().splitlines()[-1], refused.stderr


@pytest.mark.slow
def test_a_fold_trains_on_three_band_stamps(tmp_path):
    import tf_keras

    from xraymass.train.model import PAPER_TRAINABLE_PARAMETERS, trainable_parameters  # registers the scaling layer

    run_dir = tmp_path / "run"
    write_stamps_store(run_dir / "store.zarr", n_clusters=10, n_folds=5, bands=BANDS)
    data = yaml.safe_load((REPO / "pipeline" / "demo.yaml").read_text())
    data["run"]["directory"] = str(run_dir)
    data["stamps"].update({"npix": 32, "n_folds": 5, "bands": BANDS})
    data["train"].update({"max_epochs": 2, "max_abs_delta": 0.0, "members": 1})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    out = xraymass("train", "--config", str(config), "--fold", "0")
    assert out.returncode == 0, out.stderr
    model = tf_keras.models.load_model(run_dir / "train" / "fold_00" / "model.keras", compile=False)
    assert model.input_shape == (None, 32, 32, 3)
    assert trainable_parameters(model) == PAPER_TRAINABLE_PARAMETERS + 3 * 3 * 2 * 16  # the first kernel grows
