"""Config section of the stamps stage: `make_stamps(store, client, **cfg.stamps)`."""
from ..schema import Key

SECTIONS = {
    "stamps": {
        "emin_kev": Key(float, 0.5, "lowest event energy kept (inclusive)", lo=0.0, hi=20.0),
        "emax_kev": Key(float, 7.0, "highest event energy kept (inclusive)", lo=0.1, hi=50.0),
        "npix": Key(int, 128, "stamp side in pixels", lo=8, hi=4096),
        "fov_arcmin": Key(float, 20.0, "side of the binned field, centred on the cluster", lo=1.0, hi=120.0),
        "n_folds": Key(int, 10, "cross-validation folds (clusters ordered by mass, assigned cyclically)", lo=3, hi=100),
        "block_events": Key(int, None, "events a worker reads at a time (~32 bytes per event held); a machine value: "
                                       "null takes the site's resources.block_events (site_configs/<site>/site.yaml)",
                            lo=65_536, hi=1 << 31, nullable=True),
    },
}
