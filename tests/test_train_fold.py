"""One fold trained on the CPU through the `xraymass train` command: learning, outputs, resuming, bad input."""
from __future__ import annotations

import csv
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr

from xraymass.cli import main
from conftest import PYTHON, REPO, mpirun, science_config, xraymass
from test_train_helpers import write_stamps_store

from xraymass.store import record_array

EPOCHS = 8
# max_abs_delta 0 can never be met: every run trains exactly EPOCHS epochs, so runs compare row by row
TRAIN = {"max_epochs": EPOCHS, "max_abs_delta": 0.0}


def fold_config(run_dir: Path, path: Path, **train) -> Path:
    return science_config(path, run_dir, {"train": {**TRAIN, **train}})


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Fold 0 of a 20-cluster store of 32x32 stamps, trained without interruption."""
    base = tmp_path_factory.mktemp("reference")
    write_stamps_store(base / "run" / "store.zarr")
    config = fold_config(base / "run", base / "config.yaml")
    out = xraymass("train", "--config", str(config), "--fold", "0")
    assert out.returncode == 0, out.stderr
    return base / "run", config, out.stderr


@pytest.mark.slow
def test_a_fold_trains_its_validation_loss_falls_and_writes_every_output(reference):
    import xraymass.train.model  # noqa: F401  (registers CountScaling for loading)
    import tf_keras

    run_dir, _, log = reference
    fold_dir = run_dir / "train" / "fold_00"
    history = read_csv(fold_dir / "history.csv")
    assert [int(r["epoch"]) for r in history] == list(range(1, EPOCHS + 1))
    val = [float(r["val_loss"]) for r in history]
    assert min(val[-3:]) < 0.25 * val[0], val
    assert float(history[-1]["loss"]) < 0.25 * float(history[0]["loss"])
    # never met (max_abs_delta 0): the demo's rule (patience) falls back to the epoch of lowest
    # validation loss among those spanning >= min_span of the true range, else the widest
    assert {"max_abs_delta", "median_delta", "slope", "span_ratio", "span_ok", "met", "eligible"} <= set(history[0])
    assert not any(r["met"] == "1" for r in history)
    wide = [r for r in history if float(r["span_ratio"]) >= 0.8]
    expected = (min(wide, key=lambda r: float(r["val_loss"])) if wide
                else max(history, key=lambda r: float(r["span_ratio"])))
    kept = int(expected["epoch"])
    assert [r["kept"] for r in history] == ["1" if int(r["epoch"]) == kept else "0" for r in history]
    assert f"kept epoch {kept} (rule patience: criteria never met" in log
    # test fold 0 = clusters 0 and 10 of 20 (mass-ordered, cyclic): 48 images, in store order
    predictions = read_csv(fold_dir / "predictions.csv")
    assert len(predictions) == 48 and {int(r["halo_id"]) for r in predictions} == {3, 73}
    group = zarr.open_group(str(run_dir / "store.zarr"), path="predictions/fold_00", mode="r", use_consolidated=False)
    assert group.attrs["complete"] is True and group.attrs["kept_epoch"] == kept and group.attrs["rule"] == "patience"
    assert group.attrs["converged"] is False and group.attrs["validation_fold"] == 1
    np.testing.assert_array_equal(group["log_m500c_pred"][:], [np.float32(r["log_m500c_pred"]) for r in predictions])
    # the saved model is the kept one and predicts from raw counts
    stamps = zarr.open_group(str(run_dir / "store.zarr"), path="stamps", mode="r")
    counts = np.asarray(stamps["images"][:24])[..., None].astype(np.float32)
    model = tf_keras.models.load_model(fold_dir / "model.keras")
    np.testing.assert_allclose(model(counts, training=False)[:, 0], group["log_m500c_pred"][:24], rtol=1e-6)
    # ... and it is the kept epoch's: its validation loss is the kept row's
    assert validation_loss(model, stamps, fold=1) == pytest.approx(float(expected["val_loss"]), rel=1e-4)
    assert list((fold_dir / "tb").glob("events.out.tfevents.*"))
    effective = yaml.safe_load((fold_dir / "train.config.yaml").read_text())
    assert effective["provenance"]["stage"] == "train" and effective["config"]["train"]["max_epochs"] == EPOCHS


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint_and_repeats_the_uninterrupted_run(reference, tmp_path):
    ref_dir, _, _ = reference
    write_stamps_store(tmp_path / "run" / "store.zarr")
    config = fold_config(tmp_path / "run", tmp_path / "config.yaml")
    fold_dir = tmp_path / "run" / "train" / "fold_00"
    command = [PYTHON, "-m", "xraymass", "train", "--config", str(config), "--fold", "0"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    history = fold_dir / "history.csv"  # written (atomically) after each epoch's checkpoint
    while not (history.exists() and len(read_csv(history)) >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, "training ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(read_csv(fold_dir / "history.csv"))
    assert 2 <= done < EPOCHS and not (fold_dir / "model.keras").exists()

    out = xraymass("train", "--config", str(config), "--fold", "0")
    assert out.returncode == 0, out.stderr
    assert "resumed from the checkpoint of epoch" in out.stderr
    resumed = int(out.stderr.split("resumed from the checkpoint of epoch ")[1].split()[0])
    assert 2 <= resumed <= done + 1
    assert f"epoch {resumed}/" not in out.stderr and f"epoch {resumed + 1}/{EPOCHS}" in out.stderr
    # bit for bit the uninterrupted run: every history value and every prediction
    assert (fold_dir / "history.csv").read_text() == (ref_dir / "train" / "fold_00" / "history.csv").read_text()
    assert (fold_dir / "predictions.csv").read_text() == (ref_dir / "train" / "fold_00" / "predictions.csv").read_text()


@pytest.mark.mpi
@pytest.mark.slow
def test_two_horovod_ranks_end_with_identical_weights_and_write_once(tmp_path):
    write_stamps_store(tmp_path / "run" / "store.zarr")
    config = fold_config(tmp_path / "run", tmp_path / "config.yaml", max_epochs=3)
    out = mpirun(2, "-m", "xraymass", "train", "--config", str(config), "--fold", "0")
    assert out.returncode == 0, out.stderr
    digests = re.findall(r"rank (\d)/2 final weights sha256 (\w+)", out.stderr)
    assert sorted(r for r, _ in digests) == ["0", "1"] and len({d for _, d in digests}) == 1, out.stderr
    assert "[train] 2 rank(s)" in out.stderr
    fold_dir = tmp_path / "run" / "train" / "fold_00"
    assert out.stderr.count("test predictions written") == 1 and out.stderr.count("epoch 3/3") == 1
    assert [int(r["epoch"]) for r in read_csv(fold_dir / "history.csv")] == [1, 2, 3]
    assert len(read_csv(fold_dir / "predictions.csv")) == 48
    assert len(list((fold_dir / "tb").glob("events.out.tfevents.*"))) == 1
    assert yaml.safe_load((fold_dir / "train.config.yaml").read_text())["provenance"]["ranks"] == 2


def validation_loss(model, stamps, fold: int) -> float:
    """MSE of the model's predictions on the images of `fold` (log10 M, dex^2)."""
    rows = np.flatnonzero(np.asarray(stamps["fold"][:]) == fold)
    counts = np.asarray(stamps["images"][:])[rows][..., None].astype(np.float32)
    pred = np.concatenate([model(counts[i:i + 32], training=False)[:, 0].numpy() for i in range(0, len(rows), 32)])
    return float(np.mean((pred.astype(np.float64) - np.asarray(stamps["log_m500c"][:])[rows]) ** 2))


