"""The mocks stage end to end: real SLURM, real MPI ranks, real Zarr; resume after a kill; bad input.

A handful of small synthetic halos (2000 particles, 5 ks, coarse spectra) from the real halos stage;
every run of the stage gets its own run directory holding a copy of the same halo catalogue.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr

from conftest import REPO, job_id, sbatch_wait, science_config, xraymass

N_HALOS = 4
SMALL = {
    "synthetic": {"n_halos": N_HALOS, "particles_per_halo": 2000},
    "mocks": {"exposure_ks": 5.0, "nbins": 100},
    "physics": {"data": "embedded"},
}


def _open(store: Path):
    return zarr.open_group(str(store), mode="r", use_consolidated=False)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A directory with the halo catalogue of the small synthetic population, and a config writer."""
    base = tmp_path_factory.mktemp("mocks_stage")
    (base / "scratch").mkdir()
    config = write_config(base, "halos", {})
    out = xraymass("halos", "--config", str(config), timeout=600)
    assert out.returncode == 0, out.stderr
    return base


def write_config(base: Path, name: str, updates: dict) -> Path:
    """demo.yaml + SMALL + updates, run directory base/<name>, physics cache shared by all runs."""
    scratch = {**SMALL.get("mocks", {}), **updates.get("mocks", {})}.get("scratch_dir") or str(base / "scratch")
    path = science_config(base / f"{name}.yaml", base / name, SMALL, updates,
                          {"physics": {"cache_dir": str(base / "physics")}, "mocks": {"scratch_dir": scratch}})
    if name != "halos" and not (base / name / "store.zarr").exists():
        shutil.copytree(base / "halos" / "store.zarr", base / name / "store.zarr")
    return path


