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
    model_cfg = load_config(REPO / "pipeline" / "paper.yaml").model.to_dict()
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
    assert c.delta_ok and c.median_ok and c.slope_ok and c.met  # pred on true: slope 1.25 > 0.9
    assert c.slope == pytest.approx(1 / 0.8)
    c = stopping.evaluate(true, m + 0.8 * (true - m), max_abs_delta=1.0, max_abs_median=0.02, min_slope=0.9)
    assert c.delta_ok and c.median_ok and not c.slope_ok and not c.met and c.slope == pytest.approx(0.8)
    # predictions shrunk towards the mean: the paper's line (true on pred) passes them, the other fails them
    shrunk = m + 0.5 * (true - m)
    literal = stopping.evaluate(true, shrunk, max_abs_delta=1.0, max_abs_median=0.02, min_slope=0.9,
                                slope_fit="true_on_pred")
    assert literal.slope_ok and literal.met and literal.slope == pytest.approx(2.0)
    c = stopping.evaluate(true, shrunk, max_abs_delta=1.0, max_abs_median=0.02, min_slope=0.9)  # the default line
    assert not c.slope_ok and c.slope == pytest.approx(0.5)
    assert stopping.evaluate(true, wide, 1.0, 0.02, 0.9, "true_on_pred").slope == pytest.approx(0.8)
    # the thresholds are strict inequalities; constant predictions have slope 0 (no slope on the literal line)
    assert not stopping.evaluate(true, true + 0.3, max_abs_delta=0.3, max_abs_median=1, min_slope=0).delta_ok
    constant = stopping.evaluate(true, np.full(50, 14.3), **RULE)
    assert constant.slope == pytest.approx(0.0, abs=1e-12) and not constant.slope_ok and constant.span_ratio == 0.0
    assert np.isnan(stopping.evaluate(true, np.full(50, 14.3), **RULE, slope_fit="true_on_pred").slope)


def test_kept_epoch_is_the_first_that_meets_the_rule_else_the_last():
    assert stopping.kept_epoch([False, False, True, False, True], 400) == (3, True)
    assert stopping.kept_epoch([False] * 5, 400) is None  # keep training
    assert stopping.kept_epoch([False] * 400, 400) == (400, False)  # fallback: the epoch-400 model
    assert stopping.kept_epoch([False, True], 2) == (2, True)
    assert stopping.kept_epoch([], 3) is None
    with pytest.raises(ValueError):
        stopping.evaluate(np.zeros(0), np.zeros(0), **RULE)


def test_span_ratio_is_the_predicted_range_over_the_true_range():
    true = np.linspace(13.6, 15.0, 50)
    m = 14.3
    assert stopping.span_ratio(true, m + 0.5 * (true - m)) == pytest.approx(0.5)
    assert stopping.span_ratio(true, true[::-1]) == pytest.approx(1.0)  # the range, not the slope
    assert np.isnan(stopping.span_ratio(np.full(5, 14.0), np.linspace(14, 15, 5)))
    assert np.isnan(stopping.span_ratio(true, np.full(50, np.nan)))
    c = stopping.evaluate(true, m + 0.85 * (true - m), 1.0, 0.02, 0.8, min_span=0.8)
    assert c.span_ratio == pytest.approx(0.85) and c.span_ok and c.met and c.eligible
    c = stopping.evaluate(true, m + 0.75 * (true - m), 1.0, 0.02, 0.7, min_span=0.8)
    assert c.met and not c.span_ok and not c.eligible


def rows(val_loss, met, span):
    """A constructed history: one row per epoch (from 1) with its validation loss, criteria and span ratio."""
    return [{"epoch": e, "val_loss": v, "met": m, "span_ratio": s, "span_ok": s >= 0.8}
            for e, (v, m, s) in enumerate(zip(val_loss, met, span), start=1)]


def test_paper_rule_keeps_the_first_met_epoch_else_the_last():
    h = rows([0.5, 0.4, 0.3, 0.2], [False, True, True, True], [0.5, 0.6, 0.9, 0.9])
    assert stopping.decide(h[:1], "paper", 10) is None
    d = stopping.decide(h, "paper", 10)
    assert (d.epoch, d.converged) == (2, True)  # met although its predictions span 0.6 of the range
    d = stopping.decide(rows([0.5, 0.4], [False, False], [0.9, 0.9]), "paper", 2)
    assert (d.epoch, d.converged) == (2, False)
    with pytest.raises(ValueError):
        stopping.decide(h, "first", 10)


