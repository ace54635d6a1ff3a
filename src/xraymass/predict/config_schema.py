"""Config section of `xraymass predict`: where an observation may fall from what the models were trained on
(the domain rule, docs/predict.md), how the cluster centre is found, and the seed of its random streams."""
from ..schema import Key

SECTIONS = {
    "predict": {
        "redshift_tolerance": Key(float, 0.005, "refuse an observation whose redshift differs from mocks.redshift by "
                                  "more than this", lo=0.0, hi=5.0),
        "exposure_tolerance": Key(float, 0.02, "refuse an exposure shorter than mocks.exposure_ks by more than this "
                                  "fraction (a longer one is thinned to mocks.exposure_ks)", lo=0.0, hi=1.0),
        "min_coverage": Key(float, 0.98, "refuse when less than this fraction of the stamp's field lies on the "
                            "observation's CCDs", lo=0.0, hi=1.0),
        "max_gap_fraction": Key(float, 0.005, "refuse when more than this fraction of the stamp falls in chip gaps "
                                "(the mocks have none)", lo=0.0, hi=1.0),
        "offaxis_warn_arcmin": Key(float, 1.0, "warn when the cluster centre lies further than this from the pointing "
                                   "(the mocks point at the centre)", lo=0.0, hi=60.0),
        "offaxis_max_arcmin": Key(float, 4.0, "refuse when the cluster centre lies further than this from the pointing",
                                  lo=0.0, hi=60.0),
        "centre_radius_arcmin": Key(float, 2.0, "centre methods 'peak' and 'centroid': search radius around the "
                                    "pointing (RA_PNT, DEC_PNT)", lo=0.1, hi=60.0),
        "seed": Key(int, 0, "seed of the exposure thinning and of the masking fill", lo=0, hi=2**63 - 1),
    },
}


def _offaxis(cfg: dict) -> str | None:
    p = cfg["predict"]
    if p["offaxis_warn_arcmin"] > p["offaxis_max_arcmin"]:
        return (f"'predict.offaxis_warn_arcmin' = {p['offaxis_warn_arcmin']} must not exceed "
                f"'predict.offaxis_max_arcmin' = {p['offaxis_max_arcmin']}")
    return None


RULES = (_offaxis,)
