"""The IllustrisTNG reader: FoF groups by Group_M_Crit500 and every gas cell of a group, in physical units.

Files (the layout of the TNG public data release, read with illustris_python):
  <base_path>/groups_NNN/fof_subhalo_tab_NNN.<chunk>.hdf5      group catalogue
  <base_path>/snapdir_NNN/snap_NNN.<chunk>.hdf5                snapshot (gas: PartType0)
  <offsets_path>/offsets_NNN.hdf5                              default <base_path>/../postprocessing/offsets

Unit conversions (TNG data specifications; a = Header/Time, h = Header/HubbleParam):
  Coordinates, GroupPos, Group_R_Crit500 [ckpc/h]   -> physical kpc:  x a / h
  Masses, Group_M_Crit500 [1e10 Msun/h]             -> Msun:          x 1e10 / h
  Density [1e10 Msun/h / (ckpc/h)^3]                -> g/cm^3:        x 1e10 Msun h^2 / (a kpc)^3
  Velocities [km sqrt(a)/s]                          -> km/s:          x sqrt(a)
  InternalEnergy [(km/s)^2], ElectronAbundance x_e  -> T = (gamma - 1) u mu m_p / k_B,
      gamma = 5/3, mu = 4 / (1 + 3 X_H + 4 X_H x_e), X_H = 0.76
  GFM_Metallicity [mass fraction]                    -> Zsun:          / 0.0127 (TNG's solar value)
  StarFormationRate [Msun/yr]                        -> as is; > 0 marks star-forming cells
  smoothing length                                   -> 2 (3 V / 4 pi)^(1/3), V = Masses / Density
                                                        (yt's Arepo frontend, smoothing_factor 2)
Cells are unwrapped periodically to the image nearest the group centre.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .cosmo import K_B_ERG, KPC_CM, M_P_G, MSUN_G, X_H
from .synthetic import smoothing_length_kpc

Z_SUN_TNG = 0.0127
GAMMA = 5.0 / 3.0
GAS_FIELDS = ("Coordinates", "Velocities", "Masses", "Density", "InternalEnergy", "ElectronAbundance",
              "GFM_Metallicity", "StarFormationRate")
GROUP_FIELDS = ("Group_M_Crit500", "Group_R_Crit500", "GroupPos", "GroupLenType")


@dataclass
class Snapshot:
    """Where one TNG snapshot lives and its header values."""

    base_path: str
    snapshot: int
    offsets_file: Path
    a: float
    h: float
    redshift: float
    box_kpc: float

    @classmethod
    def open(cls, base_path: str, snapshot: int, offsets_path: str = "") -> "Snapshot":
        """Check the catalogue's first chunk and the offsets file exist and read the header."""
        from illustris_python.groupcat import gcPath

        if not base_path:
            raise InputError("tng.base_path is empty: set it to the TNG output directory (groups_NNN/, snapdir_NNN/)")
        if not Path(base_path).is_dir():
            raise InputError(f"tng.base_path {base_path}: no such directory")
        offsets_dir = Path(offsets_path) if offsets_path else Path(base_path).parent / "postprocessing" / "offsets"
        offsets_file = offsets_dir / f"offsets_{snapshot:03d}.hdf5"
        header = _read_attrs(gcPath(base_path, snapshot, 0), "Header")
        _require_file(offsets_file, "FileOffsets/SnapByType")
        try:
            a, h, z, box = (float(header[k]) for k in ("Time", "HubbleParam", "Redshift", "BoxSize"))
        except KeyError as err:
            raise InputError(f"{gcPath(base_path, snapshot, 0)}: Header lacks attribute {err}") from None
        return cls(base_path, snapshot, offsets_file, a, h, z, box * a / h)

    def check_catalogue(self) -> None:
        """Every group-catalogue chunk is present, readable and as long as its header says."""
        from illustris_python.groupcat import gcPath

        n_files = int(_read_attrs(gcPath(self.base_path, self.snapshot, 0), "Header")["NumFiles"])
        for i in range(n_files):
            path = gcPath(self.base_path, self.snapshot, i)
            _require_chunk(path, f"group catalogue chunk {i} of {n_files}")
            _check_chunk(path, "Group", "Ngroups_ThisFile", GROUP_FIELDS)

    def check_snapshot(self, progress: bool = True) -> None:
        """Every snapshot chunk is present, readable and holds as many gas cells as its header says."""
        from illustris_python.snapshot import snapPath

        from ..progress import Progress

        n_files = int(_read_attrs(snapPath(self.base_path, self.snapshot, 0), "Header")["NumFilesPerSnapshot"])
        bar = Progress("halos: checking TNG snapshot chunks", n_files, enabled=progress, unit="file")
        for i in range(n_files):
            path = snapPath(self.base_path, self.snapshot, i)
            _require_chunk(path, f"snapshot chunk {i} of {n_files}")
            _check_chunk(path, "PartType0", "NumPart_ThisFile", GAS_FIELDS)
            bar.update()
        bar.close()

    def groups(self, log_m500c_min: float, log_m500c_max: float) -> dict[str, np.ndarray]:
        """FoF groups with log_m500c_min <= log10(M500c/Msun) <= log_m500c_max, in physical units."""
        from illustris_python.groupcat import loadHalos

        if log_m500c_min > log_m500c_max:
            raise InputError(f"halos.log_m500c_min = {log_m500c_min} > halos.log_m500c_max = {log_m500c_max}: "
                             "the mass range is empty")
        cat = _guard(lambda: loadHalos(self.base_path, self.snapshot, fields=list(GROUP_FIELDS)),
                     f"{self.base_path}/groups_{self.snapshot:03d}")
        if not isinstance(cat, dict) or "Group_M_Crit500" not in cat:
            raise InputError(f"{self.base_path}/groups_{self.snapshot:03d}: the group catalogue holds no groups")
        m500c = cat["Group_M_Crit500"].astype(np.float64) * 1e10 / self.h
        with np.errstate(divide="ignore"):
            log_m = np.where(m500c > 0, np.log10(np.maximum(m500c, 1e-300)), -np.inf)
        ids = np.flatnonzero((log_m >= log_m500c_min) & (log_m <= log_m500c_max))
        if ids.size == 0:
            raise InputError(f"no FoF group of {self.base_path} snapshot {self.snapshot} has "
                             f"{log_m500c_min} <= log10(M500c/Msun) <= {log_m500c_max} "
                             f"(the catalogue spans {np.max(log_m):.2f} at most)")
        return {
            "halo_id": ids.astype(np.int64),
            "m500c": m500c[ids],
            "r500c": cat["Group_R_Crit500"][ids].astype(np.float64) * self.a / self.h,
            "centre": cat["GroupPos"][ids].astype(np.float64) * self.a / self.h,
            "n_gas": cat["GroupLenType"][ids, 0].astype(np.int64),
        }

    def gas(self, halo_id: int, centre_kpc: np.ndarray, rows: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
        """The gas cells of FoF group `halo_id` (all, or its cells rows[0]:rows[1] only: only those are read)
        in physical units (names as synthetic.GAS_FIELDS)."""
        from illustris_python.snapshot import loadSubset

        subset = self._subset(halo_id)
        if rows is not None:  # a group's cells are contiguous in the snapshot: read a window of them
            n_gas = int(subset["lenType"][0])
            start, stop = max(0, int(rows[0])), min(n_gas, int(rows[1]))
            subset["offsetType"] = np.array(subset["offsetType"], copy=True)
            subset["lenType"] = np.array(subset["lenType"], copy=True)
            subset["offsetType"][0] += start
            subset["lenType"][0] = max(stop - start, 0)
        cells = _guard(lambda: loadSubset(self.base_path, self.snapshot, "gas", list(GAS_FIELDS), subset=subset),
                       f"{self.base_path}/snapdir_{self.snapshot:03d}")
        if cells.get("count", 0) == 0:
            raise InputError(f"FoF group {halo_id} of {self.base_path} snapshot {self.snapshot} has no gas cells")
        return self.convert(cells, np.asarray(centre_kpc, float))

    def convert(self, cells: dict[str, np.ndarray], centre_kpc: np.ndarray) -> dict[str, np.ndarray]:
        a, h = self.a, self.h
        pos = cells["Coordinates"].astype(np.float64) * a / h
        pos = centre_kpc + _wrap(pos - centre_kpc, self.box_kpc)
        mass = cells["Masses"].astype(np.float64) * 1e10 / h
        density = cells["Density"].astype(np.float64) * 1e10 * MSUN_G * h * h / (a * KPC_CM) ** 3
        return {
            "position": pos,
            "velocity": cells["Velocities"].astype(np.float64) * np.sqrt(a),
            "mass": mass,
            "density": density,
            "temperature": temperature_k(cells["InternalEnergy"], cells["ElectronAbundance"]),
            "metallicity": cells["GFM_Metallicity"].astype(np.float64) / Z_SUN_TNG,
            "smoothing_length": smoothing_length_kpc(mass, density),
            "star_formation_rate": cells["StarFormationRate"].astype(np.float64),
        }

    def _subset(self, halo_id: int) -> dict[str, np.ndarray]:
        """illustris_python's `subset` of one group: its offsets (offsets file) and lengths (catalogue chunk)."""
        import h5py
        from illustris_python.groupcat import gcPath

        try:
            with h5py.File(self.offsets_file, "r") as f:
                snap_offsets = np.transpose(f["FileOffsets/SnapByType"][()])
                offset_type = f["Group/SnapByType"][int(halo_id), :]
                first = int(halo_id) - f["FileOffsets/Group"][()]
        except (OSError, KeyError, ValueError, IndexError) as err:
            raise InputError(f"{self.offsets_file}: offsets of group {halo_id} not readable ({err})") from None
        chunk = int(np.max(np.flatnonzero(first >= 0)))
        path = gcPath(self.base_path, self.snapshot, chunk)
        try:
            with h5py.File(path, "r") as f:
                len_type = f["Group/GroupLenType"][int(first[chunk]), :]
        except (OSError, KeyError, ValueError, IndexError) as err:
            raise InputError(f"{path}: GroupLenType of group {halo_id} not readable ({err})") from None
        return {"snapOffsets": snap_offsets, "offsetType": offset_type, "lenType": len_type}


def temperature_k(internal_energy, electron_abundance) -> np.ndarray:
    """T = (gamma - 1) u mu m_p / k_B with mu = 4 m_p / (1 + 3 X_H + 4 X_H x_e); u in (km/s)^2."""
    u_cgs = np.asarray(internal_energy, np.float64) * 1e10
    mu = 4.0 / (1.0 + 3.0 * X_H + 4.0 * X_H * np.asarray(electron_abundance, np.float64))
    return (GAMMA - 1.0) * u_cgs * mu * M_P_G / K_B_ERG


def _wrap(dx: np.ndarray, box: float) -> np.ndarray:
    return dx - box * np.round(dx / box)


def _guard(call, where: str):
    """Run an illustris_python read; any failure becomes one InputError line naming the place."""
    try:
        return call()
    except InputError:
        raise
    except Exception as err:  # illustris_python raises bare Exception, OSError, KeyError, IndexError
        raise InputError(f"{where}: TNG files not readable ({type(err).__name__}: {err})") from None


def _read_attrs(path: str | os.PathLike, group: str) -> dict:
    import h5py

    _require_file(path, group)
    with h5py.File(path, "r") as f:
        return dict(f[group].attrs.items())


def _require_file(path: str | os.PathLike, member: str) -> None:
    """The HDF5 file exists, opens (a truncated file does not) and holds `member`."""
    import h5py

    if not Path(path).is_file():
        raise InputError(f"{path}: TNG file not found")
    try:
        with h5py.File(path, "r") as f:
            if member not in f:
                raise InputError(f"{path}: not a TNG file of the expected layout (no '{member}')")
    except OSError as err:
        raise InputError(f"{path}: not a readable HDF5 file, truncated or damaged ({err})") from None


def _require_chunk(path: str, what: str) -> None:
    """illustris_python falls back to the older file name when a chunk is absent: name the TNG one."""
    if not Path(path).is_file():
        name = Path(path).name.replace("snapshot_", "snap_").replace("groups_", "fof_subhalo_tab_")
        raise InputError(f"{Path(path).parent / name}: TNG {what} not found")


def _check_chunk(path: str, group: str, count_attr: str, fields: tuple[str, ...]) -> None:
    """One chunk: opens, and each field of `group` has as many rows as Header/count_attr says."""
    import h5py

    _require_file(path, "Header")
    try:
        with h5py.File(path, "r") as f:
            count = f["Header"].attrs[count_attr]
            n = int(count[0] if np.ndim(count) else count)
            if n == 0:
                return
            if group not in f:
                raise InputError(f"{path}: header counts {n} rows of {group} but the group is missing")
            for name in fields:
                if name not in f[group]:
                    raise InputError(f"{path}: {group}/{name} is missing")
                if f[group][name].shape[0] != n:
                    raise InputError(f"{path}: {group}/{name} has {f[group][name].shape[0]} rows, header says {n}")
                f[group][name][n - 1]
    except (OSError, KeyError) as err:
        raise InputError(f"{path}: not readable, truncated or damaged ({err})") from None