def test_patience_rule_keeps_the_lowest_validation_loss_of_the_eligible_epochs_in_its_window():
    # epoch 2 meets the paper's criteria but spans 0.6: not eligible; epoch 3 is the first eligible
    val = [0.9, 0.5, 0.30, 0.20, 0.10, 0.25, 0.05, 0.01]
    met = [False, True, True, True, False, True, True, True]
    span = [0.5, 0.6, 0.90, 0.85, 0.95, 0.70, 0.90, 0.99]
    h = rows(val, met, span)
    assert stopping.decide(h[:5], "patience", 100, patience=3) is None  # window 3..6 not done
    d = stopping.decide(h[:6], "patience", 100, patience=3)
    # epoch 5 has the lowest loss but does not meet the criteria, epoch 6 spans 0.7: epoch 4 is kept
    assert (d.epoch, d.converged) == (4, True)
    # later, better epochs (7, 8) lie outside the window: the rule does not wait for them
    assert stopping.decide(h, "patience", 100, patience=3).epoch == 4
    assert stopping.decide(h, "patience", 100, patience=5).epoch == 8
    # patience 0 keeps the first eligible epoch; the window ends at max_epochs
    assert stopping.decide(h[:3], "patience", 100, patience=0).epoch == 3
    d = stopping.decide(h[:4], "patience", 4, patience=10)
    assert (d.epoch, d.converged) == (4, True)
    # the paper rule on the same trajectory keeps epoch 2, before the patience rule's first eligible epoch
    assert stopping.decide(h, "paper", 100).epoch == 2
    assert stopping.pinned_epochs(h[:5], "patience", 100, 3) == {2, 4}


def test_patience_rule_falls_back_to_a_wide_epoch_when_the_criteria_are_never_met():
    # no epoch meets the criteria: the lowest validation loss among epochs spanning >= 0.8
    h = rows([0.5, 0.1, 0.3, 0.2], [False] * 4, [0.9, 0.5, 0.85, 0.95])
    assert stopping.decide(h[:3], "patience", 4) is None
    d = stopping.decide(h, "patience", 4)
    assert (d.epoch, d.converged) == (4, False)  # epoch 2 has the lowest loss but spans 0.5
    # no epoch spans 0.8: the widest (never the last by default)
    d = stopping.decide(rows([0.5, 0.1, 0.3], [False, True, False], [0.3, 0.7, 0.6]), "patience", 3)
    assert (d.epoch, d.converged) == (2, False)
    # NaN predictions (NaN span and loss) are never preferred
    d = stopping.decide(rows([float("nan"), 0.4], [False, False], [float("nan"), 0.5]), "patience", 2)
    assert d.epoch == 2


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_keeps_the_parameters_and_saves_a_model_the_float32_path_reads(precision, tmp_path):
    """Same parameter count, float32 weights and output; the saved model reloads and predicts float32."""
    import tensorflow as tf

    from xraymass.analysis.interpret import load_model
    from xraymass.train.model import PAPER_TRAINABLE_PARAMETERS, build_model, trainable_parameters
    from xraymass.train.outputs import save_model

    model_cfg = load_config(REPO / "pipeline" / "demo.yaml", [f"model.precision={precision}"]).model.to_dict()
    model_cfg.pop("output_bias")
    model = build_model(32, output_bias=14.2, seed=1, **model_cfg)
    assert trainable_parameters(model) == PAPER_TRAINABLE_PARAMETERS
    assert {w.dtype for w in model.weights} == {tf.float32}
    assert model.get_layer("conv1").compute_dtype == precision.split("_")[1]
    assert model.get_layer("scaling").compute_dtype == model.get_layer("log_m500c").compute_dtype == "float32"
    counts = np.random.default_rng(0).poisson(3.0, (4, 32, 32, 1)).astype(np.float32)
    predicted = model(counts, training=False)
    assert predicted.dtype == tf.float32
    save_model(model, tmp_path / "model.keras")
    again = load_model(tmp_path / "model.keras")
    assert again(counts, training=False).dtype == tf.float32
    assert np.array_equal(again(counts, training=False).numpy(), predicted.numpy())
    float32 = build_model(32, output_bias=14.2, seed=1, **{**model_cfg, "precision": "float32"})
    float32.set_weights(again.get_weights())  # the same weights computed in float32 agree to the policy's precision
    tolerance = 0.05 if precision == "mixed_bfloat16" else 0.005
    np.testing.assert_allclose(float32(counts, training=False).numpy(), predicted.numpy(), atol=tolerance)


def test_an_unknown_precision_is_a_config_error(tmp_path):
    from xraymass.errors import ConfigError

    with pytest.raises(ConfigError, match="model.precision"):
        load_config(REPO / "pipeline" / "demo.yaml", ["model.precision=float8"])
