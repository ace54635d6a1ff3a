"""Chandra level-2 event files: read one for `xraymass predict`, and write one from a mock in a run's store.

Read (astropy.io.fits): the `EVENTS` extension's sky `x`, `y` (pixels) with the tangent-plane WCS of
their columns (TCTYPn, TCRPXn, TCRVLn, TCDLTn), `energy` (eV), `ccd_id` when present, the header's
EXPOSURE (else LIVETIME, else the sum of the GTIs), pointing (RA_PNT, DEC_PNT) and identification
keywords, and every `GTI` extension.

Written (`write_level2`): the layout CIAO's acis_process_events writes for ACIS level 2 (docs/predict.md):
an empty primary HDU; EVENTS with time, ccd_id, node_id, expno, chipx, chipy, tdetx, tdety, detx, dety,
x, y, pha, energy, pi, fltgrade, grade, status; one GTI extension per CCD; the usual keywords. Two
choices differ from a pipeline file and are stated in the header: x and y are 64-bit ('d', which
acis_process_events' eventdef allows), so the file holds the store's 32-bit event positions exactly;
and the mocks' detector is one gap-free square chip, written as ccd_id 3 (ACIS-I3) with chip
coordinates in its own 0.5" pixels (`chipx` = floor of the mock detector pixel + 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

MJDREF = 50814.0          # Chandra's MET zero point (1998-01-01T00:00:00 TT)
TSTART = 600_000_000.0    # a mid-mission MET (s) for written files
SKY_REFERENCE_PIX = 4096.5  # ACIS sky pixel of the pointing (TCRPX of x and y)
EV_PER_PI = 14.6          # ACIS PI channel width (eV)
MOCK_CCD = 3              # ACIS-I3, the ACIS-I aimpoint chip
TIMEDEL = 3.24104         # ACIS full-frame TE frame time (s)
HEADER_KEYS = ("TELESCOP", "INSTRUME", "DETNAM", "OBS_ID", "OBJECT", "DATAMODE", "READMODE", "EXPOSURE",
               "LIVETIME", "ONTIME", "TSTART", "TSTOP", "RA_PNT", "DEC_PNT", "ROLL_PNT", "RA_NOM", "DEC_NOM",
               "DATE-OBS", "TIMEDEL")


@dataclass
class Observation:
    """What `xraymass predict` reads from a level-2 event file."""

    path: Path
    x: np.ndarray                 # sky pixels (float64)
    y: np.ndarray
    energy_kev: np.ndarray        # keV (float64)
    ccd_id: np.ndarray | None
    crpix: tuple[float, float]    # TCRPX of x, y
    crval: tuple[float, float]    # TCRVL of x, y: RA, Dec (deg)
    cdelt: tuple[float, float]    # TCDLT of x, y (deg per pixel)
    exposure_s: float
    exposure_from: str            # the keyword (or 'GTI') the exposure was read from
    gtis: list[tuple[int | None, float, float]] = field(default_factory=list)
    header: dict = field(default_factory=dict)

    @property
    def pixel_arcsec(self) -> float:
        """Sky pixel size (arcsec), to 1e-9 arcsec (TCDLT is given in degrees)."""
        return round(abs(self.cdelt[0]) * 3600.0, 9)

    def wcs(self):
        """The sky pixels' tangent-plane WCS (astropy), FITS pixel convention (origin 1)."""
        from astropy.wcs import WCS

        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crpix = list(self.crpix)
        w.wcs.crval = list(self.crval)
        w.wcs.cdelt = list(self.cdelt)
        w.wcs.cunit = ["deg", "deg"]
        return w

    def sky_to_pix(self, ra_deg: float, dec_deg: float) -> tuple[float, float]:
        """Sky pixel (x, y) of a position (RA, Dec in degrees)."""
        px = self.wcs().wcs_world2pix(np.array([[ra_deg, dec_deg]], np.float64), 1)[0]
        return float(px[0]), float(px[1])

    def pix_to_sky(self, x: float, y: float) -> tuple[float, float]:
        """RA, Dec (degrees) of a sky pixel (x, y)."""
        w = self.wcs().wcs_pix2world(np.array([[x, y]], np.float64), 1)[0]
        return float(w[0]), float(w[1])

    def pointing_pix(self) -> tuple[float, float] | None:
        """Sky pixel of the pointing (RA_PNT, DEC_PNT), or None when the header lacks them."""
        if self.header.get("RA_PNT") is None or self.header.get("DEC_PNT") is None:
            return None
        return self.sky_to_pix(float(self.header["RA_PNT"]), float(self.header["DEC_PNT"]))


