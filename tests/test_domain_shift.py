"""Ensemble members trained through `xraymass train`, `evaluate` with per-cluster masses and their uncertainty,
and `evaluate --models-from`: one run's models on another population's stamps, and the one-line refusals."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr

from conftest import REPO, xraymass
from test_train_helpers import write_stamps_store

N_FOLDS, MEMBERS, N_CLUSTERS = 3, 2, 15
TRAIN = {"max_epochs": 3, "max_abs_delta": 0.0, "members": MEMBERS, "batch_size": 24}


def run_config(run_dir: Path, path: Path, **stamps) -> Path:
    data = yaml.safe_load((REPO / "pipeline" / "demo.yaml").read_text())
    data["run"]["directory"] = str(run_dir)
    data["train"].update(TRAIN)
    data["stamps"].update({"npix": 32, "n_folds": N_FOLDS, **stamps})
    data["evaluate"]["n_bootstrap"] = 50
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A 15-cluster, 3-fold run of 32x32 stamps: 3 folds x 2 members trained as array tasks 0-5, then evaluated."""
    base = tmp_path_factory.mktemp("source")
    write_stamps_store(base / "run" / "store.zarr", n_clusters=N_CLUSTERS, n_folds=N_FOLDS)
    config = run_config(base / "run", base / "config.yaml")
    for task in range(N_FOLDS * MEMBERS):
        out = xraymass("train", "--config", str(config), "--task", str(task))
        assert out.returncode == 0, out.stderr
    evaluated = xraymass("evaluate", "--config", str(config))
    assert evaluated.returncode == 0, evaluated.stderr
    return base / "run", config, evaluated.stdout


def one_line_error(out) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode != 0 and len(lines) == 1, out.stderr
    return lines[0]


@pytest.mark.slow
def test_array_tasks_train_fold_x_member_and_member_0_keeps_the_papers_names(source):
    run_dir, _, _ = source
    root = zarr.open_group(str(run_dir / "store.zarr"), mode="r", use_consolidated=False)
    assert sorted(name for name, _ in root["predictions"].groups()) == ["fold_00", "fold_01", "fold_02"]
    assert sorted(name for name, _ in root["ensemble"].groups()) == ["fold_00_m01", "fold_01_m01", "fold_02_m01"]
    for k in range(N_FOLDS):
        assert (run_dir / "train" / f"fold_{k:02d}" / "model.keras").is_file()
        assert (run_dir / "train" / f"fold_{k:02d}_m01" / "model.keras").is_file()
        m0, m1 = root[f"predictions/fold_{k:02d}"], root[f"ensemble/fold_{k:02d}_m01"]
        assert (m0.attrs["member"], m1.attrs["member"]) == (0, 1) and m0.attrs["seed"] != m1.attrs["seed"]
        # same images, other networks
        np.testing.assert_array_equal(m0["halo_id"][:], m1["halo_id"][:])
        assert not np.array_equal(m0["log_m500c_pred"][:], m1["log_m500c_pred"][:])
        # the validation predictions are the validation fold's clusters, none of them a test cluster
        stamps = root["stamps"]
        fold_of = dict(zip(stamps["halo_id"][:].tolist(), stamps["fold"][:].tolist()))
        val_ids = set(m0["validation/halo_id"][:].tolist())
        assert {fold_of[h] for h in val_ids} == {m0.attrs["validation_fold"]} != {k}
        assert not val_ids & set(m0["halo_id"][:].tolist())


@pytest.mark.slow
def test_evaluate_reports_per_image_and_per_cluster_scatter_and_the_coverage(source):
    run_dir, config, stdout = source
    assert re.search(r"evaluate: per cluster \(mean of views\) n=  15  MLE sigma=\d\.\d{4} dex", stdout), stdout
    assert re.search(r"uncertainty \(2 member\(s\) per fold, 15 test clusters\)  coverage 68%: \d+\.\d%", stdout), stdout
    summary = json.loads((run_dir / "results" / "evaluate.json").read_text())
    u = summary["uncertainty"]
    assert set(u["calibration"]) == {"0", "1", "2"} and u["test"]["n_clusters"] == N_CLUSTERS
    assert 0.0 <= u["test"]["coverage_68"] <= u["test"]["coverage_95"] <= 1.0
    assert summary["per_cluster"]["fit"]["n"] == N_CLUSTERS
    report = (run_dir / "results" / "report.md").read_text()
    assert "### Per cluster (beyond the paper)" in report and "| coverage 68% |" in report
    # trained again with the same command: every task is complete and skipped
    again = xraymass("train", "--config", str(config), "--task", "5")
    assert again.returncode == 0 and "fold 2 member 1: complete, skipped" in again.stderr