@pytest.mark.slow
def test_the_kept_epochs_pinned_weights_make_the_saved_model_and_the_predictions(tmp_path):
    """Patience rule trained on; the paper rule read from a copy of its checkpoints keeps an earlier
    epoch, whose pinned weights are restored: model.keras and the predictions are that epoch's."""
    import importlib
    import shutil

    import tf_keras

    importlib.import_module("xraymass.train.model")  # registers CountScaling (no local name `xraymass`)

    loose = dict(max_abs_delta=10.0, max_abs_median=10.0, min_slope=0.0, min_span=0.0, rule="patience", patience=3)
    write_stamps_store(tmp_path / "run" / "store.zarr", npix=16)
    config = fold_config(tmp_path / "run", tmp_path / "config.yaml", **loose)
    out = xraymass("train", "--config", str(config), "--fold", "0")
    assert out.returncode == 0, out.stderr
    fold_dir = tmp_path / "run" / "train" / "fold_00"
    history = read_csv(fold_dir / "history.csv")
    first = next(int(r["epoch"]) for r in history if r["eligible"] == "1")
    assert len(history) == min(first + 3, EPOCHS) > first
    window = [r for r in history[first - 1:] if r["eligible"] == "1"]
    best = min(window, key=lambda r: float(r["val_loss"]))
    assert [r["kept"] for r in history].index("1") + 1 == int(best["epoch"])
    pinned = {p.name.split(".")[0] for p in (fold_dir / "checkpoints" / "pinned").iterdir()}
    assert pinned == {f"epoch-{first}", f"epoch-{best['epoch']}"}
    stamps = zarr.open_group(str(tmp_path / "run" / "store.zarr"), path="stamps", mode="r")
    model = tf_keras.models.load_model(fold_dir / "model.keras")
    assert validation_loss(model, stamps, fold=1) == pytest.approx(float(best["val_loss"]), rel=1e-4)

    # the paper's rule on the same trajectory: its first met epoch, restored from the pinned checkpoint
    write_stamps_store(tmp_path / "paper" / "store.zarr", npix=16)
    shutil.copytree(fold_dir / "checkpoints", tmp_path / "paper" / "train" / "fold_00" / "checkpoints")
    config = fold_config(tmp_path / "paper", tmp_path / "paper.yaml", **{**loose, "rule": "paper"})
    out = xraymass("train", "--config", str(config), "--fold", "0")
    assert out.returncode == 0, out.stderr
    assert f"kept epoch {first} (rule paper: stopping rule met)" in out.stderr and " epoch 1/" not in out.stderr
    paper_dir = tmp_path / "paper" / "train" / "fold_00"
    model = tf_keras.models.load_model(paper_dir / "model.keras")
    assert validation_loss(model, stamps, fold=1) == pytest.approx(float(history[first - 1]["val_loss"]), rel=1e-4)
    assert float(history[first - 1]["val_loss"]) != float(history[-1]["val_loss"])
    counts = np.asarray(stamps["images"][:])[np.asarray(stamps["fold"][:]) == 0][..., None].astype(np.float32)
    group = zarr.open_group(str(tmp_path / "paper" / "store.zarr"), path="predictions/fold_00", mode="r",
                            use_consolidated=False)
    assert group.attrs["kept_epoch"] == first and group.attrs["rule"] == "paper"
    np.testing.assert_allclose(model(counts, training=False)[:, 0], group["log_m500c_pred"][:], rtol=1e-6)


