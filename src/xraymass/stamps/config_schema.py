"""Config section of the stamps stage: `make_stamps(store, client, **cfg.stamps)`."""
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
RULES = (_band, _field, _bands)

# The config values the stamps are made with: recorded on `stamps/`, checked by `train` and `evaluate`
# (block_events only bounds a worker's memory).
SETTINGS = {"stamps": ("emin_kev", "emax_kev", "npix", "fov_arcmin", "n_folds", "bands")}
