"""The cost estimate of `xraymass submit --dry-run` (xraymass.costs)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from xraymass.config import load_config
from xraymass.costs import COST_MODEL, estimate, halo_sample, photons
from xraymass.sites.site import load_site
from conftest import REPO, xraymass


def figure(line: str, after: str) -> float:
    return float(re.search(rf"{after}\s*([0-9.e+-]+)", line).group(1))


def test_mocks_work_is_the_cost_model_summed_over_the_synthetic_population(write_config):
    cfg = load_config(write_config({"synthetic": {"n_halos": 40}}))
    site = load_site("local", REPO)
    mass, n_gas, source = halo_sample(cfg)
    assert len(mass) == 40 and (n_gas == 20000).all() and "synthetic" in source
    assert 10 ** 13.57 <= mass.min() and mass.max() <= 10 ** 15.06
    per_halo = (COST_MODEL["mocks_a_s"] + COST_MODEL["mocks_b_s_per_particle"] * n_gas
                * cfg.mocks["nbins"] / COST_MODEL["mocks_nbins"] + COST_MODEL["mocks_c_s_per_photon"] * photons(cfg, mass))
    lines = estimate(cfg, site).lines
    mocks = next(line for line in lines if line.strip().startswith("mocks"))
    assert figure(mocks, "mocks") == pytest.approx(per_halo.sum() / 3600, rel=6e-3)
    train = next(line for line in lines if line.strip().startswith("train"))
    images = 40 * 3 * 8 * 8 / 10 * cfg.train["max_epochs"]
    assert figure(train, "each at most") == pytest.approx(images / COST_MODEL["train_images_per_s_cpu"] / 3600, rel=6e-3)


def test_photons_scale_with_exposure_area_and_distance(write_config):
    base = load_config(write_config())
    longer = load_config(write_config({"mocks": {"exposure_ks": 200.0, "area_cm2": 500.0}}, name="b.yaml"))
    farther = load_config(write_config({"mocks": {"redshift": 0.1}}, name="c.yaml"))
    m = np.array([1e14, 1e15])
    assert photons(longer, m) == pytest.approx(photons(base, m))
    assert photons(base, m)[0] == pytest.approx(COST_MODEL["photons_at_1e14"])
    assert (photons(farther, m) < 0.3 * photons(base, m)).all()


def test_a_gpu_site_asks_for_a_measured_rate_and_then_gives_gpu_hours(write_config, monkeypatch):
    monkeypatch.setenv("XRAYMASS_ACCOUNT", "m1234")
    monkeypatch.setenv("TNG300_DIR", "/nonexistent")
    cfg = load_config(REPO / "pipeline" / "paper.yaml")
    site = load_site("perlmutter", REPO, check_files=False)
    without = estimate(cfg, site).lines
    assert "329 halos" in without[0] and any("no GPU rate has been measured" in line for line in without)
    train = next(line for line in estimate(cfg, site, train_rate=1000.0).lines if line.strip().startswith("train"))
    per_task_h = 329 * 3 * 8 * 0.8 * 400 / (1000.0 * 4) / 3600
    assert figure(train, "each at most") == pytest.approx(per_task_h, rel=6e-3)
    assert figure(train, "h on 4 ranks:") == pytest.approx(per_task_h * 10 * 4, rel=6e-3)


def test_submit_dry_run_prints_the_estimate(write_config):
    out = xraymass("submit", "--site", "local", "--config", str(write_config()), "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "# cost estimate (60 halos" in out.stdout and re.search(r"^#   mocks\s+[0-9.e+-]+ core-h", out.stdout, re.M)