def test_a_complete_fold_is_skipped(reference, capsys):
    run_dir, config, _ = reference
    before = (run_dir / "train" / "fold_00" / "model.keras").stat().st_mtime_ns
    assert main(["train", "--config", str(config), "--fold", "0"]) == 0
    assert "fold 0: complete, skipped" in capsys.readouterr().err
    assert (run_dir / "train" / "fold_00" / "model.keras").stat().st_mtime_ns == before


def test_training_stops_at_the_first_epoch_that_meets_the_rule(tmp_path, capsys):
    write_stamps_store(tmp_path / "run" / "store.zarr", npix=16)
    config = fold_config(tmp_path / "run", tmp_path / "config.yaml", max_abs_delta=10.0, max_abs_median=10.0,
                         min_slope=0.0, rule="paper")
    assert main(["train", "--config", str(config), "--fold", "3"]) == 0
    assert "fold 3: kept epoch 1 (rule paper: stopping rule met)" in capsys.readouterr().err
    history = read_csv(tmp_path / "run" / "train" / "fold_03" / "history.csv")
    assert [(r["epoch"], r["met"], r["kept"]) for r in history] == [("1", "1", "1")]
    group = zarr.open_group(str(tmp_path / "run" / "store.zarr"), path="predictions/fold_03", mode="r",
                            use_consolidated=False)
    assert group.attrs["converged"] is True and group.attrs["kept_epoch"] == 1 and group.attrs["validation_fold"] == 4
    assert group["halo_id"].shape == (48,)