def read_level2(path: str | Path) -> Observation:
    """Read a Chandra level-2 event file; InputError naming the file and what is missing or wrong."""
    from astropy.io import fits

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: event file not found")
    try:
        hdul = fits.open(path, memmap=False)
    except Exception as err:  # astropy raises OSError, ValueError, ... on a file that is not FITS
        raise InputError(f"{path}: not a FITS file ({type(err).__name__}); give a Chandra level-2 event file "
                         f"(evt2.fits)") from None
    with hdul:
        names = [hdu.name.upper() for hdu in hdul]
        if "EVENTS" not in names:
            raise InputError(f"{path}: no EVENTS extension (extensions: {', '.join(names)}); not an event file")
        events = hdul["EVENTS"]
        header = events.header
        columns = {name.lower(): n + 1 for n, name in enumerate(events.columns.names)}
        missing = [c for c in ("x", "y", "energy") if c not in columns]
        if missing:
            raise InputError(f"{path}: EVENTS has no {' or '.join(repr(c) for c in missing)} column (a level-2 "
                             f"event file has sky x, y and energy in eV)")
        wcs = {axis: _column_wcs(header, columns[axis], axis, path) for axis in ("x", "y")}
        if not np.isclose(abs(wcs["x"][2]), abs(wcs["y"][2]), rtol=1e-9, atol=0):
            raise InputError(f"{path}: sky pixels are not square (TCDLT of x {wcs['x'][2]}, of y {wcs['y'][2]})")
        data = events.data
        energy_scale = _energy_scale(header, columns["energy"], path)
        gtis = _gtis(hdul)
        exposure, exposure_from = _exposure(header, gtis, path)
        return Observation(
            path=path, x=np.asarray(data["x"], np.float64), y=np.asarray(data["y"], np.float64),
            energy_kev=np.asarray(data["energy"], np.float64) * energy_scale,
            ccd_id=np.asarray(data["ccd_id"], np.int64) if "ccd_id" in columns else None,
            crpix=(wcs["x"][0], wcs["y"][0]), crval=(wcs["x"][1], wcs["y"][1]), cdelt=(wcs["x"][2], wcs["y"][2]),
            exposure_s=exposure, exposure_from=exposure_from, gtis=gtis,
            header={k: header.get(k) for k in HEADER_KEYS if k in header})


def _column_wcs(header, n: int, axis: str, path: Path) -> tuple[float, float, float]:
    keys = [f"TCTYP{n}", f"TCRPX{n}", f"TCRVL{n}", f"TCDLT{n}"]
    absent = [k for k in keys if k not in header]
    if absent:
        raise InputError(f"{path}: EVENTS column {axis!r} has no sky WCS ({', '.join(absent)} missing)")
    expected = "RA---TAN" if axis == "x" else "DEC--TAN"
    if str(header[keys[0]]).strip().upper() != expected:
        raise InputError(f"{path}: EVENTS column {axis!r} has {keys[0]} = {header[keys[0]]!r}, expected {expected!r}")
    values = tuple(float(header[k]) for k in keys[1:])
    if not values[2]:
        raise InputError(f"{path}: {keys[3]} = 0: no pixel scale")
    return values  # crpix, crval, cdelt


def _energy_scale(header, n: int, path: Path) -> float:
    unit = str(header.get(f"TUNIT{n}", "eV")).strip()
    if unit.lower() == "ev":
        return 1.0e-3
    if unit.lower() == "kev":
        return 1.0
    raise InputError(f"{path}: EVENTS column 'energy' is in {unit!r}; expected eV (as CIAO writes it) or keV")


def _gtis(hdul) -> list[tuple[int | None, float, float]]:
    out = []
    for hdu in hdul:
        if hdu.name.upper() == "GTI" and hdu.data is not None:
            names = {c.lower() for c in hdu.columns.names}
            if {"start", "stop"} <= names:
                ccd = hdu.header.get("CCD_ID")
                out += [(ccd, float(a), float(b)) for a, b in zip(hdu.data["start"], hdu.data["stop"])]
    return out


