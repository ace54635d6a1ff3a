"""Config sections of the halo stage: `halos` (which halos), `synthetic` and `tng` (where from)."""
from ..schema import Key

SECTIONS = {
    "halos": {
        "source": Key(str, "synthetic", "where halos come from", choices=("synthetic", "tng")),
        "log_m500c_min": Key(float, 13.57, "lower mass limit, log10(M500c/Msun), inclusive", lo=10.0, hi=16.5),
        "log_m500c_max": Key(float, 15.06, "upper mass limit, log10(M500c/Msun), inclusive", lo=10.0, hi=16.5),
        "redshift": Key(float, 0.0, "redshift of the simulation snapshot (the paper: z = 0)", lo=0.0, hi=10.0),
    },
    "synthetic": {
        "n_halos": Key(int, 329, "number of synthetic clusters (the paper's TNG300 sample: 329)", lo=1, hi=10_000_000),
        "particles_per_halo": Key(int, 1_000_000, "gas particles per halo inside r_max", lo=1000, hi=100_000_000),
        "r_max_r500c": Key(float, 3.0, "gas sampled out to this radius in units of R500c (>= 2)", lo=2.0, hi=10.0),
    },
    "tng": {
        "base_path": Key(str, "", "TNG output directory holding groups_NNN/ and snapdir_NNN/ (e.g. $TNG300_DIR/output)"),
        "snapshot": Key(int, 99, "snapshot number (99 is z = 0)", lo=0, hi=99),
        "offsets_path": Key(str, "", "directory of offsets_NNN.hdf5 ('' = <base_path>/../postprocessing/offsets)"),
    },
}
