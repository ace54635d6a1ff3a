"""Point-source lists for `xraymass predict --sources`: a CIAO wavdetect FITS source list or a region file.

- FITS (astropy): the first table with columns X and Y (sky pixels), as wavdetect's `outfile`; the
  radius of each source is the larger semi-axis of its R column when present, and never less than
  masking.radius_arcsec.
- Region text (CIAO/ds9 `physical` coordinates, as wavdetect's `regfile`): one shape per line,
  `circle(x,y,r)` or `ellipse(x,y,a,b,angle)`; an ellipse is masked as the circle of its larger
  semi-axis. Comments (#), `global` and `physical` lines are skipped; a shape excluded with '-' or in
  other coordinates (fk5, image) is refused with a line naming it.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..stamps.masking import Sources

_SHAPE = re.compile(r"^\s*(circle|ellipse)\s*\(([^)]*)\)", re.IGNORECASE)


def read_sources(path: str | Path, min_radius_pix: float) -> Sources:
    """Sources in sky pixels from a wavdetect FITS source list or a CIAO/ds9 region file in physical coordinates."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: source list not found")
    with open(path, "rb") as f:
        is_fits = f.read(9) == b"SIMPLE  ="
    return _from_fits(path, min_radius_pix) if is_fits else _from_region(path, min_radius_pix)


def _from_fits(path: Path, min_radius_pix: float) -> Sources:
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdul:
            for hdu in hdul[1:]:
                names = {c.lower() for c in getattr(hdu, "columns", None).names} if hasattr(hdu, "columns") else set()
                if {"x", "y"} <= names:
                    x = np.asarray(hdu.data["x"], np.float64)
                    y = np.asarray(hdu.data["y"], np.float64)
                    r = np.full(len(x), min_radius_pix)
                    if "r" in names:
                        axes = np.asarray(hdu.data["r"], np.float64).reshape(len(x), -1)
                        r = np.maximum(r, axes.max(axis=1))
                    return Sources(x, y, r)
    except OSError as err:
        raise InputError(f"{path}: not a readable FITS source list ({err})") from None
    raise InputError(f"{path}: no table with X and Y columns (a wavdetect source list has them)")


def _from_region(path: Path, min_radius_pix: float) -> Sources:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{path}: neither FITS nor a text region file") from None
    xs, ys, rs = [], [], []
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.lower() in ("physical", "global") or line.lower().startswith("global "):
            continue
        if line.lower() in ("fk5", "icrs", "image", "fk4", "galactic", "ecliptic", "wcs") or line.startswith("-"):
            raise InputError(f"{path}:{number}: {raw.strip()!r}: only shapes in physical (sky pixel) coordinates are "
                             f"read, as wavdetect writes them")
        match = _SHAPE.match(line)
        if not match:
            raise InputError(f"{path}:{number}: {raw.strip()!r} is not a circle(x,y,r) or ellipse(x,y,a,b,angle)")
        try:
            values = [float(v) for v in match.group(2).split(",")]
        except ValueError:
            raise InputError(f"{path}:{number}: {raw.strip()!r}: coordinates must be numbers (physical pixels)") from None
        shape = match.group(1).lower()
        if (shape == "circle" and len(values) != 3) or (shape == "ellipse" and len(values) != 5):
            raise InputError(f"{path}:{number}: {raw.strip()!r}: wrong number of values for a {shape}")
        xs.append(values[0])
        ys.append(values[1])
        rs.append(max(min_radius_pix, values[2] if shape == "circle" else max(values[2], values[3])))
    return Sources(np.asarray(xs, np.float64), np.asarray(ys, np.float64), np.asarray(rs, np.float64))
