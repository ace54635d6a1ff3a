"""The work of one Dask task: a cluster's events -> its 8*P stamps, written to its own chunk.

Runs on a worker. It opens the store itself (only the path travels), reads the cluster's events
projection by projection in blocks, bins each projection into one counts image, makes the 8
dihedral transforms and writes the [8*P, npix, npix] block that is exactly one chunk of
`stamps/images`. Nothing else in the store is written here.
"""
from __future__ import annotations

import numpy as np
import zarr

from ..errors import InputError
from ..layout import events_group
from ..store import Reader, checksum, open_store, record_of
from .binning import Field, bin_projections, bin_projections_bands
from .dihedral import all_transforms

EVENT_ARRAYS = ("x", "y", "energy")
EVENT_ATTRS = ("projections", "offsets", "centre_pix", "npix_det", "pixel_arcsec", "fov_arcmin")


def events_group_name(halo_id: int) -> str:
    """One halo's event list in the store (xraymass.layout.events_group)."""
    return events_group(halo_id)


def event_layout(group: zarr.Group, where: str) -> dict:
    """The attributes of an events group the stamps need, checked; InputError names what is wrong."""
    attrs = group.attrs.asdict()
    arrays = {}
    for name in EVENT_ARRAYS:  # each array's metadata read once: each read is a file through Zarr's event loop
        try:
            arrays[name] = group[name]
        except KeyError:
            pass
    missing = [a for a in EVENT_ATTRS if a not in attrs] + [a for a in EVENT_ARRAYS if a not in arrays]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)} (not an events group of store schema 1)")
    projections = list(attrs["projections"])
    offsets = [int(o) for o in attrs["offsets"]]
    n_rows = arrays["x"].shape[0]
    if len(offsets) != len(projections) + 1 or offsets[0] != 0 or offsets[-1] != n_rows \
            or any(b < a for a, b in zip(offsets, offsets[1:])):
        raise InputError(f"{where}: offsets {offsets} do not split its {n_rows} events into "
                         f"{len(projections)} projections")
    if any(array.shape != (n_rows,) for array in arrays.values()):
        raise InputError(f"{where}: x, y and energy differ in length")
    records = {name: record_of(array, f"{where}/{name}") for name, array in arrays.items()}  # refused if
    # unrecorded or resized
    centre = [float(c) for c in attrs["centre_pix"]]
    if len(centre) != 2:
        raise InputError(f"{where}: centre_pix must be [x, y], got {attrs['centre_pix']!r}")
    return {"projections": projections, "offsets": offsets, "centre_pix": centre, "arrays": arrays, "records": records,
            "pixel_arcsec": float(attrs["pixel_arcsec"]), "fov_arcmin": float(attrs["fov_arcmin"])}


def stamp_cluster(store_path: str, halo_id: int, cluster: int, emin_kev: float, emax_kev: float, npix: int,
                  fov_arcmin: float, block_events: int, masking: dict | None = None,
                  run_seed: int = 0, bands: list | None = None) -> tuple[int, list[int], int]:
    """Bin, augment and write the stamps of one cluster (row `cluster` of the catalogue).

    With `masking` (the config section) of a method other than 'none', point sources are masked
    (xraymass.stamps.masking), each projection's fill seeded by (run_seed, halo id, projection).
    bands: [[emin, emax], ...] keV, one channel each (images [8P, npix, npix, C]); empty or None: the single
    band emin_kev-emax_kev (images [8P, npix, npix], the paper's layout). Masking and bands do not combine
    (a config rule refuses it).

    The events are checked against the mocks' record as they are read (StoreError naming the array
    when a chunk is missing or damaged; then nothing is written). Returns (cluster, counts per
    projection, CRC-32 of the block written) for the client's record.
    """
    root = open_store(store_path, "r+")
    where = f"{store_path}/{events_group_name(halo_id)}"
    group = root[events_group_name(halo_id)]
    layout = event_layout(group, where)
    width = fov_arcmin * 60.0 / layout["pixel_arcsec"]  # the stamp's field in detector pixels
    field = Field.centred(layout["centre_pix"], width, npix)
    readers = [Reader(layout["arrays"][name], f"{where}/{name}", layout["records"][name]) for name in EVENT_ARRAYS]
    if masking is not None and masking["method"] != "none":  # point-source masking (xraymass.stamps.masking)
        from .masking import fill_seed, masked_projections

        seeds = [fill_seed(run_seed, halo_id, p) for p in range(len(layout["projections"]))]
        images = masked_projections(*readers, layout["offsets"], field, emin_kev, emax_kev, layout["pixel_arcsec"],
                                    masking, seeds)
    elif bands:
        images = bin_projections_bands(*readers, layout["offsets"], field, bands, block_events)  # [P, C, n, n]
    else:
        images = bin_projections(*readers, layout["offsets"], field, emin_kev, emax_kev, block_events)
    for reader in readers:
        reader.finish()
    if bands:  # each channel through the same 8 transforms, channels last: [8P, n, n, C]
        stamps = np.concatenate([np.moveaxis(np.stack([all_transforms(ch.astype(np.int32)) for ch in image]), 0, -1)
                                 for image in images])
    else:
        stamps = np.concatenate([all_transforms(image.astype(np.int32)) for image in images])
    per_cluster = len(stamps)
    out = root["stamps/images"]
    out[cluster * per_cluster:(cluster + 1) * per_cluster] = stamps
    return cluster, images.reshape(len(images), -1).sum(axis=1).tolist(), checksum(stamps)
