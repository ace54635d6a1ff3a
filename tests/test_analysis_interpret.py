"""interpret: gradients through the input scaling, clipped integer images, radial profiles, off-centre flags, figures."""
from __future__ import annotations

import json

import numpy as np
import pytest

from analysis_stores import build_interpret_store
from xraymass.analysis import figures
from xraymass.analysis import interpret as ip
from xraymass.config import load_config
from xraymass.errors import InputError


def _png_variance(path) -> float:
    import matplotlib.image as mpimg

    return float(np.asarray(mpimg.imread(path), dtype=np.float64)[..., :3].var())


@pytest.fixture(scope="module")
def interpret_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("interpret") / "run"
    store = run_dir / "store.zarr"
    built = build_interpret_store(store, run_dir, n_clusters=6, n_folds=2, npix=32)
    return run_dir, store, built


def test_gradient_is_nonzero_and_taken_through_the_input_scaling(interpret_run):
    import tensorflow as tf

    run_dir, _, built = interpret_run
    model = ip.load_model(ip.model_path(run_dir, 0))
    images = built["images"][:48:24].astype(np.int64)  # two clusters
    g = ip.gradient(model, images)
    assert g.shape == images.shape
    assert np.all(np.abs(g).mean(axis=(1, 2)) > 0)
    # the same gradient by hand: d(out)/d(log1p N) from the layers after the scaling, times 1 / (1 + N)
    scaled = tf.convert_to_tensor(np.log1p(images)[..., None].astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(scaled)
        out = scaled
        for layer in model.layers[1:]:
            out = layer(out, training=False)
        total = tf.reduce_sum(out)
    by_hand = tape.gradient(total, scaled).numpy()[..., 0] / (1.0 + images)
    np.testing.assert_allclose(g, by_hand, rtol=1e-4, atol=1e-7 * np.abs(g).max())


def test_two_iterations_give_changed_non_negative_integer_images(interpret_run):
    run_dir, _, built = interpret_run
    model = ip.load_model(ip.model_path(run_dir, 1))
    images = built["images"][24:72:24].astype(np.int64)
    images[:, :4, :4] = 0  # empty pixels: a negative step must be clipped at 0, not go below
    states, steps = ip.dream(model, images, step_size=3.0, iterations=2)
    assert len(states) == 3 and len(steps) == 2
    for before, after, step in zip(states, states[1:], steps):
        assert np.issubdtype(after.dtype, np.integer) and after.min() >= 0
        assert np.count_nonzero(after != before) > 0.05 * before.size
        np.testing.assert_array_equal(after, np.rint(np.clip(before + step, 0, None)))
        np.testing.assert_allclose(np.abs(step).mean(axis=(1, 2)), 3.0, rtol=1e-6)
    assert not np.array_equal(states[2], states[1])


def _sample(images: np.ndarray, r500c_pix: float) -> ip.Sample:
    n, npix = images.shape[0], images.shape[1]
    return ip.Sample(np.arange(n) + 100, np.linspace(14.0, 14.5, n), np.zeros(n, int), images,
                     np.full((n, 2), npix / 2.0), np.full(n, r500c_pix))


def _ring(npix: int, centre: tuple[float, float], r_in: float, r_out: float) -> np.ndarray:
    j, i = np.mgrid[0:npix, 0:npix] + 0.5
    r = np.hypot(i - centre[0], j - centre[1])
    return ((r >= r_in) & (r < r_out)).astype(np.float64)


def test_radial_profile_core_fraction_and_off_centre_flag():
    npix, r500 = 64, 20.0
    blob = _ring(npix, (48, 32), 0.0, 3.0)                            # a bright clump 0.8 R500c off-centre
    before = np.stack([100 + 900 * blob] * 2).astype(np.int64)
    core = 1.0 - _ring(npix, (32, 32), 0.0, 0.3 * r500)               # cluster 0: left alone inside 0.3 R500c
    clump = 1.0 - _ring(npix, (48, 32), 0.0, 0.3 * r500)              # cluster 1: left alone around the clump
    steps = 10.0 * np.stack([core, clump])
    first = before + steps.astype(np.int64)
    second = first + (5.0 * _ring(npix, (32, 32), 1.0 * r500, 1.2 * r500)).astype(np.int64)[None]
    dreams = {"images": np.stack([before, first, second], axis=1),
              "steps": np.stack([steps, second - first], axis=1).astype(np.float64)}
    result = ip.measure(_sample(before, r500), dreams, step_size=1.0, radial_bins=12, radial_max_r500c=1.2,
                        core_radius_r500c=0.2, off_centre_r500c=0.1)
    profiles = result.pop("profiles")
    centres = np.linspace(0.05, 1.15, 12)
    np.testing.assert_allclose(profiles[0, 0, centres < 0.25], 0.0)
    np.testing.assert_allclose(profiles[0, 0, (centres > 0.35) & (centres < 0.55)], 0.1)
    np.testing.assert_allclose(profiles[0, 1, centres > 1.0], 5.0 / 110.0)  # 2nd iteration: N after the 1st
    np.testing.assert_allclose(profiles[0, 1, centres < 0.95], 0.0)
    assert result["clusters"][0]["added_fraction_inside_core"][0] == 0.0
    assert result["clusters"][1]["added_fraction_inside_core"][0] > 0.0
    assert result["clusters"][0]["offset_r500c"] == pytest.approx(0.0, abs=0.02)
    assert result["clusters"][1]["offset_r500c"] == pytest.approx(0.8, abs=0.02)
    assert [c["halo_id"] for c in result["off_centre"]] == [101]
    assert 0 < result["per_iteration"][0]["area_fraction_inside_core"] < 0.2
    assert ip.figure5_choice(result, []) == [101] and ip.figure5_choice(result, [7, 8]) == [7, 8]


def test_figure5_and_6_panels():
    npix = 32
    rng = np.random.default_rng(0)
    images = [rng.poisson(5.0, (npix, npix)) for _ in range(3)]
    fig5 = figures.draw_figure5(7, images, (16.0, 16.0), 10.0, 0.15, 0.02, (17.0, 15.0))
    panels = [ax for ax in fig5.axes if ax.axison and ax.get_label() != "<colorbar>"]
    assert len(panels) == 3 + 2 + 2  # log N x 3 (input, 2 iterations); Delta N x 2; small-change mask x 2
    assert all(ax.images for ax in panels)
    profiles = rng.normal(0.05, 0.01, (4, 2, 10))
    fig6 = figures.draw_figure6(np.linspace(0, 1.5, 11), profiles, np.arange(4), [2], 0.2)
    assert len([ax for ax in fig6.axes if ax.axison]) == 1
    assert len(fig6.axes[0].lines) == 4 * 2 + 2 + 2  # per cluster and iteration, the 2 medians, the 2 guides


@pytest.mark.slow
def test_interpret_stage_writes_figures_and_summary(interpret_run, write_config):
    run_dir, _, built = interpret_run
    cfg = load_config(write_config({"run": {"directory": str(run_dir)},
                                    "interpret": {"n_clusters": 4, "step_size": 2.0, "figure5_clusters": [16]}}))
    assert ip.run(cfg) == 0
    results = run_dir / "results"
    part = json.loads((results / "summary.json").read_text())["interpret"]
    assert part["n_clusters"] == 5  # 4 spread in mass, and halo 16 asked for Figure 5
    assert 16 in [c["halo_id"] for c in part["clusters"]]
    for it in part["per_iteration"]:
        assert 0.0 <= it["added_fraction_inside_core"] <= 1.0
    assert "figure5_h00000016.png" in part["figures"] and "figure6_radial_profile.pdf" in part["figures"]
    for name in part["figures"]:
        assert (results / name).stat().st_size > 1000
        if name.endswith(".png"):
            assert _png_variance(results / name) > 1e-3
    assert "## DeepDream interpretation" in (results / "report.md").read_text()
    assert part["provenance"]["physics_data"] == "test stamps physics"
    assert "physics_data: test stamps physics" in (run_dir / "interpret.config.yaml").read_text()


def test_missing_model_is_named(interpret_run, tmp_path):
    run_dir, store, _ = interpret_run
    sample = ip.choose_sample(store, 3, [])
    with pytest.raises(InputError, match=r"no trained model at .*fold_0\d/model.keras"):
        ip.dream_sample(tmp_path, sample, 1.0, 2)
    with pytest.raises(InputError, match=r"halo ids \[12345\] are not in"):
        ip.choose_sample(store, 3, [12345])
