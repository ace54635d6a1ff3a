"""Config sections of the stamps stage: `stamps`, for `stamp_clusters(client, store_path, stamps, halo_ids, todo,
cfg.stamps)` (xraymass.stamps.stage), whose Dask tasks run `stamp_cluster(store_path, halo_id, cluster, **kernel
keys)`; and `masking`, point-source masking (`masked_image(..., masking=cfg.masking)`, xraymass.stamps.masking;
`xraymass predict` applies the same)."""
from ..schema import Key

SECTIONS = {
    "stamps": {
        "emin_kev": Key(float, 0.5, "lowest event energy kept (inclusive)", lo=0.0, hi=20.0),
        "emax_kev": Key(float, 7.0, "highest event energy kept (inclusive)", lo=0.1, hi=50.0),
        "npix": Key(int, 128, "stamp side in pixels", lo=8, hi=4096),
        "fov_arcmin": Key(float, 20.0, "side of the binned field, centred on the cluster", lo=1.0, hi=120.0),
        "bands": Key(list, [], "energy bands binned into the channels of a stamp, [[emin, emax], ...] in keV, each "
                            "inside emin_kev-emax_kev (e.g. [[0.5, 1.2], [1.2, 2.0], [2.0, 7.0]]); [] = one channel, "
                            "emin_kev-emax_kev (the paper's single band)", item=list),
        "n_folds": Key(int, 10, "cross-validation folds (clusters ordered by mass, assigned cyclically)", lo=3, hi=100),
        "block_events": Key(int, None, "events a worker reads at a time (~32 bytes per event held); a machine value: "
                                       "null takes the site's resources.block_events (site_configs/<site>/site.yaml)",
                            lo=65_536, hi=1 << 31, nullable=True),
    },
    "masking": {
        "method": Key(str, "none", "point-source masking of every stamp: 'none' (the paper's mocks have no point "
                      "sources), or 'detect' (the built-in detection, docs/stamps.md)", choices=("none", "detect")),
        "cell_arcsec": Key(float, 1.0, "cell size of the detection and mask grid (arcsec)", lo=0.05, hi=60.0),
        "radius_arcsec": Key(float, 3.0, "radius masked around a detected source (arcsec)", lo=0.1, hi=600.0),
        "detect_p": Key(float, 1.0e-6, "detection: Poisson probability of the 3x3-cell counts given the local "
                        "background below this", lo=1e-30, hi=0.5),
        "detect_min_counts": Key(int, 5, "detection: at least this many counts in the 3x3 cells", lo=1, hi=1_000_000),
        "detect_min_ratio": Key(float, 4.0, "detection: counts at least this many times the local background "
                                "(keeps the smooth cluster core unmasked)", lo=1.0, hi=1e6),
        "annulus_factor": Key(float, 3.0, "fill: the local background is the mean of the annulus r..factor*r "
                              "around a source", lo=1.1, hi=100.0),
    },
}


def _band(cfg: dict) -> str | None:
    s, m = cfg["stamps"], cfg.get("mocks")
    if not s["emin_kev"] < s["emax_kev"]:
        return f"'stamps.emin_kev' = {s['emin_kev']} must be below 'stamps.emax_kev' = {s['emax_kev']}"
    if m is not None and (s["emin_kev"] >= m["emax_kev"] or s["emax_kev"] <= m["emin_kev"]):
        return (f"'stamps.emin_kev'-'stamps.emax_kev' = {s['emin_kev']}-{s['emax_kev']} keV lies outside the events' "
                f"band 'mocks.emin_kev'-'mocks.emax_kev' = {m['emin_kev']}-{m['emax_kev']} keV: every stamp would be empty")
    return None


def _field(cfg: dict) -> str | None:
    s, m = cfg["stamps"], cfg.get("mocks")
    if m is not None and s["fov_arcmin"] > m["fov_arcmin"]:
        return (f"'stamps.fov_arcmin' = {s['fov_arcmin']} is larger than the events' field "
                f"'mocks.fov_arcmin' = {m['fov_arcmin']}")
    return None


def _bands(cfg: dict) -> str | None:
    s = cfg["stamps"]
    for i, band in enumerate(s["bands"]):
        ok = (isinstance(band, list) and len(band) == 2
              and all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in band))
        if not ok or not s["emin_kev"] <= band[0] < band[1] <= s["emax_kev"]:
            return (f"'stamps.bands' item {i} = {band!r}: expected [emin, emax] in keV with "
                    f"'stamps.emin_kev' = {s['emin_kev']} <= emin < emax <= 'stamps.emax_kev' = {s['emax_kev']}")
    if len(s["bands"]) == 1:
        return "'stamps.bands' holds one band: use emin_kev/emax_kev for a single band ([] keeps the paper's layout)"
    return None


def band_set(stamps: dict) -> list[list[float]]:
    """The bands a stamp's channels hold, [[emin, emax], ...] keV: `bands`, or the single band emin_kev-emax_kev.
    `stamps` is the config section or the stamps group's attributes."""
    bands = stamps.get("bands") or []
    if bands:
        return [[float(lo), float(hi)] for lo, hi in bands]
    return [[float(stamps["emin_kev"]), float(stamps["emax_kev"])]]


# cross-key rules: functions of the whole validated config, returning one line or None
def _bands_unmasked(cfg: dict) -> str | None:
    if cfg["stamps"]["bands"] and "masking" in cfg and cfg["masking"]["method"] != "none":
        return ("'stamps.bands' and 'masking.method' = " f"{cfg['masking']['method']!r}: point-source masking works on "
                "single-band stamps only; use masking.method: none or a single band")
    return None


RULES = (_band, _field, _bands, _bands_unmasked)

# The config values the stamps are made with: recorded on `stamps/`, checked by `train` and `evaluate`
# (block_events only bounds a worker's memory); `masking` whole (what `xraymass predict` must apply too).
SETTINGS = {"stamps": ("emin_kev", "emax_kev", "npix", "fov_arcmin", "n_folds", "bands"), "masking": None}