def submit(env: dict, config: Path, *args: str, wait: bool = True) -> subprocess.CompletedProcess:
    options = ["--ntasks=2", f"--output={config.with_suffix('.%j.log')}", f"--export=ALL,XRAYMASS_CONFIG={config}"]
    if wait:
        return sbatch_wait(env, *options, "jobs/make_mocks.sh", *args)
    return subprocess.run(["sbatch", *options, "jobs/make_mocks.sh", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def log_of(config: Path, out: subprocess.CompletedProcess) -> str:
    return config.with_suffix(f".{job_id(out)}.log").read_text()


def assert_same_events(a: Path, b: Path) -> None:
    """Same halos, bit-identical arrays, same attributes except provenance (time, host, ranks)."""
    ea, eb = _open(a)["events"], _open(b)["events"]
    names = sorted(name for name, _ in ea.groups())
    assert names == sorted(name for name, _ in eb.groups())
    for name in names:
        for key in ("x", "y", "energy"):
            assert np.array_equal(ea[name][key][...], eb[name][key][...]), f"{name}/{key} differs"
        attrs_a = {k: v for k, v in ea[name].attrs.items() if k != "provenance"}
        attrs_b = {k: v for k, v in eb[name].attrs.items() if k != "provenance"}
        assert attrs_a == attrs_b, name


def assert_complete_run(store: Path) -> None:
    root = _open(store)
    ids = root["halos"]["halo_id"][...]
    events = root["events"]
    assert events.attrs["complete"] is True
    assert sorted(name for name, _ in events.groups()) == sorted(f"h{int(h):08d}" for h in ids)
    for name, group in events.groups():
        offsets = group.attrs["offsets"]
        assert group.attrs["complete"] is True and len(offsets) == 4
        assert offsets[0] == 0 and offsets[-1] == group["x"].shape[0] == group["y"].shape[0] == group["energy"].shape[0]
        x = group["x"][...]
        assert x.dtype == np.float32 and (x >= 0).all() and (x < group.attrs["npix_det"]).all()
        assert group.attrs["physics_data"]["kind"] == "embedded"
    consolidated = json.loads((store / "zarr.json").read_text())["consolidated_metadata"]["metadata"]
    assert {f"events/{name}" for name, _ in events.groups()} <= set(consolidated)


@pytest.fixture(scope="module")
def uninterrupted(base, slurm):
    """The stage through `sbatch --wait jobs/make_mocks.sh` on 2 ranks, never interrupted."""
    config = write_config(base, "two_ranks", {})
    out = submit(slurm, config)
    log = log_of(config, out)
    assert out.returncode == 0, log
    return config, log


@pytest.mark.slurm
@pytest.mark.mpi
@pytest.mark.slow
def test_two_ranks_under_slurm_give_the_store_of_one_rank(base, uninterrupted):
    config, log = uninterrupted
    store = base / "two_ranks" / "store.zarr"
    assert_complete_run(store)
    assert f"[mocks] done: {N_HALOS}/{N_HALOS} halos complete" in log
    effective = yaml.safe_load((base / "two_ranks" / "mocks.config.yaml").read_text())
    assert effective["provenance"]["ranks"] == 2
    assert effective["provenance"]["physics_data"]["kind"] == "embedded"
    assert list((base / "scratch").iterdir()) == []

    one = write_config(base, "one_rank", {})
    out = xraymass("mocks", "--config", str(one))
    assert out.returncode == 0, out.stderr
    assert_same_events(store, base / "one_rank" / "store.zarr")


@pytest.mark.slurm
@pytest.mark.mpi
@pytest.mark.slow
def test_a_killed_job_resumes_with_the_same_line_to_the_same_events(base, slurm, uninterrupted):
    config = write_config(base, "killed", {})
    first = submit(slurm, config, wait=False)
    assert first.returncode == 0, first.stderr
    job = job_id(first)
    events = base / "killed" / "store.zarr" / "events"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not _n_complete(events):
        time.sleep(0.5)
    subprocess.run(["scancel", job], env=slurm, check=True)
    while subprocess.run(["squeue", "-h", "-j", job], env=slurm, capture_output=True, text=True).stdout.strip():
        time.sleep(0.5)
    done_before = _n_complete(events)
    assert 1 <= done_before < N_HALOS, f"the kill should land mid-run ({done_before} of {N_HALOS} complete)"
    assert list((base / "scratch").iterdir()) == [], "SIGTERM must remove the halos' scratch directories"

    second = submit(slurm, config)
    log = log_of(config, second)
    assert second.returncode == 0, log
    assert f"{done_before} already complete, {N_HALOS - done_before} to observe" in log
    assert_complete_run(base / "killed" / "store.zarr")
    assert_same_events(base / "killed" / "store.zarr", base / "two_ranks" / "store.zarr")


def _n_complete(events: Path) -> int:
    return sum(1 for meta in events.glob("h*/zarr.json") if '"complete": true' in meta.read_text())


@pytest.mark.slurm
@pytest.mark.mpi
@pytest.mark.slow
def test_a_failing_rank_aborts_the_job_instead_of_hanging(base, slurm):
    (base / "rank0").mkdir()
    config = write_config(base, "failing", {"mocks": {"scratch_dir": str(base / "rank$SLURM_PROCID")}})
    start = time.monotonic()
    out = submit(slurm, config)
    log = log_of(config, out)
    assert out.returncode != 0
    assert time.monotonic() - start < 240
    assert f"scratch directory {base / 'rank1'} does not exist" in log


def _one_line_error(out: subprocess.CompletedProcess, *words: str) -> str:
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("xraymass mocks: error: "), out.stderr
    for word in words:
        assert word in last, last
    return last


@pytest.mark.slow
def test_a_missing_halo_id_is_one_line(base):
    config = write_config(base, "missing_halo", {})
    _one_line_error(xraymass("mocks", "--config", str(config), "--halos", "0,99999999"), "99999999", "--halos")
    assert "events" not in _open(base / "missing_halo" / "store.zarr")


@pytest.mark.slow
def test_an_unreadable_store_is_one_line(base):
    config = write_config(base, "unreadable", {})
    (base / "unreadable" / "store.zarr" / "zarr.json").write_text("{not json")
    _one_line_error(xraymass("mocks", "--config", str(config)), "store.zarr", "not readable")
    config = write_config(base, "no_catalogue", {})
    shutil.rmtree(base / "no_catalogue" / "store.zarr" / "halos")
    _one_line_error(xraymass("mocks", "--config", str(config)), "halos")


@pytest.mark.slow
def test_a_missing_response_file_with_real_physics_is_one_line(base):
    config = write_config(base, "real_physics", {"physics": {"data": "real", "arf": str(base / "acisi_cy19.arf")}})
    _one_line_error(xraymass("mocks", "--config", str(config)), "physics.data", "is missing")


@pytest.mark.slow
def test_a_faint_halo_is_stored_empty_and_complete(base):
    config = write_config(base, "faint", {"mocks": {"kt_min_kev": 10.0, "particle_background": False,
                                                    "foreground": False}})
    ids = _open(base / "faint" / "store.zarr")["halos"]["halo_id"][...]
    out = xraymass("mocks", "--config", str(config), "--halos", str(int(ids[0])))
    assert out.returncode == 0, out.stderr
    group = _open(base / "faint" / "store.zarr")["events"][f"h{int(ids[0]):08d}"]
    assert group.attrs["complete"] is True and group.attrs["n_photons"] == 0
    assert group.attrs["offsets"] == [0, 0, 0, 0]
    assert group["x"].shape == group["y"].shape == group["energy"].shape == (0,)
    assert _open(base / "faint" / "store.zarr")["events"].attrs.get("complete") is not True


def test_an_incomplete_halo_group_left_by_a_kill_is_replaced(tmp_path):
    from xraymass.mocks.observe import HaloEvents
    from xraymass.mocks.stage import write_halo_events

    events = zarr.open_group(str(tmp_path / "store.zarr"), mode="a", zarr_format=3).require_group("events")
    stale = events.create_group("h00000007")
    stale.create_array("x", data=np.arange(5, dtype=np.float32))
    stale.attrs["halo_id"] = 7
    halo = HaloEvents([np.array([1.0, 2.0]), np.array([3.0]), np.zeros(0)], [np.array([4.0, 5.0]), np.array([6.0]),
                      np.zeros(0)], [np.array([0.5, 0.6]), np.array([7.0]), np.zeros(0)], n_photons=9, n_cells=2)
    write_halo_events(events, {"halo_id": 7}, halo, {"halo_id": 7})
    group = _open(tmp_path / "store.zarr")["events"]["h00000007"]
    assert group.attrs["complete"] is True and group.attrs["offsets"] == [0, 2, 3, 3]
    assert group["x"][...].tolist() == [1.0, 2.0, 3.0] and group["energy"].dtype == np.float32
    assert sorted(p.name for p in (tmp_path / "store.zarr" / "events" / "h00000007").rglob("*") if p.is_file()) == \
        ["c.0", "c.0", "c.0", "zarr.json", "zarr.json", "zarr.json", "zarr.json"]