def _exposure(header, gtis, path: Path) -> tuple[float, str]:
    for key in ("EXPOSURE", "LIVETIME"):
        if key in header and float(header[key]) > 0:
            return float(header[key]), key
    if gtis:
        per_ccd: dict = {}
        for ccd, a, b in gtis:
            per_ccd[ccd] = per_ccd.get(ccd, 0.0) + (b - a)
        return max(per_ccd.values()), "GTI"
    raise InputError(f"{path}: no exposure: EVENTS has neither EXPOSURE nor LIVETIME, and there is no GTI extension")


# --- writing ----------------------------------------------------------------------------------

def write_level2(path: str | Path, x_det: np.ndarray, y_det: np.ndarray, energy_kev: np.ndarray, *,
                 centre_pix: tuple[float, float], pixel_arcsec: float, sky_center_deg: tuple[float, float],
                 exposure_s: float, obs_id: str, seed: int, history: list[str] = ()) -> Path:
    """Write a level-2 event file in the layout of CIAO's ACIS level 2 from events in a mock's detector frame.

    Parameters
    ----------
    x_det, y_det : array
        Event positions in the mock's detector pixels (float32 as stored; pixel size `pixel_arcsec`, arcsec).
    energy_kev : array
        Event energies (keV); written in eV.
    centre_pix : (float, float)
        Detector pixel of the pointing (the halo centre in the mocks); written as sky pixel 4096.5.
    sky_center_deg : (float, float)
        RA, Dec (degrees) of the pointing: TCRVL, RA_PNT/DEC_PNT, RA_NOM/DEC_NOM.
    exposure_s : float
        Exposure (s): EXPOSURE, LIVETIME, ONTIME and the single GTI.
    seed : int
        Seed of the event times (uniform over the GTI, then sorted).
    """
    from astropy.io import fits

    from .. import __version__

    path = Path(path)
    n = len(x_det)
    offset = (SKY_REFERENCE_PIX - float(centre_pix[0]), SKY_REFERENCE_PIX - float(centre_pix[1]))
    x = np.asarray(x_det, np.float64) + offset[0]
    y = np.asarray(y_det, np.float64) + offset[1]
    energy_ev = np.asarray(energy_kev, np.float32) * np.float32(1000.0)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    time = np.sort(rng.uniform(TSTART, TSTART + exposure_s, n))
    order = np.argsort(rng.random(n), kind="stable") if n else np.zeros(0, np.int64)  # events in time order
    x, y, energy_ev, x_det, y_det = x[order], y[order], energy_ev[order], np.asarray(x_det)[order], np.asarray(y_det)[order]
    chipx = np.floor(np.asarray(x_det, np.float64)).astype(np.int16) + 1
    chipy = np.floor(np.asarray(y_det, np.float64)).astype(np.int16) + 1
    pi = np.clip(np.floor(energy_ev / EV_PER_PI).astype(np.int32) + 1, 1, 1024)
    deg = pixel_arcsec / 3600.0
    cols = [
        fits.Column("time", "1D", unit="s", array=time),
        fits.Column("ccd_id", "1I", array=np.full(n, MOCK_CCD, np.int16)),
        fits.Column("node_id", "1I", array=np.zeros(n, np.int16)),
        fits.Column("expno", "1J", array=np.floor((time - TSTART) / TIMEDEL).astype(np.int32)),
        fits.Column("chipx", "1I", unit="pixel", array=chipx),
        fits.Column("chipy", "1I", unit="pixel", array=chipy),
        fits.Column("tdetx", "1I", unit="pixel", array=np.floor(x).astype(np.int16)),
        fits.Column("tdety", "1I", unit="pixel", array=np.floor(y).astype(np.int16)),
        fits.Column("detx", "1E", unit="pixel", array=x.astype(np.float32)),
        fits.Column("dety", "1E", unit="pixel", array=y.astype(np.float32)),
        fits.Column("x", "1D", unit="pixel", array=x),
        fits.Column("y", "1D", unit="pixel", array=y),
        fits.Column("pha", "1J", unit="adu", array=np.floor(energy_ev / 3.5).astype(np.int32)),
        fits.Column("energy", "1E", unit="eV", array=energy_ev),
        fits.Column("pi", "1J", unit="chan", array=pi),
        fits.Column("fltgrade", "1I", array=np.zeros(n, np.int16)),
        fits.Column("grade", "1I", array=np.zeros(n, np.int16)),
        fits.Column("status", "32X", array=np.zeros((n, 32), bool)),
    ]
    events = fits.BinTableHDU.from_columns(cols, name="EVENTS")
    h = events.header
    for k, name in enumerate(events.columns.names, start=1):
        if name in ("x", "y"):
            axis = 0 if name == "x" else 1
            h[f"TCTYP{k}"] = ("RA---TAN" if name == "x" else "DEC--TAN", "sky coordinate projection")
            h[f"TCRVL{k}"] = (float(sky_center_deg[axis]), "[deg] sky coordinate at the reference pixel")
            h[f"TCRPX{k}"] = (SKY_REFERENCE_PIX, "reference pixel")
            h[f"TCDLT{k}"] = (-deg if name == "x" else deg, "[deg] pixel size")
            h[f"TCUNI{k}"] = ("deg", "units of the sky coordinate")
            h[f"TLMIN{k}"], h[f"TLMAX{k}"] = 0.5, 8192.5
        elif name == "energy":
            h[f"TLMIN{k}"], h[f"TLMAX{k}"] = 0.0, 1.0e6
        elif name == "ccd_id":
            h[f"TLMIN{k}"], h[f"TLMAX{k}"] = 0, 9
    header = _common_header(sky_center_deg, exposure_s, obs_id, __version__)
    for key, value in header.items():
        h[key] = value
    h["HDUCLAS2"] = "ACCEPTED"
    h["MTYPE1"], h["MFORM1"] = "sky", "x,y"
    h["COMMENT"] = ("Written by xraymass from a mock in a run's store: x, y in 64-bit ('d' in eventdef) so that "
                    "they hold the store's positions exactly; one gap-free mock chip as ccd_id 3.")
    for line in history:
        h["HISTORY"] = line
    gti = fits.BinTableHDU.from_columns([fits.Column("START", "1D", unit="s", array=[TSTART]),
                                         fits.Column("STOP", "1D", unit="s", array=[TSTART + exposure_s])], name="GTI")
    gti.header["HDUNAME"] = f"GTI{MOCK_CCD}"
    gti.header["CCD_ID"] = MOCK_CCD
    gti.header["HDUCLASS"], gti.header["HDUCLAS1"], gti.header["HDUCLAS2"] = "OGIP", "GTI", "STANDARD"
    primary = fits.PrimaryHDU()
    for key, value in header.items():
        if key not in ("HDUCLAS1", "HDUNAME"):
            primary.header[key] = value
    from ..store import atomic_path

    with atomic_path(path, suffix=".fits") as tmp:
        fits.HDUList([primary, events, gti]).writeto(tmp, overwrite=True, checksum=True)
    return path


