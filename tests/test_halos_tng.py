"""The TNG reader end to end on a tiny snapshot, group catalogue and offsets file in TNG's exact layout."""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import xraymass
from xraymass.config import load_config
from xraymass.halos import gas_arrays, load_gas
from xraymass.store import is_complete, open_store

H, A, BOX = 0.6774, 0.8, 205000.0          # h, scale factor (z = 0.25), box in ckpc/h
SNAP = 99
LOG_M = [14.8, 14.2, 13.9, 13.3, 14.5]      # log10 M500c / Msun of the five groups
GAS_LEN = [40, 25, 15, 10, 5]               # gas cells per group; 7 more cells belong to no group
N_FUZZ = 7
SNAP_CHUNKS = [45, 30, 27]                  # gas cells per snapshot chunk (group 1 spans chunks 0 and 1)
GROUP_CHUNKS = [3, 2]                       # groups per catalogue chunk
KPC_CM, MSUN_G = 3.085677581491367e21, 1.988409870698051e33


def tng_layout(root: Path) -> dict:
    """Write output/groups_099, output/snapdir_099 and postprocessing/offsets in TNG's layout."""
    rng = np.random.default_rng(1)
    base = root / "output"
    (base / f"groups_{SNAP:03d}").mkdir(parents=True)
    (base / f"snapdir_{SNAP:03d}").mkdir()
    (root / "postprocessing" / "offsets").mkdir(parents=True)
    n_groups = len(LOG_M)
    pos = np.array([[BOX - 10.0, 1000.0, 2000.0], [5e4, 6e4, 7e4], [1e5, 1e5, 1e5], [3e4, 3e4, 3e4],
                    [1.5e5, 2e4, 9e4]])
    m500 = (10 ** np.array(LOG_M) * H / 1e10).astype(np.float32)              # 1e10 Msun/h
    r500 = np.array([900.0, 600.0, 450.0, 300.0, 700.0], np.float32)          # ckpc/h
    len_type = np.zeros((n_groups, 6), np.int32)
    len_type[:, 0] = GAS_LEN
    n_gas = sum(GAS_LEN) + N_FUZZ
    coords = np.concatenate([pos[g] + rng.normal(0, 200.0, (GAS_LEN[g], 3)) for g in range(n_groups)]
                            + [rng.uniform(0, BOX, (N_FUZZ, 3))])
    coords %= BOX                                                            # group 0 straddles the x edge
    cells = {
        "Coordinates": coords,
        "Velocities": rng.normal(0, 300, (n_gas, 3)).astype(np.float32),
        "Masses": np.full(n_gas, 0.0011, np.float32),                          # 1e10 Msun/h
        "Density": (10 ** rng.uniform(-6, -2, n_gas)).astype(np.float32),     # 1e10 Msun/h / (ckpc/h)^3
        "InternalEnergy": (10 ** rng.uniform(3, 6.5, n_gas)).astype(np.float32),
        "ElectronAbundance": rng.uniform(1.0, 1.2, n_gas).astype(np.float32),
        "GFM_Metallicity": rng.uniform(0.001, 0.02, n_gas).astype(np.float32),
        "StarFormationRate": np.where(rng.random(n_gas) < 0.1, rng.uniform(0.1, 1, n_gas), 0).astype(np.float32),
    }
    cells["InternalEnergy"][3], cells["ElectronAbundance"][3] = 5000.0, 1.16
    header = {"BoxSize": BOX, "HubbleParam": H, "Time": A, "Redshift": 1 / A - 1, "Omega0": 0.3089,
              "OmegaLambda": 0.6911}
    snap_starts = np.concatenate([[0], np.cumsum(SNAP_CHUNKS)[:-1]])
    for i, (start, n) in enumerate(zip(snap_starts, SNAP_CHUNKS)):
        with h5py.File(base / f"snapdir_{SNAP:03d}" / f"snap_{SNAP:03d}.{i}.hdf5", "w") as f:
            f.create_group("Header").attrs.update({
                **header, "NumFilesPerSnapshot": len(SNAP_CHUNKS), "MassTable": np.zeros(6),
                "NumPart_ThisFile": np.array([n, 0, 0, 0, 0, 0], np.int32),
                "NumPart_Total": np.array([n_gas, 0, 0, 0, 0, 0], np.uint32),
                "NumPart_Total_HighWord": np.zeros(6, np.uint32)})
            g = f.create_group("PartType0")
            for name, data in cells.items():
                g.create_dataset(name, data=data[start:start + n])
    group_starts = np.concatenate([[0], np.cumsum(GROUP_CHUNKS)[:-1]])
    for i, (start, n) in enumerate(zip(group_starts, GROUP_CHUNKS)):
        with h5py.File(base / f"groups_{SNAP:03d}" / f"fof_subhalo_tab_{SNAP:03d}.{i}.hdf5", "w") as f:
            f.create_group("Header").attrs.update({
                **header, "NumFiles": len(GROUP_CHUNKS), "Ngroups_ThisFile": n, "Ngroups_Total": n_groups,
                "Nsubgroups_ThisFile": 0, "Nsubgroups_Total": 0})
            g = f.create_group("Group")
            for name, data in (("Group_M_Crit500", m500), ("Group_R_Crit500", r500),
                               ("GroupPos", pos.astype(np.float32)),
                               ("GroupLenType", len_type), ("GroupLen", len_type.sum(1)),
                               ("GroupMass", m500 * 1.5)):
                g.create_dataset(name, data=data[start:start + n])
            f.create_group("Subhalo")
    with h5py.File(root / "postprocessing" / "offsets" / f"offsets_{SNAP:03d}.hdf5", "w") as f:
        snap_by_type = np.zeros((len(SNAP_CHUNKS), 6), np.int64)
        snap_by_type[:, 0] = snap_starts
        f["FileOffsets/SnapByType"] = snap_by_type
        f["FileOffsets/Group"] = group_starts.astype(np.int64)
        f["FileOffsets/Subhalo"] = np.zeros(len(GROUP_CHUNKS), np.int64)
        group_by_type = np.zeros((n_groups, 6), np.int64)
        group_by_type[:, 0] = np.concatenate([[0], np.cumsum(GAS_LEN)[:-1]])
        f["Group/SnapByType"] = group_by_type
        f["Subhalo/SnapByType"] = np.zeros((0, 6), np.int64)
    return {"base": base, "cells": cells, "pos": pos, "m500": m500, "r500": r500}