def one_error_line(capsys, argv) -> str:
    status = main(argv)
    err = capsys.readouterr().err.strip()
    assert status != 0 and len(err.splitlines()) == 1, err
    return err


def test_bad_input_fold_out_of_range_empty_training_set_and_nan_are_one_line_each(tmp_path, capsys, monkeypatch):
    write_stamps_store(tmp_path / "run" / "store.zarr", n_clusters=10, npix=16)
    config = str(fold_config(tmp_path / "run", tmp_path / "config.yaml"))
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    assert "which fold? give --fold K" in one_error_line(capsys, ["train", "--config", config])
    err = one_error_line(capsys, ["train", "--config", config, "--fold", "10"])
    assert err == (f"xraymass train: error: --fold 10 is out of range: {tmp_path / 'run' / 'store.zarr'}/stamps "
                   "has n_folds=10 (folds 0-9)")
    assert "out of range" in one_error_line(capsys, ["train", "--config", config, "--fold", "-1"])

    # every cluster in folds 0 and 1: fold 0 tests on 0, validates on 1 and has nothing to train on
    write_stamps_store(tmp_path / "run" / "store.zarr", n_clusters=10, npix=16, folds=np.arange(10) % 2)
    err = one_error_line(capsys, ["train", "--config", config, "--fold", "0"])
    assert "fold 0: the training set (folds 2, 3, 4, 5, 6, 7, 8, 9) holds no images" in err

    write_stamps_store(tmp_path / "run" / "store.zarr", n_clusters=10, npix=16)
    labels = zarr.open_array(str(tmp_path / "run" / "store.zarr" / "stamps" / "log_m500c"), mode="r+")
    labels[30] = np.nan
    record_array(labels, labels[:])  # written so by the stage (not damaged afterwards: that is another error)
    err = one_error_line(capsys, ["train", "--config", config, "--fold", "0"])
    assert "stamps/log_m500c: 1 non-finite labels (first: row 30, halo 10, value nan)" in err
    assert not (tmp_path / "run" / "train" / "fold_00" / "model.keras").exists()


@pytest.mark.slow
def test_a_mixed_precision_fold_trains_and_writes_float32_predictions(tmp_path):
    """float16 with its loss scale (the policy with the most code of its own) trains through the stage;
    the loss falls and the predictions in the store are float32, as the float32 path writes them.
    (bfloat16's layers and saved model: test_train_model.py.)"""
    precision = "mixed_float16"
    write_stamps_store(tmp_path / "run" / "store.zarr")
    config = fold_config(tmp_path / "run", tmp_path / "config.yaml", max_epochs=3)
    out = xraymass("train", "--config", str(config), "--fold", "0", "--set", f"model.precision={precision}")
    assert out.returncode == 0, out.stderr
    history = read_csv(tmp_path / "run" / "train" / "fold_00" / "history.csv")
    losses = [float(r["loss"]) for r in history]
    assert len(losses) == 3 and all(np.isfinite(losses)) and losses[-1] < losses[0]
    group = zarr.open_group(str(tmp_path / "run" / "store.zarr"), path="predictions/fold_00", mode="r",
                            use_consolidated=False)
    assert group["log_m500c_pred"].dtype == np.float32 and np.isfinite(group["log_m500c_pred"][:]).all()