def _common_header(sky_center_deg, exposure_s: float, obs_id: str, version: str) -> dict:
    from astropy.time import Time

    ra, dec = float(sky_center_deg[0]), float(sky_center_deg[1])
    start, end = (Time(MJDREF + t / 86400.0, format="mjd", scale="tt").isot[:19] for t in (TSTART, TSTART + exposure_s))
    return {
        "HDUNAME": "EVENTS", "ORIGIN": "ASC", "CREATOR": f"xraymass {version}", "CONTENT": "EVT2",
        "HDUCLASS": "OGIP", "HDUCLAS1": "EVENTS", "TELESCOP": "CHANDRA", "INSTRUME": "ACIS",
        "DETNAM": f"ACIS-{MOCK_CCD}", "GRATING": "NONE", "OBS_ID": str(obs_id), "OBJECT": str(obs_id),
        "DATAMODE": "VFAINT", "READMODE": "TIMED", "TIMEDEL": TIMEDEL, "MJDREF": MJDREF, "TIMESYS": "TT",
        "TIMEUNIT": "s", "TIMEREF": "LOCAL", "DATE-OBS": start, "DATE-END": end, "TSTART": TSTART, "TSTOP": TSTART + exposure_s,
        "ONTIME": float(exposure_s), "LIVETIME": float(exposure_s), "EXPOSURE": float(exposure_s), "DTCOR": 1.0,
        "RA_PNT": ra, "DEC_PNT": dec, "ROLL_PNT": 0.0, "RA_NOM": ra, "DEC_NOM": dec, "ROLL_NOM": 0.0,
        "RA_TARG": ra, "DEC_TARG": dec, "EQUINOX": 2000.0, "RADECSYS": "ICRS",
    }
