"""The paper's network and the stopping rule."""
from __future__ import annotations

import numpy as np
import pytest

from xraymass.config import load_config
from xraymass.train import stopping
from conftest import REPO

PAPER_ORDER = ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D",
               "GlobalAveragePooling2D", "Dropout", "Dense", "Dropout", "Dense", "Dense", "Dense"]
RULE = {"max_abs_delta": 0.3, "max_abs_median": 0.02, "min_slope": 0.9}


def test_paper_network_has_58437_parameters_in_the_papers_order(monkeypatch, tmp_path):
    from xraymass.train.model import PAPER_TRAINABLE_PARAMETERS, build_model, trainable_parameters

    monkeypatch.setenv("TNG300_DIR", str(tmp_path))  # paper.yaml names the TNG300 directory
    model_cfg = load_config(REPO / "pipeline" / "paper.yaml").model
    model_cfg.pop("output_bias")
    for npix in (128, 32):
        model = build_model(npix, **model_cfg)
        assert trainable_parameters(model) == PAPER_TRAINABLE_PARAMETERS == 58_437
        assert [type(layer).__name__ for layer in model.layers] == ["CountScaling"] + PAPER_ORDER
        convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
        assert [(c.filters, c.kernel_size, c.padding) for c in convs] == [(16, (3, 3), "same"), (32, (3, 3), "same"),
                                                                          (64, (3, 3), "same")]
        dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
        assert [d.units for d in dense] == [200, 100, 20, 1]
        assert [d.activation.__name__ for d in dense] == ["relu", "relu", "relu", "linear"]
        assert [layer.rate for layer in model.layers if type(layer).__name__ == "Dropout"] == [0.1, 0.1]
        assert model.output_shape == (None, 1)
    counts = np.full((1, 32, 32, 1), 3.0, np.float32)
    assert float(model.layers[0](counts)[0, 0, 0, 0]) == pytest.approx(np.log1p(3.0))


def test_each_criterion_on_constructed_residuals():
    true = np.linspace(13.6, 15.0, 50)
    good = true + 0.01 * np.sin(np.arange(50))
    c = stopping.evaluate(true, good, **RULE)
    assert c.delta_ok and c.median_ok and c.slope_ok and c.met
    # one catastrophic outlier: only the max |delta| criterion fails
    outlier = good.copy()
    outlier[7] += 0.35
    c = stopping.evaluate(true, outlier, **RULE)
    assert not c.delta_ok and c.median_ok and c.slope_ok and not c.met
    assert c.max_abs_delta == pytest.approx(0.35 + 0.01 * np.sin(7))
    # a bias of 0.03 dex: only the median fails
    c = stopping.evaluate(true, good + 0.03, **RULE)
    assert c.delta_ok and not c.median_ok and c.slope_ok and not c.met
    assert c.median_delta == pytest.approx(np.median(good - true) + 0.03)
    # predictions spread too wide around the middle: log M_true = m + 0.8 (log M_pred - m), slope 0.8
    m = 14.3
    wide = m + (true - m) / 0.8
    c = stopping.evaluate(true, wide, max_abs_delta=1.0, max_abs_median=0.02, min_slope=0.9)
    assert c.delta_ok and c.median_ok and not c.slope_ok and not c.met
    assert c.slope == pytest.approx(0.8)
    # predictions shrunk towards the mean: the paper's line (true on pred) passes them, the other fails them
    shrunk = m + 0.5 * (true - m)
    assert stopping.evaluate(true, shrunk, max_abs_delta=1.0, max_abs_median=0.02, min_slope=0.9).slope_ok
    c = stopping.evaluate(true, shrunk, max_abs_delta=1.0, max_abs_median=0.02, min_slope=0.9, slope_fit="pred_on_true")
    assert not c.slope_ok and c.slope == pytest.approx(0.5)
    assert stopping.evaluate(true, wide, 1.0, 0.02, 0.9, "pred_on_true").slope == pytest.approx(1 / 0.8)
    # the thresholds are strict inequalities; constant predictions have no slope
    assert not stopping.evaluate(true, true + 0.3, max_abs_delta=0.3, max_abs_median=1, min_slope=0).delta_ok
    assert np.isnan(stopping.evaluate(true, np.full(50, 14.3), **RULE).slope)


def test_kept_epoch_is_the_first_that_meets_the_rule_else_the_last():
    assert stopping.kept_epoch([False, False, True, False, True], 400) == (3, True)
    assert stopping.kept_epoch([False] * 5, 400) is None  # keep training
    assert stopping.kept_epoch([False] * 400, 400) == (400, False)  # fallback: the epoch-400 model
    assert stopping.kept_epoch([False, True], 2) == (2, True)
    assert stopping.kept_epoch([], 3) is None
    with pytest.raises(ValueError):
        stopping.evaluate(np.zeros(0), np.zeros(0), **RULE)
