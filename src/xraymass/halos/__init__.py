"""halos stage of xraymass: the halo catalogue and, per halo, its gas as a yt dataset.

`load_gas(cfg, halo_id)` (yt dataset for pyXSIM) and `gas_arrays(cfg, halo_id)` (numpy arrays) import
their heavy dependencies only when called.
"""


def load_gas(cfg, halo_id: int, rows: tuple[int, int] | None = None):
    """Gas of halo `halo_id` (its cells rows[0]:rows[1] if given) as a yt dataset for pyXSIM (fields and
    units: xraymass.halos.gas.load_gas)."""
    from .gas import load_gas as _load_gas

    return _load_gas(cfg, halo_id, rows)


def gas_arrays(cfg, halo_id: int, rows: tuple[int, int] | None = None):
    """(gas, catalogue row): the halo's gas (its cells rows[0]:rows[1] if given) as numpy arrays (units:
    xraymass.halos.synthetic.GAS_FIELDS)."""
    from .gas import gas_arrays as _gas_arrays

    return _gas_arrays(cfg, halo_id, rows)