@pytest.fixture
def tng(tmp_path):
    return tng_layout(tmp_path / "TNG300-1")


@pytest.fixture
def tng_config(write_config, tng):
    def write(**halos):
        return write_config({"halos": {"source": "tng", "redshift": 0.25, "log_m500c_min": 13.5,
                                       "log_m500c_max": 14.85, **halos},
                             "tng": {"base_path": str(tng["base"]), "snapshot": SNAP}})
    return write


def test_catalogue_selects_groups_by_m500c_in_physical_units(tng, tng_config):
    path = tng_config()
    out = xraymass("halos", "--config", str(path))
    assert out.returncode == 0, out.stderr
    cfg = load_config(path)
    halos = open_store(cfg.store_path, "r")["halos"]
    assert is_complete(halos) and halos.attrs["source"] == "tng"
    ids = halos["halo_id"][...]
    np.testing.assert_array_equal(ids, [0, 1, 2, 4])                         # 13.3 is below the range
    np.testing.assert_allclose(halos["log_m500c"][...], np.array(LOG_M)[ids], atol=1e-6)
    np.testing.assert_allclose(halos["m500c"][...], tng["m500"][ids].astype(float) * 1e10 / H)
    np.testing.assert_allclose(halos["r500c"][...], tng["r500"][ids].astype(float) * A / H)
    np.testing.assert_allclose(halos["centre"][...], tng["pos"][ids].astype(np.float32).astype(float) * A / H)
    np.testing.assert_array_equal(halos["n_gas"][...], np.array(GAS_LEN)[ids])
    assert (cfg.run_dir / "halos.config.yaml").is_file()