@pytest.mark.slow
def test_the_models_of_one_run_on_another_population(source, tmp_path):
    source_dir = source[0]
    write_stamps_store(tmp_path / "other" / "store.zarr", n_clusters=9, n_folds=N_FOLDS, seed=7)
    config = run_config(tmp_path / "other", tmp_path / "other.yaml")
    out = xraymass("evaluate", "--config", str(config), "--models-from", str(source_dir))
    assert out.returncode == 0, out.stderr
    assert "domain shift: models of" in out.stdout and "coverage 95%" in out.stdout
    report = json.loads((tmp_path / "other" / "results" / "domain_shift.json").read_text())
    assert report["n_clusters"] == 9 and report["folds_applied"] == N_FOLDS and report["members"] == MEMBERS
    assert report["in_domain"]["per_image"]["n"] == N_CLUSTERS * 24
    assert report["uncertainty"]["test"]["n_clusters"] == 9
    assert set(report["uncertainty"]["calibration"]) == {"0", "1", "2"}
    assert report["source_run"] == str(source_dir.resolve())
    assert (tmp_path / "other" / "domain_shift.config.yaml").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("stamps, bands, expected", [
    ({"npix": 16}, None, r"npix 32 there, 16 here"),
    ({"bands": [[0.5, 2.0], [2.0, 7.0]]}, [[0.5, 2.0], [2.0, 7.0]],
     r"bands \[\[0\.5, 7\.0\]\] keV there, \[\[0\.5, 2\.0\], \[2\.0, 7\.0\]\] keV here"),
])
def test_stamps_of_another_geometry_or_band_set_are_refused_in_one_line(source, tmp_path, stamps, bands, expected):
    write_stamps_store(tmp_path / "other" / "store.zarr", n_clusters=6, n_folds=N_FOLDS, npix=stamps.get("npix", 32),
                       bands=bands)
    config = run_config(tmp_path / "other", tmp_path / "other.yaml", **stamps)
    line = one_line_error(xraymass("evaluate", "--config", str(config), "--models-from", str(source[0])))
    assert "made with another geometry or band set than the models of" in line and re.search(expected, line), line
    assert not (tmp_path / "other" / "results" / "domain_shift.json").exists()


def test_models_from_a_directory_without_a_trained_run(tmp_path):
    write_stamps_store(tmp_path / "other" / "store.zarr", n_clusters=6, n_folds=N_FOLDS)
    config = run_config(tmp_path / "other", tmp_path / "other.yaml")
    line = one_line_error(xraymass("evaluate", "--config", str(config), "--models-from", str(tmp_path / "nothing")))
    assert f"--models-from {tmp_path / 'nothing'}: no trained run there" in line


@pytest.mark.parametrize("name, changed", [
    ("shift-coolcore", {("synthetic", "cool_core_fraction")}),
    ("shift-mergers", {("synthetic", "merger_fraction"), ("synthetic", "substructure_mean"),
                       ("synthetic", "clumping_r500c"), ("synthetic", "cool_core_fraction")}),
])
def test_the_shift_populations_are_the_demo_but_for_their_commented_physics(name, changed):
    from xraymass.config import load_config

    demo = load_config(REPO / "pipeline" / "demo.yaml").to_dict()
    shift = load_config(REPO / "pipeline" / f"{name}.yaml").to_dict()
    differ = {(s, k) for s in demo for k in demo[s] if demo[s][k] != shift[s][k]}
    assert differ == changed | {("run", "name"), ("run", "seed")}
    text = (REPO / "pipeline" / f"{name}.yaml").read_text()
    for section, key in differ:
        line = next(line for line in text.splitlines() if line.strip().startswith(f"{key}:"))
        assert "# demo: " in line or key == "name", line
    # geometry and band set as the demo's: the demo's models apply to these stamps
    assert shift["stamps"] == demo["stamps"]
