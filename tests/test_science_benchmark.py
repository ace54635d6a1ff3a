"""benchmarks/science.py: a --tag run of training switches takes the base run's stamps, and its scatter's change
against the base run is measured on the same test images by a paired cluster bootstrap."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import yaml

from analysis_stores import PER_CLUSTER, build_baseline_store, cyclic_folds, write_predictions, write_stamps
from conftest import REPO
from xraymass.analysis.metrics import paired_sigma_change
from xraymass.store import open_store

N_CLUSTERS = 20


def _science():
    spec = importlib.util.spec_from_file_location("science", REPO / "benchmarks" / "science.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _predictions(truth: dict, sigma: float, seed: int) -> dict:
    order = np.argsort(truth["log_m500c"])
    halo_id, log_m = truth["halo_id"][order], truth["log_m500c"][order]
    true = np.repeat(log_m, PER_CLUSTER).astype(np.float32)
    n = true.size
    return {"halo_id": np.repeat(halo_id, PER_CLUSTER),
            "projection": np.tile(np.repeat(np.arange(3), 8), N_CLUSTERS).astype(np.int8),
            "augmentation": np.tile(np.arange(8), 3 * N_CLUSTERS).astype(np.int8), "log_m500c_true": true,
            "log_m500c_pred": (true + np.random.default_rng(seed).normal(0.0, sigma, n)).astype(np.float32),
            "fold": np.repeat(cyclic_folds(N_CLUSTERS), PER_CLUSTER)}


def _as_read(mine: dict, other: dict, folds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both runs' residuals and the halo ids on `folds`' rows, in the order the predictions are read (by fold)."""
    rows = np.flatnonzero(np.isin(mine["fold"], folds))
    rows = rows[np.argsort(mine["fold"][rows], kind="stable")]
    delta = [d["log_m500c_pred"][rows].astype(np.float64) - d["log_m500c_true"][rows] for d in (mine, other)]
    return delta[0], delta[1], mine["halo_id"][rows]


@pytest.fixture()
def base_run(tmp_path):
    """runs/science with complete stamps and every fold's predictions."""
    base = tmp_path / "science"
    truth = build_baseline_store(base / "store.zarr", n_clusters=N_CLUSTERS, sigma=0.06)
    order = np.argsort(truth["log_m500c"])
    write_stamps(open_store(base / "store.zarr", "r+"), truth["halo_id"][order], truth["log_m500c"][order],
                 cyclic_folds(N_CLUSTERS), 16)
    write_predictions(base / "store.zarr", _predictions(truth, 0.04, 1))
    return base, truth


def test_a_training_switch_shares_the_base_stamps_and_is_compared_pair_by_pair(base_run, tmp_path, monkeypatch, capsys):
    science = _science()
    base, truth = base_run
    tag = base.with_name("science-bf16")
    assert not science.shares_base(base, tag, ["stamps.bands"])  # a stamps switch makes its own
    assert science.shares_base(base, tag, ["model.precision"])
    science.share_upstream(base, tag)
    for name in ("halos", "events", "stamps"):
        assert (tag / "store.zarr" / name).is_symlink()
    assert science.shares_base(base, tag, ["model.precision"])  # again, as a resumed run asks
    assert "10 of 10 folds missing" in science.paired_change(base, tag, 10, 10, [5])["not_done"]
    other = _predictions(truth, 0.05, 2)
    write_predictions(tag / "store.zarr", other)
    assert not (base / "store.zarr" / "predictions").is_symlink()

    change = science.paired_change(base, tag, 10, 400, [5, 17])
    expected = paired_sigma_change(*_as_read(_predictions(truth, 0.04, 1), other, range(10)), 400, [5, 17, 0])
    assert change["per_image"] == expected
    assert change["per_image"]["sigma_other"] > change["per_image"]["sigma_base"]
    assert change["per_cluster"]["n"] == N_CLUSTERS

    monkeypatch.chdir(tmp_path)  # --compare: the same figures, written beside the other run; no paper rule here
    config = str(REPO / "pipeline" / "science.yaml")
    assert science.main(["--config", config, "--compare", "science", "science-bf16"]) == 0
    written = json.loads((tag / "against-science.json").read_text())["rules"]
    assert written["patience"]["per_image"]["sigma_other"] == pytest.approx(expected["sigma_other"])
    assert "paper_rule/store.zarr: no xraymass store here" in written["paper"]["not_done"]
    assert "rule 'paper'    not compared" in capsys.readouterr().out


def test_a_store_of_its_own_is_kept_and_different_test_images_are_refused(base_run, capsys):
    science = _science()
    base, truth = base_run
    own = base.with_name("science-own")
    build_baseline_store(own / "store.zarr", n_clusters=N_CLUSTERS, sigma=0.06)
    (own / "store.zarr" / "stamps").mkdir()
    assert not science.shares_base(base, own, ["model.precision"])
    assert "has stamps of its own" in capsys.readouterr().out

    tag = base.with_name("science-x")
    science.share_upstream(base, tag)
    shuffled = _predictions(truth, 0.04, 1)
    shuffled["augmentation"] = shuffled["augmentation"][::-1].copy()
    write_predictions(tag / "store.zarr", shuffled)
    with pytest.raises(SystemExit, match="augmentation differ"):
        science.paired_change(base, tag, 10, 50, [5, 17])


def test_compare_on_the_folds_both_runs_have_finished(base_run, capsys):
    science = _science()
    base, truth = base_run
    tag = base.with_name("science-bf16")
    science.share_upstream(base, tag)
    other = _predictions(truth, 0.05, 2)
    write_predictions(tag / "store.zarr", other, folds=[0, 1])  # a long run still training fold 2
    config = str(REPO / "pipeline" / "science.yaml")
    assert science.main(["--config", config, "--compare", str(base), str(tag)]) == 0
    assert "8 of 10 folds missing" in json.loads((tag / "against-science.json").read_text())["rules"]["patience"][
        "not_done"]

    assert science.main(["--config", config, "--compare", str(base), str(tag), "--folds", "1,0"]) == 0
    part = json.loads((tag / "against-science-folds-0-1.json").read_text())["rules"]["patience"]
    base_delta, other_delta, halo_id = _as_read(_predictions(truth, 0.04, 1), other, [0, 1])
    assert part["folds"] == [0, 1]
    data = yaml.safe_load((REPO / "pipeline" / "science.yaml").read_text())
    seed = [int(data["run"]["seed"]), science.PAIRED_STREAM, 0]
    n_boot = int(data["evaluate"].get("n_bootstrap", 1000))
    assert part["per_image"] == paired_sigma_change(base_delta, other_delta, halo_id, n_boot, seed)
    assert part["per_image"]["n_clusters"] == np.unique(halo_id).size < N_CLUSTERS
    assert "on the test images of folds 0, 1 only" in capsys.readouterr().out

    with pytest.raises(SystemExit, match="folds 0 to 9"):
        science.main(["--config", config, "--compare", str(base), str(tag), "--folds", "0,10"])
    with pytest.raises(SystemExit):
        science.main(["--config", config, "--folds", "0"])
    assert "--folds goes with --compare" in capsys.readouterr().err