def test_gas_cells_are_converted_and_unwrapped(tng, tng_config):
    path = tng_config()
    assert xraymass("halos", "--config", str(path)).returncode == 0
    cfg = load_config(path)
    cells = tng["cells"]
    gas, row = gas_arrays(cfg, 0)
    assert len(gas["mass"]) == 40
    # a hand computation: u = 5000 (km/s)^2, x_e = 1.16, X_H = 0.76, gamma = 5/3
    assert gas["temperature"][3] == pytest.approx(237320.7819653785, rel=1e-6)
    np.testing.assert_allclose(gas["mass"], 0.0011 * 1e10 / H, rtol=1e-6)
    dens = cells["Density"][:40].astype(float) * 1e10 * MSUN_G * H**2 / (A * KPC_CM) ** 3
    np.testing.assert_allclose(gas["density"], dens, rtol=1e-6)
    np.testing.assert_allclose(gas["metallicity"], cells["GFM_Metallicity"][:40] / 0.0127, rtol=1e-6)
    np.testing.assert_allclose(gas["star_formation_rate"], cells["StarFormationRate"][:40])
    np.testing.assert_allclose(gas["velocity"], cells["Velocities"][:40] * np.sqrt(A), rtol=1e-6)
    volume = gas["mass"] * MSUN_G / gas["density"] / KPC_CM**3
    np.testing.assert_allclose(gas["smoothing_length"], 2 * (3 * volume / (4 * np.pi)) ** (1 / 3))
    # group 0 sits 10 ckpc/h from the x edge: every cell lies on the centre's side of the box
    offset = gas["position"] - row["centre"]
    assert np.abs(offset).max() < 2000.0 * A / H
    wrapped = cells["Coordinates"][:40, 0] < BOX / 2
    assert wrapped.any()
    np.testing.assert_allclose(gas["position"][wrapped, 0], (cells["Coordinates"][:40][wrapped, 0] + BOX) * A / H)
    # group 1 spans snapshot chunks 0 and 1
    gas1, _ = gas_arrays(cfg, 1)
    np.testing.assert_allclose(gas1["density"], cells["Density"][40:65].astype(float) * 1e10 * MSUN_G * H**2
                               / (A * KPC_CM) ** 3, rtol=1e-6)
    # a chunk of the mocks stage reads only its window of the group's cells, across the file boundary
    for rows in ((0, 10), (10, 25), (20, 40)):
        window, _ = gas_arrays(cfg, 1, rows)
        for name, values in gas1.items():
            np.testing.assert_array_equal(window[name], values[rows[0]:min(rows[1], 25)])
    ds = load_gas(cfg, 1)
    assert ds.parameters["centre_kpc"] == pytest.approx(list(_centre(cfg, 1)))
    assert ds.all_data()["gas", "temperature"].size == 25
    assert ds.all_data()["gas", "emission_measure"].size == 25


def _centre(cfg, halo_id):
    halos = open_store(cfg.store_path, "r")["halos"]
    return halos["centre"][list(halos["halo_id"][...]).index(halo_id)]


def test_offsets_path_setting_is_honoured(tng, tng_config, tmp_path):
    moved = tmp_path / "elsewhere"
    os.rename(tng["base"].parent / "postprocessing" / "offsets", moved)
    path = tng_config()
    out = xraymass("halos", "--config", str(path))
    assert out.returncode != 0 and "offsets_099.hdf5" in out.stderr
    out = xraymass("halos", "--config", str(path), "--set", f"tng.offsets_path={moved}")
    assert out.returncode == 0, out.stderr
    cfg = load_config(path, [f"tng.offsets_path={moved}"])
    assert len(gas_arrays(cfg, 2)[0]["mass"]) == 15


def _one_line_error(out, *words):
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xraymass halos: error:"), out.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _nothing_complete(path):
    cfg = load_config(path)
    if (cfg.store_path / "zarr.json").is_file():
        root = open_store(cfg.store_path, "r")
        assert "halos" not in root or not is_complete(root["halos"])


def test_missing_snapshot_chunk(tng, tng_config):
    (tng["base"] / "snapdir_099" / "snap_099.2.hdf5").unlink()
    path = tng_config()
    _one_line_error(xraymass("halos", "--config", str(path)), "snap_099.2.hdf5", "not found")
    _nothing_complete(path)


def test_truncated_snapshot_chunk(tng, tng_config):
    chunk = tng["base"] / "snapdir_099" / "snap_099.1.hdf5"
    data = chunk.read_bytes()
    chunk.write_bytes(data[: len(data) // 2])
    path = tng_config()
    _one_line_error(xraymass("halos", "--config", str(path)), "snap_099.1.hdf5")
    _nothing_complete(path)


def test_truncated_group_catalogue(tng, tng_config):
    chunk = tng["base"] / "groups_099" / "fof_subhalo_tab_099.1.hdf5"
    chunk.write_bytes(chunk.read_bytes()[:1000])
    path = tng_config()
    _one_line_error(xraymass("halos", "--config", str(path)), "fof_subhalo_tab_099.1.hdf5")
    _nothing_complete(path)


def test_missing_base_path(tng_config, tmp_path):
    path = tng_config()
    _one_line_error(xraymass("halos", "--config", str(path), "--set", f"tng.base_path={tmp_path / 'nope'}"),
                    "no such directory")
    _nothing_complete(path)


def test_empty_mass_range(tng_config):
    path = tng_config(log_m500c_min=15.2, log_m500c_max=16.0)
    _one_line_error(xraymass("halos", "--config", str(path)), "no FoF group", "15.2")
    _nothing_complete(path)


def test_redshift_mismatch(tng_config):
    path = tng_config(redshift=0.0)
    _one_line_error(xraymass("halos", "--config", str(path)), "z = 0.25")
    _nothing_complete(path)
